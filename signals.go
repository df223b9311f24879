package main

import (
	"errors"
	"os"
	"runtime"
	"slices"

	"github.com/restart-run/restart-run/internal/early"
	"golang.org/x/sys/unix"
)

// signalChans carries every signal restart-run can catch to the loop, in
// three channels (see early.Signals): SIGCHLD, the stop signals and the
// rest. SIGURG is left out: the Go runtime sends itself SIGURG to preempt
// goroutines, so one from outside cannot be told from its own and is not
// forwarded.
type signalChans struct {
	chld, stop, other chan os.Signal
	ready             chan struct{} // closed once every signal is caught
	rawErr            error         // why the signals os/signal cannot catch are not caught
}

// catchSignals returns the channels of the signals that package early has
// been catching since package initialisation (where restart-run starts
// them: a signal in the first milliseconds after exec must not kill it),
// and catches the three that os/signal cannot (sigraw_linux.go), which are
// therefore caught only from here on. The last of the others are still
// being caught in the background, overlapping with flag parsing: wait on
// ready before the first child starts.
func catchSignals() *signalChans {
	e := early.Catch()
	return &signalChans{
		chld:   e.Chld,
		stop:   e.Stop,
		other:  e.Other,
		ready:  e.Ready,
		rawErr: catchRawSignals(e.Other),
	}
}

// forwardable reports whether restart-run catches sig and would forward
// it: not SIGKILL or SIGSTOP (nothing catches them), SIGCHLD and SIGPIPE
// (its own), SIGURG and 33 (the Go runtime's), 32 (the C library's), and 34
// and SIGPROF only where restart-run has a handler of its own for them.
func forwardable(sig unix.Signal) bool {
	switch sig {
	case unix.SIGKILL, unix.SIGSTOP, unix.SIGCHLD, unix.SIGPIPE, unix.SIGURG, 32, 33:
		return false
	case 34, unix.SIGPROF:
		return slices.Contains(rawSignals, sig)
	}
	return sig >= 1 && sig <= 64
}

// reraise ends restart-run by sig, with its default action, as SPEC.md
// section 5 asks when a stop by SIGINT or SIGQUIT ended the child by that
// signal: a calling shell stops a script only when its command died of
// SIGINT (bash's wait-and-cooperative-exit), not when it exited with 130.
// The signal goes to this thread itself, so it is acted on as the system
// call returns. It returns when restart-run survives it: as PID 1, where
// the kernel spares default actions.
func reraise(sig unix.Signal) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	if setDefault(sig) != nil {
		return
	}
	_ = unix.Tgkill(unix.Getpid(), unix.Gettid(), sig)
}

// harmless reports whether sig's default action neither ends nor stops a
// process: SIGCONT, SIGWINCH (SIGCHLD and SIGURG too, which are never
// forwarded).
func harmless(sig unix.Signal) bool {
	switch sig {
	case unix.SIGCONT, unix.SIGWINCH, unix.SIGCHLD, unix.SIGURG:
		return true
	}
	return false
}

// signalIn is the loop's side of the signals: their three channels, the
// stop signal that came before the first start, and what has been logged
// of the ones dropped, so that a flood never turns into a flood of lines.
type signalIn struct {
	chld, stop, other chan os.Signal
	earlyStop         unix.Signal // the stop signal that came before the first start
	dropped           int         // signals dropped in this pause (only the first is logged)
	sigpipeSeen       bool        // SIGPIPE logged once: logging it may raise it again
	sig32Seen         bool        // signal 32 logged once
}

// signalsBeforeStart handles the signals that came while restart-run was
// starting up (they are caught from package initialisation on). A stop
// request ends restart-run before anything is started, with the status of
// a process killed by that signal; any other is dropped, as in a pause,
// since no child runs to take it.
func (s *supervisor) signalsBeforeStart() (status int, stop bool) {
	for {
		var sig unix.Signal
		select {
		case v := <-s.sig.stop:
			sig = v.(unix.Signal)
		case v := <-s.sig.other:
			sig = v.(unix.Signal)
		default:
			return 0, false
		}
		switch {
		case s.cfg.stopSignals.Has(sig):
			s.exitCode(s.log.Info().Str("event", "stop").Str("signal", signalName(sig)), 128+int(sig)).
				Msg("stop requested before the first start; nothing was started")
			s.sig.earlyStop = sig
			return 128 + int(sig), true
		case sig != unix.SIGPIPE:
			s.log.Info().Str("event", "signal").Str("signal", signalName(sig)).
				Msg("no child running yet; signal dropped")
		}
	}
}

// raiseOnExit is the signal restart-run should end itself by, or 0: SIGINT
// or SIGQUIT when a stop by that signal (or Ctrl-C, Ctrl-\ in the terminal)
// ended the child by it, or came before the first start (see reraise).
// run does not raise it when --exit-status-map maps the status.
func (s *supervisor) raiseOnExit() unix.Signal {
	sig := s.sig.earlyStop
	if s.child.attempt > 0 {
		sig = 0
		if s.end.stopping {
			sig = s.last.Sig
		}
	}
	if (sig == unix.SIGINT || sig == unix.SIGQUIT) && s.cfg.stopSignals.Has(sig) {
		return sig
	}
	return 0
}

