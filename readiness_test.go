package main

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

func needPython(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath("python3"); err != nil {
		t.Skip("python3 is needed (Debian package python3; .ci/run installs it)")
	}
}

func needSystemdNotify(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath("systemd-notify"); err != nil {
		t.Skip("systemd-notify is needed (Debian package systemd; .ci/run installs it)")
	}
}

// TestNotifyReadySystemdNotify: a shell child tells readiness with the real
// systemd-notify, which must return at once (its BARRIER=1 descriptor is
// closed by restart-run) and with status 0.
func TestNotifyReadySystemdNotify(t *testing.T) {
	needSystemdNotify(t)
	r := startRR(t, nil, "--type=notify", "--notify-access=all", "--restart=no", "--", "sh", "-c",
		`sleep 0.1; systemd-notify --ready --status="warming done"; echo notified $?; echo ready $$; exec sleep 1000`)
	start := time.Now()
	if got := r.line("notified"); got[0] != "0" {
		t.Errorf("systemd-notify exit status %s, want 0", got[0])
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("systemd-notify took %v: its barrier was not released", d)
	}
	ready := r.next("ready")
	r.waitReady()
	r.signal(syscall.SIGTERM)
	r.wait()
	if s := r.named("status"); len(s) != 1 || s[0].str("status") != "warming done" {
		t.Errorf("status events %v", s)
	}
	if ready.num("pid") != r.named("start")[0].num("pid") {
		t.Errorf("ready event %v", ready)
	}
}

// TestNotifyAccessMain: under main only the child's own datagrams count:
// go-systemd's SdNotify from the child itself is taken; from a process the
// child started it is refused (logged at debug) and the start times out
// (class timeout).
func TestNotifyAccessMain(t *testing.T) {
	r := startRR(t, nil, append([]string{"--type=notify", "--restart=no", "--"}, child("sdnotify", "READY=1")...)...)
	r.next("ready")
	r.waitReady()
	r.signal(syscall.SIGTERM)
	r.wait()

	// A helper process of the child's (here go-systemd in a grandchild)
	// sends from its own pid, which main refuses. (systemd-notify run as
	// root would not do: it sends on behalf of its parent, the shell.)
	helper := strings.Join(child("sdnotify", "READY=1"), " ")
	r = startRR(t, nil, "--type=notify", "--timeout-start=1s", "--restart=no", "--log-level=debug", "--", "sh", "-c",
		helper+" & echo ready $$; exec sleep 1000")
	r.line("sent")
	r.waitReady()
	to := r.next("timeout")
	if to.str("level") != "warn" {
		t.Errorf("timeout event %v", to)
	}
	if st := r.wait(); st != 143 {
		t.Errorf("status %d, want 143 (stopped with SIGTERM)", st)
	}
	if e := r.named("exit"); len(e) != 1 || e[0].str("class") != "timeout" {
		t.Errorf("exit %v, want class timeout", e)
	}
	if n := len(r.named("ready")); n != 0 {
		t.Errorf("%d ready events from a refused sender", n)
	}
	if !strings.Contains(r.logText(), "refused") {
		t.Errorf("no debug line for the refused datagram; log:\n%s", r.logText())
	}
}

// TestTimeoutWatchdogPolicies: each policy against the timeout class
// (--runtime-max) and the watchdog class (no WATCHDOG=1 within --watchdog).
func TestTimeoutWatchdogPolicies(t *testing.T) {
	restarts := map[string][]Policy{
		"timeout":  {Always, OnFailure, OnAbnormal},
		"watchdog": {Always, OnFailure, OnAbnormal, OnWatchdog},
	}
	flags := map[string]string{"timeout": "--runtime-max=200ms", "watchdog": "--watchdog=200ms"}
	for _, class := range []string{"timeout", "watchdog"} {
		for _, p := range allPolicies {
			t.Run(class+"/"+string(p), func(t *testing.T) {
				t.Parallel()
				r := startRR(t, nil, "--restart="+string(p), flags[class], "--burst=2", "--restart-sec=0", "--timeout-stop=2s",
					"--", "sh", "-c", "echo ready $$; exec sleep 1000")
				r.wait()
				want := 1
				if slices.Contains(restarts[class], p) {
					want = 2
				}
				exits := r.named("exit")
				if len(exits) != want {
					t.Fatalf("%d runs, want %d; log:\n%s", len(exits), want, r.logText())
				}
				for _, e := range exits {
					if e.str("class") != class {
						t.Errorf("exit %v, want class %s", e, class)
					}
				}
				if n := len(r.named(class)); n != want {
					t.Errorf("%d %s events, want %d", n, class, want)
				}
			})
		}
	}
}

