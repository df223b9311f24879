package main

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"os"
	"strconv"

	"golang.org/x/sys/unix"
)

// This file is --notification-fd: s6's readiness protocol, the alternative
// to READY=1 under --type=notify. Each start of the child gets a fresh pipe
// whose write end it has at descriptor N; the child is ready when it writes
// a newline there. readiness.go decides what the newline means; this file
// has the pipe, its reader, and the child's descriptor table that puts the
// write end at N.

// readyPipe is one run's notification pipe, seen from restart-run: the read
// end, and the one goroutine that reads it. As s6-supervise does, the first
// newline makes the child ready, whatever came before it on the same line,
// and nothing is read after it; EOF before a newline (every holder of the
// write end has closed it or ended) is no readiness at all.
type readyPipe struct {
	f      *os.File      // the read end: close-on-exec, in the runtime poller, so Close wakes the reader
	c      chan bool     // one value at most: true at a newline, false at EOF or a read error
	exited chan struct{} // closed when the reader has returned
}

// openReadyPipe opens a run's pipe and starts its reader. The write end is
// the caller's to pass to the child and then close: restart-run must hold
// no copy of it, or the reader would never see EOF.
func openReadyPipe() (*readyPipe, *os.File, error) {
	r, w, err := os.Pipe()
	if err != nil {
		return nil, nil, fmt.Errorf("notification-fd pipe: %w", err)
	}
	p := &readyPipe{f: r, c: make(chan bool, 1), exited: make(chan struct{})}
	go p.read()
	return p, w, nil
}

// C delivers what the reader found, once. It is buffered, so the reader
// never waits for the loop and always returns on its own.
func (p *readyPipe) C() <-chan bool { return p.c }

// read is the pipe's one reader. It returns at the first newline, at EOF,
// or when close closes the read end under it.
func (p *readyPipe) read() {
	defer close(p.exited)
	buf := make([]byte, 256)
	for {
		n, err := p.f.Read(buf)
		if bytes.IndexByte(buf[:n], '\n') >= 0 {
			p.c <- true
			return
		}
		if err != nil {
			if !errors.Is(err, os.ErrClosed) {
				p.c <- false
			}
			return
		}
	}
}

// close closes the read end and waits for the reader to return, so that
// no goroutine outlives its run. A child that writes to the pipe after
// this gets EPIPE (or SIGPIPE), as under s6-supervise, which closes its end
// once it has read the newline, and when the child dies.
func (p *readyPipe) close() {
	_ = p.f.Close()
	<-p.exited
}

// childFiles is the child's descriptor table (syscall.ProcAttr.Files) when
// it gets w at descriptor n: 0, 1 and 2, every descriptor in keep as it is
// (what restart-run passes through, and the exec shim's report descriptor),
// w at n, and every other number below the highest of them closed, which
// exec would have done anyway: whatever restart-run holds there is
// close-on-exec. The table must name every descriptor the child keeps:
// Go's fork moves descriptors it has to move (w when it is below n, and
// its own error pipe) to numbers above the highest one the table names,
// and would overwrite one it does not know of.
func childFiles(n int, w uintptr, keep []int) []uintptr {
	hi := n
	for _, k := range keep {
		hi = max(hi, k)
	}
	files := make([]uintptr, hi+1)
	for i := range files {
		files[i] = ^uintptr(0) // -1: closed in the child
	}
	files[0], files[1], files[2] = 0, 1, 2
	for _, k := range keep {
		files[k] = uintptr(k)
	}
	files[n] = w
	return files
}

// passedFDs lists the descriptors from 3 up that restart-run passes to its
// child as it got them: those open without close-on-exec, which only what
// it inherited is (3>file in a shell; everything Go opens is
// close-on-exec). It reads /proc/self/fd, or without /proc (an empty root)
// tries every number below the open-file limit, up to 65536.
func passedFDs() []int {
	var candidates []int
	if ents, err := os.ReadDir("/proc/self/fd"); err == nil {
		for _, e := range ents {
			if n, err := strconv.Atoi(e.Name()); err == nil && n >= 3 {
				candidates = append(candidates, n)
			}
		}
	} else {
		for n := 3; n < int(min(openFileLimit(), 1<<16)); n++ {
			candidates = append(candidates, n)
		}
	}
	var fds []int
	for _, n := range candidates {
		// The descriptor ReadDir read from is closed again by now: EBADF.
		if flags, err := unix.FcntlInt(uintptr(n), unix.F_GETFD, 0); err == nil && flags&unix.FD_CLOEXEC == 0 {
			fds = append(fds, n)
		}
	}
	return fds
}

// openFileLimit is restart-run's RLIMIT_NOFILE (the Go runtime raises the
// soft limit to the hard one at start): no descriptor number can reach it.
func openFileLimit() uint64 {
	var l unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &l); err != nil || l.Cur > math.MaxInt32 {
		return math.MaxInt32
	}
	return l.Cur
}
