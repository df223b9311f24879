package main

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// Unit tests of --notification-fd: the flag's value, its checks, the
// child's descriptor table, and the readiness component fed by a real pipe
// (no child process).

func TestDescriptorFlag(t *testing.T) {
	for in, want := range map[string]Descriptor{"3": 3, " 9\t": 9, "1023": 1023, "2147483647": 2147483647} {
		var d Descriptor
		if err := d.UnmarshalText([]byte(in)); err != nil || d != want {
			t.Errorf("Descriptor(%q) = %d, %v; want %d", in, d, err, want)
		}
	}
	for in, want := range map[string]string{
		"2": "not a descriptor number of 3 or more", "0": "3 or more", "-1": "3 or more", "x": "3 or more",
		"": "3 or more", "3.5": "3 or more", "0x3": "3 or more",
		"2147483648": "too large", "99999999999999999999": "too large",
	} {
		d := Descriptor(7)
		if err := d.UnmarshalText([]byte(in)); err == nil || !strings.Contains(err.Error(), strconv.Quote(in)+" is ") ||
			!strings.Contains(err.Error(), want) || d != 7 {
			t.Errorf("Descriptor(%q) = %d, %v; want an error with %q, and the value left alone", in, d, err, want)
		}
	}
}

func TestNotificationFDConfig(t *testing.T) {
	cfg, err := configureArgs("--type=notify", "--notification-fd=7", "--", "true")
	if err != nil {
		t.Fatal(err)
	}
	if cfg.readyFD != 7 {
		t.Errorf("readyFD %d, want 7", cfg.readyFD)
	}
	if cfg, _ := configureArgs("--type=notify", "--", "true"); cfg.readyFD != 0 || cfg.passedFDs != nil {
		t.Errorf("without the flag: readyFD %d, passed %v; want neither", cfg.readyFD, cfg.passedFDs)
	}
	for _, args := range [][]string{{"--notification-fd=3"}, {"--watchdog=1s", "--notification-fd=3"}} {
		_, err := configureArgs(append(args, "--", "true")...)
		if !errors.As(err, new(usageError)) || !strings.Contains(err.Error(), "--notification-fd: only counts under --type=notify") {
			t.Errorf("%q: %v, want a usage error", args, err)
		}
	}
	// The checks on what the process holds, with the holdings given.
	cli := &CLI{NotificationFD: 5, from: map[string]string{"notification-fd": ""}}
	for _, c := range []struct {
		passed []int
		limit  uint64
		want   string
	}{
		{[]int{4, 5, 9}, 1024, "--notification-fd: 5 is a descriptor restart-run was started with (3>file in a shell), which COMMAND gets as it is"},
		{nil, 5, "--notification-fd: 5 is too near the open-file limit (5): starting the child needs 3 free descriptor numbers above it; raise the limit"},
		{nil, 8, "--notification-fd: 5 is too near the open-file limit (8): starting the child needs 3 free descriptor numbers above it; give 4 or less, or raise the limit (ulimit -n)"},
		{nil, 9, ""},
		{nil, 64, ""},
		{[]int{4, 6}, 10, ""},
		{[]int{4, 6}, 9, "--notification-fd: restart-run was started with descriptor 6, which COMMAND gets as it is, too near the open-file limit (9)"},
	} {
		err := checkNotificationFD(cli, c.passed, c.limit)
		if (c.want == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), c.want)) {
			t.Errorf("passed %v, limit %d: %v; want %q", c.passed, c.limit, err, c.want)
		}
	}
}

