//go:build !unitonly

package main

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/restart-run/restart-run/internal/early"
	"github.com/rs/zerolog"
	"golang.org/x/sys/unix"
)

// TestStopSignals: SIGTERM, SIGINT and SIGQUIT to restart-run are passed on
// and stop it without a restart, even under --restart=always; it exits with
// the child's status.
func TestStopSignals(t *testing.T) {
	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGINT, syscall.SIGQUIT} {
		t.Run(signalName(sig), func(t *testing.T) {
			t.Parallel()
			r := startRR(t, nil, "--restart=always", "--", "sh", "-c", "echo ready $$; exec sleep 1000")
			r.waitReady()
			r.signal(sig)
			if st := r.wait(); st != 128+int(sig) {
				t.Errorf("status %d, want %d; log:\n%s", st, 128+int(sig), r.logText())
			}
			if n := len(r.named("start")); n != 1 {
				t.Errorf("%d starts after a stop, want 1", n)
			}
			if s := r.named("stop"); len(s) != 1 || s[0].str("signal") != signalName(sig) {
				t.Errorf("stop events %v", s)
			}
		})
	}
}

// exited waits for cmd to exit within the deadline; if it does not, it is
// killed and exited reports false.
func exited(cmd *exec.Cmd) bool {
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	select {
	case <-done:
		return true
	case <-time.After(deadline):
		cmd.Process.Kill()
		<-done
		return false
	}
}

// zombiesOf counts the zombie children of ppid.
func zombiesOf(ppid int) int { return len(zombiePids(ppid)) }

// zombiePids lists the zombie children of ppid.
func zombiePids(ppid int) []int {
	var out []int
	for _, p := range childrenOf(ppid) {
		if b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", p.pid)); err == nil {
			if i := bytes.LastIndexByte(b, ')'); i > 0 && len(b) > i+2 && b[i+2] == 'Z' {
				out = append(out, p.pid)
			}
		}
	}
	return out
}

// TestStopDuringPause: another signal that comes during the pause before
// a restart, with no child to take it, is logged and dropped, and the
// pause goes on; a stop request ends the pause at once, and no new start
// follows.
func TestStopDuringPause(t *testing.T) {
	r := startRR(t, nil, append([]string{"--restart-sec=1h", "--"}, child("exit", "4")...)...)
	r.next("restart")
	r.signal(syscall.SIGUSR1)
	if e := r.next("signal"); e.str("signal") != "SIGUSR1" || e.str("level") != "info" {
		t.Errorf("signal event %v, want SIGUSR1 dropped at info", e)
	}
	r.signal(syscall.SIGTERM)
	if st := r.wait(); st != 4 {
		t.Errorf("status %d, want the last child's 4", st)
	}
	if n := len(r.named("start")); n != 1 {
		t.Errorf("%d starts, want 1", n)
	}
}

// TestStopTimeout: a child that ignores SIGTERM is killed after
// --timeout-stop; a second stop signal is passed on too. The second signal
// and the child's report of it must come before the SIGKILL: 5 s leaves
// room for that on a loaded machine, where 1 s did not always.
func TestStopTimeout(t *testing.T) {
	r := startRR(t, nil, append([]string{"--restart=always", "--timeout-stop=5s", "--"}, child("signals", "TERM", "INT")...)...)
	r.waitReady()
	r.signal(syscall.SIGTERM)
	if got := r.line("got"); got[0] != "SIGTERM" {
		t.Fatalf("child got %v", got)
	}
	r.signal(syscall.SIGINT)
	if got := r.line("got"); got[0] != "SIGINT" {
		t.Fatalf("child got %v", got)
	}
	if st := r.wait(); st != 137 {
		t.Errorf("status %d, want 137 (SIGKILL)", st)
	}
	if k := r.named("kill"); len(k) != 1 {
		t.Errorf("kill events %v, want one", k)
	}
	if n := len(r.named("start")); n != 1 {
		t.Errorf("%d starts, want 1", n)
	}
}

// TestForwardSignals: every other catchable signal reaches the child as it
// is, and changes nothing else.
func TestForwardSignals(t *testing.T) {
	sigs := []string{"SIGHUP", "SIGUSR1", "SIGUSR2", "SIGWINCH", "SIGCONT", "SIGALRM", "SIGTSTP", "SIGTTIN", "SIGTTOU", "SIGRTMIN+3", "SIGRTMAX"}
	r := startRR(t, nil, append([]string{"--restart=no", "--"}, child(append([]string{"signals"}, sigs...)...)...)...)
	r.waitReady()
	for _, name := range sigs {
		s, _ := parseSignal(name)
		r.signal(s)
		if got := r.line("got"); got[0] != signalName(s) {
			t.Errorf("sent %s, child got %s", name, got[0])
		}
	}
	r.signal(syscall.SIGTERM)
	if st := r.wait(); st != 143 {
		t.Errorf("status %d, want 143", st)
	}
	if n := len(r.named("start")); n != 1 {
		t.Errorf("%d starts, want 1", n)
	}
}

