package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/alecthomas/kong"
)

// TestParse checks the flag parser alone: no child is started.
func TestParse(t *testing.T) {
	var out bytes.Buffer
	cli, done, err := parse([]string{"--restart=always", "--burst=7", "--interval=1.5", "--restart-sec=250ms",
		"--success-exit-status=75 SIGUSR1", "--kill-signal=INT", "--", "sh", "-c", "exit 3", "--burst=1"}, &out)
	if err != nil || done {
		t.Fatalf("parse: done %v err %v", done, err)
	}
	cfg, err := configure(cli)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.policy != Always || cfg.limiter.Burst != 7 || cfg.limiter.Interval != 1500*time.Millisecond ||
		cfg.backoff.Base != 250*time.Millisecond || cfg.killSignal != syscall.SIGINT || !cfg.lists.Success.Has(75, 0) ||
		!cfg.lists.Success.Has(-1, syscall.SIGUSR1) {
		t.Errorf("parsed config %+v", cfg)
	}
	if want := []string{"sh", "-c", "exit 3", "--burst=1"}; !slices.Equal(cfg.argv, want) {
		t.Errorf("argv %q, want %q (flags after COMMAND belong to it)", cfg.argv, want)
	}

	// Defaults from SPEC.md, and COMMAND without "--".
	cli, _, err = parse([]string{"true", "-x"}, &out)
	if err != nil {
		t.Fatal(err)
	}
	cfg, _ = configure(cli)
	if cfg.policy != OnFailure || cfg.limiter.Burst != 5 || cfg.limiter.Interval != 10*time.Second ||
		cfg.backoff.Base != 100*time.Millisecond || cfg.backoff.ResetAfter != 10*time.Second || cfg.maxRestarts != 0 ||
		cfg.killMode != "control-group" || cfg.killSignal != syscall.SIGTERM || cfg.timeoutStop != 10*time.Second ||
		!slices.Equal(cfg.argv, []string{"true", "-x"}) {
		t.Errorf("defaults %+v", cfg)
	}

	// --restart-reset-after defaults to --restart-max-delay under backoff.
	cli, _, _ = parse([]string{"--restart-steps=3", "--restart-max-delay=1m", "true"}, &out)
	if cfg, _ = configure(cli); cfg.backoff.ResetAfter != time.Minute {
		t.Errorf("reset-after %v, want 1m", cfg.backoff.ResetAfter)
	}

	out.Reset()
	if _, done, err := parse([]string{"--help"}, &out); !done || err != nil || !strings.Contains(out.String(), "--restart-force-exit-status") {
		t.Errorf("--help: done %v err %v out %q", done, err, out.String())
	}
	out.Reset()
	if _, done, _ := parse([]string{"--version"}, &out); !done || !strings.HasPrefix(out.String(), "restart-run ") {
		t.Errorf("--version printed %q", out.String())
	}
}

// TestIssueExample is the README's first command: a child failing at once
// is started 5 times, then the start limit ends restart-run with its status.
func TestIssueExample(t *testing.T) {
	r := startRR(t, nil, "--restart=on-failure", "--burst=5", "--interval=10s", "--", "sh", "-c", "echo hi; exit 3")
	if st := r.wait(); st != 3 {
		t.Fatalf("status %d, want 3; log:\n%s", st, r.logText())
	}
	starts, exits, restarts, limits := r.named("start"), r.named("exit"), r.named("restart"), r.named("limit")
	if len(starts) != 5 || len(exits) != 5 || len(restarts) != 4 || len(limits) != 1 {
		t.Fatalf("%d starts, %d exits, %d restarts, %d limits; want 5, 5, 4, 1; log:\n%s",
			len(starts), len(exits), len(restarts), len(limits), r.logText())
	}
	for i, e := range exits {
		if e.num("exit_code") != 3 || e.str("class") != "exit-code" || e.num("pid") != starts[i].num("pid") || e["runtime_ms"] == nil {
			t.Errorf("exit event %v", e)
		}
		if starts[i].num("attempt") != float64(i+1) {
			t.Errorf("start %d has attempt %v", i+1, starts[i]["attempt"])
		}
	}
	for _, e := range restarts {
		if e.num("delay_ms") != 100 {
			t.Errorf("restart delay %v ms, want 100", e["delay_ms"])
		}
	}
	if limits[0].str("level") != "error" {
		t.Errorf("limit event at level %q, want error", limits[0].str("level"))
	}
}

// runEnds runs restart-run on a helper that ends the way end says, ending
// every new child the same way, and returns the number of starts, the exit
// status and the exit events.
func runEnds(t *testing.T, end string, flags ...string) (int, int, []event) {
	t.Helper()
	// A C program with default dispositions: the Go helper would catch
	// and ignore SIGUSR1.
	cmd := []string{"sh", "-c", "echo ready $$; exec sleep 1000"}
	if code, ok := strings.CutPrefix(end, "exit "); ok {
		cmd = child("exit", code)
	}
	args := append(append([]string{"--burst=3", "--interval=1h", "--restart-sec=0"}, flags...), "--")
	r := startRR(t, nil, append(args, cmd...)...)
	if sig, ok := strings.CutPrefix(end, "kill "); ok {
		s, _ := parseSignal(sig)
		timeout := time.After(deadline)
		for {
			select {
			case <-timeout:
				t.Fatalf("restart-run still running; log:\n%s", r.logText())
			case <-r.done:
			case l := <-r.out:
				if pid, ok := strings.CutPrefix(l, "ready "); ok {
					// Sent straight to the child, not through restart-run.
					n, _ := strconv.Atoi(pid)
					_ = syscall.Kill(n, s)
				}
				continue
			}
			break
		}
	}
	st := r.wait()
	return len(r.named("start")), st, r.named("exit")
}

// TestPolicies runs each policy against a child that exits 0, exits 3, is
// killed by SIGTERM sent straight to it (clean, as in systemd) and by
// SIGKILL (an unclean signal).
func TestPolicies(t *testing.T) {
	ends := []struct {
		end    string
		class  string
		status int
	}{{"exit 0", "clean", 0}, {"exit 3", "exit-code", 3}, {"kill SIGTERM", "clean", 143}, {"kill SIGKILL", "signal", 137}}
	restarts := map[string][]Policy{
		"clean":     {Always, OnSuccess},
		"exit-code": {Always, OnFailure},
		"signal":    {Always, OnFailure, OnAbnormal, OnAbort},
	}
	for _, p := range allPolicies {
		for _, e := range ends {
			t.Run(fmt.Sprintf("%s/%s", p, e.end), func(t *testing.T) {
				t.Parallel()
				starts, st, exits := runEnds(t, e.end, "--restart="+string(p))
				want := 1
				if slices.Contains(restarts[e.class], p) {
					want = 3 // the start limit stops it
				}
				if starts != want || st != e.status {
					t.Errorf("%d starts, status %d; want %d, %d", starts, st, want, e.status)
				}
				for _, x := range exits {
					if x.str("class") != e.class || int(x.num("exit_code")) != e.status {
						t.Errorf("exit event %v, want class %s exit_code %d", x, e.class, e.status)
					}
					if sig, ok := strings.CutPrefix(e.end, "kill "); ok && x.str("signal") != sig {
						t.Errorf("exit event %v lacks signal %s", x, sig)
					}
				}
			})
		}
	}
}

// TestStatusLists checks --success-exit-status, --restart-prevent-exit-status
// and --restart-force-exit-status with codes and signal names.
func TestStatusLists(t *testing.T) {
	for _, tc := range []struct {
		flags  []string
		end    string
		starts int
		status int
	}{
		{[]string{"--restart=on-success", "--success-exit-status=75 SIGUSR1"}, "exit 75", 3, 75},
		{[]string{"--restart=on-success", "--success-exit-status=75,SIGUSR1"}, "kill SIGUSR1", 3, 138},
		{[]string{"--restart=on-failure", "--success-exit-status=75 USR1"}, "exit 75", 1, 75},
		{[]string{"--restart=on-failure", "--success-exit-status=75 USR1"}, "kill SIGUSR1", 1, 138},
		{[]string{"--restart=on-failure"}, "kill SIGUSR1", 3, 138},
		{[]string{"--restart=always", "--restart-prevent-exit-status=3 SIGKILL"}, "exit 3", 1, 3},
		{[]string{"--restart=always", "--restart-prevent-exit-status=3 SIGKILL"}, "kill SIGKILL", 1, 137},
		{[]string{"--restart=always", "--restart-prevent-exit-status=3 SIGKILL"}, "exit 4", 3, 4},
		{[]string{"--restart=no", "--restart-force-exit-status=3 USR2"}, "exit 3", 3, 3},
		{[]string{"--restart=no", "--restart-force-exit-status=3 USR2"}, "kill SIGUSR2", 3, 140},
		{[]string{"--restart=no", "--restart-force-exit-status=3 USR2"}, "exit 0", 1, 0},
		{[]string{"--restart=always", "--restart-force-exit-status=3", "--restart-prevent-exit-status=3"}, "exit 3", 1, 3},
	} {
		t.Run(strings.Join(tc.flags, " ")+"/"+tc.end, func(t *testing.T) {
			t.Parallel()
			starts, st, _ := runEnds(t, tc.end, tc.flags...)
			if starts != tc.starts || st != tc.status {
				t.Errorf("%d starts, status %d; want %d, %d", starts, st, tc.starts, tc.status)
			}
		})
	}
}