// TestChildFiles: the write end lands at N, what passes through stays
// where it is, every other number up to the highest is closed.
func TestChildFiles(t *testing.T) {
	const w, closed = 40, ^uintptr(0)
	got := childFiles(5, w, []int{3, 8})
	want := []uintptr{0, 1, 2, 3, closed, w, closed, closed, 8}
	if !slices.Equal(got, want) {
		t.Errorf("childFiles(5, 40, [3 8]) = %v, want %v", got, want)
	}
	if got := childFiles(3, w, nil); !slices.Equal(got, []uintptr{0, 1, 2, w}) {
		t.Errorf("childFiles(3, 40, nil) = %v", got)
	}
	if got := childFiles(4, w, []int{3}); !slices.Equal(got, []uintptr{0, 1, 2, 3, w}) {
		t.Errorf("childFiles(4, 40, [3]) = %v", got)
	}
}

// TestDupFrom3: the exec shim's report descriptor takes the lowest free
// number from 3 up, but not the one the notification pipe takes.
func TestDupFrom3(t *testing.T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	lowest, err := dupFrom3(w.Fd(), 0)
	if err != nil {
		t.Fatal(err)
	}
	unix.Close(lowest)
	again, err := dupFrom3(w.Fd(), 0)
	if err != nil || again != lowest {
		t.Fatalf("dupFrom3 = %d, %v; want %d, the lowest free number, again", again, err, lowest)
	}
	unix.Close(again)
	above, err := dupFrom3(w.Fd(), lowest)
	if err != nil || above <= lowest {
		t.Fatalf("dupFrom3 avoiding %d = %d, %v; want a number above it", lowest, above, err)
	}
	defer unix.Close(above)
	if flags, err := unix.FcntlInt(uintptr(above), unix.F_GETFD, 0); err != nil || flags&unix.FD_CLOEXEC != 0 {
		t.Errorf("the duplicate's flags %#x, %v; want no close-on-exec", flags, err)
	}
	if _, err := unix.FcntlInt(uintptr(lowest), unix.F_GETFD, 0); !errors.Is(err, unix.EBADF) {
		t.Errorf("the avoided number %d is left open: %v", lowest, err)
	}
}

// TestPassedFDs: a descriptor without close-on-exec is passed through; the
// close-on-exec ones Go opens are not.
func TestPassedFDs(t *testing.T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	open, err := unix.FcntlInt(w.Fd(), unix.F_DUPFD, 3) // without close-on-exec
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(open)
	passed := passedFDs()
	if !slices.Contains(passed, open) {
		t.Errorf("passedFDs() = %v, without %d", passed, open)
	}
	if slices.Contains(passed, int(r.Fd())) {
		t.Errorf("passedFDs() = %v, with the close-on-exec %d", passed, r.Fd())
	}
}

// readyFDValue waits for what the run's pipe said.
func readyFDValue(t *testing.T, r *readiness) bool {
	t.Helper()
	select {
	case v := <-r.readyFDC():
		return v
	case <-time.After(deadline):
		t.Fatal("nothing from the notification pipe")
		return false
	}
}

