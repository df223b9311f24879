package main

import (
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