// TestWatchdog: the child gets WATCHDOG_USEC and its own WATCHDOG_PID;
// pings keep it alive; a missed ping sends --watchdog-signal (SIGABRT);
// WATCHDOG=trigger fails it at once.
func TestWatchdog(t *testing.T) {
	needSystemdNotify(t)
	r := startRR(t, nil, "--watchdog=300ms", "--notify-access=all", "--restart=no", "--", "sh", "-c",
		`echo wd $WATCHDOG_USEC $WATCHDOG_PID $$; i=0; while [ $i -lt 10 ]; do systemd-notify WATCHDOG=1; sleep 0.1; i=$((i+1)); done; exit 0`)
	wd := r.line("wd")
	if len(wd) != 3 || wd[0] != "300000" || wd[1] != wd[2] {
		t.Errorf("child saw WATCHDOG_USEC, WATCHDOG_PID, pid = %v; want 300000 and its own pid", wd)
	}
	if st := r.wait(); st != 0 {
		t.Errorf("a child that pings: status %d, want 0; log:\n%s", st, r.logText())
	}
	if e := r.named("exit"); len(e) != 1 || e[0].str("class") != "clean" {
		t.Errorf("exits %v", e)
	}

	r = startRR(t, nil, "--watchdog=200ms", "--restart=no", "--", "sh", "-c", "echo ready $$; exec sleep 1000")
	if st := r.wait(); st != 134 {
		t.Errorf("missed watchdog: status %d, want 134 (SIGABRT)", st)
	}
	if e := r.named("exit"); len(e) != 1 || e[0].str("class") != "watchdog" || e[0].str("signal") != "SIGABRT" {
		t.Errorf("exits %v", e)
	}

	r = startRR(t, nil, "--watchdog=1h", "--watchdog-signal=SIGUSR2", "--notify-access=all", "--restart=no", "--", "sh", "-c",
		"systemd-notify WATCHDOG=trigger; echo ready $$; exec sleep 1000")
	if st := r.wait(); st != 128+int(syscall.SIGUSR2) {
		t.Errorf("WATCHDOG=trigger: status %d, want %d", st, 128+int(syscall.SIGUSR2))
	}
}

// TestExtendTimeout: EXTEND_TIMEOUT_USEC pushes the start timeout out.
func TestExtendTimeout(t *testing.T) {
	needSystemdNotify(t)
	r := startRR(t, nil, "--type=notify", "--timeout-start=300ms", "--notify-access=all", "--restart=no", "--", "sh", "-c",
		"systemd-notify EXTEND_TIMEOUT_USEC=3000000; sleep 0.6; systemd-notify --ready; echo ready $$; exec sleep 1000")
	r.next("ready")
	r.signal(syscall.SIGTERM)
	r.wait()
	if n := len(r.named("timeout")); n != 0 {
		t.Errorf("%d timeouts despite EXTEND_TIMEOUT_USEC", n)
	}
}

