package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/rs/zerolog"
)

// TestExitStatusMapParse: --exit-status-map's value alone: codes and
// signal names as FROM, several pairs to a value and over repeated flags,
// each FROM once; a bad value leaves the map as it was.
func TestExitStatusMapParse(t *testing.T) {
	var m ExitStatusMap
	for _, in := range []string{"143:0", "SIGINT:7, USR1:255\t0:1", "sigquit:131"} {
		if err := m.UnmarshalText([]byte(in)); err != nil {
			t.Fatalf("ExitStatusMap(%q): %v", in, err)
		}
	}
	for from, want := range map[int]int{143: 0, 130: 7, 138: 255, 0: 1, 131: 131} {
		if got, ok := m.Map(from); !ok || got != want {
			t.Errorf("Map(%d) = %d, %v; want %d, true", from, got, ok, want)
		}
	}
	for _, from := range []int{1, 3, 129, 142, 144, 255, -1, 256} {
		if got, ok := m.Map(from); ok || got != from {
			t.Errorf("Map(%d) = %d, %v; want it unchanged and false", from, got, ok)
		}
	}
	if got, ok := (ExitStatusMap{}).Map(143); ok || got != 143 {
		t.Errorf("the empty map: Map(143) = %d, %v", got, ok)
	}
	// Edges: 255 and 0 on both sides; the last signal, 64, is 192.
	var e ExitStatusMap
	if err := e.UnmarshalText([]byte("255:0 0:255 64:64 RTMAX:3")); err != nil {
		t.Fatal(err)
	}
	for from, want := range map[int]int{255: 0, 0: 255, 64: 64, 192: 3} {
		if got, ok := e.Map(from); !ok || got != want {
			t.Errorf("Map(%d) = %d, %v; want %d", from, got, ok, want)
		}
	}

	for in, want := range map[string]string{
		"":          `"" is not FROM:TO`,
		" , ":       `" , " is not FROM:TO`,
		"143":       `"143" is not FROM:TO (such as 143:0)`,
		"143:":      `"143:": TO "" is not an exit status (0-255)`,
		":0":        `":0": FROM "" is neither an exit status (0-255) nor a signal name`,
		"x:0":       `"x:0": FROM "x" is neither an exit status (0-255) nor a signal name`,
		"256:0":     `"256:0": FROM 256 is outside 0-255`,
		"-1:0":      `"-1:0": FROM -1 is outside 0-255`,
		"143:256":   `"143:256": TO "256" is not an exit status (0-255)`,
		"143:-1":    `"143:-1": TO "-1" is not an exit status (0-255)`,
		"143:TERM":  `"143:TERM": TO "TERM" is not an exit status`,
		"1:2:3":     `"1:2:3": TO "2:3" is not an exit status`,
		"150:0 1:x": `"1:x": TO "x"`,
		// A FROM given twice, in one value or as a code and a signal.
		"1:0 1:0":          `"1:0": 1 is mapped twice; give each status once`,
		"162:0 SIGRTMIN:1": `"SIGRTMIN:1": 162 is mapped twice`,
		"SIGINT:2":         `"SIGINT:2": 130 is mapped twice`, // m has 130 from SIGINT:7
	} {
		before := len(m.to)
		err := m.UnmarshalText([]byte(in))
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("ExitStatusMap(%q): %v; want an error with %q", in, err, want)
		}
		if len(m.to) != before {
			t.Errorf("ExitStatusMap(%q) changed the map: %v", in, m.to)
		}
	}
	if got, _ := m.Map(143); got != 0 {
		t.Errorf("after the bad values, Map(143) = %d, want 0 as before", got)
	}
	// A good pair before a bad one in the same value is not taken either.
	if err := m.UnmarshalText([]byte("5:6 7")); err == nil {
		t.Error(`"5:6 7" taken`)
	}
	if _, ok := m.Map(5); ok {
		t.Error(`"5:6 7" added 5:6 though the value was refused`)
	}
}

