package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"golang.org/x/sys/unix"
)

// Unit tests of the cleaner, the component that owns a run's end. The
// deadline arithmetic is driven with hour-long durations, told from
// time.Now to within a minute; the sweep signals real processes.

func newTestCleaner(mode string) (*cleaner, *bytes.Buffer) {
	var log bytes.Buffer
	cfg := &config{killMode: mode, killSignal: unix.SIGTERM, timeoutStop: 2 * hour}
	return &cleaner{cfg: cfg, log: zerolog.New(&log)}, &log
}

func TestCleanerStopDeadline(t *testing.T) {
	c, _ := newTestCleaner("control-group")
	if c.beingStopped() || c.settling() {
		t.Fatal("a fresh run is being stopped")
	}
	// A stop request: the kill alarm and its one deadline.
	c.stopping = true
	if c.beingStopped() || !c.settling() {
		t.Errorf("stopping with no signal sent: beingStopped %v settling %v, want false true", c.beingStopped(), c.settling())
	}
	c.armStop()
	dueIn(t, "kill alarm of a stop", &c.kill, 2*hour)
	if !c.deadline.Equal(c.kill.when) || !c.beingStopped() {
		t.Errorf("deadline %v, kill due %v: the stop's deadline is its kill alarm", c.deadline, c.kill.when)
	}
	// EXTEND_TIMEOUT_USEC moves both, never back.
	c.extend(hour)
	dueIn(t, "kill alarm after a shorter extension", &c.kill, 2*hour)
	c.extend(5 * hour)
	dueIn(t, "kill alarm after a longer extension", &c.kill, 5*hour)
	if !c.deadline.Equal(c.kill.when) {
		t.Errorf("extension moved the alarm to %v but the deadline stays %v", c.kill.when, c.deadline)
	}
	// The cleanup after it waits for what is left of the deadline.
	if wait := c.begin(); wait < 5*hour-nearby || wait > 5*hour {
		t.Errorf("cleanup within a stop's deadline waits %v, want what is left of 5h", wait)
	}
	disarmed(t, "kill alarm as the cleanup begins", &c.kill)
	if c.killed {
		t.Error("leftovers marked for SIGKILL before the deadline")
	}
	// Past the deadline: SIGKILL at once.
	c.deadline = time.Now().Add(-time.Second)
	if wait := c.begin(); wait != 0 || !c.killed {
		t.Errorf("cleanup past the deadline: wait %v, killed %v; want 0 and SIGKILL", wait, c.killed)
	}
}

func TestCleanerForce(t *testing.T) {
	c, _ := newTestCleaner("control-group")
	if !c.force(Watchdog) {
		t.Fatal("first force refused")
	}
	if c.forced == nil || *c.forced != Watchdog || !c.beingStopped() || !c.settling() {
		t.Fatalf("forced %v: want watchdog, being stopped", c.forced)
	}
	dueIn(t, "kill alarm of restart-run's own kill", &c.kill, 2*hour)
	if c.force(Timeout) || *c.forced != Watchdog {
		t.Errorf("a second kill changed the class to %v", *c.forced)
	}
	// Extending a forced kill moves the alarm, and no stop deadline is made.
	c.extend(5 * hour)
	dueIn(t, "kill alarm after extension", &c.kill, 5*hour)
	if !c.deadline.IsZero() {
		t.Errorf("extension of restart-run's own kill set a stop deadline %v", c.deadline)
	}
	// A stop request during it keeps the alarm that runs, as its deadline.
	c.stopping = true
	when := c.kill.when
	c.armStop()
	if !c.kill.when.Equal(when) || !c.deadline.Equal(when) {
		t.Errorf("stop during a forced kill: alarm %v deadline %v, want both %v", c.kill.when, c.deadline, when)
	}
	// With no stop request the cleanup waits the whole --timeout-stop.
	c2, _ := newTestCleaner("mixed")
	if wait := c2.begin(); wait != 2*hour || !c2.killed {
		t.Errorf("--kill-mode=mixed cleanup: wait %v killed %v, want 2h and SIGKILL at once", wait, c2.killed)
	}
}