// TestSignalBurst: 2000 SIGUSR1 at once leave restart-run working.
func TestSignalBurst(t *testing.T) {
	r := startRR(t, nil, append([]string{"--restart=always", "--"}, child("signals", "USR1")...)...)
	r.waitReady()
	for range 2000 {
		r.signal(syscall.SIGUSR1)
	}
	r.line("got") // at least one arrived; standard signals coalesce
	r.signal(syscall.SIGTERM)
	if st := r.wait(); st != 143 {
		t.Errorf("status %d, want 143; log:\n%s", st, r.logText())
	}
	if n := len(r.named("start")); n != 1 {
		t.Errorf("%d starts, want 1", n)
	}
}

// TestSIGPIPE: with its stderr a pipe nobody reads any more, restart-run
// keeps supervising and restarting, and a SIGPIPE sent to it from outside
// does not kill it either.
func TestSIGPIPE(t *testing.T) {
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	pr.Close() // the reader is gone before restart-run writes a line
	cmd := exec.Command(rrBin(t), append([]string{"--restart=always", "--restart-sec=10ms", "--burst=0", "--max-restarts=20", "--"},
		child("exit", "1")...)...)
	cmd.Env = append(os.Environ(), helperEnv+"=1")
	cmd.Stderr = pw
	stdout, stdoutW := pipeOut(t, cmd)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pw.Close()
	stdoutW.Close()
	sc := bufio.NewScanner(stdout)
	starts := 0
	for sc.Scan() {
		if strings.HasPrefix(sc.Text(), "stamp ") {
			starts++
			if starts == 2 {
				// restart-run is past its set-up: a SIGPIPE from outside
				// must not kill it either.
				_ = cmd.Process.Signal(syscall.SIGPIPE)
			}
		}
	}
	if err := sc.Err(); err != nil {
		cmd.Process.Kill()
		t.Errorf("reading the children's output: %v (%d starts so far)", err, starts)
	}
	if !exited(cmd) {
		t.Fatalf("restart-run did not exit within %v", deadline)
	}
	if st := cmd.ProcessState.ExitCode(); st != 1 {
		t.Errorf("status %d (%v), want 1", st, cmd.ProcessState)
	}
	if starts != 21 {
		t.Errorf("%d starts, want 21", starts)
	}
}

// pipeOut makes cmd's stdout a pipe and returns both ends; reads from
// the read end fail once the deadline has passed, so a test that scans it
// cannot hang on a restart-run that never exits. The caller closes the
// write end once cmd has started.
func pipeOut(t *testing.T, cmd *exec.Cmd) (r, w *os.File) {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close(); w.Close() })
	if err := r.SetReadDeadline(time.Now().Add(deadline)); err != nil {
		t.Fatal(err)
	}
	cmd.Stdout = w
	return r, w
}

// TestLeftovers: after the child ends, what is left of its process group and
// orphans that left the group are stopped before the restart under
// control-group, SIGKILLed under mixed, and left alone under process.
func TestLeftovers(t *testing.T) {
	// The grandchild in the group ignores SIGTERM, so control-group needs
	// SIGKILL after --timeout-stop; the one in a session of its own (setsid)
	// has left the group and is found as an orphan.
	script := `trap '' TERM; sleep 300 & echo grand $!; setsid sleep 301 & echo grand $!; echo ready $$; exit 1`
	for _, mode := range []string{"control-group", "mixed", "process"} {
		t.Run(mode, func(t *testing.T) {
			t.Parallel()
			r := startRR(t, nil, "--kill-mode="+mode, "--timeout-stop=500ms", "--restart-sec=1h", "--", "sh", "-c", script)
			g1, _ := strconv.Atoi(r.line("grand")[0])
			g2, _ := strconv.Atoi(r.line("grand")[0])
			r.next("restart") // logged after the cleanup
			kills := 0
			for _, g := range []int{g1, g2} {
				if alive(g) == (mode != "process") {
					t.Errorf("grandchild %d alive %v under %s", g, alive(g), mode)
				}
				if mode == "process" {
					syscall.Kill(g, syscall.SIGKILL)
				}
			}
			r.signal(syscall.SIGTERM)
			r.wait()
			kills = len(r.named("kill"))
			if want := map[string]int{"control-group": 1, "mixed": 0, "process": 0}[mode]; kills != want {
				t.Errorf("%d kill events, want %d", kills, want)
			}
		})
	}
}

