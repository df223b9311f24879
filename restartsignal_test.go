package main

import (
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// Tests of --restart-signal: a signal to restart-run that restarts the
// child (systemctl restart), stopping it as a stop request would.

// TestRestartSignalFlag: the flag's values, parsed and configured in
// process; TestRestartSignalBadInput checks the refusals through the
// binary.
func TestRestartSignalFlag(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want unix.Signal
	}{
		{nil, 0},
		{[]string{"--restart-signal=HUP"}, unix.SIGHUP},
		{[]string{"--restart-signal=SIGUSR2"}, unix.SIGUSR2},
		{[]string{"--restart-signal=10"}, unix.SIGUSR1},
		{[]string{"--restart-signal=rtmin+3"}, 37},
		{[]string{"--restart-signal=SIGALRM"}, unix.SIGALRM},
		// Out of --stop-signals, a stop signal's name is free.
		{[]string{"--stop-signals=INT,QUIT", "--restart-signal=TERM"}, unix.SIGTERM},
	} {
		cfg, err := configureArgs(append(slices.Clone(tc.args), "--", "true")...)
		if err != nil || cfg.restartSignal != tc.want {
			t.Errorf("%q: %v, restart signal %d; want %d", tc.args, err, cfg.restartSignal, tc.want)
		}
	}
	for _, tc := range []struct{ in, want string }{
		{"KILL", "SIGKILL cannot be the restart signal: restart-run cannot catch it or keeps it for itself; use one it would forward, such as HUP, USR1, USR2"},
		{"STOP", "SIGSTOP cannot be the restart signal"},
		{"CHLD", "SIGCHLD cannot be the restart signal"},
		{"PIPE", "SIGPIPE cannot be the restart signal"},
		{"URG", "SIGURG cannot be the restart signal"},
		{"32", "SIG32 cannot be the restart signal"},
		{"33", "SIG33 cannot be the restart signal"},
		{"CONT", "SIGCONT cannot be the restart signal: it is a job control signal"},
		{"TSTP", "SIGTSTP cannot be the restart signal: it is a job control signal"},
		{"TTIN", "SIGTTIN cannot be the restart signal: it is a job control signal"},
		{"TTOU", "SIGTTOU cannot be the restart signal: it is a job control signal"},
		{"WINCH", "SIGWINCH cannot be the restart signal: a terminal sends it on every resize of its window"},
		{"28", "SIGWINCH cannot be the restart signal"},
		{"", "is empty; give a signal"},
		{"0", `"0" is not a signal number (1-64)`},
		{"BOGUS", `"BOGUS" is not a signal name`},
	} {
		r := RestartSignal(unix.SIGHUP)
		if err := r.UnmarshalText([]byte(tc.in)); err == nil || !strings.Contains(err.Error(), tc.want) || r != RestartSignal(unix.SIGHUP) {
			t.Errorf("RestartSignal(%q): %v, value %v; want an error with %q, and the value left alone", tc.in, err, r, tc.want)
		}
	}
	if s := RestartSignal(unix.SIGUSR2).String(); s != "SIGUSR2" {
		t.Errorf("String() = %q", s)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--restart-signal=TERM"}, "--restart-signal: SIGTERM is a stop signal too, in --stop-signals (SIGTERM,SIGINT,SIGQUIT by default): it cannot both stop restart-run and restart the child"},
		{[]string{"--restart-signal=2"}, "--restart-signal: SIGINT is a stop signal too"},
		{[]string{"--restart-signal=QUIT"}, "--restart-signal: SIGQUIT is a stop signal too"},
		{[]string{"--stop-signals=HUP", "--restart-signal=HUP"}, "--restart-signal: SIGHUP is a stop signal too, in --stop-signals=SIGHUP"},
	} {
		_, err := configureArgs(append(slices.Clone(tc.args), "--", "true")...)
		if !errors.As(err, new(usageError)) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: %v, want a usage error with %q", tc.args, err, tc.want)
		}
	}
}