func TestMaxRestarts(t *testing.T) {
	r := startRR(t, nil, append([]string{"--restart=always", "--burst=0", "--restart-sec=0", "--max-restarts=2", "--"}, child("exit", "5")...)...)
	if st := r.wait(); st != 5 {
		t.Errorf("status %d, want 5", st)
	}
	if n, g := len(r.named("start")), r.named("give-up"); n != 3 || len(g) != 1 || g[0].str("level") != "error" {
		t.Errorf("%d starts, give-up events %v; want 3 starts and one give-up at error; log:\n%s", n, g, r.logText())
	}
	if len(r.named("limit")) != 0 {
		t.Errorf("limit logged with the limiter off")
	}
}

// TestLimiterOff runs 30 starts with --burst=0: the limiter never trips.
func TestLimiterOff(t *testing.T) {
	for _, off := range []string{"--burst=0", "--interval=0"} {
		r := startRR(t, nil, append([]string{"--restart=always", off, "--restart-sec=0", "--max-restarts=29", "--"}, child("exit", "0")...)...)
		r.wait()
		if n := len(r.named("start")); n != 30 {
			t.Errorf("%s: %d starts, want 30", off, n)
		}
	}
}

// stamps reads the start times the children printed.
func stamps(t *testing.T, r *rr, n int) []time.Time {
	t.Helper()
	var out []time.Time
	for range n {
		f := r.line("stamp")
		ns, _ := strconv.ParseInt(f[1], 10, 64)
		out = append(out, time.Unix(0, ns))
	}
	return out
}

// checkGaps asserts that children started no sooner than the logged delays
// allow and that the logged delays are wantMS.
func checkGaps(t *testing.T, r *rr, wantMS []float64) {
	t.Helper()
	ts := stamps(t, r, len(wantMS)+1)
	r.wait()
	restarts := r.named("restart")
	if len(restarts) != len(wantMS) {
		t.Fatalf("%d restarts, want %d; log:\n%s", len(restarts), len(wantMS), r.logText())
	}
	for i, w := range wantMS {
		if got := restarts[i].num("delay_ms"); got != w {
			t.Errorf("restart %d: delay %vms, want %vms", i+1, got, w)
		}
		if gap := ts[i+1].Sub(ts[i]); gap < time.Duration(w*float64(time.Millisecond)) {
			t.Errorf("restart %d: children %v apart, less than the %vms delay", i+1, gap, w)
		}
	}
}

func TestRestartDelay(t *testing.T) {
	r := startRR(t, nil, append([]string{"--restart-sec=0.2", "--burst=0", "--max-restarts=3", "--"}, child("exit", "1")...)...)
	checkGaps(t, r, []float64{200, 200, 200})
}

// TestBackoff checks systemd's RestartSteps growth end to end.
func TestBackoff(t *testing.T) {
	r := startRR(t, nil, append([]string{"--restart-sec=50ms", "--restart-steps=3", "--restart-max-delay=400ms", "--burst=0",
		"--restart-reset-after=1h", "--max-restarts=5", "--"}, child("exit", "1")...)...)
	checkGaps(t, r, []float64{50, 100, 200, 400, 400})
}

// TestBackoffReset: a run longer than --restart-reset-after starts the
// growth afresh. The third run here lasts 4 s, the others as long as the
// helper takes to start and exit: under the 3 s reset-after even on a
// loaded machine, where 1 s was not always enough.
func TestBackoffReset(t *testing.T) {
	counter := filepath.Join(t.TempDir(), "runs")
	r := startRR(t, nil, append([]string{"--restart-sec=50ms", "--restart-steps=2", "--restart-max-delay=200ms",
		"--restart-reset-after=3s", "--burst=0", "--max-restarts=4", "--"}, child("seq", counter, "3", "4s", "1")...)...)
	checkGaps(t, r, []float64{50, 100, 50, 100})
}

// TestEnvConfig: every flag reads RESTART_RUN_<FLAG>, and a flag beats it.
func TestEnvConfig(t *testing.T) {
	env := []string{"RESTART_RUN_RESTART=no", "RESTART_RUN_BURST=2", "RESTART_RUN_RESTART_SEC=0"}
	r := startRR(t, env, child("exit", "3")...)
	if st, n := r.wait(), len(r.named("start")); st != 3 || n != 1 {
		t.Errorf("RESTART_RUN_RESTART=no: status %d, %d starts; want 3, 1", st, n)
	}
	r = startRR(t, env, append([]string{"--restart=on-failure"}, child("exit", "3")...)...)
	if st, n := r.wait(), len(r.named("start")); st != 3 || n != 2 {
		t.Errorf("--restart=on-failure over RESTART_RUN_RESTART=no, burst 2 from env: status %d, %d starts; want 3, 2", st, n)
	}
	// Under the default on-failure, exit 3 is restarted unless the list
	// read from the environment makes it clean: one start, then done.
	r = startRR(t, []string{"RESTART_RUN_SUCCESS_EXIT_STATUS=3"}, child("exit", "3")...)
	st := r.wait()
	starts, exits, done := r.named("start"), r.named("exit"), r.named("done")
	if st != 3 || len(starts) != 1 || len(exits) != 1 || exits[0].str("class") != "clean" ||
		len(done) != 1 || done[0].num("exit_code") != 3 {
		t.Errorf("RESTART_RUN_SUCCESS_EXIT_STATUS=3: status %d, %d starts, %d done events; want 3, 1 start with a clean exit, done; log:\n%s",
			st, len(starts), len(done), r.logText())
	}
	// At warn the info events (start, a clean exit, done) are not logged.
	r = startRR(t, []string{"RESTART_RUN_LOG_LEVEL=warn"}, child("exit", "0")...)
	if st := r.wait(); st != 0 || len(r.named("start")) != 0 || len(r.named("done")) != 0 {
		t.Errorf("RESTART_RUN_LOG_LEVEL=warn: status %d; log:\n%s", st, r.logText())
	}
}