// TestNoZombies: restart-run is the subreaper of its child's tree: an
// orphan (a grandchild whose parent has exited) becomes its child, and a
// child that double-forks 200 short-lived grandchildren leaves no zombie,
// since restart-run reaps them. (Without the subreaper the orphans go to
// init, which reaps them too: the zombie count alone cannot tell.)
func TestNoZombies(t *testing.T) {
	r := startRR(t, nil, "--restart=no", "--", "sh", "-c",
		`(sleep 1000 & echo orphan $!); i=0; while [ $i -lt 200 ]; do (true &); i=$((i+1)); done; echo ready $$; exec sleep 1000`)
	orphan := r.line("orphan")[0]
	r.waitReady()
	pid := r.cmd.Process.Pid
	// The subshell that started the sleep has exited and been waited for
	// by the time the child says ready; the kernel reparents the sleep as
	// its parent exits.
	if ppid, _, ok := procStat(orphan); !ok || ppid != pid {
		t.Errorf("orphan %s: parent %d (found %v), want restart-run (%d), its subreaper", orphan, ppid, ok, pid)
	}
	waitUntil(t, "no zombie children of restart-run", func() bool { return zombiesOf(pid) == 0 })
	r.signal(syscall.SIGTERM)
	if st := r.wait(); st != 143 {
		t.Errorf("status %d, want 143", st)
	}
}

// TestParentDeath: restart-run killed outright takes its child with it.
func TestParentDeath(t *testing.T) {
	r := startRR(t, nil, "--restart=always", "--", "sh", "-c", "echo ready $$; exec sleep 1000")
	pid := r.waitReady()
	r.signal(syscall.SIGKILL)
	r.wait()
	waitGone(t, pid, deadline)
}

// TestPID1: as PID 1 of a new PID namespace restart-run reaps orphans and
// stops on SIGTERM with the child's status.
func TestPID1(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("unshare --pid needs root; CI runs this as root")
	}
	if _, err := exec.LookPath("unshare"); err != nil {
		t.Skip("unshare (util-linux) is not installed")
	}
	cmd := exec.Command("unshare", "--pid", "--fork", "--kill-child", "--mount-proc", rrBin(t), "--restart=always", "--", "sh", "-c",
		`i=0; while [ $i -lt 50 ]; do (sleep 0.01 &); i=$((i+1)); done; echo parent $PPID; echo ready $$; exec sleep 1000`)
	r := startCmd(t, cmd)
	if ppid := r.line("parent")[0]; ppid != "1" {
		t.Errorf("child's parent is %s in the namespace, want 1 (restart-run)", ppid)
	}
	var rrPid int
	waitUntil(t, "restart-run started under unshare", func() bool {
		kids := childrenOf(cmd.Process.Pid)
		if len(kids) == 1 {
			rrPid = kids[0].pid
		}
		return rrPid != 0
	})
	waitUntil(t, "orphans reaped by PID 1", func() bool { return len(childrenOf(rrPid)) == 1 && zombiesOf(rrPid) == 0 })
	syscall.Kill(rrPid, syscall.SIGTERM)
	if st := r.wait(); st != 143 {
		t.Errorf("status %d, want 143; log:\n%s", st, r.logText())
	}
	if n := len(r.named("start")); n != 1 {
		t.Errorf("%d starts, want 1", n)
	}
}

// TestSIGPIPEDebug: at debug level too, a closed stderr leaves restart-run
// responsive (logging the SIGPIPE must not raise it again without end).
func TestSIGPIPEDebug(t *testing.T) {
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	pr.Close()
	cmd := exec.Command(rrBin(t), "--log-level=debug", "--restart=always", "--", "sh", "-c", "echo ready $$; exec sleep 1000")
	cmd.Stderr = pw
	stdout, stdoutW := pipeOut(t, cmd)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pw.Close()
	stdoutW.Close()
	sc := bufio.NewScanner(stdout)
	if !sc.Scan() || !strings.HasPrefix(sc.Text(), "ready ") {
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatalf("no ready line: %v", sc.Err())
	}
	cmd.Process.Signal(syscall.SIGTERM)
	if !exited(cmd) {
		t.Fatal("restart-run did not stop on SIGTERM with its stderr closed")
	}
	if st := cmd.ProcessState.ExitCode(); st != 143 {
		t.Errorf("status %d, want 143", st)
	}
}

