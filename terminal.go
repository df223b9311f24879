package main

import (
	"errors"
	"os"
	"os/signal"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// sentinelEnv starts restart-run as the terminal sentinel instead. It is
// prefixed RESTART_RUN_ so that no child of a restart-run ever inherits it.
const (
	sentinelEnv   = "RESTART_RUN_INTERNAL_TTY_SENTINEL"
	sentinelArgv0 = "restart-run (tty sentinel)"
)

// ttySentinel is the body of the sentinel process. In a terminal the child's
// process group is the terminal's foreground group, so Ctrl-C reaches the
// child but not restart-run. The sentinel shares the child's group and does
// nothing but end when the terminal sends the group SIGINT or SIGQUIT: its
// end tells restart-run that the user pressed Ctrl-C (or Ctrl-\), which a
// kill(1) sent to the child alone never does. stops is which of the two are
// --stop-signals ("2,3"); the sentinel outlives the others, so that Ctrl-\
// for a JVM's thread dump under --stop-signals=TERM,INT leaves Ctrl-C
// working.
//
// It ends on SIGTERM too, which is how restart-run ends it once the run is
// over, and on nothing else that it can catch: the signals restart-run
// forwards to the child's group (--forward-to=group) are the child's, and
// a Go program's default action for SIGHUP and for SIGABRT, SIGILL and the
// other fault signals sent with kill(2) would end the sentinel (the latter
// with a crash dump on the terminal). Those are caught into a channel that
// is never read, which drops them: os/signal never blocks on a full
// channel. A sentinel that ends some other way all the same (SIGKILL, a
// SIGTERM from someone else) is replaced by the supervisor (sentinelLost).
func ttySentinel(stops string) int {
	signal.Notify(make(chan os.Signal, 1), unix.SIGHUP, unix.SIGABRT, unix.SIGILL, unix.SIGTRAP,
		unix.SIGBUS, unix.SIGFPE, unix.SIGSEGV, unix.SIGSTKFLT, unix.SIGSYS)
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, unix.SIGTERM)
	for _, sig := range []unix.Signal{unix.SIGINT, unix.SIGQUIT} {
		if slices.Contains(strings.Split(stops, ","), strconv.Itoa(int(sig))) {
			signal.Notify(ch, sig)
		} else {
			signal.Ignore(sig)
		}
	}
	sig := (<-ch).(unix.Signal)
	if sig == unix.SIGINT || sig == unix.SIGQUIT {
		return 128 + int(sig)
	}
	return 0
}

// terminal is the controlling terminal when restart-run runs in its
// foreground; the child then gets the terminal for each run.
type terminal struct {
	fd   int
	self int    // restart-run's own process group
	exe  string // restart-run's binary, for the sentinel
}

// openTerminal returns the terminal on stdin when restart-run is in its
// foreground process group, or nil.
func openTerminal() *terminal {
	fg, err := unix.IoctlGetInt(0, unix.TIOCGPGRP)
	if err != nil || fg != unix.Getpgrp() {
		return nil
	}
	return &terminal{fd: 0, self: unix.Getpgrp(), exe: selfExe}
}

// startSentinel starts the sentinel in process group pgid, or when pgid is
// 0 as the leader of a new group, which the child then joins.
func (t *terminal) startSentinel(stops SignalList, pgid int) (int, error) {
	var which []string
	for _, sig := range []unix.Signal{unix.SIGINT, unix.SIGQUIT} {
		if stops.Has(sig) {
			which = append(which, strconv.Itoa(int(sig)))
		}
	}
	return forkExec(t.exe, []string{sentinelArgv0}, &syscall.ProcAttr{
		// Never empty: the variable's presence marks the sentinel.
		Env:   []string{sentinelEnv + "=stops:" + strings.Join(which, ",")},
		Files: []uintptr{0, 1, 2},
		Sys:   &syscall.SysProcAttr{Setpgid: true, Pgid: pgid, Pdeathsig: syscall.SIGKILL},
	})
}

// foreground hands the terminal to process group pgid. A process outside
// the foreground group that calls tcsetpgrp gets SIGTTOU unless it blocks
// it, so the call is made with SIGTTOU blocked on this thread alone.
func (t *terminal) foreground(pgid int) error {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	var set, old unix.Sigset_t
	set.Val[(unix.SIGTTOU-1)/64] |= 1 << ((unix.SIGTTOU - 1) % 64)
	if err := unix.PthreadSigmask(unix.SIG_BLOCK, &set, &old); err != nil {
		return err
	}
	err := unix.IoctlSetPointerInt(t.fd, unix.TIOCSPGRP, pgid)
	_ = unix.PthreadSigmask(unix.SIG_SETMASK, &old, nil)
	return err
}