// TestBadInput: every bad input exits 2 with a message naming the flag, and
// starts nothing.
func TestBadInput(t *testing.T) {
	for _, tc := range []struct {
		env  []string
		args []string
		want []string
	}{
		{nil, []string{"--restart=sometimes"}, []string{"--restart", "sometimes", "on-failure"}},
		{nil, []string{"--burst=-1"}, []string{"--burst", `"-1"`, "0 or more"}},
		{nil, []string{"--burst=many"}, []string{"--burst", "many"}},
		{nil, []string{"--max-restarts=1.5"}, []string{"--max-restarts", "1.5"}},
		{nil, []string{"--restart-steps=-2"}, []string{"--restart-steps", "-2"}},
		{nil, []string{"--interval=soon"}, []string{"--interval", "soon", "duration"}},
		{nil, []string{"--restart-sec=-5"}, []string{"--restart-sec", "-5"}},
		{nil, []string{"--timeout-stop=-1s"}, []string{"--timeout-stop", "-1s"}},
		{nil, []string{"--success-exit-status=256"}, []string{"--success-exit-status", "256", "0-255"}},
		{nil, []string{"--restart-prevent-exit-status=-1"}, []string{"--restart-prevent-exit-status", "-1"}},
		{nil, []string{"--restart-force-exit-status=SIGNOPE"}, []string{"--restart-force-exit-status", "SIGNOPE", "signal name"}},
		{nil, []string{"--kill-mode=group"}, []string{"--kill-mode", "group", "control-group"}},
		{nil, []string{"--kill-signal=FOO"}, []string{"--kill-signal", "FOO"}},
		{nil, []string{"--stop-signals=TERM,KILL"}, []string{"--stop-signals", "SIGKILL", "cannot be a stop signal", "TERM, INT"}},
		{nil, []string{"--stop-signals=CHLD"}, []string{"--stop-signals", "SIGCHLD", "cannot be a stop signal"}},
		{nil, []string{"--stop-signals=32"}, []string{"--stop-signals", "SIG32", "cannot be a stop signal"}},
		{nil, []string{"--stop-signals=, ,"}, []string{"--stop-signals", "names no signal", "at least one"}},
		{[]string{"RESTART_RUN_STOP_SIGNALS=TERM,BOGUS"}, nil, []string{"--stop-signals", "RESTART_RUN_STOP_SIGNALS", "BOGUS"}},
		{nil, []string{"--forward-to=session"}, []string{"--forward-to", "session", "child, group"}},
		{nil, []string{"--log-format=xml"}, []string{"--log-format", "xml"}},
		{nil, []string{"--log-level=loud"}, []string{"--log-level", "loud"}},
		{nil, []string{"--no-such-flag"}, []string{"--no-such-flag"}},
		{nil, []string{"--type=forking"}, []string{"--type", "forking", "simple, notify"}},
		{nil, []string{"--notify-access=none"}, []string{"--notify-access", "none", "main, all"}},
		{nil, []string{"--watchdog=-1s"}, []string{"--watchdog", "-1s"}},
		{nil, []string{"--watchdog-signal=NOPE"}, []string{"--watchdog-signal", "NOPE"}},
		{nil, []string{"--timeout-start=x"}, []string{"--timeout-start", "x"}},
		{nil, []string{"--runtime-max=-3"}, []string{"--runtime-max", "-3"}},
		{nil, []string{"--health-cmd=true", "--health-interval=-1s"}, []string{"--health-interval", "-1s"}},
		{nil, []string{"--health-cmd=true", "--health-interval=0"}, []string{"--health-interval", "more than 0"}},
		{nil, []string{"--health-cmd=true", "--health-timeout=0"}, []string{"--health-timeout", "more than 0"}},
		{nil, []string{"--health-cmd=true", "--health-retries=0"}, []string{"--health-retries", "1 or more"}},
		{[]string{"RESTART_RUN_HEALTH_RETRIES=0"}, []string{"--health-cmd=true"}, []string{"--health-retries", "RESTART_RUN_HEALTH_RETRIES", "0 is not allowed"}},
		{nil, []string{"--health-cmd=true", "--health-tcp=127.0.0.1:1"}, []string{"--health-cmd", "--health-tcp", "at most one"}},
		{nil, []string{"--health-cmd=sh -c 'exit 1"}, []string{"--health-cmd", "not a command line"}},
		{nil, []string{"--health-http=ftp://x/"}, []string{"--health-http", "ftp://x/", "http://"}},
		{nil, []string{"--health-http=https://x/"}, []string{"--health-http", "https://x/", "https:// is not built in", "--health-cmd"}},
		{[]string{"RESTART_RUN_HEALTH_HTTP=http://x:99999/"}, nil, []string{"--health-http", "RESTART_RUN_HEALTH_HTTP", "99999", "1 to 65535"}},
		{nil, []string{"--health-tcp=127.0.0.1:99999"}, []string{"--health-tcp", "99999", "1 to 65535"}},
		{nil, []string{"--health-cmd="}, []string{"--health-cmd", "is empty"}},
		{nil, []string{"--health-interval=5s"}, []string{"--health-interval", "does nothing without a health check"}},
		{nil, []string{"--restart-steps=3"}, []string{"--restart-steps", "--restart-max-delay", "give both, or neither"}},
		{nil, []string{"--restart-max-delay=1m"}, []string{"--restart-max-delay", "--restart-steps", "give both, or neither"}},
		{nil, []string{"--restart-steps=3", "--restart-max-delay=50ms"}, []string{"--restart-max-delay", "50ms", "--restart-sec (100ms by default)"}},
		{[]string{"RESTART_RUN_RESTART_SEC=0"}, []string{"--restart-steps=3", "--restart-max-delay=1s"}, []string{"--restart-steps", "RESTART_RUN_RESTART_SEC=0", "cannot grow"}},
		{nil, []string{"--timeout-start=5s"}, []string{"--timeout-start", "--type=notify"}},
		{nil, []string{"--interval=9999999h"}, []string{"--interval", "9999999h", "too large (at most 2562047h47m16s"}},
		{nil, []string{"--burst=99999999999999999999"}, []string{"--burst", "too large (at most 9223372036854775807)"}},
		{nil, []string{"-restart=always"}, []string{"-restart=always", "long flags take two dashes: --restart=always"}},
		{nil, []string{"--timeout-stop=never"}, []string{"--timeout-stop", "never", "or infinity"}},
		{nil, []string{"--health-http=http:///path"}, []string{"--health-http", "http:///path", "not an http:// URL"}},
		{nil, []string{"--health-tcp=localhost"}, []string{"--health-tcp", "localhost", "HOST:PORT"}},
		{[]string{"RESTART_RUN_HEALTH_RETRIES=-1"}, []string{"--health-cmd=true"}, []string{"--health-retries", "RESTART_RUN_HEALTH_RETRIES"}},
		{[]string{"RESTART_RUN_BURST=x"}, nil, []string{"--burst", "RESTART_RUN_BURST", `"x"`}},
		{[]string{"RESTART_RUN_RESTART=never"}, nil, []string{"--restart", "RESTART_RUN_RESTART", "never"}},
		{nil, []string{"--memory-max=lots"}, []string{"--memory-max", `"lots" is not a size`, "K, M, G, T, P or E", "base 1024"}},
		{nil, []string{"--memory-max=512m"}, []string{"--memory-max", `"512m" is not a size`, "upper case"}},
		{nil, []string{"--memory-max=0"}, []string{"--memory-max", `"0" is not more than 0 bytes`}},
		{nil, []string{"--memory-max=-64M"}, []string{"--memory-max", `"-64M" is negative`}},
		{nil, []string{"--memory-max=8E"}, []string{"--memory-max", `"8E" is too large (at most 9223372036854775807 bytes`}},
		{nil, []string{"--memory-max="}, []string{"--memory-max", `"" is not a size`}},
		{[]string{"RESTART_RUN_MEMORY_MAX=2GB"}, nil, []string{"--memory-max", "RESTART_RUN_MEMORY_MAX", `"2GB" is not a size`}},
		{nil, []string{"--memory-check-interval=1s"}, []string{"--memory-check-interval", "1s does nothing without --memory-max"}},
		{[]string{"RESTART_RUN_MEMORY_CHECK_INTERVAL=1s"}, nil, []string{"--memory-check-interval", "does nothing without --memory-max", `(from envar RESTART_RUN_MEMORY_CHECK_INTERVAL="1s")`}},
		{nil, []string{"--memory-max=64M", "--memory-check-interval=0"}, []string{"--memory-check-interval", "0s is too short; give 10ms or more"}},
		{nil, []string{"--memory-max=64M", "--memory-check-interval=9ms"}, []string{"--memory-check-interval", "9ms is too short"}},
		{nil, []string{"--memory-max=64M", "--memory-check-interval=-1s"}, []string{"--memory-check-interval", `"-1s" is not a duration`}},
	} {
		marker := filepath.Join(t.TempDir(), "started")
		args := append(tc.args, "--", "sh", "-c", "touch "+marker)
		checkBad(t, tc.env, args, tc.want, marker)
	}
	checkBad(t, nil, nil, []string{"COMMAND"}, "")
	checkBad(t, nil, []string{"--restart=always"}, []string{"COMMAND"}, "")
	checkBad(t, nil, []string{"--restart=always", "--"}, []string{"COMMAND"}, "")
}