// TestIdleSettingsRestartSignal: under --restart=no, --restart-signal
// restarts, so the limits that count its restarts are not idle; the pause
// and the status lists, which it does not use, still are.
func TestIdleSettingsRestartSignal(t *testing.T) {
	cli, _, err := parse([]string{"--restart=no", "--restart-signal=HUP", "--burst=3", "--interval=1m", "--max-restarts=2",
		"--restart-sec=1", "--restart-prevent-exit-status=3", "true"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, w := range cli.idleSettings() {
		got = append(got, w.flag)
		if want := "--" + w.flag + " has no effect under --restart=no, where only --restart-signal restarts"; !strings.Contains(w.msg, want) {
			t.Errorf("message %q, want %q", w.msg, want)
		}
	}
	if want := []string{"restart-sec", "restart-prevent-exit-status"}; !slices.Equal(got, want) {
		t.Errorf("warned about %q, want %q", got, want)
	}
}

// TestRestartSignalBadInput: each signal --restart-signal refuses ends
// restart-run with status 2 and a message naming the flag, before any
// child starts.
func TestRestartSignalBadInput(t *testing.T) {
	for _, tc := range []struct {
		env  []string
		args []string
		want []string
	}{
		{nil, []string{"--restart-signal=KILL"}, []string{"SIGKILL", "cannot be the restart signal", "HUP, USR1"}},
		{nil, []string{"--restart-signal=SIGSTOP"}, []string{"SIGSTOP", "cannot be the restart signal"}},
		{nil, []string{"--restart-signal=CHLD"}, []string{"SIGCHLD", "cannot be the restart signal"}},
		{nil, []string{"--restart-signal=13"}, []string{"SIGPIPE", "cannot be the restart signal"}},
		{nil, []string{"--restart-signal=URG"}, []string{"SIGURG", "cannot be the restart signal"}},
		{nil, []string{"--restart-signal=32"}, []string{"SIG32", "cannot be the restart signal"}},
		{nil, []string{"--restart-signal=33"}, []string{"SIG33", "cannot be the restart signal"}},
		{nil, []string{"--restart-signal=CONT"}, []string{"SIGCONT", "job control"}},
		{nil, []string{"--restart-signal=TSTP"}, []string{"SIGTSTP", "job control"}},
		{nil, []string{"--restart-signal=TTIN"}, []string{"SIGTTIN", "job control"}},
		{nil, []string{"--restart-signal=TTOU"}, []string{"SIGTTOU", "job control"}},
		{nil, []string{"--restart-signal=TERM"}, []string{"SIGTERM", "stop signal too", "--stop-signals"}},
		{nil, []string{"--restart-signal=INT"}, []string{"SIGINT", "stop signal too"}},
		{nil, []string{"--restart-signal=SIGQUIT"}, []string{"SIGQUIT", "stop signal too"}},
		{nil, []string{"--stop-signals=HUP", "--restart-signal=1"}, []string{"SIGHUP", "stop signal too", "--stop-signals=SIGHUP"}},
		{[]string{"RESTART_RUN_STOP_SIGNALS=TERM,USR1"}, []string{"--restart-signal=USR1"}, []string{"SIGUSR1", "RESTART_RUN_STOP_SIGNALS=TERM,USR1"}},
		{[]string{"RESTART_RUN_RESTART_SIGNAL=KILL"}, nil, []string{"SIGKILL", "RESTART_RUN_RESTART_SIGNAL"}},
		{[]string{"RESTART_RUN_RESTART_SIGNAL=TERM"}, nil, []string{"SIGTERM", "stop signal too", "RESTART_RUN_RESTART_SIGNAL"}},
		{nil, []string{"--restart-signal="}, []string{"is empty"}},
		{nil, []string{"--restart-signal=65"}, []string{`"65"`, "1-64"}},
		{nil, []string{"--restart-signal=NOPE"}, []string{`"NOPE"`, "not a signal name"}},
	} {
		marker := filepath.Join(t.TempDir(), "started")
		args := append(slices.Clone(tc.args), "--restart=no", "--", "sh", "-c", "touch "+marker)
		checkBad(t, tc.env, args, append(tc.want, "--restart-signal"), marker)
	}
}

// TestRestartSignalServer: a python3 http.server under --restart=no
// --restart-signal=SIGHUP. SIGHUP to restart-run stops it with
// --kill-signal (SIGTERM) and starts it again at once, whatever --restart
// says: a new pid serves on the same port, the old one is gone, and the
// lines of the cycle are at info.
func TestRestartSignalServer(t *testing.T) {
	needPython(t)
	dir := t.TempDir()
	port := freePort(t)
	r := startRR(t, nil, "--restart=no", "--restart-signal=SIGHUP", "--",
		"python3", "-u", "-m", "http.server", strconv.Itoa(port), "--bind", "127.0.0.1", "--directory", dir)
	url := fmt.Sprintf("http://127.0.0.1:%d/", port)
	first := int(r.next("start").num("pid"))
	r.serving(port)
	if code, _, err := fetch(url); err != nil || code != 200 {
		t.Fatalf("GET %s: %d %v; log:\n%s", url, code, err, r.logText())
	}

	r.signal(syscall.SIGHUP)
	req := r.next("restart-request")
	exit := r.next("exit")
	restart := r.next("restart")
	start := r.next("start")
	second := int(start.num("pid"))
	if req.str("signal") != "SIGHUP" || req.str("kill_signal") != "SIGTERM" || int(req.num("pid")) != first {
		t.Errorf("restart-request %v, want SIGHUP stopping pid %d with SIGTERM", req, first)
	}
	if int(exit.num("pid")) != first || exit.str("signal") != "SIGTERM" || exit.str("class") != "clean" || exit["restart_requested"] != true {
		t.Errorf("exit %v, want pid %d killed by SIGTERM, clean, restart_requested", exit, first)
	}
	if restart.str("reason") != "signal" || restart.num("delay_ms") != 0 || restart.num("attempt") != 2 {
		t.Errorf("restart %v, want reason signal, no delay, attempt 2", restart)
	}
	for _, e := range []event{req, exit, restart, start} {
		if e.str("level") != "info" {
			t.Errorf("%s at %q, want info under --restart=no too", e.str("event"), e.str("level"))
		}
	}
	if second == first || second == 0 {
		t.Fatalf("started again with pid %d, first was %d", second, first)
	}
	waitGone(t, first, deadline)
	r.serving(port)
	if code, _, err := fetch(url); err != nil || code != 200 {
		t.Fatalf("GET %s after the restart: %d %v; log:\n%s", url, code, err, r.logText())
	}

	r.signal(syscall.SIGTERM)
	if st := r.wait(); st != 143 {
		t.Errorf("status %d, want 143; log:\n%s", st, r.logText())
	}
	if n := len(r.named("start")); n != 2 {
		t.Errorf("%d starts, want 2", n)
	}
}

// TestRestartSignalLimiter: the start limiter counts restarts on request,
// the first start included, as systemd's start limit counts manual
// starts: with the default burst of 5, the fifth SIGHUP, which would be
// the sixth start, is refused: a limit line, and restart-run exits with
// the last child's status. Each SIGHUP is sent after the previous start
// line. The window is an hour rather than the default 10 s, so that a
// slow machine cannot let the first start fall out of it.
func TestRestartSignalLimiter(t *testing.T) {
	r := startRR(t, nil, "--restart=no", "--restart-signal=SIGHUP", "--interval=1h", "--", "sh", "-c", "echo ready $$; exec sleep 1000")
	for i := 1; i <= 5; i++ {
		if a := r.next("start").num("attempt"); a != float64(i) {
			t.Fatalf("start attempt %v, want %d", a, i)
		}
		r.signal(syscall.SIGHUP)
	}
	limit := r.next("limit")
	if limit.num("starts") != 5 || limit.num("burst") != 5 || limit.num("restarts") != 4 || limit.num("exit_code") != 143 {
		t.Errorf("limit %v, want 5 starts of 5, 4 restarts, exit code 143", limit)
	}
	if st := r.wait(); st != 143 {
		t.Errorf("status %d, want 143 (the last child's, killed by SIGTERM); log:\n%s", st, r.logText())
	}
	restarts := r.named("restart")
	if len(restarts) != 4 || len(r.named("start")) != 5 {
		t.Fatalf("%d restarts, %d starts; want 4, 5; log:\n%s", len(restarts), len(r.named("start")), r.logText())
	}
	for i, e := range restarts {
		if e.str("reason") != "signal" || e.num("starts") != float64(i+2) {
			t.Errorf("restart %v, want reason signal, %d starts in the window", e, i+2)
		}
	}
}

// TestRestartSignalStopWins: a stop request during the restart's stop
// wins: no new start, and restart-run exits with the child's status. The
// child takes its time to shut down: it says "term" on SIGTERM and exits 0
// when the test sends it SIGUSR2.
func TestRestartSignalStopWins(t *testing.T) {
	r := startRR(t, nil, append([]string{"--restart=no", "--restart-signal=SIGHUP", "--timeout-stop=1m", "--"}, child("graceful")...)...)
	pid := r.waitReady()
	r.signal(syscall.SIGHUP)
	r.next("restart-request")
	r.line("term")
	r.signal(syscall.SIGTERM)
	r.next("stop")
	_ = unix.Kill(pid, unix.SIGUSR2) // the child ends its shutdown
	if st := r.wait(); st != 0 {
		t.Errorf("status %d, want 0 (the child's); log:\n%s", st, r.logText())
	}
	if n, m := len(r.named("start")), len(r.named("restart")); n != 1 || m != 0 {
		t.Errorf("%d starts, %d restarts; want 1, 0; log:\n%s", n, m, r.logText())
	}
}

// TestRestartSignalKill: a child that ignores SIGTERM is sent SIGKILL
// after --timeout-stop and then started again. SIGHUP itself never
// reaches the child: the "signals" helper reports every SIGTERM and
// SIGHUP it gets, and ignores both.
func TestRestartSignalKill(t *testing.T) {
	r := startRR(t, nil, append([]string{"--restart=no", "--restart-signal=SIGHUP", "--timeout-stop=500ms", "--"},
		child("signals", "TERM", "HUP")...)...)
	first := r.waitReady()
	r.signal(syscall.SIGHUP)
	req := r.next("restart-request")
	if got := r.line("got"); got[0] != "SIGTERM" {
		t.Errorf("child got %v, want SIGTERM", got)
	}
	kill := r.next("kill")
	exit := r.next("exit")
	restart := r.next("restart")
	second := r.waitReady()
	if waited := kill.at(t).Sub(req.at(t)); waited < 500*time.Millisecond {
		t.Errorf("SIGKILL %v after the request, before --timeout-stop", waited)
	}
	if int(exit.num("pid")) != first || exit.str("signal") != "SIGKILL" || exit.str("class") != "signal" || exit.str("level") != "warn" {
		t.Errorf("exit %v, want pid %d killed by SIGKILL, class signal, at warn", exit, first)
	}
	if restart.str("reason") != "signal" || restart.num("delay_ms") != 0 {
		t.Errorf("restart %v, want reason signal, no delay", restart)
	}
	if second == first {
		t.Errorf("started again with the same pid %d", first)
	}
	waitGone(t, first, deadline)
	r.signal(syscall.SIGTERM)
	if st := r.wait(); st != 137 {
		t.Errorf("status %d, want 137 (the second child, killed after --timeout-stop); log:\n%s", st, r.logText())
	}
	for {
		select {
		case l := <-r.out: // the readers are done: what is left is buffered
			if strings.HasPrefix(l, "got SIGHUP") {
				t.Errorf("the child got the restart signal: %q", l)
			}
			continue
		default:
		}
		break
	}
}

// TestRestartSignalTwice: a second SIGHUP while the restart's stop is
// under way does nothing more (a debug line): one request, one kill
// signal, one restart, one new start.
func TestRestartSignalTwice(t *testing.T) {
	r := startRR(t, nil, append([]string{"--restart=no", "--restart-signal=SIGHUP", "--timeout-stop=1m", "--log-level=debug", "--"},
		child("graceful")...)...)
	first := r.waitReady()
	r.signal(syscall.SIGHUP)
	r.next("restart-request")
	r.line("term")
	r.signal(syscall.SIGHUP)
	if e := r.next("signal"); e.str("signal") != "SIGHUP" || e.str("level") != "debug" || !strings.Contains(e.str("message"), "restart is under way already") {
		t.Errorf("signal event %v, want the second SIGHUP ignored at debug", e)
	}
	_ = unix.Kill(first, unix.SIGUSR2) // the child ends its shutdown
	r.next("restart")
	second := r.waitReady()
	r.signal(syscall.SIGTERM)
	r.line("term")
	_ = unix.Kill(second, unix.SIGUSR2)
	if st := r.wait(); st != 0 {
		t.Errorf("status %d, want 0; log:\n%s", st, r.logText())
	}
	if a, b, c := len(r.named("restart-request")), len(r.named("restart")), len(r.named("start")); a != 1 || b != 1 || c != 2 {
		t.Errorf("%d restart requests, %d restarts, %d starts; want 1, 1, 2; log:\n%s", a, b, c, r.logText())
	}
}

// TestRestartSignalBackoff: a restart on request starts at once and leaves
// the backoff alone. With pauses of 100ms, 200ms, 400ms (S=100ms, N=2,
// D=400ms): run 1 fails (100ms, the first step), run 2 is restarted by
// SIGHUP (no pause), run 3 fails: 200ms, the second step, as if run 2 had
// not been. Advanced, it would be 400ms; reset, 100ms. The long
// --restart-reset-after keeps run 2's own length from resetting it.
func TestRestartSignalBackoff(t *testing.T) {
	runs := filepath.Join(t.TempDir(), "runs")
	script := `n=$(cat "$1" 2>/dev/null || echo 0); n=$((n+1)); echo $n >"$1"
case $n in 1|3) exit 1;; esac
echo ready $$; exec sleep 1000`
	r := startRR(t, nil, "--restart=on-failure", "--restart-signal=SIGHUP", "--restart-sec=100ms", "--restart-steps=2",
		"--restart-max-delay=400ms", "--restart-reset-after=1h", "--burst=0", "--", "sh", "-c", script, "sh", runs)
	var delays []float64
	delays = append(delays, r.next("restart").num("delay_ms"))
	r.waitReady()
	r.signal(syscall.SIGHUP)
	delays = append(delays, r.next("restart").num("delay_ms"))
	delays = append(delays, r.next("restart").num("delay_ms"))
	r.waitReady()
	r.signal(syscall.SIGTERM)
	if st := r.wait(); st != 143 {
		t.Errorf("status %d, want 143; log:\n%s", st, r.logText())
	}
	if want := []float64{100, 0, 200}; !slices.Equal(delays, want) {
		t.Errorf("pauses %v ms, want %v; log:\n%s", delays, want, r.logText())
	}
}

// TestRestartSignalDuringPause: in the pause before a restart that is due
// anyway, SIGHUP cuts the pause short: the child starts at once, and the
// start limiter, which counted that start when the restart was decided,
// does not count it again.
func TestRestartSignalDuringPause(t *testing.T) {
	// The window outlasts the pause, or the start an hour on (as the
	// limiter counts it) would open a window of its own.
	r := startRR(t, nil, append([]string{"--restart-signal=SIGHUP", "--restart-sec=1h", "--interval=2h", "--"}, child("exit", "4")...)...)
	if e := r.next("restart"); e.num("starts") != 2 {
		t.Errorf("restart %v, want 2 starts in the window", e)
	}
	r.signal(syscall.SIGHUP)
	if e := r.next("restart-request"); !strings.Contains(e.str("message"), "pause is cut short") {
		t.Errorf("restart-request %v, want the pause cut short", e)
	}
	if e := r.next("start"); e.num("attempt") != 2 {
		t.Errorf("start %v, want attempt 2", e)
	}
	if e := r.next("restart"); e.num("starts") != 3 || e.str("reason") != "restart policy" || e.num("delay_ms") != 3600000 {
		t.Errorf("restart %v, want the policy's, after 3 starts, in 1h", e)
	}
	r.signal(syscall.SIGTERM)
	if st := r.wait(); st != 4 {
		t.Errorf("status %d, want 4; log:\n%s", st, r.logText())
	}
	if n, m := len(r.named("start")), len(r.named("restart")); n != 2 || m != 2 {
		t.Errorf("%d starts, %d restarts; want 2, 2", n, m)
	}
}

// TestRestartSignalDuringCleanup: a SIGHUP that comes after the child
// ended on its own, while its leftovers are being stopped, restarts it
// once they are gone, under --restart=no. The first run leaves a sleep
// that ignores SIGTERM (set before the fork, so no race), which the test
// kills once the request is logged.
func TestRestartSignalDuringCleanup(t *testing.T) {
	first := filepath.Join(t.TempDir(), "first")
	script := `if [ ! -e "$1" ]; then : >"$1"; trap "" TERM; sleep 1000 & exit 0; fi
echo ready $$; exec sleep 1000`
	// --timeout-stop is long, so that the SIGHUP surely comes during the
	// cleanup; the test then ends the leftover itself, by its group (the
	// first child's pid).
	r := startRR(t, nil, "--restart=no", "--restart-signal=SIGHUP", "--timeout-stop=1m", "--", "sh", "-c", script, "sh", first)
	pgid := int(r.next("start").num("pid"))
	r.next("cleanup")
	r.signal(syscall.SIGHUP)
	if e := r.next("restart-request"); !strings.Contains(e.str("message"), "the child has ended") {
		t.Errorf("restart-request %v, want one during the cleanup", e)
	}
	_ = unix.Kill(-pgid, unix.SIGKILL)
	if e := r.next("restart"); e.str("reason") != "signal" || e.num("delay_ms") != 0 {
		t.Errorf("restart %v, want reason signal, no delay", e)
	}
	r.waitReady()
	r.signal(syscall.SIGTERM)
	if st := r.wait(); st != 143 {
		t.Errorf("status %d, want 143; log:\n%s", st, r.logText())
	}
}

// TestRestartSignalDuringOwnKill: a SIGHUP while restart-run stops the
// child on its own account (here --runtime-max, long enough for the
// helper to catch SIGTERM first) sends nothing more: that
// kill goes on, the run keeps its class, timeout, and the restart follows
// at once under --restart=no. The second run, with no request, is not
// restarted.
func TestRestartSignalDuringOwnKill(t *testing.T) {
	r := startRR(t, nil, append([]string{"--restart=no", "--restart-signal=SIGHUP", "--runtime-max=2s", "--timeout-stop=1m", "--"},
		child("graceful")...)...)
	first := r.waitReady()
	r.line("term") // --runtime-max ran out
	r.signal(syscall.SIGHUP)
	if e := r.next("restart-request"); !strings.Contains(e.str("message"), "being stopped already") || e["kill_signal"] != nil {
		t.Errorf("restart-request %v, want one that sends nothing", e)
	}
	_ = unix.Kill(first, unix.SIGUSR2)
	if e := r.next("exit"); e.str("class") != "timeout" || e["restart_requested"] != true {
		t.Errorf("exit %v, want class timeout, restart requested", e)
	}
	if e := r.next("restart"); e.str("reason") != "signal" {
		t.Errorf("restart %v, want reason signal", e)
	}
	second := r.waitReady()
	r.line("term")
	_ = unix.Kill(second, unix.SIGUSR2)
	if st := r.wait(); st != 0 {
		t.Errorf("status %d, want 0; log:\n%s", st, r.logText())
	}
	if n := len(r.named("start")); n != 2 {
		t.Errorf("%d starts, want 2", n)
	}
}