// TestStopOneDeadline: a stop request has one --timeout-stop for the child
// and its leftovers together: one SIGKILL round, not two timeouts in a row.
func TestStopOneDeadline(t *testing.T) {
	script := `trap '' TERM; setsid sh -c "trap '' TERM; echo grand \$\$; exec sleep 300" & echo ready $$; while :; do sleep 1; done`
	r := startRR(t, nil, "--timeout-stop=2s", "--restart=always", "--", "sh", "-c", script)
	g := 0
	for seen := 0; seen < 2; seen++ { // "grand" and "ready", in either order
		select {
		case l := <-r.out:
			if f := strings.Fields(l); len(f) == 2 && f[0] == "grand" {
				g, _ = strconv.Atoi(f[1])
			}
		case <-time.After(deadline):
			t.Fatalf("child did not start; log:\n%s", r.logText())
		}
	}
	r.signal(syscall.SIGTERM)
	if st := r.wait(); st != 137 {
		t.Errorf("status %d, want 137", st)
	}
	// The child's SIGKILL and the leftovers' come at the one deadline (2s
	// after the stop); the leftovers do not get a second --timeout-stop of
	// their own, which would put the end 4s or more after the stop (timers
	// never fire early). Anything under that is one deadline: the bound
	// leaves a loaded machine 2s to reap the child and the leftovers.
	at := func(name string) time.Time {
		e := r.named(name)
		if len(e) != 1 {
			t.Fatalf("%d %s events, want 1; log:\n%s", len(e), name, r.logText())
		}
		ts, _ := time.Parse(time.RFC3339Nano, e[0].str("time"))
		return ts
	}
	if took := at("done").Sub(at("stop")); took >= 4*time.Second {
		t.Errorf("the stop took %v: the leftovers had a second timeout; log:\n%s", took, r.logText())
	}
	if g == 0 || alive(g) {
		t.Errorf("leftover %d alive", g)
	}
}

// TestSignalsBeforeStart: signals caught while restart-run starts up (it
// catches them from package initialisation on) reach no child: a stop
// request ends it before anything starts, with 128+signal; any other is
// dropped and logged.
func TestSignalsBeforeStart(t *testing.T) {
	var log bytes.Buffer
	cfg := &config{stopSignals: SignalList{syscall.SIGTERM, syscall.SIGINT, syscall.SIGQUIT}}
	s := &supervisor{cfg: cfg, log: zerolog.New(&log), sig: signalIn{other: make(chan os.Signal, 4), stop: make(chan os.Signal, 4)}}
	if _, stop := s.signalsBeforeStart(); stop {
		t.Fatal("a stop with no signal pending")
	}
	s.sig.other <- syscall.SIGUSR1
	s.sig.other <- syscall.SIGPIPE
	if _, stop := s.signalsBeforeStart(); stop {
		t.Fatal("SIGUSR1 taken for a stop request")
	}
	if len(s.sig.other) != 0 || !strings.Contains(log.String(), `"signal":"SIGUSR1"`) || strings.Contains(log.String(), "SIGPIPE") {
		t.Errorf("SIGUSR1 not dropped and logged (SIGPIPE silently); log: %s", log.String())
	}
	s.sig.other <- syscall.SIGHUP
	s.sig.stop <- syscall.SIGTERM
	status, stop := s.signalsBeforeStart()
	if !stop || status != 143 {
		t.Errorf("SIGTERM before the first start: stop %v, status %d; want a stop with 143", stop, status)
	}
	// --stop-signals=HUP: SIGTERM is dropped, SIGHUP stops.
	cfg.stopSignals = SignalList{syscall.SIGHUP}
	s.sig.other, s.sig.stop = make(chan os.Signal, 4), make(chan os.Signal, 4)
	s.sig.stop <- syscall.SIGTERM
	if _, stop := s.signalsBeforeStart(); stop {
		t.Error("SIGTERM taken for a stop request under --stop-signals=HUP")
	}
	s.sig.other <- syscall.SIGHUP
	if status, stop := s.signalsBeforeStart(); !stop || status != 129 {
		t.Errorf("SIGHUP under --stop-signals=HUP: stop %v, status %d; want a stop with 129", stop, status)
	}
}

// TestEarlyInit: restart-run's signals are caught from the init of package
// early, which must come right after os/signal's, before kong's, zerolog's
// and main's: an import that os/signal does not itself need (strings,
// say) would make it wait for more packages, and the window in which a
// SIGHUP kills restart-run would grow back. The order is the linker's,
// the same on every run.
func TestEarlyInit(t *testing.T) {
	cmd := exec.Command(rrBin(t), "--version")
	cmd.Env = append(os.Environ(), "GODEBUG=inittrace=1")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("restart-run --version: %v: %s", err, out)
	}
	var inits []string // packages in the order they were initialised
	for _, l := range strings.Split(string(out), "\n") {
		if f := strings.Fields(l); len(f) > 2 && f[0] == "init" {
			inits = append(inits, f[1])
		}
	}
	const pkg = "github.com/restart-run/restart-run/internal/early"
	i := slices.Index(inits, pkg)
	if i < 1 || inits[i-1] != "os/signal" {
		t.Fatalf("%s is not initialised right after os/signal; order:\n%s", pkg, strings.Join(inits, "\n"))
	}
	for _, later := range []string{"github.com/alecthomas/kong", "github.com/rs/zerolog", "main"} {
		if j := slices.Index(inits, later); j < i {
			t.Errorf("%s is initialised at %d, before %s at %d", later, j, pkg, i)
		}
	}
}