// TestBadInputHidesCredentials: a bad --health-http value is shown in its
// message with its user:password replaced by ***, whether url.Parse takes
// it or not, and the message still names the flag and what is wrong.
func TestBadInputHidesCredentials(t *testing.T) {
	for _, tc := range []struct {
		env    []string
		args   []string
		secret string
		want   []string
	}{
		{nil, []string{"--health-http=https://admin:hunter2@x/"}, "hunter2", []string{`"https://***@x/"`, "https:// is not built in"}},
		{[]string{"RESTART_RUN_HEALTH_HTTP=http://admin:hunter2@x:99999/"}, nil, "hunter2", []string{"RESTART_RUN_HEALTH_HTTP", `"http://***@x:99999/"`, `port "99999"`}},
		{nil, []string{"--health-http=ftp://admin:hunter2@x/"}, "hunter2", []string{`"ftp://***@x/"`, "not an http:// URL"}},
		// Values url.Parse refuses.
		{nil, []string{"--health-http=http://admin:hunter2@x:port/"}, "hunter2", []string{`"http://***@x:port/"`, "not an http:// URL"}},
		{nil, []string{"--health-http=http://admin:hunter2@[::1/"}, "hunter2", []string{`"http://***@[::1/"`}},
		{nil, []string{"--health-http=http://admin:hunter/2@x/"}, "hunter/2", []string{`"http://***@x/"`}},
		{nil, []string{"--health-http=admin:hunter2@x:80"}, "hunter2", []string{`"***@x:80"`}},
		{nil, []string{"--health-http=admin:a://hunter2@x"}, "hunter2", []string{`"***@x"`}},
		{nil, []string{"--health-http=http://hunter2@x:99999/"}, "hunter2", []string{`"http://***@x:99999/"`}}, // a token as the user name
		// One dash: the message repeats the word with two.
		{nil, []string{"-health-http=http://admin:hunter2@x/"}, "hunter2", []string{"unknown flag -health-http=http://***@x/: long flags take two dashes: --health-http=http://***@x/"}},
	} {
		marker := filepath.Join(t.TempDir(), "started")
		args := append(tc.args, "--", "sh", "-c", "touch "+marker)
		stderr := checkBad(t, tc.env, args, append(tc.want, "--health-http"), marker)
		if strings.Contains(stderr, tc.secret) {
			t.Errorf("%v %q: message %q shows the password", tc.env, tc.args, stderr)
		}
	}
}

// TestFlagTypes: the values with syntax of their own, parsed alone.
func TestFlagTypes(t *testing.T) {
	for in, want := range map[string]time.Duration{
		"90": 90 * time.Second, "0.5": 500 * time.Millisecond, "1.5e3": 1500 * time.Second,
		"1m30s": 90 * time.Second, "100ms": 100 * time.Millisecond,
		"0": 0, "0.0": 0, "0s": 0,
		// The longest a Go duration holds, about 292 years, either way.
		"1e9": 1e9 * time.Second, "9223372036": 9223372036 * time.Second,
		"2562047h47m16s": 2562047*time.Hour + 47*time.Minute + 16*time.Second,
	} {
		var d Duration
		if err := d.UnmarshalText([]byte(in)); err != nil || time.Duration(d) != want {
			t.Errorf("Duration(%q) = %v, %v; want %v", in, time.Duration(d), err, want)
		}
	}
	for _, in := range []string{"", "soon", "-1", "-0.5", "-1s", "NaN", "Inf", "0x10", "10 s", "1.2.3s", "5 h", "infinity",
		"1h5", ".s", "1h.", "h", "1x", "1_000", "0_5", "1e1_0"} {
		d := Duration(time.Minute)
		err := d.UnmarshalText([]byte(in))
		if err == nil || !strings.Contains(err.Error(), strconv.Quote(in)+" is not a duration") || d != Duration(time.Minute) {
			t.Errorf("Duration(%q) = %v, %v; want an error naming the value, and the value left alone", in, time.Duration(d), err)
		}
	}
	for _, in := range []string{"9223372037", "1e10", "2562048h", "9999999h", "1h9999999999999999999s", "153722868m",
		"9999999999.5h", "1h09999999999999999999s", "99999999999999999999.s"} {
		d := Duration(time.Minute)
		err := d.UnmarshalText([]byte(in))
		if err == nil || !strings.Contains(err.Error(), strconv.Quote(in)+" is too large (at most 2562047h47m16s, that is 9223372036 seconds)") || d != Duration(time.Minute) {
			t.Errorf("Duration(%q) = %v, %v; want too large, and the value left alone", in, time.Duration(d), err)
		}
	}
	for in, want := range map[string]time.Duration{"0": 0, "infinity": 0, "5s": 5 * time.Second, "2": 2 * time.Second} {
		l := TimeLimit(time.Minute)
		if err := l.UnmarshalText([]byte(in)); err != nil || time.Duration(l) != want {
			t.Errorf("TimeLimit(%q) = %v, %v; want %v", in, time.Duration(l), err, want)
		}
	}
	for _, in := range []string{"Infinity", "inf", "-1s", "never"} {
		l := TimeLimit(time.Minute)
		if err := l.UnmarshalText([]byte(in)); err == nil || !strings.Contains(err.Error(), "or infinity") || l != TimeLimit(time.Minute) {
			t.Errorf("TimeLimit(%q) = %v, %v; want an error offering infinity, and the value left alone", in, time.Duration(l), err)
		}
	}
	if l := TimeLimit(3 * time.Second); l.String() != "3s" {
		t.Errorf("TimeLimit(3s).String() = %q", l.String())
	}
	if s := Duration(90 * time.Second).String(); s != "1m30s" {
		t.Errorf("Duration(90s).String() = %q", s)
	}

	for in, want := range map[string]Count{"0": 0, "7": 7, " 12\t": 12} {
		var c Count
		if err := c.UnmarshalText([]byte(in)); err != nil || c != want {
			t.Errorf("Count(%q) = %d, %v; want %d", in, c, err, want)
		}
	}
	for _, in := range []string{"99999999999999999999", "9223372036854775808"} {
		c := Count(5)
		if err := c.UnmarshalText([]byte(in)); err == nil || !strings.Contains(err.Error(), strconv.Quote(in)+" is too large (at most 9223372036854775807)") || c != 5 {
			t.Errorf("Count(%q) = %d, %v; want too large, and the value left alone", in, c, err)
		}
	}
	for _, in := range []string{"", "-1", "1.5", "x", "1e3", "-99999999999999999999"} {
		c := Count(5)
		if err := c.UnmarshalText([]byte(in)); err == nil || !strings.Contains(err.Error(), "not a whole number 0 or more") || c != 5 {
			t.Errorf("Count(%q) = %d, %v; want an error, and the value left alone", in, c, err)
		}
	}

	// The closed sets: every word of each, and near misses.
	var (
		policy  Policy
		kill    KillMode
		forward ForwardTo
		format  LogFormat
		level   LogLevel
		typ     ServiceType
		access  NotifyAccess
	)
	for _, tc := range []struct {
		set  interface{ UnmarshalText([]byte) error }
		get  func() string
		good []string
		bad  []string
	}{
		{&policy, func() string { return string(policy) }, policyNames, []string{"Always", "on_failure", "", "never"}},
		{&kill, func() string { return string(kill) }, killModes, []string{"group", "Process"}},
		{&forward, func() string { return string(forward) }, []string{"child", "group"}, []string{"session"}},
		{&format, func() string { return string(format) }, logFormats, []string{"xml"}},
		{&level, func() string { return string(level) }, logLevels, []string{"trace", "warning"}},
		{&typ, func() string { return string(typ) }, []string{"simple", "notify"}, []string{"forking", "oneshot"}},
		{&access, func() string { return string(access) }, []string{"main", "all"}, []string{"none", "exec"}},
	} {
		for _, w := range tc.good {
			if err := tc.set.UnmarshalText([]byte(w)); err != nil || tc.get() != w {
				t.Errorf("%T(%q) = %q, %v", tc.set, w, tc.get(), err)
			}
		}
		last := tc.get()
		for _, w := range tc.bad {
			err := tc.set.UnmarshalText([]byte(w))
			if err == nil || !strings.Contains(err.Error(), strconv.Quote(w)+" is not one of "+strings.Join(tc.good, ", ")) || tc.get() != last {
				t.Errorf("%T(%q): %v, value %q; want an error listing %q, and the value left alone", tc.set, w, err, tc.get(), tc.good)
			}
		}
	}
}

// configureArgs parses args and checks them as run does, in process.
func configureArgs(args ...string) (*config, error) {
	cli, _, err := parse(args, io.Discard)
	if err != nil {
		return nil, err
	}
	return configure(cli)
}