// isForeground reports whether restart-run's own group holds the terminal
// (false after "bg" in a shell).
func (t *terminal) isForeground() bool {
	fg, err := unix.IoctlGetInt(t.fd, unix.TIOCGPGRP)
	return err == nil && fg == t.self
}

// gone reports whether the terminal is no longer restart-run's: hung up (an
// ssh session that dropped, a closed terminal window), or no longer the
// controlling terminal of its session (its session leader ended). A child
// started with it as its terminal would fail to start (tcsetpgrp in the
// fork), every time.
func (t *terminal) gone() bool {
	_, err := unix.IoctlGetInt(t.fd, unix.TIOCGPGRP)
	return errors.Is(err, unix.ENOTTY) || errors.Is(err, unix.EIO)
}

// dropTerminal: the terminal is gone; later runs go without it, as if
// restart-run had been started without one.
func (s *supervisor) dropTerminal(err error) {
	s.log.Debug().Str("event", "terminal").Err(err).Msg("the terminal has gone; later runs go without it")
	s.tty = nil
}

// takeTerminal takes the terminal back from the group of a run that has
// ended, so that Ctrl-Z and Ctrl-C in the pause before the next run reach
// restart-run. Where that fails for a reason that changes nothing, it says
// so at debug only: the terminal has gone (a hangup: the next start goes
// without it); restart-run's own process group is not in its PID namespace
// (PID 1 of unshare --pid, whose session is led from outside: no number
// names the group here, and the terminal stays with the child's group
// between runs); or no run follows (a stop, Ctrl-C included: the shell
// takes the terminal back once restart-run has exited).
func (s *supervisor) takeTerminal() {
	if s.tty.self == 0 {
		s.log.Debug().Str("event", "terminal").
			Msg("restart-run's process group is outside its PID namespace; the terminal stays with the child's group")
		return
	}
	err := s.tty.foreground(s.tty.self)
	switch {
	case err == nil:
	case s.tty.gone():
		s.dropTerminal(err)
	case s.stopping:
		s.log.Debug().Str("event", "terminal").Err(err).Msg("cannot take the terminal back")
	default:
		s.log.Warn().Str("event", "terminal").Err(err).Msg("cannot take the terminal back")
	}
}

// sentinelEnded: the sentinel of this run was reaped. Ended by a stop
// signal, SIGINT or SIGQUIT, it ended by the terminal's Ctrl-C or Ctrl-\
// (the one way it can be so ended but a kill(1) aimed at it), and no
// restart follows this run. It reports whether the sentinel ended some
// other way while the child still runs: it needs a successor, which
// sentinelLost starts once the reap knows the child has not ended too.
func (s *supervisor) sentinelEnded(ws unix.WaitStatus) (lost bool) {
	code, sig := exitStatus(ws)
	if sig == 0 && code > 128 {
		sig = unix.Signal(code - 128) // ttySentinel's own exit
	}
	if (sig == unix.SIGINT || sig == unix.SIGQUIT) && s.cfg.stopSignals.Has(sig) {
		s.onTerminalInterrupt()
		return false
	}
	return s.phase == running
}

// sentinelLost: the sentinel died during the run of something other than
// the terminal's Ctrl-C: SIGKILL, someone's SIGTERM, or restart-run's own
// kill signal to the child's group (a timeout, the watchdog). Without one,
// a Ctrl-C would reach the child alone and look like its own end, to be
// restarted. A successor joins the child's group: setpgid joins a group of
// the same session for as long as any process is in it, its first leader
// dead or not. When none can start (the child left its group, which is then
// empty; fork failed), this run goes on without, and says so; restart-run
// itself cannot stand in, since the terminal signals only its foreground
// group, and joining the child's group would take restart-run out of the
// group the shell's job control knows it by. The next run gets a sentinel
// of its own as ever. Once a stop is under way none is needed: no restart
// follows anyway.
func (s *supervisor) sentinelLost(pid int, ws unix.WaitStatus) {
	if s.stopping || s.tty == nil {
		return
	}
	code, sig := exitStatus(ws)
	if sig != 0 {
		code = 128 + int(sig)
	}
	// restart-run's own kill for a timeout, the watchdog or health went to
	// the group and may have ended the sentinel: no news.
	ev := s.log.Warn()
	if s.forced != nil {
		ev = s.log.Debug()
	}
	ev = ev.Str("event", "sentinel").Int("pid", pid).Int("exit_code", code)
	if sig != 0 {
		ev = ev.Str("signal", signalName(sig))
	}
	next, err := s.tty.startSentinel(s.cfg.stopSignals, s.pgid)
	if err != nil {
		ev.Err(err).Msg("the terminal sentinel ended and cannot be replaced; until this run ends, a Ctrl-C is not told from the child's own end")
		return
	}
	s.sentinel = next
	ev.Int("new_pid", next).Msg("the terminal sentinel ended; started another")
}