// TestEarlySkipsHelpers: package early knows restart-run's helper
// processes by argv[0] and leaves their signals alone (a guard, shim or
// sentinel that caught everything would outlive signals meant to end it,
// and a shim would pay for catching at every start), but not restart-run.
func TestEarlySkipsHelpers(t *testing.T) {
	for _, a := range []string{guardArgv0, shimArgv0, sentinelArgv0} {
		if !early.Skips(a) {
			t.Errorf("package early would catch signals in %q", a)
		}
	}
	if early.Skips(rrBin(t)) || early.Skips("restart-run") {
		t.Errorf("package early would not catch signals in restart-run itself")
	}
}

// TestSignalPendingAtExec: a signal sent right after exec, before
// restart-run can catch anything, is handled as documented once it is
// caught. How soon restart-run survives a SIGHUP cannot be tested here (it
// is a matter of milliseconds on a loaded machine; bench/sigwindow measures
// it), but a signal blocked when restart-run starts waits, pending, until
// os/signal catches it. Go keeps an inherited block on SIGUSR1, not on
// SIGHUP, SIGINT or SIGTERM, so SIGUSR1 it is: it must be dropped and
// logged before the first start, or, should restart-run take it only after
// the start, reach the child; restart-run itself must not die of it.
func TestSignalPendingAtExec(t *testing.T) {
	// The child reports SIGUSR1, or dies of it before its trap is set.
	r := startBlocked(t, syscall.SIGUSR1, "--restart=no", "--", "sh", "-c",
		`trap 'echo got SIGUSR1; exit 0' USR1; echo ready $$; sleep 1000 & wait`)
	r.signal(syscall.SIGUSR1) // as early as a parent can: right after exec
	r.next("start")
	dropped := false
	for _, e := range r.logged() {
		if e.str("event") == "signal" && e.str("signal") == "SIGUSR1" {
			dropped = true
		}
	}
	if dropped {
		t.Log("SIGUSR1 dropped before the start")
		r.waitReady()
		r.signal(syscall.SIGTERM)
	} else {
		t.Log("SIGUSR1 not dropped before the start: the child must get it")
	}
	st := r.wait()
	if ws := r.cmd.ProcessState.Sys().(syscall.WaitStatus); ws.Signaled() {
		t.Fatalf("restart-run was killed by %v; log:\n%s", ws.Signal(), r.logText())
	}
	switch {
	case dropped && st != 143:
		t.Errorf("SIGUSR1 dropped before the start, then SIGTERM: status %d, want 143; log:\n%s", st, r.logText())
	case !dropped && st != 0 && st != 128+int(syscall.SIGUSR1):
		t.Errorf("SIGUSR1 neither dropped before the start nor passed to the child: status %d; log:\n%s", st, r.logText())
	}
}

// stoppedState waits until pid is stopped (state T in /proc), which no
// event reports to a process that is not its parent.
func stoppedState(t *testing.T, pid int) {
	t.Helper()
	waitUntil(t, fmt.Sprintf("process %d stopped", pid), func() bool {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		i := bytes.LastIndexByte(b, ')')
		return err == nil && i > 0 && len(b) > i+2 && b[i+2] == 'T'
	})
}

// TestStopContinuesStoppedChild: a child stopped with SIGSTOP gets SIGCONT
// after the stop signal, as systemd's kill_and_sigcont does, so it acts on
// the signal at once (143) instead of waiting out --timeout-stop for
// SIGKILL (137): after a stop request, and after restart-run's own kill
// for failed health checks. A stopped leftover of the child's group gets
// the same from the cleanup after the child has ended.
func TestStopContinuesStoppedChild(t *testing.T) {
	t.Run("stop request", func(t *testing.T) {
		r := startRR(t, nil, "--timeout-stop=1m", "--", "sh", "-c", "echo ready $$; exec sleep 1000")
		pid := r.waitReady()
		_ = unix.Kill(pid, unix.SIGSTOP)
		stoppedState(t, pid)
		r.signal(syscall.SIGTERM)
		if st := r.wait(); st != 143 {
			t.Errorf("status %d, want 143 (SIGTERM acted on); log:\n%s", st, r.logText())
		}
		if k := r.named("kill"); len(k) != 0 {
			t.Errorf("kill events %v, want none", k)
		}
	})
	t.Run("unhealthy", func(t *testing.T) {
		marker := t.TempDir() + "/unhealthy"
		r := startRR(t, nil, "--timeout-stop=1m", "--restart=no", "--health-cmd=test ! -e "+marker,
			"--health-interval=100ms", "--health-retries=1", "--", "sh", "-c", "echo ready $$; exec sleep 1000")
		pid := r.waitReady()
		_ = unix.Kill(pid, unix.SIGSTOP)
		stoppedState(t, pid)
		if err := os.WriteFile(marker, nil, 0o644); err != nil {
			t.Fatal(err)
		}
		if st := r.wait(); st != 143 {
			t.Errorf("status %d, want 143 (SIGTERM acted on); log:\n%s", st, r.logText())
		}
		if e := r.named("exit"); len(e) != 1 || e[0].str("class") != "watchdog" {
			t.Errorf("exits %v, want one of class watchdog", e)
		}
		if k := r.named("kill"); len(k) != 0 {
			t.Errorf("kill events %v, want none", k)
		}
	})
	t.Run("leftover", func(t *testing.T) {
		// Without the SIGCONT after the cleanup's SIGTERM, the stopped
		// sleep would keep it pending for the whole minute until SIGKILL.
		r := startRR(t, nil, "--timeout-stop=1m", "--restart=no", "--", "sh", "-c",
			"sleep 1000 & echo grand $!; echo ready $$; wait")
		g, _ := strconv.Atoi(r.line("grand")[0])
		pid := r.waitReady()
		_ = unix.Kill(g, unix.SIGSTOP)
		stoppedState(t, g)
		_ = unix.Kill(pid, unix.SIGKILL) // the child ends; the sleep is left over, stopped
		waitGone(t, g, deadline)
		if st := r.wait(); st != 137 {
			t.Errorf("status %d, want the child's 137; log:\n%s", st, r.logText())
		}
		if k := r.named("kill"); len(k) != 0 {
			t.Errorf("kill events %v, want none (the leftover acted on SIGTERM)", k)
		}
	})
}