// TestReadinessNotificationFD: each start gets a pipe of its own; a newline
// (after anything) makes the run ready as READY=1 does (the start timeout
// disarmed, the runtime limit and watchdog armed, the ready event); EOF
// without one does not; the pipe is closed once it has spoken and when the
// child is gone; a child being stopped or gone is not made ready.
func TestReadinessNotificationFD(t *testing.T) {
	cfg := &config{notifyType: "notify", readyFD: 3, timeoutStart: hour, runtimeMax: 3 * hour, watchdog: 2 * hour}
	r, log := newTestReadiness(cfg)
	write := func(w *os.File, s string) {
		t.Helper()
		if _, err := w.WriteString(s); err != nil {
			t.Fatal(err)
		}
	}

	w, err := r.beforeStart()
	if err != nil || w == nil || r.readyFDC() == nil {
		t.Fatalf("beforeStart: %v, %v; want a pipe", w, err)
	}
	r.runStarted(childPid, time.Now())
	write(w, "starting up; ")
	write(w, "done\nand more\n")
	w.Close()
	if !readyFDValue(t, r) {
		t.Fatal("a newline read as no readiness")
	}
	r.onReadyFD(true, true, false)
	if !r.ready {
		t.Fatal("not ready after the newline")
	}
	disarmed(t, "start timeout", &r.startTimeout)
	dueIn(t, "runtime max", &r.runtimeMax, 3*hour)
	dueIn(t, "watchdog", &r.watchdog, 2*hour)
	if !strings.Contains(log.String(), `"event":"ready","pid":4242`) || !strings.Contains(log.String(), `"via":"notification-fd"`) {
		t.Errorf("no ready event via the notification fd; log: %s", log)
	}
	if r.pipe != nil || r.readyFDC() != nil {
		t.Error("the pipe is still open after its newline")
	}

	// The next run: a fresh pipe, not ready; EOF without a newline.
	w, err = r.beforeStart()
	if err != nil {
		t.Fatal(err)
	}
	r.runStarted(childPid+1, time.Now())
	write(w, "no newline")
	w.Close()
	if readyFDValue(t, r) {
		t.Fatal("EOF without a newline read as a newline")
	}
	r.onReadyFD(false, true, false)
	if r.ready {
		t.Error("ready without a newline")
	}
	dueIn(t, "start timeout after EOF", &r.startTimeout, hour)
	if !strings.Contains(log.String(), "closed without a newline") || r.pipe != nil {
		t.Errorf("EOF: pipe %v; log: %s", r.pipe, log)
	}

	// A newline while the child is being stopped, or after it has ended,
	// makes nothing ready; EOF then is no news.
	log.Reset()
	for _, c := range []struct{ live, stopping bool }{{true, true}, {false, false}} {
		for _, newline := range []bool{true, false} {
			w, _ = r.beforeStart()
			r.runStarted(childPid, time.Now())
			if newline {
				write(w, "\n")
			}
			w.Close()
			if got := readyFDValue(t, r); got != newline {
				t.Errorf("the pipe said %v, want %v", got, newline)
			}
			r.onReadyFD(newline, c.live, c.stopping)
			if r.ready || r.pipe != nil {
				t.Errorf("live %v, stopping %v, newline %v: ready %v, pipe %v", c.live, c.stopping, newline, r.ready, r.pipe)
			}
		}
	}
	if log.Len() != 0 {
		t.Errorf("logged while stopping or after the end: %s", log)
	}

	// Already ready by READY=1: the newline changes nothing, and is not
	// logged as a second readiness.
	w, _ = r.beforeStart()
	r.runStarted(childPid, time.Now())
	r.onNotify(datagram(t, childPid, "READY=1"), true, false)
	log.Reset()
	write(w, "\n")
	readyFDValue(t, r)
	r.onReadyFD(true, true, false)
	if strings.Contains(log.String(), `"event":"ready"`) {
		t.Errorf("a second ready event: %s", log)
	}
	w.Close()

	// The child gone: the pipe is closed and its reader has returned,
	// though a descendant still holds the write end.
	w, _ = r.beforeStart()
	p := r.pipe
	r.childGone()
	select {
	case <-p.exited:
	default:
		t.Error("the reader still runs after childGone")
	}
	if r.readyFDC() != nil {
		t.Error("childGone left the pipe open")
	}
	if _, err := w.WriteString("\n"); !errors.Is(err, syscall.EPIPE) {
		t.Errorf("a write after the read end closed: %v, want EPIPE", err)
	}
	w.Close()
	r.close()

	// Without the flag: no pipe.
	r, _ = newTestReadiness(&config{notifyType: "notify"})
	if w, err := r.beforeStart(); w != nil || err != nil || r.readyFDC() != nil {
		t.Errorf("without --notification-fd: %v, %v", w, err)
	}
}

// End to end: the built binary with real children. The children are
// shells, as the protocol is meant for them: echo >&3.

// fdChild waits for SIGUSR1, then says "sent" with the time and writes a
// newline to descriptor 3; SIGWINCH is answered with "got", so the test
// knows restart-run's loop has handled what came before it.
const fdChild = `trap 'echo sent $(date +%s%N); echo >&3' USR1; trap 'echo got WINCH' WINCH; echo ready $$; while :; do sleep 1 & wait $!; done`