// TestConfigure: what configure refuses (TestBadInput checks the same
// through the binary) and what it derives, in process.
func TestConfigure(t *testing.T) {
	for _, tc := range []struct {
		flags []string // before "-- true"
		want  string
	}{
		{[]string{"--health-cmd=true", "--health-interval=0"}, "--health-interval: 0s is not allowed; it must be more than 0"},
		{[]string{"--health-cmd=true", "--health-timeout=0"}, "--health-timeout: 0s is not allowed; it must be more than 0"},
		{[]string{"--health-cmd=true", "--health-retries=0"}, "--health-retries: 0 is not allowed; it must be 1 or more"},
		{[]string{"--health-cmd=true", "--health-tcp=x:1"}, "--health-cmd, --health-tcp: give at most one health check"},
		{[]string{"--health-http=http://x/", "--health-tcp=x:1"}, "give at most one"},
		{[]string{"--health-cmd=sh -c 'exit 1"}, "is not a command line"},
		{[]string{"--health-cmd=  "}, `"  " is not a command line`},
		{[]string{"--health-http=https://u:pw@x/"}, `"https://***@x/": https:// is not built in`},
		{[]string{"--health-http=ftp://x/"}, `"ftp://x/" is not an http:// URL`},
		{[]string{"--health-http=x:80"}, `"x:80" is not an http:// URL`},
		{[]string{"--health-http=http:///path"}, "is not an http:// URL"},
		{[]string{"--health-http=http://:80/"}, "is not an http:// URL"},
		{[]string{"--health-http=http://x:port/"}, "is not an http:// URL"},
		{[]string{"--health-http=http://x:65536/"}, `port "65536" is not a number from 1 to 65535`},
		{[]string{"--health-http=http://x:0/"}, `--health-http: "http://x:0/": port "0" is not a number from 1 to 65535`},
		{[]string{"--health-tcp=127.0.0.1:99999"}, `--health-tcp: "127.0.0.1:99999": port "99999" is not a number from 1 to 65535`},
		{[]string{"--health-tcp=127.0.0.1:0"}, `port "0" is not a number from 1 to 65535`},
		{[]string{"--health-tcp=127.0.0.1:http"}, `port "http" is not a number from 1 to 65535`},
		{[]string{"--health-cmd="}, "--health-cmd: is empty; give a check, or leave the flag out"},
		{[]string{"--health-http="}, "--health-http: is empty"},
		{[]string{"--health-tcp="}, "--health-tcp: is empty"},
		{[]string{"--health-interval=5s"}, "--health-interval: does nothing without a health check: add --health-cmd, --health-http or --health-tcp"},
		{[]string{"--health-timeout=5s"}, "--health-timeout: does nothing without a health check"},
		{[]string{"--health-start-period=5s"}, "--health-start-period: does nothing without a health check"},
		{[]string{"--health-retries=5"}, "--health-retries: does nothing without a health check"},
		{[]string{"--restart-steps=3"}, "--restart-steps: 3 steps need --restart-max-delay, the longest pause they grow to; give both, or neither"},
		{[]string{"--restart-max-delay=1m"}, "--restart-max-delay: 1m0s does nothing without --restart-steps"},
		{[]string{"--restart-steps=3", "--restart-max-delay=100ms"}, "--restart-max-delay: 100ms is not longer than --restart-sec (100ms by default), so the pause cannot grow"},
		{[]string{"--restart-steps=3", "--restart-sec=2s", "--restart-max-delay=1s"}, "--restart-max-delay: 1s is not longer than --restart-sec=2s"},
		{[]string{"--restart-steps=3", "--restart-sec=0", "--restart-max-delay=1s"}, "--restart-steps: 3 steps grow the pause from --restart-sec=0s, and a pause of 0 cannot grow; give --restart-sec more than 0"},
		{[]string{"--restart-reset-after=5s"}, "--restart-reset-after: 5s does nothing without --restart-steps and --restart-max-delay"},
		{[]string{"--timeout-start=5s"}, "--timeout-start: only counts under --type=notify"},
		{[]string{"--timeout-start=5s", "--watchdog=1s"}, "--timeout-start: only counts under --type=notify"},
		{[]string{"--notify-access=all"}, "--notify-access: does nothing without --type=notify or --watchdog"},
		{[]string{"--watchdog-signal=KILL"}, "--watchdog-signal: does nothing without --watchdog"},
		{[]string{"--watchdog=500ns"}, "--watchdog: 500ns is less than the 1µs that WATCHDOG_USEC can tell the child"},
		{[]string{"--type=notify", "--watchdog-signal=KILL"}, "--watchdog-signal: does nothing without --watchdog"},
		{[]string{"--health-tcp=localhost"}, `"localhost" is not HOST:PORT`},
		{[]string{"--health-tcp=localhost:"}, `"localhost:" is not HOST:PORT`},
		{[]string{"--memory-check-interval=5s"}, "--memory-check-interval: 5s does nothing without --memory-max: nothing is sampled; add --memory-max, or leave it out"},
		{[]string{"--memory-max=1G", "--memory-check-interval=9.999ms"}, "--memory-check-interval: 9.999ms is too short; give 10ms or more"},
		{[]string{"--memory-max=1G", "--memory-check-interval=0"}, "--memory-check-interval: 0s is too short"},
	} {
		args := append(slices.Clone(tc.flags), "--", "true")
		_, err := configureArgs(args...)
		var ue usageError
		if !errors.As(err, &ue) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: %v, want a usage error with %q", args, err, tc.want)
		}
	}
	for _, args := range [][]string{nil, {"--restart=always"}, {"--"}, {"--", ""}} {
		_, err := configureArgs(args...)
		if !errors.As(err, new(usageError)) || !strings.Contains(err.Error(), "COMMAND") {
			t.Errorf("%q: %v, want a usage error about COMMAND", args, err)
		}
	}
	if cfg, err := configureArgs("--", "--", "x"); err != nil {
		t.Errorf("-- -- x: %v", err)
	} else if !slices.Equal(cfg.argv, []string{"--", "x"}) {
		t.Errorf(`-- -- x: COMMAND %q, want "--" "x": one separator is taken`, cfg.argv)
	}

	// The health checks, each with its settings.
	cfg, err := configureArgs("--health-cmd=curl -f 'http://x/a b'", "--health-interval=5", "--health-timeout=0.5",
		"--health-start-period=1m", "--health-retries=1", "--", "true")
	if err != nil {
		t.Fatal(err)
	}
	if h := cfg.health; h.kind() != "cmd" || !slices.Equal(h.argv, []string{"curl", "-f", "http://x/a b"}) || h.interval != 5*time.Second ||
		h.timeout != 500*time.Millisecond || h.start != time.Minute || h.retries != 1 {
		t.Errorf("--health-cmd: %+v", h)
	}
	for _, tc := range []struct{ flag, kind, where string }{
		{"--health-http=http://u:p@127.0.0.1:65535/x?y", "http", "127.0.0.1:65535"},
		{"--health-http=http://[::1]/", "http", "[::1]:80"},
		{"--health-tcp=127.0.0.1:5", "tcp", "127.0.0.1:5"},
		{"--health-tcp=:5", "tcp", ":5"},
	} {
		cfg, err := configureArgs(tc.flag, "--", "true")
		if err != nil {
			t.Errorf("%s: %v", tc.flag, err)
			continue
		}
		h := cfg.health
		where := h.addr
		if h.url != nil {
			where = httpAddr(h.url)
		}
		if h.kind() != tc.kind || where != tc.where || h.interval != 30*time.Second || h.timeout != 30*time.Second || h.start != 0 || h.retries != 3 {
			t.Errorf("%s: %s check of %s, %+v; want %s of %s with the defaults", tc.flag, h.kind(), where, h, tc.kind, tc.where)
		}
	}
	// What the checks above refuse, in the company that makes it work.
	for _, flags := range [][]string{
		{"--type=notify", "--timeout-start=5s", "--notify-access=all"},
		{"--watchdog=1s", "--notify-access=all", "--watchdog-signal=KILL"},
		{"--watchdog=1µs"},
		{"--restart-steps=3", "--restart-max-delay=101ms"},
		{"--restart-steps=1", "--restart-max-delay=1m", "--restart-reset-after=5s"},
		{"--health-tcp=127.0.0.1:65535", "--health-interval=1", "--health-timeout=1", "--health-start-period=0", "--health-retries=1"},
		{"--memory-max=1G", "--memory-check-interval=10ms"},
	} {
		if _, err := configureArgs(append(slices.Clone(flags), "--", "true")...); err != nil {
			t.Errorf("%q: %v", flags, err)
		}
	}

	// --memory-max: none by default; in bytes, sampled every 5s unless set.
	for _, tc := range []struct {
		flags []string
		max   int64
		every time.Duration
	}{
		{nil, 0, 5 * time.Second},
		{[]string{"--memory-max=512M"}, 512 << 20, 5 * time.Second},
		{[]string{"--memory-max=1.5G", "--memory-check-interval=0.25"}, 3 << 29, 250 * time.Millisecond},
		{[]string{"--memory-max=100", "--memory-check-interval=10ms"}, 100, 10 * time.Millisecond},
	} {
		cfg, err := configureArgs(append(slices.Clone(tc.flags), "--", "true")...)
		if err != nil {
			t.Errorf("%q: %v", tc.flags, err)
		} else if cfg.memoryMax != tc.max || cfg.memoryCheck != tc.every {
			t.Errorf("%q: memory max %d every %v, want %d every %v", tc.flags, cfg.memoryMax, cfg.memoryCheck, tc.max, tc.every)
		}
	}

	// --restart-reset-after: given, else --restart-max-delay under backoff,
	// else 10s.
	for _, tc := range []struct {
		flags []string
		want  time.Duration
	}{
		{nil, 10 * time.Second},
		{[]string{"--restart-steps=3", "--restart-max-delay=1m"}, time.Minute},
		{[]string{"--restart-steps=3", "--restart-max-delay=1m", "--restart-reset-after=5s"}, 5 * time.Second},
		{[]string{"--restart-steps=3", "--restart-max-delay=1m", "--restart-reset-after=0"}, 0},
	} {
		cfg, err := configureArgs(append(slices.Clone(tc.flags), "--", "true")...)
		if err != nil {
			t.Errorf("%q: %v", tc.flags, err)
		} else if cfg.backoff.ResetAfter != tc.want {
			t.Errorf("%q: reset after %v, want %v", tc.flags, cfg.backoff.ResetAfter, tc.want)
		}
	}
}

