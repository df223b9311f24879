//go:build linux && !amd64 && !arm64

package main

import (
	"os"
	"os/signal"

	"golang.org/x/sys/unix"
)

// rawSignals: on this architecture restart-run has no handler of its own
// for the signals the Go runtime keeps (sigraw_linux.go); 32 and 34 keep
// their default action.
var rawSignals []unix.Signal

func catchRawSignals(chan<- os.Signal) error { return nil }

// setDefault is signal.Reset here: it ends the process by SIGINT, but an
// uncaught SIGQUIT makes the Go runtime dump its goroutines and exit 2.
func setDefault(sig unix.Signal) error {
	signal.Reset(sig)
	return nil
}