// TestNotificationFDReady: the child is ready when it writes its newline,
// not before; ready reports it, READY=1 goes up to an outer supervisor
// then, and not before; the child has the write end at 3 and none of
// restart-run's own descriptors.
func TestNotificationFDReady(t *testing.T) {
	o := openOuter(t)
	// The child lists its descriptors with builtins alone: a pipeline or
	// a command substitution would have the shell hold a pipe of its own
	// while it looks (ls | sed showed the shell's pipe at 4, once in ten).
	// The glob's directory is closed again by the time [ -e ] asks.
	r := startRR(t, []string{"NOTIFY_SOCKET=" + o.addr}, "--type=notify", "--notification-fd=3", "--timeout-start=1m", "--restart=no", "--",
		"sh", "-c", `for f in /proc/$$/fd/*; do [ -e "$f" ] && echo fd ${f##*/}; done; [ -p /proc/$$/fd/3 ] && echo fd 3-is-a-pipe; `+fdChild)
	var fds []string // the child's descriptors, until it says ready
	for listed := false; !listed; {
		select {
		case l := <-r.out:
			switch f := strings.Fields(l); {
			case len(f) == 2 && f[0] == "fd":
				fds = append(fds, f[1])
			case len(f) == 2 && f[0] == "ready":
				listed = true
			}
		case <-time.After(deadline):
			t.Fatalf("the child said nothing; log:\n%s", r.logText())
		}
	}
	if !slices.Contains(fds, "3-is-a-pipe") {
		t.Errorf("the child's descriptor 3 is not a pipe; it has %v", fds)
	}
	// Beyond 3, only what the test passed on to restart-run (it passes what
	// it was itself started with).
	for _, fd := range fds {
		if n, err := strconv.Atoi(fd); err == nil && n > 3 && !slices.Contains(passedFDs(), n) {
			t.Errorf("the child has restart-run's descriptor %d; it has %v", n, fds)
		}
	}
	r.signal(syscall.SIGWINCH)
	r.line("got")
	for _, m := range o.queued() {
		if strings.Contains(m.payload, "READY=1") {
			t.Fatalf("READY=1 passed up (%q) before the child's newline; log:\n%s", m.payload, r.logText())
		}
	}
	if slices.ContainsFunc(r.logged(), func(e event) bool { return e.str("event") == "ready" }) {
		t.Fatalf("ready before the child's newline; log:\n%s", r.logText())
	}
	r.signal(syscall.SIGUSR1)
	sent, _ := strconv.ParseInt(r.line("sent")[0], 10, 64)
	ready := r.next("ready")
	started := r.logged()[slices.IndexFunc(r.logged(), func(e event) bool { return e.str("event") == "start" })]
	if ready.str("via") != "notification-fd" || ready.num("pid") != started.num("pid") {
		t.Errorf("ready event %v", ready)
	}
	if at := ready.at(t); at.Before(time.Unix(0, sent)) {
		t.Errorf("ready at %v, before the child wrote its newline at %v", at, time.Unix(0, sent))
	}
	up := o.expect(r, "READY=1")
	if want := fmt.Sprintf("MAINPID=%d", r.cmd.Process.Pid); !strings.Contains(up.payload, want) {
		t.Errorf("passed up %q, want %s in it", up.payload, want)
	}
	r.signal(syscall.SIGTERM)
	r.wait()
	if n := len(r.named("timeout")); n != 0 {
		t.Errorf("%d timeouts", n)
	}
}