func TestRedactURL(t *testing.T) {
	for raw, want := range map[string]string{
		"http://admin:hunter2@x/":      "http://***@x/",
		"http://admin:p%40ss@x:80/a?b": "http://***@x:80/a?b",
		"http://a@b:c@x/":              "http://***@x/",
		"http://x/path":                "http://x/path",
		"http://x/@me":                 "http://***@me", // an @ in the path hides more than it had to
		"x:80":                         "x:80",
		"user:pw@x":                    "***@x",
		"us:er://pw@x":                 "***@x", // "us:er" is no scheme
		"svn+ssh://u:pw@x":             "svn+ssh://***@x",
		"http://@x/":                   "http://***@x/", // an empty user too: the rule is blind to what it hides
		"@x":                           "***@x",
		"":                             "",
	} {
		if got := redactURL(raw); got != want {
			t.Errorf("redactURL(%q) = %q, want %q", raw, got, want)
		}
	}
}

func checkBad(t *testing.T, env, args, want []string, marker string) string {
	t.Helper()
	cmd := exec.Command(rrBin(t), args...)
	cmd.Env = append(os.Environ(), env...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	err := cmd.Run()
	if cmd.ProcessState.ExitCode() != 2 {
		t.Errorf("%v %q: %v, want exit status 2; stderr %q", env, args, err, stderr.String())
	}
	for _, w := range append(slices.Clone(want), "restart-run: see restart-run --help\n") {
		if !strings.Contains(stderr.String(), w) {
			t.Errorf("%v %q: message %q does not name %q", env, args, stderr.String(), w)
		}
	}
	if marker != "" {
		if _, err := os.Stat(marker); err == nil {
			t.Errorf("%v %q: the child was started", env, args)
		}
	}
	return stderr.String()
}

// TestCommandCannotRun: 127 for a missing command, 126 for one that is not
// executable, with a clear message and no retries.
func TestCommandCannotRun(t *testing.T) {
	dir := t.TempDir()
	plain := filepath.Join(dir, "plain")
	os.WriteFile(plain, []byte("#!/bin/sh\n"), 0o644)
	for _, tc := range []struct {
		cmd    string
		status int
		msg    string
	}{
		{"no-such-command-here", 127, "command not found"},
		{filepath.Join(dir, "missing"), 127, "command not found"},
		{plain, 126, "permission denied"},
		{dir, 126, "is a directory"},
	} {
		cmd := exec.Command(rrBin(t), "--restart=always", "--", tc.cmd)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		cmd.Run()
		if st := cmd.ProcessState.ExitCode(); st != tc.status || !strings.Contains(stderr.String(), tc.msg) ||
			strings.Contains(stderr.String(), `"start"`) {
			t.Errorf("%s: status %d, stderr %q; want %d and %q, no start", tc.cmd, st, stderr.String(), tc.status, tc.msg)
		}
	}
}

// TestCommandVanishes: a command gone on a later start ends that start as
// exit code 127, class exit-code, and the limits apply as usual.
func TestCommandVanishes(t *testing.T) {
	script := filepath.Join(t.TempDir(), "once")
	os.WriteFile(script, []byte("#!/bin/sh\nrm -f \"$0\"\nexit 1\n"), 0o755)
	r := startRR(t, nil, "--burst=3", "--restart-sec=0", "--", script)
	if st := r.wait(); st != 127 {
		t.Errorf("status %d, want 127; log:\n%s", st, r.logText())
	}
	exits := r.named("exit")
	if len(exits) != 3 || exits[1].num("exit_code") != 127 || exits[1].str("class") != "exit-code" || len(r.named("limit")) != 1 {
		t.Errorf("exits %v; want 3, the later ones 127 exit-code, then the limit; log:\n%s", exits, r.logText())
	}
}

// report runs the helper's report verb with fd 3 open on extra, directly or
// under restart-run, and returns what the child saw.
type report struct {
	Env  []string
	Fds  map[string]string
	Pid  int
	Pgid int
}

func runReport(t *testing.T, extra *os.File, viaRR bool) report {
	t.Helper()
	argv := child("report")
	if viaRR {
		argv = append([]string{rrBin(t), "--restart=no", "--"}, argv...)
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = append(os.Environ(), helperEnv+"=1", "RESTART_RUN_BURST=4", "RESTART_RUN_ANYTHING=x", "KEEP_ME=yes")
	cmd.ExtraFiles = []*os.File{extra} // fd 3, as "3>extra" in a shell
	cmd.Dir = filepath.Dir(extra.Name())
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	var rep report
	if err := json.Unmarshal(bytes.TrimPrefix(bytes.TrimSpace(out), []byte("report ")), &rep); err != nil {
		t.Fatalf("report %q: %v", out, err)
	}
	return rep
}

// TestChildInherits: the child gets our stdio, descriptors we inherited and
// environment less RESTART_RUN_*, in its own process group, and no
// descriptor restart-run opened: it sees the same descriptors as the same
// command run directly.
func TestChildInherits(t *testing.T) {
	extra, err := os.Create(filepath.Join(t.TempDir(), "extra"))
	if err != nil {
		t.Fatal(err)
	}
	defer extra.Close()
	direct, rep := runReport(t, extra, false), runReport(t, extra, true)
	if !slices.Contains(rep.Env, "KEEP_ME=yes") {
		t.Errorf("KEEP_ME not passed on")
	}
	for _, kv := range rep.Env {
		if strings.HasPrefix(kv, "RESTART_RUN_") {
			t.Errorf("child got %s", kv)
		}
	}
	if rep.Pgid != rep.Pid {
		t.Errorf("child in process group %d, want its own (%d)", rep.Pgid, rep.Pid)
	}
	if rep.Fds["3"] != extra.Name() {
		t.Errorf("fd 3 is %q, want the inherited %q", rep.Fds["3"], extra.Name())
	}
	for fd, target := range rep.Fds {
		if _, ok := direct.Fds[fd]; !ok {
			t.Errorf("child has fd %s -> %s, which it lacks when run directly", fd, target)
		}
	}
	for fd, target := range direct.Fds {
		if _, ok := rep.Fds[fd]; !ok {
			t.Errorf("child lacks fd %s (%s), which it has when run directly", fd, target)
		}
	}
}

// TestChildSignalState: whatever restart-run ignores or blocks itself, and
// whatever it inherited, the child starts with default dispositions and an
// empty mask.
func TestChildSignalState(t *testing.T) {
	if _, err := exec.LookPath("python3"); err != nil {
		t.Skip("python3 is needed to start restart-run with a blocked signal mask")
	}
	// python3 blocks and ignores, then execs restart-run with that state
	// (and with SIGPIPE ignored, as python3 itself leaves it).
	prog := `import os, signal, sys
signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGUSR1, signal.SIGTERM, signal.SIGCHLD})
signal.signal(signal.SIGHUP, signal.SIG_IGN)
signal.signal(signal.SIGINT, signal.SIG_IGN)
os.execv(sys.argv[1], sys.argv[1:])`
	// grep reads its own state: a shell in between would show its own,
	// and dash blocks every signal while it waits for a command. With
	// --watchdog the command goes through the exec shim, which must leave
	// the same state.
	for _, extra := range [][]string{nil, {"--watchdog=1h"}} {
		args := append(append([]string{"-c", prog, rrBin(t), "--restart=no"}, extra...), "--", "grep", "-E", "^Sig(Blk|Ign)", "/proc/self/status")
		out, err := exec.Command("python3", args...).Output()
		if err != nil {
			t.Fatalf("%v: %s", err, out)
		}
		want := "SigBlk:\t0000000000000000\nSigIgn:\t0000000000000000\n"
		if string(out) != want {
			t.Errorf("%v: child signal state %q, want %q", extra, out, want)
		}
	}
}

// TestFlagHelp: every flag and argument of CLI has its help in flagHelp,
// and flagHelp names nothing else (a renamed flag would lose its help in
// silence, since it is no longer in the struct tags).
func TestFlagHelp(t *testing.T) {
	parser, err := kong.New(&CLI{}, kong.ExplicitGroups(flagGroups))
	if err != nil {
		t.Fatal(err)
	}
	help := map[string]int{} // name: how many entries of flagHelp
	for _, h := range flagHelp {
		if h.help != "" {
			help[h.name]++
		}
	}
	named := map[string]bool{}
	for _, v := range modelValues(parser.Model) {
		named[v.Name] = true
		if v.Name != "help" && help[v.Name] != 1 {
			t.Errorf("%s has %d entries with help in flagHelp, want 1", v.Name, help[v.Name])
		}
	}
	for name := range help {
		if !named[name] {
			t.Errorf("flagHelp names %q, which is no flag or argument", name)
		}
	}
}

// TestHelp: --help a newcomer can use without the README. The usage line
// puts the flags before the command; every flag but --help and --version
// sits under a group; no flag shows its own name in capitals as a
// placeholder (=RESTART-RESET-AFTER); each example parses and configures
// as it stands; the exit statuses close it.
func TestHelp(t *testing.T) {
	var out bytes.Buffer
	if _, done, err := parse([]string{"--help"}, &out); !done || err != nil {
		t.Fatalf("--help: done %v err %v", done, err)
	}
	help := out.String()
	if first, _, _ := strings.Cut(help, "\n"); first != "Usage: restart-run [flags] [--] COMMAND [ARG...]" {
		t.Errorf("usage line %q", first)
	}
	section := ""
	grouped := map[string]string{} // flag: the heading it is under
	for _, l := range strings.Split(help, "\n") {
		if l != "" && !strings.HasPrefix(l, " ") {
			section = l
		}
		f := strings.Fields(l)
		if len(f) == 0 {
			continue
		}
		if strings.HasPrefix(f[0], "-") && strings.Index(l, "-") <= 6 { // a flag, not its wrapped help
			name, value, _ := strings.Cut(f[0], "=")
			if f[0] == "-h," {
				name = f[1]
			}
			grouped[name] = section
			if value != "" && value == strings.ToUpper(strings.TrimPrefix(name, "--")) {
				t.Errorf("%s shows its own name as a placeholder: %s", name, l)
			}
		}
	}
	titles := []string{"Restart policy", "Start limit", "Stopping and signals", "Readiness, watchdog and timeouts", "Health checks",
		"Memory ceiling", "Hooks", "Exit status mapping", "Logging"}
	last := -1
	for _, title := range titles {
		i := strings.Index(help, "\n"+title)
		if i < last {
			t.Errorf("group %q missing or out of order", title)
		}
		last = i
	}
	flags := 0
	for name, sec := range grouped {
		if !strings.HasPrefix(name, "--") {
			continue
		}
		flags++
		switch {
		case name == "--help" || name == "--version":
			if sec != "Flags:" {
				t.Errorf("%s is under %q", name, sec)
			}
		case !slices.ContainsFunc(titles, func(title string) bool { return strings.HasPrefix(sec, title) }):
			t.Errorf("%s is under %q, not a group", name, sec)
		}
	}
	want := 1 // --help
	for _, f := range reflect.VisibleFields(reflect.TypeFor[CLI]()) {
		if f.IsExported() && f.Name != "Command" {
			want++
		}
	}
	if flags != want {
		t.Errorf("--help lists %d flags, CLI has %d", flags, want)
	}
	// Each flag's own text is printed: printHelp puts flagHelp's texts into
	// kong's model, flag by flag, only for --help.
	flat := strings.Join(strings.Fields(help), " ")
	for _, h := range flagHelp {
		words := strings.Fields(h.help)
		// kong drops a closing full stop to add the flag's variable.
		start := strings.TrimSuffix(strings.Join(words[:min(5, len(words))], " "), ".")
		if start != "" && !strings.Contains(flat, start) {
			t.Errorf("--help does not print %s's help (%q)", h.name, start)
		}
	}
	_, examples, ok := strings.Cut(help, "\nExamples:\n")
	if !ok {
		t.Fatal("no Examples section")
	}
	examples, statuses, ok := strings.Cut(examples, "\nExit status:\n")
	if !ok {
		t.Fatal("no Exit status section after the examples")
	}
	n := 0
	for _, l := range strings.Split(examples, "\n") {
		args, ok := strings.CutPrefix(strings.TrimSpace(l), "restart-run ")
		if !ok {
			continue
		}
		n++
		cli, done, err := parse(strings.Fields(args), io.Discard)
		if err == nil && !done {
			_, err = configure(cli)
		}
		if err != nil || done {
			t.Errorf("example %q: done %v, err %v", l, done, err)
		}
	}
	if n < 5 {
		t.Errorf("%d examples", n)
	}
	for _, status := range []string{"128+N", "127, 126", "2 "} {
		if !strings.Contains(statuses, status) {
			t.Errorf("exit statuses lack %q:\n%s", status, statuses)
		}
	}
}

// TestHelpIntoClosedPipe: --help and --version into a pipe whose reader
// has gone (restart-run --help | head -1) exit 0, every time: the write
// fails with EPIPE rather than SIGPIPE ending restart-run. On one processor
// (GOMAXPROCS=1) the signals still being caught in the background were
// not caught yet when the text was written, and every run died of SIGPIPE.
// The static build: the race runtime starts too slowly to lose the race.
func TestHelpIntoClosedPipe(t *testing.T) {
	for _, flag := range []string{"--help", "--version"} {
		for _, procs := range []string{"1", ""} {
			for range 5 {
				r, w, err := os.Pipe()
				if err != nil {
					t.Fatal(err)
				}
				r.Close() // the reader is gone before restart-run writes
				ctx, cancel := context.WithTimeout(context.Background(), deadline)
				cmd := exec.CommandContext(ctx, staticBin(t), flag)
				cmd.Env = append(os.Environ(), "GOMAXPROCS="+procs)
				cmd.Stdout = w
				var stderr bytes.Buffer
				cmd.Stderr = &stderr
				err = cmd.Run()
				cancel()
				w.Close()
				if err != nil {
					t.Fatalf("GOMAXPROCS=%q restart-run %s into a closed pipe: %v, want exit status 0; stderr %q", procs, flag, err, stderr.String())
				}
			}
		}
	}
}

// TestHelpWriteError: --help or --version that cannot be written (a full
// disk) exit 1 and say why; before, --help exited 2 with "see
// restart-run --help" as for bad input, and --version 0 as if written.
func TestHelpWriteError(t *testing.T) {
	full, err := os.OpenFile("/dev/full", os.O_WRONLY, 0)
	if err != nil {
		t.Skipf("no /dev/full: %v", err)
	}
	defer full.Close()
	for _, flag := range []string{"--help", "--version"} {
		cmd := exec.Command(rrBin(t), flag)
		cmd.Stdout = full
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		_ = cmd.Run()
		if st := cmd.ProcessState.ExitCode(); st != 1 || !strings.Contains(stderr.String(), "no space left on device") || strings.Contains(stderr.String(), "see restart-run --help") {
			t.Errorf("restart-run %s >/dev/full: status %d, stderr %q; want 1 and the write error alone", flag, st, stderr.String())
		}
	}
}

// TestFlagSources: a message names the variable only when the value came
// from it, in kong's own shape, and says which flag another one needs as
// the user set it.
func TestFlagSources(t *testing.T) {
	t.Setenv("RESTART_RUN_HEALTH_RETRIES", "0")
	t.Setenv("RESTART_RUN_RESTART_SEC", "2s")
	_, err := configureArgs("--health-cmd=true", "--", "true")
	if want := `--health-retries: 0 is not allowed; it must be 1 or more (from envar RESTART_RUN_HEALTH_RETRIES="0")`; err == nil || err.Error() != want {
		t.Errorf("from the variable: %v, want %q", err, want)
	}
	_, err = configureArgs("--health-cmd=true", "--health-retries=-0", "--", "true")
	if want := `--health-retries: 0 is not allowed; it must be 1 or more`; err == nil || err.Error() != want {
		t.Errorf("the flag beats the variable: %v, want %q", err, want)
	}
	_, err = configureArgs("--health-cmd=true", "--health-retries=1", "--restart-steps=2", "--restart-max-delay=1s", "--", "true")
	if want := "--restart-max-delay: 1s is not longer than RESTART_RUN_RESTART_SEC=2s, so the pause cannot grow; give a longer one"; err == nil || err.Error() != want {
		t.Errorf("the other flag from its variable: %v, want %q", err, want)
	}
	t.Setenv("RESTART_RUN_HEALTH_HTTP", "https://me:secret@x/")
	_, err = configureArgs("--health-retries=1", "--", "true")
	if err == nil || strings.Contains(err.Error(), "secret") || !strings.Contains(err.Error(), `(from envar RESTART_RUN_HEALTH_HTTP="https://***@x/")`) {
		t.Errorf("a password in the variable: %v", err)
	}

	cli, _, err := parse([]string{"--burst=3", "--restart=always", "true"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"burst": "", "restart": "", "restart-sec": "RESTART_RUN_RESTART_SEC", "health-retries": "RESTART_RUN_HEALTH_RETRIES", "health-http": "RESTART_RUN_HEALTH_HTTP"}
	if !maps.Equal(cli.from, want) {
		t.Errorf("sources %v, want %v", cli.from, want)
	}
}

// TestOneDash: a long flag with one dash is named, with the two dashes it
// needs; a real unknown short flag keeps kong's message, and so does a
// flag after "--", which is COMMAND's.
func TestOneDash(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"-restart=always", "true"}, "unknown flag -restart=always: long flags take two dashes: --restart=always"},
		{[]string{"--burst=1", "-timeout-stop", "5s", "true"}, "unknown flag -timeout-stop: long flags take two dashes: --timeout-stop"},
		{[]string{"-health-cmd=ping@x", "true"}, "unknown flag -health-cmd=ping@x: long flags take two dashes: --health-cmd=ping@x"}, // only a URL is redacted
		{[]string{"-x", "true"}, "unknown flag -x"},
		{[]string{"-nosuch=1", "true"}, "unknown flag -n"},
		// kong refused -x; -restart=always is COMMAND's own argument.
		{[]string{"-x", "sh", "-restart=always"}, "unknown flag -x"},
		{[]string{"--burst", "3", "-x", "-restart=always", "true"}, "unknown flag -x"},
	} {
		_, _, err := parse(tc.args, io.Discard)
		if err == nil || !strings.HasPrefix(err.Error(), tc.want) || !strings.Contains(tc.want, "two dashes") && strings.Contains(err.Error(), "two dashes") {
			t.Errorf("%q: %v, want %q", tc.args, err, tc.want)
		}
	}
	if _, _, err := parse([]string{"--", "sh", "-restart=always"}, io.Discard); err != nil {
		t.Errorf("COMMAND's own -restart: %v", err)
	}
}

