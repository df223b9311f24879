package main

import (
	"os/exec"
	"testing"

	"github.com/rs/zerolog"
	"golang.org/x/sys/unix"
)

// TestSentinelEnded: how the sentinel's end is read. It exits 128+signal
// for the terminal's SIGINT or SIGQUIT when that is a stop signal (it
// ignores the other), and may die of a signal outright; only those two,
// when they are stop signals, are a Ctrl-C from the terminal. Any other end
// during the run needs a successor; after the run, none.
func TestSentinelEnded(t *testing.T) {
	exited := func(code int) unix.WaitStatus { return unix.WaitStatus(code << 8) }
	killed := func(sig unix.Signal) unix.WaitStatus { return unix.WaitStatus(sig) }
	all := SignalList{unix.SIGTERM, unix.SIGINT, unix.SIGQUIT}
	for _, c := range []struct {
		name            string
		stops           SignalList
		ws              unix.WaitStatus
		running         bool
		interrupt, lost bool
	}{
		{"Ctrl-C", all, exited(130), true, true, false},
		{"Ctrl-\\", all, exited(131), true, true, false},
		{"killed by SIGINT", all, killed(unix.SIGINT), true, true, false},
		{"Ctrl-C after the run", all, exited(130), false, true, false},
		{"Ctrl-\\ not a stop signal", SignalList{unix.SIGTERM, unix.SIGINT}, exited(131), true, false, true},
		{"ended by restart-run's SIGTERM", all, exited(0), true, false, true},
		{"SIGKILL during the run", all, killed(unix.SIGKILL), true, false, true},
		{"SIGKILL after the run", all, killed(unix.SIGKILL), false, false, false},
		{"SIGTERM after the run", all, exited(0), false, false, false},
	} {
		term := terminalRuns{log: zerolog.Nop(), stops: c.stops, sentinel: 77}
		interrupt, lost := term.sentinelEnded(c.ws, c.running)
		if interrupt != c.interrupt || lost != c.lost {
			t.Errorf("%s: interrupt %v, lost %v; want %v, %v", c.name, interrupt, lost, c.interrupt, c.lost)
		}
		if term.sentinel != 0 {
			t.Errorf("%s: sentinel %d kept after it was reaped", c.name, term.sentinel)
		}
	}
}

// TestTerminalRunsWithout: with no terminal, a run gets no sentinel and no
// terminal, and the end of a run does nothing.
func TestTerminalRunsWithout(t *testing.T) {
	term := terminalRuns{log: zerolog.Nop(), stops: SignalList{unix.SIGINT}}
	if pgid, tty := term.startRun(); pgid != 0 || tty != -1 || term.sentinel != 0 {
		t.Errorf("no terminal: startRun gave group %d, terminal %d, sentinel %d; want 0, -1, 0", pgid, tty, term.sentinel)
	}
	term.childStopped = true
	term.runEnded(false)
	term.childStoppedBy(unix.SIGTSTP) // would stop the test were there a terminal
	if !term.childStopped {
		t.Error("runEnded with no terminal changed the Ctrl-Z state")
	}
}

// TestChildStoppedBy: only job control's stops (SIGTSTP, SIGTTIN, SIGTTOU)
// of the child make restart-run stop too; a SIGSTOP from someone else does
// not. A sleep of the test's stands in for restart-run, to be stopped.
func TestChildStoppedBy(t *testing.T) {
	p := exec.Command("sleep", "1000")
	if err := p.Start(); err != nil {
		t.Fatal(err)
	}
	pid := p.Process.Pid
	defer func() { _ = p.Process.Kill(); _ = p.Wait() }()
	term := terminalRuns{log: zerolog.Nop(), self: pid, tty: &terminal{fd: -1}}
	for _, sig := range []unix.Signal{unix.SIGSTOP, unix.SIGUSR1} {
		if term.childStoppedBy(sig); term.childStopped {
			t.Errorf("a child stopped by %v made restart-run stop", sig)
		}
	}
	for _, sig := range []unix.Signal{unix.SIGTSTP, unix.SIGTTIN, unix.SIGTTOU} {
		term.childStopped = false
		if term.childStoppedBy(sig); !term.childStopped {
			t.Errorf("a child stopped by %v: restart-run does not stop", sig)
			continue
		}
		var ws unix.WaitStatus
		if _, err := unix.Wait4(pid, &ws, unix.WUNTRACED, nil); err != nil || !ws.Stopped() {
			t.Fatalf("after %v restart-run's stand-in is not stopped: %v %v", sig, ws, err)
		}
		_ = unix.Kill(pid, unix.SIGCONT)
	}
}
