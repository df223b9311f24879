// Command gofloor is the floor below which no Go supervisor can go, measured
// by bench/compare.sh in the same run as restart-run and its peers. It is
// not part of restart-run.
//
//	gofloor CMD [ARG...]           fork, exec CMD, wait, exit with its code
//	gofloor -forward CMD [ARG...]  the same, and pass SIGHUP, SIGUSR1 and SIGTERM on
//
// CMD is a path (no PATH search). Built static (CGO_ENABLED=0), as
// restart-run is, it shows what the Go runtime alone costs: its start-up,
// and for a signal the hops from the runtime's handler through os/signal
// to the goroutine that calls kill(2); with -forward, caught first thing in
// main, how soon after exec a Go program can survive a SIGHUP at best
// (bench/sigwindow).
package main

import (
	"os"
	"os/signal"
	"syscall"
)

func main() {
	args := os.Args[1:]
	forward := len(args) > 0 && args[0] == "-forward"
	if forward {
		args = args[1:]
	}
	if len(args) == 0 {
		os.Stderr.WriteString("usage: gofloor [-forward] CMD [ARG...]\n")
		os.Exit(2)
	}
	sigs := make(chan os.Signal, 16)
	if forward {
		signal.Notify(sigs, syscall.SIGHUP, syscall.SIGUSR1, syscall.SIGTERM)
	}
	pid, err := syscall.ForkExec(args[0], args, &syscall.ProcAttr{
		Env:   os.Environ(),
		Files: []uintptr{0, 1, 2},
	})
	if err != nil {
		os.Stderr.WriteString("gofloor: " + err.Error() + "\n")
		os.Exit(127)
	}
	go func() {
		for s := range sigs {
			_ = syscall.Kill(pid, s.(syscall.Signal))
		}
	}()
	var ws syscall.WaitStatus
	for {
		_, err := syscall.Wait4(pid, &ws, 0, nil)
		if err != syscall.EINTR {
			break
		}
	}
	if ws.Signaled() {
		os.Exit(128 + int(ws.Signal()))
	}
	os.Exit(ws.ExitStatus())
}