// TestCleanerSweep: the sweep signals the group once for each signal,
// orphans one by one, and says so in one line each time it signals
// anything. self is a shell of the test's, standing in for restart-run:
// the group is that of a child of it in a session of its own, with a
// member, and the orphan is another child of it, in a group of its own.
// They ignore SIGTERM, so that the second signal, SIGKILL, has something
// to end. Each says its pid once it is where it belongs.
func TestCleanerSweep(t *testing.T) {
	sh := exec.Command("sh", "-c", `trap "" TERM
setsid sh -c 'sleep 1001 & echo g $$ $!; wait' &
setsid sh -c 'echo o $$; exec sleep 1002' &
wait`)
	sh.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	out, err := sh.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := sh.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = sh.Process.Kill(); _ = sh.Wait() }()
	pids := map[string]int{}
	r := bufio.NewReader(out)
	for len(pids) < 3 {
		line, err := r.ReadString('\n')
		if err != nil {
			t.Fatalf("the shell said %v: %v", pids, err)
		}
		f := strings.Fields(line)
		for i, name := range map[string][]string{"g": {"leader", "member"}, "o": {"orphan"}}[f[0]] {
			pids[name], _ = strconv.Atoi(f[i+1])
		}
	}
	ends := map[string]int{}
	for name, pid := range pids {
		defer unix.Kill(pid, unix.SIGKILL)
		fd, err := unix.PidfdOpen(pid, 0)
		if err != nil {
			t.Fatalf("pidfd of the %s: %v", name, err)
		}
		defer unix.Close(fd)
		ends[name] = fd
	}
	pgid, orphan := pids["leader"], pids["orphan"]

	c, log := newTestCleaner("control-group")
	c.self = sh.Process.Pid
	if gone := c.sweep(pgid, 0); gone {
		t.Fatal("the group counted gone while its processes run")
	}
	if c.signalled[0] != unix.SIGTERM || c.signalled[orphan] != unix.SIGTERM || len(c.signalled) != 2 {
		t.Errorf("signalled %v: want SIGTERM for the group (0) and the orphan %d alone", c.signalled, orphan)
	}
	want := `"event":"cleanup","signal":"SIGTERM","pgid":` + strconv.Itoa(pgid) + `,"group":2,"orphans":1`
	if !strings.Contains(log.String(), want) {
		t.Errorf("log lacks %s:\n%s", want, log)
	}
	// Nothing new to signal: no second line.
	c.sweep(pgid, 0)
	if n := strings.Count(log.String(), `"event":"cleanup"`); n != 1 {
		t.Errorf("%d cleanup lines after a sweep that signalled nothing new:\n%s", n, log)
	}
	// The guard is never an orphan to signal.
	c.signalled = nil
	c.sweep(pgid, orphan)
	if _, hit := c.signalled[orphan]; hit {
		t.Error("the guard's pid was signalled as an orphan")
	}
	// An orphan that came since the group was signalled: it alone.
	log.Reset()
	c.signalled = map[int]unix.Signal{0: unix.SIGTERM}
	c.sweep(pgid, 0)
	if want := `"group":0,"orphans":1`; !strings.Contains(log.String(), want) {
		t.Errorf("an orphan alone signalled: log lacks %s:\n%s", want, log)
	}
	// Time is up: SIGKILL for all.
	c.killed = true
	c.sweep(pgid, 0)
	for name, fd := range ends {
		if err := pidfdEnded(fd, 10*time.Second); err != nil {
			t.Errorf("the %s did not end on SIGKILL: %v", name, err)
		}
	}
}

// TestCleanerSweepGone: a group whose last process has been reaped is gone,
// and nothing is signalled or logged.
func TestCleanerSweepGone(t *testing.T) {
	p := exec.Command("sleep", "1000")
	p.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := p.Start(); err != nil {
		t.Fatal(err)
	}
	pgid := p.Process.Pid
	c, log := newTestCleaner("control-group")
	c.self, c.noChildren = pgid, true
	if gone := c.sweep(pgid, 0); gone {
		t.Error("a running group counted gone")
	}
	_ = p.Process.Kill()
	_ = p.Wait()
	log.Reset()
	c.signalled = nil
	if gone := c.sweep(pgid, 0); !gone || len(c.signalled) != 0 || log.Len() != 0 {
		t.Errorf("a reaped group: gone %v, signalled %v, log %q; want gone, nothing signalled or said", gone, c.signalled, log)
	}
}

// TestCleanerSweepStopped: a stopped leftover gets SIGCONT after the kill
// signal, as systemd's kill_and_sigcont sends it: stopped, it would keep
// SIGTERM pending until SIGKILL.
func TestCleanerSweepStopped(t *testing.T) {
	p := exec.Command("sleep", "1000")
	p.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := p.Start(); err != nil {
		t.Fatal(err)
	}
	pid := p.Process.Pid
	defer func() { _ = p.Process.Kill(); _ = p.Wait() }()
	_ = unix.Kill(pid, unix.SIGSTOP)
	var ws unix.WaitStatus
	if _, err := unix.Wait4(pid, &ws, unix.WUNTRACED, nil); err != nil || !ws.Stopped() {
		t.Fatalf("sleep not stopped: %v %v", ws, err)
	}
	fd, err := unix.PidfdOpen(pid, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	c, _ := newTestCleaner("control-group")
	c.self, c.noChildren = pid, true
	c.sweep(pid, 0)
	if err := pidfdEnded(fd, 10*time.Second); err != nil {
		t.Fatalf("the stopped leftover did not end on SIGTERM: %v", err)
	}
	if _, err := unix.Wait4(pid, &ws, 0, nil); err != nil || ws.Signal() != unix.SIGTERM {
		t.Errorf("the leftover ended %v (%v), want by SIGTERM", ws, err)
	}
}

// pidfdEnded waits until the process of pidfd fd has ended, for at most
// within.
func pidfdEnded(fd int, within time.Duration) error {
	deadline := time.Now().Add(within)
	for {
		left := time.Until(deadline)
		if left <= 0 {
			return fmt.Errorf("still running after %v", within)
		}
		n, err := unix.Poll([]unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}, int(left.Milliseconds())+1)
		switch {
		case errors.Is(err, unix.EINTR):
		case err != nil:
			return err
		case n == 1:
			return nil
		}
	}
}
