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

	"github.com/rs/zerolog"
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

// terminalRuns is the terminal's side of the runs: the terminal restart-run
// was started in (nil without one, or once it has gone), the sentinel of
// the current run, and whether the child was stopped from the terminal
// (Ctrl-Z). It hands the terminal to each run and takes it back after;
// what it learns for the loop (a Ctrl-C) comes back as return values.
type terminalRuns struct {
	log          zerolog.Logger
	stops        SignalList // --stop-signals, of which SIGINT and SIGQUIT end the sentinel
	self         int        // restart-run's pid
	tty          *terminal
	sentinel     int  // the terminal sentinel of this run, 0 when none
	childStopped bool // the child was stopped from the terminal (Ctrl-Z)
}

// startRun readies the terminal for a new run: the sentinel is started as
// the leader of the group the child joins, pgid, and tty is the terminal to
// hand the child (0 and -1 without a terminal).
func (t *terminalRuns) startRun() (pgid, tty int) {
	if t.tty != nil && t.tty.gone() {
		// Hung up in the pause, while restart-run held it.
		t.drop(nil)
	}
	if t.tty == nil {
		return 0, -1
	}
	sp, err := t.tty.startSentinel(t.stops, 0)
	if err != nil {
		t.log.Warn().Str("event", "sentinel").Err(err).Msg("cannot start the terminal sentinel; Ctrl-C will restart the child")
		return 0, t.tty.fd
	}
	t.sentinel = sp
	return sp, t.tty.fd
}

// startFailed: the child could not be started; its sentinel goes.
func (t *terminalRuns) startFailed() {
	if t.sentinel != 0 {
		_ = unix.Kill(t.sentinel, unix.SIGKILL) // reaped by reap()
		t.sentinel = 0
	}
	if t.tty != nil {
		// The fork handed the terminal to the new group before the
		// exec failed: take it back, or Ctrl-C would reach nobody.
		_ = t.tty.foreground(t.tty.self)
	}
}

// drop: the terminal is gone; later runs go without it, as if restart-run
// had been started without one.
func (t *terminalRuns) drop(err error) {
	t.log.Debug().Str("event", "terminal").Err(err).Msg("the terminal has gone; later runs go without it")
	t.tty = nil
}

// runEnded takes the terminal back from the group of a run that has ended,
// so that Ctrl-Z and Ctrl-C in the pause before the next run reach
// restart-run. Where that fails for a reason that changes nothing, it says
// so at debug only: the terminal has gone (a hangup: the next start goes
// without it); restart-run's own process group is not in its PID namespace
// (PID 1 of unshare --pid, whose session is led from outside: no number
// names the group here, and the terminal stays with the child's group
// between runs); or no run follows (stopping: a stop, Ctrl-C included; the
// shell takes the terminal back once restart-run has exited).
func (t *terminalRuns) runEnded(stopping bool) {
	if t.tty == nil {
		return
	}
	t.childStopped = false
	if t.tty.self == 0 {
		t.log.Debug().Str("event", "terminal").
			Msg("restart-run's process group is outside its PID namespace; the terminal stays with the child's group")
		return
	}
	err := t.tty.foreground(t.tty.self)
	switch {
	case err == nil:
	case t.tty.gone():
		t.drop(err)
	case stopping:
		t.log.Debug().Str("event", "terminal").Err(err).Msg("cannot take the terminal back")
	default:
		t.log.Warn().Str("event", "terminal").Err(err).Msg("cannot take the terminal back")
	}
}

// sentinelEnded: the sentinel of this run was reaped. Ended by a stop
// signal, SIGINT or SIGQUIT, it ended by the terminal's Ctrl-C or Ctrl-\
// (the one way it can be so ended but a kill(1) aimed at it): interrupt,
// and no restart follows this run. lost says it ended some other way while
// the child still runs (running): it needs a successor, which sentinelLost
// starts once the reap knows the child has not ended too.
func (t *terminalRuns) sentinelEnded(ws unix.WaitStatus, running bool) (interrupt, lost bool) {
	t.sentinel = 0
	code, sig := exitStatus(ws)
	if sig == 0 && code > 128 {
		sig = unix.Signal(code - 128) // ttySentinel's own exit
	}
	if (sig == unix.SIGINT || sig == unix.SIGQUIT) && t.stops.Has(sig) {
		return true, false
	}
	return false, running
}

// sentinelLost: the sentinel, pid, died during the run of something other
// than the terminal's Ctrl-C: SIGKILL, someone's SIGTERM, or restart-run's
// own kill signal to the child's group (forced: a timeout, the watchdog).
// Without one, a Ctrl-C would reach the child alone and look like its own
// end, to be restarted. A successor joins the child's group, pgid: setpgid
// joins a group of the same session for as long as any process is in it,
// its first leader dead or not. When none can start (the child left its
// group, which is then empty; fork failed), this run goes on without, and
// says so; restart-run itself cannot stand in, since the terminal signals
// only its foreground group, and joining the child's group would take
// restart-run out of the group the shell's job control knows it by. The
// next run gets a sentinel of its own as ever. Once a stop is under way
// (stopping) none is needed: no restart follows anyway.
func (t *terminalRuns) sentinelLost(pid int, ws unix.WaitStatus, pgid int, stopping, forced bool) {
	if stopping || t.tty == nil {
		return
	}
	code, sig := exitStatus(ws)
	if sig != 0 {
		code = 128 + int(sig)
	}
	// restart-run's own kill for a timeout, the watchdog or health went to
	// the group and may have ended the sentinel: no news.
	ev := t.log.Warn()
	if forced {
		ev = t.log.Debug()
	}
	ev = ev.Str("event", "sentinel").Int("pid", pid).Int("exit_code", code)
	if sig != 0 {
		ev = ev.Str("signal", signalName(sig))
	}
	next, err := t.tty.startSentinel(t.stops, pgid)
	if err != nil {
		ev.Err(err).Msg("the terminal sentinel ended and cannot be replaced; until this run ends, a Ctrl-C is not told from the child's own end")
		return
	}
	t.sentinel = next
	ev.Int("new_pid", next).Msg("the terminal sentinel ended; started another")
}

// childStoppedBy: the child stopped for job control (Ctrl-Z, or reading
// the terminal from the background). restart-run takes the terminal back
// and stops too, so that the shell sees the job stopped and "fg" works.
func (t *terminalRuns) childStoppedBy(sig unix.Signal) {
	if t.tty == nil || (sig != unix.SIGTSTP && sig != unix.SIGTTIN && sig != unix.SIGTTOU) {
		return
	}
	t.childStopped = true
	_ = t.tty.foreground(t.tty.self)
	t.log.Info().Str("event", "signal").Str("signal", signalName(sig)).Msg("child stopped; stopping too")
	_ = unix.Kill(t.self, unix.SIGSTOP)
}

// resume: restart-run was continued ("fg" or "bg" in the shell) while its
// child, of group pgid, was stopped; the child goes on, with the terminal
// when restart-run itself has it.
func (t *terminalRuns) resume(pgid int) {
	t.childStopped = false
	if t.tty.isForeground() {
		_ = t.tty.foreground(pgid)
	}
	_ = unix.Kill(-pgid, unix.SIGCONT)
}

// onTerminalInterrupt: the user pressed Ctrl-C or Ctrl-\ in the terminal.
// The terminal has signalled the child already; restart-run only makes sure
// that no restart follows when this run ends.
func (s *supervisor) onTerminalInterrupt() {
	if !s.end.stopping {
		s.log.Info().Str("event", "stop").Str("source", "terminal").Msg("interrupted from the terminal; no restart will follow")
	}
	s.end.stopping = true
}