func (s *supervisor) onSignal(sig unix.Signal) {
	if s.cfg.stopSignals.Has(sig) {
		s.requestStop(sig)
		return
	}
	if sig == s.cfg.restartSignal && sig != 0 {
		s.requestRestart(sig)
		return
	}
	switch sig {
	case unix.SIGCHLD:
		s.reap()
	case unix.SIGPIPE:
		// Our stderr's reader went away, or someone sent it: either way it
		// must not kill the supervisor of a service that is still running.
		// Logged once only: with stderr gone, the log line itself raises
		// SIGPIPE again, and logging each would never end.
		if !s.sig.sigpipeSeen {
			s.sig.sigpipeSeen = true
			s.log.Debug().Str("event", "signal").Str("signal", "SIGPIPE").Msg("SIGPIPE ignored")
		}
	case 32:
		// Reserved for the C library's threads (glibc's SIGCANCEL): a Go
		// child would die of it, a C one ignores it. Not forwarded, as
		// dumb-init and tini, which cannot even catch it, do not.
		if !s.sig.sig32Seen {
			s.sig.sig32Seen = true
			s.log.Warn().Str("event", "signal").Str("signal", signalName(sig)).
				Msg("signal 32 is reserved for C libraries; not forwarded (further ones are not logged)")
		}
	case unix.SIGCONT:
		if s.term.childStopped {
			s.term.resume(s.child.pgid)
			return
		}
		s.forward(sig)
	case unix.SIGTSTP:
		if s.term.tty != nil && s.phase != running {
			// Ctrl-Z while restart-run holds the terminal between runs.
			_ = unix.Kill(s.term.self, unix.SIGSTOP)
			return
		}
		s.forward(sig)
	default:
		s.forward(sig)
	}
}

// forward passes any other signal on to the child (to its process group
// under --forward-to=group), or drops it when none runs.
// While the child is being stopped (a stop request, or restart-run's own
// kill for a timeout, the watchdog or health), a signal whose default action
// would end or stop it is dropped: it could only cut a graceful shutdown
// short (a SIGHUP that reaches a child busy with its SIGTERM kills it) or
// freeze it until SIGKILL. systemd forwards nothing at all; tini forwards
// everything; this keeps what is harmless (SIGCONT, SIGWINCH).
func (s *supervisor) forward(sig unix.Signal) {
	if s.phase == running && s.end.beingStopped() && !harmless(sig) {
		s.log.Debug().Str("event", "signal").Str("signal", signalName(sig)).Int("pid", s.child.pid).
			Msg("the child is being stopped; signal not forwarded")
		return
	}
	if s.phase == running {
		group := s.cfg.forwardTo == "group"
		// As tini's "Passing signal" at -vvv: at debug, and zerolog builds
		// nothing for a level that is off.
		s.log.Debug().Str("event", "forward").Str("signal", signalName(sig)).Int("pid", s.child.pid).Bool("group", group).
			Msg("signal passed on to the child")
		s.signalTarget(sig, group)
		return
	}
	// Only the first of a pause is logged: a flood of signals must not
	// turn into a flood of log lines that crowds the others out of the log
	// buffer.
	if s.sig.dropped++; s.sig.dropped == 1 {
		s.log.Info().Str("event", "signal").Str("signal", signalName(sig)).Msg("no child running; signal dropped (further ones in this pause are not logged)")
	}
}

// signalChild sends sig to the main child, or to its whole process group
// when group is set and --kill-mode is control-group. A SIGKILL of
// restart-run's own is remembered for the run: the child's death by
// SIGKILL is then not put down to the kernel's OOM killer.
func (s *supervisor) signalChild(sig unix.Signal, group bool) {
	if sig == unix.SIGKILL {
		s.end.sentKill = true
	}
	s.signalTarget(sig, group && s.cfg.killMode == "control-group")
}

// signalTarget sends sig to the main child, or to its whole process group.
func (s *supervisor) signalTarget(sig unix.Signal, group bool) {
	target := s.child.pid
	if group {
		target = -s.child.pgid
		// The child may have left the group (setsid, or a shell taking a
		// group of its own; in a terminal the group is the sentinel's):
		// then it is signalled on its own too, or a stop could never end.
		if g, err := unix.Getpgid(s.child.pid); err == nil && g != s.child.pgid {
			_ = unix.Kill(s.child.pid, sig)
		}
	}
	if err := unix.Kill(target, sig); err != nil && !errors.Is(err, unix.ESRCH) {
		s.log.Warn().Str("event", "signal").Str("signal", signalName(sig)).Int("pid", target).Err(err).Msg("cannot signal the child")
	}
}
