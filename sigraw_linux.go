//go:build linux && (amd64 || arm64)

package main

import (
	"fmt"
	"os"
	"unsafe"

	"golang.org/x/sys/unix"
)

// rawSignals are the signals that the Go runtime keeps from os/signal but
// that a process can catch. Signals 32 and 34 are reserved for C libraries'
// threads (glibc's SIGCANCEL, musl's SIGSYNCCALL): a static Go program
// leaves them at their default action, so `kill -34` (SIGRTMIN as C
// programs and shells count) ended restart-run and, through its child's
// parent-death signal, the service. SIGPROF goes to the runtime's profiler,
// which restart-run never runs, and was dropped. restart-run installs a
// handler of its own for each (sigraw_linux_*.s): it writes the signal's
// number to a pipe, and a goroutine hands it to the loop like any other.
// Signal 33 stays the runtime's (it runs its per-thread system calls
// there, and drops one sent from outside), and so does SIGURG (preemption).
var rawSignals = []unix.Signal{unix.SIGPROF, 32, 34}

// rawSigFD is the pipe's write end, read by rawSigHandler; it is set before
// the handler is installed.
//
//lint:ignore U1000 read by rawSigHandler, in assembly
var rawSigFD int32 = -1

// Implemented in assembly; the handler and restorer are called by the
// kernel only, through the addresses the Addr functions return.
//
//lint:ignore U1000 called by the kernel
func rawSigHandler()

//lint:ignore U1000 called by the kernel
func rawSigRestorer()

func rawSigHandlerAddr() uintptr
func rawSigRestorerAddr() uintptr

// kSigaction is the kernel's struct sigaction on amd64 and arm64.
type kSigaction struct {
	handler  uintptr
	flags    uint64
	restorer uintptr
	mask     uint64
}

const (
	saRestorer = 0x04000000
	saOnstack  = 0x08000000
	saRestart  = 0x10000000
)

// catchRawSignals installs the handler for rawSignals and delivers each
// one that arrives to out, dropped when out is full, as os/signal does.
// The handler is reset to the default action in a child by its exec.
func catchRawSignals(out chan<- os.Signal) error {
	var p [2]int
	// Non-blocking: a handler must never wait on a full pipe.
	if err := unix.Pipe2(p[:], unix.O_CLOEXEC|unix.O_NONBLOCK); err != nil {
		return fmt.Errorf("signal pipe: %w", err)
	}
	rawSigFD = int32(p[1])
	r := os.NewFile(uintptr(p[0]), "signal pipe")
	go func() {
		buf := make([]byte, 64)
		for {
			n, err := r.Read(buf)
			if err != nil {
				return
			}
			for _, b := range buf[:n] {
				select {
				case out <- unix.Signal(b):
				default:
				}
			}
		}
	}()
	sa := kSigaction{
		handler:  rawSigHandlerAddr(),
		flags:    saOnstack | saRestart | saRestorer,
		restorer: rawSigRestorerAddr(),
	}
	for _, sig := range rawSignals {
		_, _, e := unix.RawSyscall6(unix.SYS_RT_SIGACTION, uintptr(sig), uintptr(unsafe.Pointer(&sa)), 0, 8, 0, 0)
		if e != 0 {
			return fmt.Errorf("catch %s: %w", signalName(sig), e)
		}
	}
	return nil
}

// setDefault sets sig's action to the default in the kernel itself, past the
// Go runtime, whose own handler would turn an uncaught SIGQUIT into a
// goroutine dump and exit status 2 rather than death by the signal.
func setDefault(sig unix.Signal) error {
	var sa kSigaction // SIG_DFL
	_, _, e := unix.RawSyscall6(unix.SYS_RT_SIGACTION, uintptr(sig), uintptr(unsafe.Pointer(&sa)), 0, 8, 0, 0)
	if e != 0 {
		return e
	}
	return nil
}