// TestRestartReset: RESTART_RESET=1 from the child sets the backoff back.
func TestRestartReset(t *testing.T) {
	needSystemdNotify(t)
	counter := filepath.Join(t.TempDir(), "runs")
	script := fmt.Sprintf(`n=$(cat %[1]s 2>/dev/null || echo 0); n=$((n+1)); echo $n > %[1]s
if [ $n -eq 3 ]; then systemd-notify RESTART_RESET=1; fi; exit 1`, counter)
	// --restart-reset-after=1h: on a loaded machine a run could last past
	// the default (80ms here) and reset the count on its own.
	r := startRR(t, nil, "--restart-sec=10ms", "--restart-steps=3", "--restart-max-delay=80ms", "--restart-reset-after=1h", "--burst=0", "--max-restarts=4",
		"--notify-access=all", "--watchdog=1h", "--", "sh", "-c", script)
	r.wait()
	var got []float64
	for _, e := range r.named("restart") {
		got = append(got, e.num("delay"))
	}
	if want := []float64{10, 20, 10, 20}; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("delays %v, want %v; log:\n%s", got, want, r.logText())
	}
}

// TestUpwardRelay: under a notify-aware supervisor (a socket of the test's
// own standing in for systemd) restart-run passes READY=1 up after its
// child's, pings WATCHDOG=1 at half its own period, sends STOPPING=1 on
// SIGTERM, and keeps the outer variables from the child.
func TestUpwardRelay(t *testing.T) {
	dir := t.TempDir()
	addr := filepath.Join(dir, "systemd")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: addr, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	msgs := make(chan string, 100)
	go func() {
		b := make([]byte, 4096)
		for {
			n, _, err := conn.ReadFromUnix(b)
			if err != nil {
				return
			}
			msgs <- string(b[:n])
		}
	}()
	env := []string{"NOTIFY_SOCKET=" + addr, "WATCHDOG_USEC=200000"}
	r := startRR(t, env, append([]string{"--type=notify", "--restart=no", "--"}, child("sdnotify", "READY=1")...)...)
	envLine := r.line("env")
	seen := strings.Join(envLine, " ")
	if strings.Contains(seen, addr) || strings.Contains(seen, "WATCHDOG_USEC=200000") {
		t.Errorf("child saw the outer supervisor's variables: %s", seen)
	}
	own := strings.TrimPrefix(envLine[0], "NOTIFY_SOCKET=")
	if own == "" {
		t.Fatalf("child got no NOTIFY_SOCKET of its own: %s", seen)
	}
	if st, err := os.Stat(filepath.Dir(own)); err != nil || st.Mode().Perm() != 0o700 {
		t.Errorf("notify socket directory %s: %v, mode %v; want 0700", filepath.Dir(own), err, st.Mode())
	}
	sent, _ := strconv.ParseInt(r.line("sent")[0], 10, 64)
	expect := func(want string) time.Time {
		t.Helper()
		timeout := time.After(deadline)
		for {
			select {
			case m := <-msgs:
				if strings.Contains(m, want) {
					return time.Now()
				}
			case <-timeout:
				t.Fatalf("no %q from restart-run within %v; log:\n%s", want, deadline, r.logText())
			}
		}
	}
	if at := expect("READY=1"); at.UnixNano() < sent {
		t.Errorf("READY=1 passed up before the child sent its own")
	}
	expect("WATCHDOG=1")
	expect("WATCHDOG=1")
	r.waitReady()
	r.signal(syscall.SIGTERM)
	expect("STOPPING=1")
	r.wait()
	if n := len(r.named("ready")); n != 1 {
		t.Errorf("%d ready events, want 1", n)
	}
	if _, err := os.Stat(filepath.Dir(own)); !os.IsNotExist(err) {
		t.Errorf("notify socket directory still there after exit: %v", err)
	}
}

func TestUsecSaturates(t *testing.T) {
	if got := usec(1500); got != 1500*time.Microsecond {
		t.Errorf("usec(1500) = %v", got)
	}
	for _, u := range []uint64{1<<64 - 1, 18446744073709552, 1 << 63} {
		if got := usec(u); got < 100*365*24*time.Hour {
			t.Errorf("usec(%d) = %v, want it to saturate, not wrap", u, got)
		}
	}
}