func TestStrayVariables(t *testing.T) {
	parser, err := kong.New(&CLI{})
	if err != nil {
		t.Fatal(err)
	}
	got := strayVariables([]string{
		"RESTART_RUN_RESTRAT=always", "RESTART_RUN_BURST=3", "RESTART_RUN_INTERNAL_GUARD=json",
		"RESTART_RUN_HEALTHCMD=x", "restart_run_burst=1", "PATH=/bin", "RESTART_RUN_TIMEOUTSTOP",
		"RESTART_RUN_HEALTH_XXX=1", // as close to _CMD as to _TCP: the first in --help's order
	}, parser.Model.Flags)
	want := []strayVar{
		{"RESTART_RUN_RESTRAT", "RESTART_RUN_RESTART"},
		{"RESTART_RUN_HEALTHCMD", "RESTART_RUN_HEALTH_CMD"},
		{"RESTART_RUN_TIMEOUTSTOP", "RESTART_RUN_TIMEOUT_STOP"},
		{"RESTART_RUN_HEALTH_XXX", "RESTART_RUN_HEALTH_CMD"},
	}
	if !slices.Equal(got, want) {
		t.Errorf("stray %v, want %v", got, want)
	}
	for _, tc := range []struct {
		a, b string
		d    int
	}{{"", "", 0}, {"a", "", 1}, {"", "ab", 2}, {"kitten", "sitting", 3}, {"RESTRAT", "RESTART", 2}, {"abc", "abc", 0}} {
		if d := editDistance(tc.a, tc.b); d != tc.d {
			t.Errorf("editDistance(%q, %q) = %d, want %d", tc.a, tc.b, d, tc.d)
		}
	}
}

