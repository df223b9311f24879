// Package early starts catching restart-run's signals during package
// initialisation, long before main runs.
//
// Until os/signal is asked for a signal, the Go runtime's own handler
// decides: SIGHUP, SIGINT and SIGTERM end the process, SIGQUIT, SIGABRT and
// the other fault signals sent with kill(2) end it with a crash dump, and
// the rest are ignored (os/signal, "Default behavior of signals in Go
// programs"). So a SIGHUP in the first milliseconds killed restart-run
// before it had started anything. Go initialises packages in a fixed
// order: repeatedly the first package, sorted by import path, whose imports
// are all initialised. This package imports only what os/signal itself
// needs, so its init runs right after os/signal's (TestEarlyInit checks
// that), where main's init comes only after kong, zerolog, net and the
// rest. Measured with bench/sigwindow on a busy 2-core machine, half of
// restart-run's starts survive a SIGHUP from 5.4 ms after exec (90 % from
// 8.3 ms), against 9.3 ms (13.1) when main caught it, 4.8 ms (7.5) for a
// minimal Go program that catches it first thing in main, and 1.6 ms
// (2.1) for tini; the README's Signals section has the details. It is the
// one package outside main, and one file, for that reason alone.
package early

import (
	"os"
	"os/signal"
	"sync"
	"syscall"
)

// Signals are the channels restart-run's loop reads signals from: SIGCHLD,
// the stop signals (SIGTERM, SIGINT, SIGQUIT) and all the others, in
// channels of their own so that a flood of one kind cannot crowd out
// another (os/signal drops a signal whose channel is full). Ready is closed
// once every signal os/signal can catch is caught.
type Signals struct {
	Chld, Stop, Other chan os.Signal
	Ready             chan struct{}
}

var (
	once sync.Once
	sigs = Signals{
		Chld: make(chan os.Signal, 1), // one pending is enough: reap takes every zombie
		Stop: make(chan os.Signal, 8),
		// Standard signals coalesce in the kernel anyway; the buffer only
		// has to cover a burst that arrives while the loop is busy.
		Other: make(chan os.Signal, 256),
		Ready: make(chan struct{}),
	}
)

func init() {
	if !Skips(os.Args[0]) {
		once.Do(start)
	}
}

// Skips reports whether the program with this argv[0] is not restart-run
// proper, so init leaves its signals as they are: one of restart-run's
// helper processes (argv[0] "restart-run (guard)", "(exec)", "(tty
// sentinel)"), which must die or exec as before and not pay for catching,
// or a Go test binary of package main ("….test"), where go test's SIGQUIT
// and the tests' own children must behave as in any Go program. Catch still
// starts catching if main asks. It uses no strings package: importing one
// would make this init wait for unicode's.
func Skips(argv0 string) bool {
	const helper, test = "restart-run (", ".test"
	return len(argv0) >= len(helper) && argv0[:len(helper)] == helper ||
		len(argv0) >= len(test) && argv0[len(argv0)-len(test):] == test
}

// Catch returns the channels, once catching is under way: since package
// initialisation, or from now on where init skipped it.
func Catch() *Signals {
	once.Do(start)
	return &sigs
}

// start catches the signals that would end restart-run before it returns,
// SIGHUP first, then the rest in the background. Each signal costs
// os/signal a round trip to a thread of its own (tens of µs on an idle
// machine, hundreds on a busy one), so the order decides when each is
// caught, and the four are what a terminal, an orchestrator or a user is
// likely to send at once. The stop signals are caught for a reason of
// their own too: one before the first start ends restart-run with
// 128+signal and nothing started, and killed by it restart-run would end
// the same way but unlogged. The remaining 57 (over a millisecond) overlap
// with the rest of start-up, numbered order putting the fault signals
// (SIGILL … SIGSEGV), which kill when sent with kill(2), before most.
func start() {
	signal.Notify(sigs.Other, syscall.SIGHUP)
	signal.Notify(sigs.Stop, syscall.SIGTERM, syscall.SIGINT, syscall.SIGQUIT)
	go func() {
		defer close(sigs.Ready)
		signal.Notify(sigs.Chld, syscall.SIGCHLD)
		var rest []os.Signal
		for s := syscall.Signal(1); s <= 64; s++ {
			switch s {
			case syscall.SIGHUP, syscall.SIGTERM, syscall.SIGINT, syscall.SIGQUIT, syscall.SIGCHLD:
				continue // caught above
			case syscall.SIGKILL, syscall.SIGSTOP:
				continue // cannot be caught
			case syscall.SIGURG:
				// The Go runtime sends itself SIGURG to preempt goroutines,
				// so one from outside cannot be told from its own.
				continue
			}
			rest = append(rest, s)
		}
		signal.Notify(sigs.Other, rest...)
	}()
}