// TestStopDisarmsTimers: once a stop is requested, a child shutting down
// gracefully is not failed by its watchdog or --runtime-max.
func TestStopDisarmsTimers(t *testing.T) {
	needSystemdNotify(t)
	script := `trap 'stop=1' TERM; echo ready $$; while [ -z "$stop" ]; do systemd-notify WATCHDOG=1; sleep 0.05; done; sleep 1; exit 0`
	r := startRR(t, nil, "--watchdog=300ms", "--runtime-max=2s", "--notify-access=all", "--restart=always", "--", "sh", "-c", script)
	r.waitReady()
	r.signal(syscall.SIGTERM)
	if st := r.wait(); st != 0 {
		t.Errorf("status %d, want 0 (the child's own clean end); log:\n%s", st, r.logText())
	}
	if n := len(r.named("watchdog")) + len(r.named("timeout")); n != 0 {
		t.Errorf("%d watchdog or timeout events during a stop", n)
	}
	if e := r.named("exit"); len(e) != 1 || e[0].str("class") != "clean" {
		t.Errorf("exits %v, want one clean", e)
	}
}

// TestShimExecFailure: with --watchdog the command goes through the exec
// shim; a command that cannot be executed still ends the first start with
// 127 and no retries.
func TestShimExecFailure(t *testing.T) {
	script := filepath.Join(t.TempDir(), "bad")
	os.WriteFile(script, []byte("#!/nonexistent/interpreter\n"), 0o755)
	cmd := exec.Command(rrBin(t), "--watchdog=5s", "--restart=always", "--", script)
	out, _ := cmd.CombinedOutput()
	if st := cmd.ProcessState.ExitCode(); st != 127 || strings.Count(string(out), `"event":"start"`) != 0 {
		t.Errorf("status %d, want 127 and no start; output:\n%s", st, out)
	}
}

// TestTimersFromReady: under --type=notify the watchdog and --runtime-max
// start at READY=1, as systemd arms them on entering the running state, so
// a service that takes longer than either to start is not killed for it.
// The child takes 1.5 s to send READY=1 and then never pings: the watchdog
// (or the runtime limit) must fire after READY=1, one period later, and
// not during the start (before the fix: 1 s after the spawn, every time).
func TestTimersFromReady(t *testing.T) {
	for _, c := range []struct{ flag, event, class string }{
		{"--watchdog=1s", "watchdog", "watchdog"},
		{"--runtime-max=1s", "timeout", "timeout"},
	} {
		t.Run(c.event, func(t *testing.T) {
			r := startRR(t, nil, append([]string{"--type=notify", "--timeout-start=1m", c.flag, "--restart=no", "--"},
				child("slow-ready", "1.5s")...)...)
			ready := r.next("ready")
			fired := r.next(c.event)
			if d := fired.at(t).Sub(ready.at(t)); d < 900*time.Millisecond {
				t.Errorf("%s fired %v after READY=1, want a whole period (1s) after it; log:\n%s", c.event, d, r.logText())
			}
			r.wait()
			if e := r.named("exit"); len(e) != 1 || e[0].str("class") != c.class {
				t.Errorf("exits %v, want one of class %s", e, c.class)
			}
		})
	}
}

// TestWatchdogLowFileLimit: under an open-file limit of 16 the exec shim
// that sets WATCHDOG_PID still starts the command (before the fix its pipe
// was moved to descriptor 100 or above: "invalid argument", exit 126).
func TestWatchdogLowFileLimit(t *testing.T) {
	cmd := exec.Command("sh", "-c", `ulimit -n 16 && exec "$@"`, "sh", rrBin(t), "--watchdog=1m", "--restart=no", "--",
		"sh", "-c", `echo wd $WATCHDOG_PID $$`)
	r := startCmd(t, cmd)
	if wd := r.line("wd"); len(wd) != 2 || wd[0] != wd[1] {
		t.Errorf("WATCHDOG_PID and the child's pid: %v", wd)
	}
	if st := r.wait(); st != 0 {
		t.Errorf("status %d, want 0; log:\n%s", st, r.logText())
	}
}