// TestExitStatusMapFlag: through kong, the flag repeats and its variable
// takes several pairs; a FROM given twice over two flags is refused with
// the flag's name, and the variable is named when the value is its.
func TestExitStatusMapFlag(t *testing.T) {
	cfg, err := configureArgs("--exit-status-map=143:0", "--exit-status-map", "SIGINT:3,1:2", "--", "true")
	if err != nil {
		t.Fatal(err)
	}
	for from, want := range map[int]int{143: 0, 130: 3, 1: 2} {
		if got, ok := cfg.exitMap.Map(from); !ok || got != want {
			t.Errorf("Map(%d) = %d, %v; want %d", from, got, ok, want)
		}
	}
	if _, err := configureArgs("--exit-status-map=143:0", "--exit-status-map=TERM:1", "--", "true"); err == nil ||
		!strings.Contains(err.Error(), `--exit-status-map: "TERM:1": 143 is mapped twice`) {
		t.Errorf("a FROM over two flags: %v", err)
	}
	t.Setenv("RESTART_RUN_EXIT_STATUS_MAP", "143:0 137:1")
	if cfg, err = configureArgs("--", "true"); err != nil {
		t.Fatal(err)
	} else if got, ok := cfg.exitMap.Map(137); !ok || got != 1 {
		t.Errorf("from the variable: Map(137) = %d, %v", got, ok)
	}
	// The flag beats its variable: the variable's pairs are gone, and its
	// 143 is no duplicate of the flag's.
	if cfg, err = configureArgs("--exit-status-map=143:5", "--", "true"); err != nil {
		t.Fatal(err)
	} else if _, ok := cfg.exitMap.Map(137); ok {
		t.Error("the variable's 137:1 kept beside the flag")
	} else if got, _ := cfg.exitMap.Map(143); got != 5 {
		t.Errorf("Map(143) = %d, want the flag's 5", got)
	}
	t.Setenv("RESTART_RUN_EXIT_STATUS_MAP", "143")
	if _, err := configureArgs("--", "true"); err == nil || !strings.Contains(err.Error(), "--exit-status-map") ||
		!strings.Contains(err.Error(), "RESTART_RUN_EXIT_STATUS_MAP") {
		t.Errorf("a bad variable: %v; want the flag and the variable named", err)
	}
}

// TestExitStatusMapLogged: the stop before the first start logs the status
// restart-run exits with and what the map makes of it.
func TestExitStatusMapLogged(t *testing.T) {
	var log bytes.Buffer
	var m ExitStatusMap
	if err := m.UnmarshalText([]byte("143:0")); err != nil {
		t.Fatal(err)
	}
	cfg := &config{stopSignals: SignalList{syscall.SIGTERM, syscall.SIGINT}, exitMap: m}
	s := &supervisor{cfg: cfg, log: zerolog.New(&log), sig: signalIn{other: make(chan os.Signal, 1), stop: make(chan os.Signal, 1)}}
	s.sig.stop <- syscall.SIGTERM
	if status, stop := s.signalsBeforeStart(); !stop || status != 143 {
		t.Fatalf("SIGTERM before the first start: stop %v, status %d", stop, status)
	}
	if !strings.Contains(log.String(), `"event":"stop","signal":"SIGTERM","exit_code":143,"mapped_to":0`) {
		t.Errorf("stop line: %s", log.String())
	}
	log.Reset()
	s.sig.stop <- syscall.SIGINT
	s.signalsBeforeStart()
	if !strings.Contains(log.String(), `"exit_code":130,`) || strings.Contains(log.String(), "mapped_to") {
		t.Errorf("an unmapped stop line: %s", log.String())
	}
}