// TestNotificationFDTimeout: a child that never writes its newline, or
// writes something else and closes the descriptor, is stopped at
// --timeout-start, class timeout, as one that never sends READY=1 is.
func TestNotificationFDTimeout(t *testing.T) {
	for _, c := range []struct{ name, script string }{
		{"never writes", `echo ready $$; exec sleep 1000`},
		{"no newline, then closes it", `printf x >&3; exec 3>&-; echo ready $$; exec sleep 1000`},
		{"READY=1 without the fd", `echo ready $$; exec sleep 1000`},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			flag := "--notification-fd=3"
			if strings.HasPrefix(c.name, "READY=1") {
				flag = "--notify-access=all" // the yardstick: plain --type=notify
			}
			r := startRR(t, nil, "--type=notify", flag, "--timeout-start=1s", "--restart=no", "--log-level=debug", "--", "sh", "-c", c.script)
			r.waitReady()
			to := r.next("timeout")
			if to.str("level") != "warn" || to.num("timeout_ms") != 1000 {
				t.Errorf("timeout event %v", to)
			}
			if st := r.wait(); st != 143 {
				t.Errorf("status %d, want 143 (stopped with SIGTERM); log:\n%s", st, r.logText())
			}
			if e := r.named("exit"); len(e) != 1 || e[0].str("class") != "timeout" {
				t.Errorf("exits %v, want one of class timeout", e)
			}
			if n := len(r.named("ready")); n != 0 {
				t.Errorf("%d ready events", n)
			}
			if closed := strings.Contains(r.logText(), "closed without a newline"); closed != strings.HasPrefix(c.name, "no newline") {
				t.Errorf("EOF logged: %v; log:\n%s", closed, r.logText())
			}
		})
	}
}

// TestNotificationFDExit: a child that writes "x" without a newline and
// exits is never ready.
func TestNotificationFDExit(t *testing.T) {
	r := startRR(t, nil, "--type=notify", "--notification-fd=3", "--restart=no", "--log-level=debug", "--", "sh", "-c", "printf x >&3; exit 4")
	if st := r.wait(); st != 4 {
		t.Errorf("status %d, want 4; log:\n%s", st, r.logText())
	}
	if n := len(r.named("ready")); n != 0 {
		t.Errorf("%d ready events from a child that wrote no newline", n)
	}
}