// TestSignalsDuringStop: once a stop is under way, a signal that would end
// or stop the child is not forwarded (logged at debug): a SIGHUP must not
// cut short a child's graceful shutdown after SIGTERM (before: killed by
// SIGHUP, status 129). SIGWINCH, harmless, still goes through.
func TestSignalsDuringStop(t *testing.T) {
	r := startRR(t, nil, append([]string{"--log-level=debug", "--timeout-stop=1m", "--restart=always", "--"},
		child("graceful")...)...)
	pid := r.waitReady()
	r.signal(syscall.SIGTERM)
	r.line("term")
	r.signal(syscall.SIGWINCH)
	if got := r.line("got"); got[0] != "SIGWINCH" {
		t.Errorf("child got %v, want SIGWINCH", got)
	}
	for _, sig := range []syscall.Signal{syscall.SIGHUP, syscall.SIGUSR1, syscall.SIGTSTP} {
		r.signal(sig)
		for {
			e := r.next("signal")
			if e.str("signal") == signalName(sig) {
				break
			}
		}
	}
	_ = unix.Kill(pid, unix.SIGUSR2) // the child ends its shutdown
	if st := r.wait(); st != 0 {
		t.Errorf("status %d, want 0 (the child's clean end); log:\n%s", st, r.logText())
	}
	if n := len(r.named("start")); n != 1 {
		t.Errorf("%d starts, want 1", n)
	}
}

// TestNoStopTimeout: --timeout-stop=0 and infinity mean no limit, as
// systemd's TimeoutStopSec= takes them: a child may take its time to shut
// down and is never sent SIGKILL (before: 0 sent SIGKILL at once, status
// 137, and infinity was refused).
func TestNoStopTimeout(t *testing.T) {
	for _, limit := range []string{"0", "infinity"} {
		t.Run(limit, func(t *testing.T) {
			r := startRR(t, nil, append([]string{"--timeout-stop=" + limit, "--restart=always", "--"}, child("graceful")...)...)
			pid := r.waitReady()
			r.signal(syscall.SIGTERM)
			r.line("term")
			r.signal(syscall.SIGWINCH) // still there to answer, after the stop began
			if got := r.line("got"); got[0] != "SIGWINCH" {
				t.Errorf("child got %v, want SIGWINCH", got)
			}
			_ = unix.Kill(pid, unix.SIGUSR2) // the child ends its shutdown
			if st := r.wait(); st != 0 {
				t.Errorf("status %d, want 0 (the child's own end); log:\n%s", st, r.logText())
			}
			if k := r.named("kill"); len(k) != 0 {
				t.Errorf("kill events %v, want none", k)
			}
		})
	}
}

// catchAllPy is a child that reports every signal it can catch (glibc
// refuses handlers for 32 and 33) as "got N", except the stop signals,
// which end it as they would any program.
const catchAllPy = `
import os, signal
def report(n, _):
    os.write(1, b"got %d\n" % n)
for n in range(1, 65):
    if n in (2, 3, 9, 15, 19, 32, 33):
        continue
    signal.signal(n, report)
os.write(1, b"ready %d\n" % os.getpid())
while True:
    signal.pause()
`