// TestExitStatusMap: restart-run's own exit status, end to end. A stop by
// SIGTERM ends the child by it (143) and restart-run exits 0 under 143:0
// in each of its spellings, and its done line tells both; a status the
// map does not name is left alone.
func TestExitStatusMap(t *testing.T) {
	for _, c := range []struct {
		env  []string
		flag string
	}{
		{nil, "--exit-status-map=143:0"},
		{nil, "--exit-status-map=SIGTERM:0"},
		{nil, "--exit-status-map=1:5 TERM:0"},
		{[]string{"RESTART_RUN_EXIT_STATUS_MAP=143:0"}, "--log-format=json"},
	} {
		t.Run(strings.Join(append(c.env, c.flag), " "), func(t *testing.T) {
			t.Parallel()
			r := startRR(t, c.env, c.flag, "--restart=no", "--log-level=debug", "--", "sh", "-c", "echo ready $$; exec sleep 1000")
			r.waitReady()
			r.signal(syscall.SIGTERM)
			if st := r.wait(); st != 0 {
				t.Errorf("status %d, want 0 (143 mapped); log:\n%s", st, r.logText())
			}
			done := r.named("done")
			if len(done) != 1 || done[0].num("exit_code") != 143 || done[0]["mapped_to"] != 0.0 {
				t.Errorf("done lines %v, want one with exit_code 143 and mapped_to 0", done)
			}
		})
	}
	t.Run("unmapped", func(t *testing.T) {
		t.Parallel()
		r := startRR(t, nil, "--exit-status-map=143:0", "--restart=no", "--log-level=debug", "--", "sh", "-c", "exit 3")
		if st := r.wait(); st != 3 {
			t.Errorf("status %d, want 3 (not in the map); log:\n%s", st, r.logText())
		}
		if done := r.named("done"); len(done) != 1 || done[0].num("exit_code") != 3 || done[0]["mapped_to"] != nil {
			t.Errorf("done lines %v, want exit_code 3 and no mapped_to", done)
		}
	})
}

// TestExitStatusMapGivingUp: the limiter's and --max-restarts' ends are
// mapped, and their lines tell both statuses.
func TestExitStatusMapGivingUp(t *testing.T) {
	for _, c := range []struct {
		flag, event string
	}{
		{"--burst=2", "limit"},
		{"--max-restarts=1", "give-up"},
	} {
		t.Run(c.event, func(t *testing.T) {
			t.Parallel()
			r := startRR(t, nil, "--exit-status-map=3:0", "--restart-sec=0", c.flag, "--", "sh", "-c", "exit 3")
			if st := r.wait(); st != 0 {
				t.Errorf("status %d, want 0 (3 mapped); log:\n%s", st, r.logText())
			}
			if e := r.named(c.event); len(e) != 1 || e[0].num("exit_code") != 3 || e[0]["mapped_to"] != 0.0 {
				t.Errorf("%s lines %v, want exit_code 3 and mapped_to 0", c.event, e)
			}
			if n := len(r.named("exit")); n != 2 {
				t.Errorf("%d runs, want 2", n)
			}
		})
	}
}

// TestExitStatusMapCommand: COMMAND that cannot run on the first start
// (127, 126) is the command's fate too, and mapped, whether restart-run
// finds that out before the fork or from the exec.
func TestExitStatusMapCommand(t *testing.T) {
	dir := t.TempDir()
	noInterp := filepath.Join(dir, "bad")
	os.WriteFile(noInterp, []byte("#!/nonexistent/interpreter\n"), 0o755)
	for _, c := range []struct {
		name string
		args []string
		want int
	}{
		{"not found", []string{"--exit-status-map=127:4", "--", filepath.Join(dir, "missing")}, 4},
		{"exec fails", []string{"--exit-status-map=127:5", "--", noInterp}, 5},
		{"unmapped", []string{"--exit-status-map=126:5", "--", noInterp}, 127},
	} {
		cmd := exec.Command(rrBin(t), c.args...)
		out, _ := cmd.CombinedOutput()
		if st := cmd.ProcessState.ExitCode(); st != c.want {
			t.Errorf("%s: status %d, want %d; output:\n%s", c.name, st, c.want, out)
		}
		if c.name == "exec fails" && !strings.Contains(string(out), `"exit_code":127,"mapped_to":5`) {
			t.Errorf("%s: no line tells 127 mapped to 5; output:\n%s", c.name, out)
		}
	}
}