// TestIdleSettings: under --restart=no, restart settings are warned
// about, not refused (systemd takes them), unless a forced restart can
// use them.
func TestIdleSettings(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want []string
	}{
		{[]string{"--restart=no", "--burst=3", "--restart-sec=1", "--max-restarts=2"}, []string{"restart-sec", "burst", "max-restarts"}},
		{[]string{"--restart=no", "--interval=1m", "--restart-prevent-exit-status=3"}, []string{"interval", "restart-prevent-exit-status"}},
		{[]string{"--restart=no", "--restart-steps=2", "--restart-max-delay=1s", "--restart-reset-after=1s"}, []string{"restart-steps", "restart-max-delay", "restart-reset-after"}},
		{[]string{"--restart=no", "--burst=3", "--restart-force-exit-status=3"}, nil},
		{[]string{"--restart=always", "--burst=3"}, nil},
		{[]string{"--restart=no"}, nil},
	} {
		cli, _, err := parse(append(slices.Clone(tc.args), "true"), io.Discard)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, w := range cli.idleSettings() {
			got = append(got, w.flag)
			if !strings.Contains(w.msg, "--"+w.flag+" has no effect under --restart=no") {
				t.Errorf("message %q", w.msg)
			}
		}
		if !slices.Equal(got, tc.want) {
			t.Errorf("%q: warned about %q, want %q", tc.args, got, tc.want)
		}
	}
}

// TestConfigWarnings: what restart-run accepts but will not act on is
// said at warn before the first start: a RESTART_RUN_* variable that sets
// no flag (a typo would otherwise be ignored in silence), and restart
// settings under --restart=no.
func TestConfigWarnings(t *testing.T) {
	r := startRR(t, []string{"RESTART_RUN_RESTRAT=always"}, "--restart=no", "--burst=3", "--", "true")
	if st := r.wait(); st != 0 {
		t.Fatalf("status %d; log:\n%s", st, r.logText())
	}
	var vars, flags []string
	for _, e := range r.named("config") {
		if e.str("level") != "warn" {
			t.Errorf("config event at %q, want warn: %v", e.str("level"), e)
		}
		switch {
		case e.str("variable") != "":
			vars = append(vars, e.str("variable")+" "+e.str("closest"))
		default:
			flags = append(flags, e.str("flag"))
		}
	}
	if want := []string{"RESTART_RUN_RESTRAT RESTART_RUN_RESTART"}; !slices.Equal(vars, want) {
		t.Errorf("variables warned about %q, want %q", vars, want)
	}
	if want := []string{"burst"}; !slices.Equal(flags, want) {
		t.Errorf("flags warned about %q, want %q", flags, want)
	}
	if ev := r.logged(); len(ev) == 0 || ev[0].str("event") != "config" {
		t.Errorf("the warnings do not come first: %v", ev)
	}
}