// TestNotificationFDRestarts: every run gets a pipe of its own, and over
// 30 restarts restart-run's goroutines and descriptors stay where they
// were. Each child leaves a process behind (--kill-mode=process) that holds
// the write end of its run's pipe for good, so no reader sees EOF by
// itself: one that has read no newline returns only because restart-run
// closes the read end when the run ends. Runs that write their newline
// become ready by it (--runtime-max counts from readiness, so each is
// stopped only after its ready event); runs that never write it are
// stopped by --timeout-start. restart-run restarts until the test stops
// it, so it is still there to be looked at after the 30th restart.
func TestNotificationFDRestarts(t *testing.T) {
	for _, c := range []struct{ name, flag, write string }{
		{"ready", "--runtime-max=10ms", "echo >&3; "},
		{"never ready", "--timeout-start=50ms", ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			const restarts = 30
			// The holder outlives its run in the run's process group, whose
			// number is the run's child's pid: the test ends each group.
			// (Recording the holder's pid from the shell missed those whose
			// shell was stopped first.) It ends by itself too, should the
			// test not get to that.
			r := startRR(t, nil, "--type=notify", "--notification-fd=3", c.flag, "--kill-mode=process", "--restart=always",
				"--restart-sec=0", "--burst=0", "--log-level=debug", "--",
				"sh", "-c", `sleep 120 </dev/null >/dev/null 2>&1 & `+c.write+`exec sleep 1000`)
			t.Cleanup(func() {
				for _, e := range r.logged() {
					if e.str("event") == "start" && e.num("pid") > 0 {
						_ = syscall.Kill(-int(e.num("pid")), syscall.SIGKILL)
					}
				}
			})
			// Descriptors are counted while restart-run goes on: a look in
			// the middle of a start finds the new pipe and Go's fork pipe
			// too, so the least of five looks is compared.
			var g []float64
			fds := []int{1 << 30, 1 << 30}
			for range restarts {
				e := r.next("restart")
				g = append(g, e.num("goroutines"))
				if n := len(g); n > 2 && n <= 7 {
					fds[0] = min(fds[0], openFDs(t, r.cmd.Process.Pid))
				} else if n > restarts-5 {
					fds[1] = min(fds[1], openFDs(t, r.cmd.Process.Pid))
				}
			}
			r.signal(syscall.SIGTERM)
			r.wait()
			// Every run before the stop ended by --runtime-max after its
			// ready event, or by --timeout-start without one.
			readyPids := map[float64]bool{}
			for _, e := range r.named("ready") {
				readyPids[e.num("pid")] = true
			}
			// The first 30 runs ended before the test sent SIGTERM (the
			// 30th restart line follows the 30th exit); a 31st run ended by
			// the stop, or never started if the stop came in the pause
			// before it.
			exits := r.named("exit")
			if len(exits) < restarts {
				t.Fatalf("%d runs, want %d or more; log:\n%s", len(exits), restarts, r.logText())
			}
			for _, e := range exits[:restarts] {
				if e.str("class") != "timeout" || readyPids[e.num("pid")] != (c.write != "") {
					t.Errorf("exit %v: want class timeout, ready before it: %v", e, c.write != "")
				}
			}
			t.Logf("goroutines at each restart: %v; fewest descriptors over restarts 3-7 and 26-30: %v", g, fds)
			// Each run's pipe reader has returned before the restart line
			// (close waits for it), but a goroutine that has returned is
			// counted until the runtime has finished it off, a moment
			// later: a look may find it still there (6 where 5 were, once
			// in a while). So, as for descriptors, the fewest over five
			// restarts: a goroutine left behind by every run would add 20
			// between the two windows.
			early, late := slices.Min(g[4:9]), slices.Min(g[restarts-5:])
			if late != early || early == 0 {
				t.Errorf("goroutines at each restart: %v; want the fewest over restarts 26-30 (%v) to equal those over 5-9 (%v)", g, late, early)
			}
			if fds[1] > fds[0]+2 {
				t.Errorf("restart-run's descriptors grew from %d (restarts 3-7) to %d (26-30)", fds[0], fds[1])
			}
		})
	}
}

// openFDs counts pid's open descriptors.
func openFDs(t *testing.T, pid int) int {
	t.Helper()
	ents, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		t.Fatalf("descriptors of restart-run: %v", err)
	}
	return len(ents)
}

// TestNotificationFDWatchdog: under --watchdog the command goes through the
// exec shim and still gets the pipe at N, and NOTIFY_SOCKET for its pings;
// descriptors restart-run was started with pass through unmoved, below N
// and above it.
func TestNotificationFDWatchdog(t *testing.T) {
	f, err := os.Open(os.DevNull)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	cmd := exec.Command(rrBin(t), "--type=notify", "--notification-fd=4", "--watchdog=1m", "--restart=no", "--",
		"sh", "-c", `echo env $NOTIFY_SOCKET $(readlink /proc/$$/fd/3) $(readlink /proc/$$/fd/5) $(readlink /proc/$$/fd/4 | cut -c1-5); echo >&4; echo ready $$; exec sleep 1000`)
	cmd.Env = append(os.Environ(), helperEnv+"=1")
	cmd.ExtraFiles = []*os.File{f, nil, f} // 3 and 5: what a shell's 3</dev/null 5</dev/null passes
	r := startCmd(t, cmd)
	env := r.line("env")
	if len(env) != 4 || !strings.HasPrefix(env[0], "/") || env[1] != os.DevNull || env[2] != os.DevNull || env[3] != "pipe:" {
		t.Errorf("the child saw NOTIFY_SOCKET, 3, 5 and 4 as %q; want a socket, %s twice and a pipe", env, os.DevNull)
	}
	if e := r.next("ready"); e.str("via") != "notification-fd" {
		t.Errorf("ready event %v", e)
	}
	r.waitReady()
	r.signal(syscall.SIGTERM)
	if st := r.wait(); st != 143 {
		t.Errorf("status %d; log:\n%s", st, r.logText())
	}
}