// TestEverySignal sends restart-run every signal from 1 to 64 that a
// process can catch, one at a time, and checks that it survives each and
// which ones reach the child: all but SIGCHLD, SIGPIPE and SIGURG (its
// own, and the Go runtime's), 32 and 33 (reserved for C libraries; the
// runtime takes 33) and the stop signals, sent last. Before signal 34 and
// SIGPROF had a handler of restart-run's own, 34 ended restart-run (status
// 162) and SIGPROF never reached the child.
func TestEverySignal(t *testing.T) {
	needPython(t)
	r := startRR(t, nil, "--restart=always", "--", "python3", "-c", catchAllPy)
	r.waitReady()
	notForwarded := map[int]bool{9: true, 13: true, 17: true, 19: true, 23: true, 32: true, 33: true}
	got := map[int]bool{}
	// awaitGot reads the child's reports up to the one for n. Each signal
	// is sent only once the one before it has been reported: a SIGCONT
	// still pending in the child would be discarded by a SIGTSTP after it.
	awaitGot := func(n int) {
		for {
			g, _ := strconv.Atoi(r.line("got")[0])
			got[g] = true
			if g == n {
				return
			}
		}
	}
	// A signal that is not forwarded is followed by a marker that is: once
	// the child reports the marker, restart-run is alive; had the signal
	// been forwarded, its report shows by the end (read below).
	const marker = int(syscall.SIGUSR2)
	for n := 1; n <= 64; n++ {
		sig := syscall.Signal(n)
		if n == 9 || n == 19 || sig == syscall.SIGTERM || sig == syscall.SIGINT || sig == syscall.SIGQUIT {
			continue
		}
		if err := r.cmd.Process.Signal(sig); err != nil {
			t.Fatalf("restart-run is gone before signal %d: %v; log:\n%s", n, err, r.logText())
		}
		if !notForwarded[n] {
			awaitGot(n)
			continue
		}
		if err := r.cmd.Process.Signal(syscall.Signal(marker)); err != nil {
			t.Fatalf("restart-run is gone after signal %d: %v; log:\n%s", n, err, r.logText())
		}
		awaitGot(marker)
	}
	r.signal(syscall.SIGTERM)
	if st := r.wait(); st != 143 {
		t.Errorf("status %d, want 143 (the child's end by SIGTERM); log:\n%s", st, r.logText())
	}
	if n := len(r.named("start")); n != 1 {
		t.Errorf("%d starts, want 1", n)
	}
	for {
		select {
		case l := <-r.out: // every report the child made, to its end
			if f, ok := strings.CutPrefix(l, "got "); ok {
				g, _ := strconv.Atoi(f)
				got[g] = true
			}
			continue
		default:
		}
		break
	}
	for n := 1; n <= 64; n++ {
		sig := syscall.Signal(n)
		stop := sig == syscall.SIGTERM || sig == syscall.SIGINT || sig == syscall.SIGQUIT
		if want := !notForwarded[n] && !stop; got[n] != want {
			t.Errorf("signal %d (%s): child got it %v, want %v", n, signalName(sig), got[n], want)
		}
	}
}

// TestStopSignalsFlag: --stop-signals chooses which signals are a stop
// request; the others are forwarded like any signal. Under TERM,INT a
// SIGQUIT (a JVM's thread dump) reaches the child and nothing stops; under
// HUP, SIGTERM is forwarded and SIGHUP stops.
func TestStopSignalsFlag(t *testing.T) {
	r := startRR(t, nil, append([]string{"--stop-signals=TERM,INT", "--restart=always", "--"}, child("signals", "QUIT")...)...)
	r.waitReady()
	r.signal(syscall.SIGQUIT)
	if got := r.line("got"); got[0] != "SIGQUIT" {
		t.Errorf("child got %v, want SIGQUIT", got)
	}
	r.signal(syscall.SIGTERM)
	if st := r.wait(); st != 143 {
		t.Errorf("status %d, want 143; log:\n%s", st, r.logText())
	}
	if s := r.named("stop"); len(s) != 1 || s[0].str("signal") != "SIGTERM" {
		t.Errorf("stop events %v, want one for SIGTERM", s)
	}

	r = startRR(t, nil, append([]string{"--stop-signals=1", "--restart=always", "--"}, child("signals", "TERM")...)...)
	r.waitReady()
	r.signal(syscall.SIGTERM)
	if got := r.line("got"); got[0] != "SIGTERM" {
		t.Errorf("child got %v, want SIGTERM", got)
	}
	r.signal(syscall.SIGHUP)
	if st := r.wait(); st != 129 {
		t.Errorf("status %d, want 129 (the child's end by SIGHUP); log:\n%s", st, r.logText())
	}
	if n := len(r.named("start")); n != 1 {
		t.Errorf("%d starts after a stop by SIGHUP, want 1", n)
	}
}