// TestExitStatusMapReraise: a stop by SIGINT that ends the child by it
// makes restart-run end itself by SIGINT (TestReraise); with its status,
// 130, in the map, restart-run exits with the mapped status instead, and
// raises nothing. A map that names other statuses leaves the re-raise
// alone.
func TestExitStatusMapReraise(t *testing.T) {
	for _, c := range []struct {
		flag   string
		killed bool
		status int
	}{
		{"--exit-status-map=130:0", false, 0},
		{"--exit-status-map=SIGINT:9", false, 9},
		{"--exit-status-map=143:0", true, 130},
	} {
		t.Run(c.flag, func(t *testing.T) {
			t.Parallel()
			r := startRR(t, nil, c.flag, "--kill-mode=mixed", "--", "sh", "-c", "echo ready $$; exec sleep 1000")
			r.waitReady()
			r.signal(syscall.SIGINT)
			if st := r.wait(); st != c.status {
				t.Errorf("status %d, want %d; log:\n%s", st, c.status, r.logText())
			}
			ws := r.cmd.ProcessState.Sys().(syscall.WaitStatus)
			if ws.Signaled() != c.killed {
				t.Errorf("restart-run ended %v; want killed by SIGINT: %v", ws, c.killed)
			}
		})
	}
}

// TestExitStatusMapEarlyStop: a stop signal pending when restart-run
// starts (blocked by its parent, as startBlocked does) is taken before
// the first start, nothing is started, and its 128+N is mapped. Should it
// be taken only after the first start, it reaches the child, which dies of
// it with the same status; the log says which.
func TestExitStatusMapEarlyStop(t *testing.T) {
	marker := filepath.Join(t.TempDir(), "started")
	r := startBlocked(t, syscall.SIGUSR1, "--stop-signals=USR1", "--exit-status-map=SIGUSR1:6", "--",
		"sh", "-c", "touch "+marker+"; echo ready $$; exec sleep 1000")
	r.signal(syscall.SIGUSR1)
	if st := r.wait(); st != 6 {
		t.Errorf("status %d, want 6 (138 mapped); log:\n%s", st, r.logText())
	}
	stops := r.named("stop")
	if len(r.named("start")) != 0 {
		t.Logf("SIGUSR1 came after the first start; it stopped the child")
		return
	}
	if _, err := os.Stat(marker); err == nil {
		t.Error("a child ran though no start was logged")
	}
	if len(stops) != 1 || stops[0].num("exit_code") != 138 || stops[0]["mapped_to"] != 6.0 {
		t.Errorf("stop lines %v, want exit_code 138 and mapped_to 6", stops)
	}
}

// TestExitStatusMapBad: bad maps exit 2 naming the flag (and the
// variable), and start nothing.
func TestExitStatusMapBad(t *testing.T) {
	for _, c := range []struct {
		env  []string
		args []string
		want string
	}{
		{nil, []string{"--exit-status-map=143"}, `"143" is not FROM:TO`},
		{nil, []string{"--exit-status-map=143:"}, `TO "" is not an exit status (0-255)`},
		{nil, []string{"--exit-status-map=x:0"}, `FROM "x" is neither an exit status (0-255) nor a signal name`},
		{nil, []string{"--exit-status-map=256:0"}, "FROM 256 is outside 0-255"},
		{nil, []string{"--exit-status-map=143:256"}, `TO "256" is not an exit status (0-255)`},
		{nil, []string{"--exit-status-map=-1:0"}, "FROM -1 is outside 0-255"},
		{nil, []string{"--exit-status-map=143:0", "--exit-status-map=SIGTERM:1"}, "143 is mapped twice"},
		{[]string{"RESTART_RUN_EXIT_STATUS_MAP=143:0,143:0"}, nil, "RESTART_RUN_EXIT_STATUS_MAP"},
	} {
		marker := filepath.Join(t.TempDir(), "started")
		args := append(c.args, "--", "sh", "-c", "touch "+marker)
		checkBad(t, c.env, args, []string{"--exit-status-map", c.want}, marker)
	}
}