// TestNotificationFDBad: --notification-fd without --type=notify, below 3,
// not a number, or on a descriptor restart-run passes through is bad input:
// status 2, nothing started.
func TestNotificationFDBad(t *testing.T) {
	for _, c := range []struct {
		env  []string
		args []string
		want string
	}{
		{nil, []string{"--notification-fd=3"}, "only counts under --type=notify"},
		{nil, []string{"--type=notify", "--notification-fd=2"}, `"2" is not a descriptor number of 3 or more`},
		{nil, []string{"--type=notify", "--notification-fd=0"}, "3 or more"},
		{nil, []string{"--type=notify", "--notification-fd=x"}, `"x" is not a descriptor number`},
		{nil, []string{"--type=notify", "--notification-fd=3.0"}, `"3.0" is not a descriptor number`},
		{[]string{"RESTART_RUN_NOTIFICATION_FD=1"}, []string{"--type=notify"}, "RESTART_RUN_NOTIFICATION_FD"},
		{nil, []string{"--type=notify", "--notification-fd=1000000000"}, "is too near the open-file limit"},
	} {
		marker := filepath.Join(t.TempDir(), "started")
		args := append(c.args, "--", "sh", "-c", "touch "+marker)
		checkBad(t, c.env, args, []string{"--notification-fd", c.want}, marker)
	}
	// Descriptor 3 passed to restart-run (3>file): the child would lose it.
	f, err := os.Open(os.DevNull)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	marker := filepath.Join(t.TempDir(), "started")
	cmd := exec.Command(rrBin(t), "--type=notify", "--notification-fd=3", "--", "sh", "-c", "touch "+marker)
	cmd.ExtraFiles = []*os.File{f}
	out, _ := cmd.CombinedOutput()
	if st := cmd.ProcessState.ExitCode(); st != 2 || !strings.Contains(string(out), "--notification-fd: 3 is a descriptor restart-run was started with") {
		t.Errorf("on a passed descriptor: status %d, output %q", st, out)
	}
	if _, err := os.Stat(marker); err == nil {
		t.Error("the child was started")
	}
}

// TestNotificationFDNearLimit: under an open-file limit of 1024, a
// --notification-fd of 1021 left every start failing with 126 (Go's fork
// needs free numbers above the child's highest descriptor); it is bad
// input now, and 1020, the highest that works, starts the child. (A limit
// this high, so that a descriptor the test itself was started with, a
// shell's or a CI runner's, is not the highest.)
func TestNotificationFDNearLimit(t *testing.T) {
	for _, c := range []struct {
		fd     string
		status int
	}{{"1021", 2}, {"1020", 0}} {
		marker := filepath.Join(t.TempDir(), "started")
		cmd := exec.Command("sh", "-c", `ulimit -n 1024 && exec "$@"`, "sh", rrBin(t), "--type=notify", "--notification-fd="+c.fd,
			"--restart=no", "--", "sh", "-c", "touch "+marker)
		out, _ := cmd.CombinedOutput()
		if st := cmd.ProcessState.ExitCode(); st != c.status {
			t.Errorf("--notification-fd=%s under ulimit -n 1024: status %d, want %d; output %q", c.fd, st, c.status, out)
		}
		_, err := os.Stat(marker)
		if c.status == 2 && (err == nil || !strings.Contains(string(out), "--notification-fd: 1021 is too near the open-file limit (1024)")) {
			t.Errorf("--notification-fd=%s: the child started (%v) or the message is wrong: %q", c.fd, err == nil, out)
		}
		if c.status == 0 && err != nil {
			t.Errorf("--notification-fd=%s: the child did not start: %q", c.fd, out)
		}
	}
}