// TestForwardTo: --forward-to=group sends forwarded signals to the child's
// whole process group (as dumb-init and tini -g), child (the default) to
// the child alone.
func TestForwardTo(t *testing.T) {
	for _, to := range []string{"child", "group"} {
		t.Run(to, func(t *testing.T) {
			helper := strings.Join(child("signals", "USR1"), " ")
			r := startRR(t, nil, "--forward-to="+to, "--restart=no", "--", "sh", "-c", helper+" & exec "+helper)
			pids := map[string]bool{r.line("ready")[0]: true, r.line("ready")[0]: true}
			r.signal(syscall.SIGUSR1)
			first := r.line("got")
			if to == "child" {
				// The grandchild is told directly; had the forwarded one
				// reached it, its line would come first.
				delete(pids, first[1])
				for pid := range pids {
					p, _ := strconv.Atoi(pid)
					_ = unix.Kill(p, unix.SIGUSR1)
				}
			}
			second := r.line("got")
			if first[1] == second[1] || !pids[second[1]] {
				t.Errorf("got lines %v and %v, pids %v", first, second, pids)
			}
			for pid := range pids {
				p, _ := strconv.Atoi(pid)
				_ = unix.Kill(p, unix.SIGTERM)
			}
			r.signal(syscall.SIGTERM)
			r.wait()
		})
	}
}

// TestReraise: a stop by SIGINT or SIGQUIT that ends the child by that
// signal ends restart-run by it too, as a bare command would end, so a
// calling shell stops its script (SPEC.md section 5); a stop by SIGTERM, or
// a child that exits on SIGINT, ends restart-run with an exit status.
func TestReraise(t *testing.T) {
	for _, c := range []struct {
		sig    syscall.Signal
		script string
		killed syscall.Signal // 0: an exit status
		status int
	}{
		{syscall.SIGINT, "echo ready $$; exec sleep 1000", syscall.SIGINT, 130},
		{syscall.SIGQUIT, "echo ready $$; exec sleep 1000", syscall.SIGQUIT, 131},
		{syscall.SIGTERM, "echo ready $$; exec sleep 1000", 0, 143},
		{syscall.SIGINT, `trap "exit 0" INT; echo ready $$; sleep 1000 & wait`, 0, 0},
	} {
		t.Run(fmt.Sprintf("%s %s", signalName(c.sig), c.script), func(t *testing.T) {
			// No core file from SIGQUIT.
			cmd := exec.Command("sh", "-c", `ulimit -c 0 && exec "$@"`, "sh", rrBin(t), "--kill-mode=mixed", "--",
				"sh", "-c", c.script)
			r := startCmd(t, cmd)
			r.waitReady()
			r.signal(c.sig)
			if st := r.wait(); st != c.status {
				t.Errorf("status %d, want %d; log:\n%s", st, c.status, r.logText())
			}
			ws := cmd.ProcessState.Sys().(syscall.WaitStatus)
			switch {
			case c.killed != 0 && (!ws.Signaled() || ws.Signal() != c.killed):
				t.Errorf("restart-run ended with %v, want killed by %s", ws, signalName(c.killed))
			case c.killed == 0 && ws.Signaled():
				t.Errorf("restart-run killed by %s, want an exit status", signalName(ws.Signal()))
			}
		})
	}
}

// TestJobControlSignals: without a terminal, SIGTSTP, SIGTTIN and SIGTTOU
// are forwarded like any signal and restart-run keeps running (as tini does;
// dumb-init stops itself too, to mimic a terminal's job control): a child
// with the default action stops, SIGCONT to restart-run continues it, and a
// stop request still ends it.
func TestJobControlSignals(t *testing.T) {
	for _, sig := range []syscall.Signal{syscall.SIGTSTP, syscall.SIGTTIN, syscall.SIGTTOU} {
		t.Run(signalName(sig), func(t *testing.T) {
			r := startRR(t, nil, "--restart=no", "--", "sh", "-c", "echo ready $$; exec sleep 1000")
			pid := r.waitReady()
			r.signal(sig)
			stoppedState(t, pid)
			r.signal(syscall.SIGCONT)
			waitUntil(t, "child continued", func() bool {
				b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
				i := bytes.LastIndexByte(b, ')')
				return err == nil && i > 0 && len(b) > i+2 && b[i+2] != 'T'
			})
			r.signal(syscall.SIGTERM)
			if st := r.wait(); st != 143 {
				t.Errorf("status %d, want 143; log:\n%s", st, r.logText())
			}
		})
	}
}

// TestKillSignalNumber: --kill-signal takes a number, as Docker's
// STOPSIGNAL does: --kill-signal=9 stops a child past --runtime-max with
// SIGKILL itself, not SIGKILL after --timeout-stop.
func TestKillSignalNumber(t *testing.T) {
	r := startRR(t, nil, "--kill-signal=9", "--runtime-max=200ms", "--timeout-stop=1m", "--restart=no", "--",
		"sh", "-c", `trap "" TERM; echo ready $$; exec sleep 1000`)
	r.waitReady()
	if st := r.wait(); st != 137 {
		t.Errorf("status %d, want 137", st)
	}
	if e := r.named("exit"); len(e) != 1 || e[0].str("signal") != "SIGKILL" || e[0].str("class") != "timeout" {
		t.Errorf("exits %v, want one killed by SIGKILL, class timeout", e)
	}
	if k := r.named("kill"); len(k) != 0 {
		t.Errorf("kill events %v: SIGKILL came after --timeout-stop, not as the kill signal", k)
	}
}
