package main

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strconv"
	"syscall"

	"github.com/restart-run/restart-run/internal/early"
	"golang.org/x/sys/unix"
)

// commandError is a COMMAND that cannot be executed: status 127 (not found)
// or 126 (found, not executable), as a shell reports them.
type commandError struct {
	status int
	err    error
}

func (e commandError) Error() string { return e.err.Error() }
func (e commandError) Unwrap() error { return e.err }

// lookCommand finds argv0 as a shell would (PATH search when it has no slash)
// and says why it cannot run when it cannot.
func lookCommand(argv0 string) (string, error) {
	path, err := exec.LookPath(argv0)
	if err == nil {
		return path, nil
	}
	if errors.Is(err, fs.ErrPermission) {
		return "", commandError{126, fmt.Errorf("%s: permission denied (not executable)", argv0)}
	}
	if errors.Is(err, unix.EISDIR) || isDir(argv0) {
		return "", commandError{126, fmt.Errorf("%s: is a directory", argv0)}
	}
	return "", commandError{127, fmt.Errorf("%s: command not found", argv0)}
}

func isDir(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.IsDir()
}

// execError maps a failed fork/exec to the shell's 127 or 126.
func execError(argv0 string, err error) commandError {
	switch {
	case errors.Is(err, unix.ENOENT), errors.Is(err, unix.ENOTDIR):
		return commandError{127, fmt.Errorf("%s: command not found: %w", argv0, err)}
	default:
		return commandError{126, fmt.Errorf("%s: cannot execute: %w", argv0, err)}
	}
}

// startChild forks and execs the command in a process group of its own, or
// in group pgid when it is not 0; with tty >= 0 that group is made the
// terminal's foreground group. Nothing here waits for the child: the
// supervisor's reap is the only waiter.
func startChild(path string, argv, env []string, pgid, tty int) (int, error) {
	attr := &syscall.ProcAttr{
		Env:   env,
		Files: []uintptr{0, 1, 2},
		Sys: &syscall.SysProcAttr{
			Setpgid:    true,
			Pgid:       pgid,
			Foreground: tty >= 0,
			Ctty:       tty,
			// If restart-run is killed outright, the child must not live on
			// holding the service's port while an outer supervisor starts a
			// new copy. Go re-checks the parent after setting this, closing
			// the race with a parent that dies during the fork.
			Pdeathsig: syscall.SIGKILL,
		},
	}
	// Descriptors restart-run inherited without close-on-exec (3>file in a
	// shell) pass through exec as with any command prefix; everything Go
	// opens is close-on-exec, so none of ours reaches the child. Go's fork
	// also resets every signal it handles (all of them, here) to SIG_DFL in
	// the child, and forkExec empties the mask it passes on.
	return forkExec(path, argv, attr)
}

// forkExec is syscall.ForkExec from a thread whose signal mask is empty.
// Go's fork gives the child the mask of whichever thread forks, and a Go
// thread keeps blocked what restart-run inherited blocked unless Go itself
// needs the signal: started with SIGUSR1 blocked, every child had it blocked
// too (150 runs out of 150) before this. Emptying the mask on a locked thread
// first makes the child's mask empty every time, as SPEC.md section 7
// promises.
func forkExec(path string, argv []string, attr *syscall.ProcAttr) (int, error) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	var empty, old unix.Sigset_t
	if err := unix.PthreadSigmask(unix.SIG_SETMASK, &empty, &old); err != nil {
		return 0, fmt.Errorf("clear the signal mask: %w", err)
	}
	defer func() { _ = unix.PthreadSigmask(unix.SIG_SETMASK, &old, nil) }()
	return syscall.ForkExec(path, argv, attr)
}

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

// setSubreaper makes restart-run the reaper of orphaned descendants, so they
// are reaped here rather than by an init that may not exist (a container).
func setSubreaper() error {
	if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); err != nil {
		return fmt.Errorf("set child subreaper: %w", err)
	}
	return nil
}

// exitStatus splits a wait status into an exit code and a killing signal.
func exitStatus(ws unix.WaitStatus) (code int, sig unix.Signal) {
	if ws.Signaled() {
		return -1, ws.Signal()
	}
	return ws.ExitStatus(), 0
}

// groupAlive reports whether any process is left in process group pgid.
func groupAlive(pgid int) bool {
	return pgid > 0 && unix.Kill(-pgid, 0) != unix.ESRCH
}

type proc struct{ pid, pgid int }

// groupMembers lists the processes of process group pgid, which outlived
// its leader. Each of them descends from restart-run (its subreaper), so
// the walk reads restart-run's tree, not every process of the machine: on
// a host with thousands of processes a full scan took half a second of the
// loop. Where the kernel has no children files it scans every process's
// stat; where /proc is not restart-run's namespace's, see nsproc.go.
func groupMembers(self, pgid int) []proc {
	switch v := procView(); {
	case !v.ok:
		return nil
	case v.depth > 0:
		return foreignGroup(v, pgid)
	}
	var out []proc
	seen := map[int]bool{}
	for queue := []int{self}; len(queue) > 0; queue = queue[1:] {
		kids, ok := taskChildren(queue[0])
		if !ok {
			if _, err := os.Stat("/proc/" + strconv.Itoa(queue[0])); err != nil {
				continue // it exited during the walk
			}
			return scanProcs(func(_, g int) bool { return g == pgid })
		}
		for _, k := range kids {
			if seen[k] {
				continue
			}
			seen[k] = true
			if _, g, ok := procStat(strconv.Itoa(k)); ok && g == pgid {
				out = append(out, proc{pid: k, pgid: g})
			}
			queue = append(queue, k)
		}
	}
	return out
}

// childrenOf lists the processes whose parent is ppid: the orphans
// reparented to restart-run as subreaper, and its own children. It reads
// each thread's /proc/PID/task/TID/children where the kernel has them
// (CONFIG_PROC_CHILDREN), else every process's stat; it runs only when
// leftovers may exist. restart-run's own children are found through
// /proc/self where /proc is not its namespace's (nsproc.go), and not at
// all where /proc does not show it: /proc/PID there is another process.
func childrenOf(ppid int) []proc {
	if ppid == os.Getpid() {
		switch v := procView(); {
		case !v.ok:
			return nil
		case v.depth > 0:
			return foreignChildren(v)
		}
	}
	pids, ok := taskChildren(ppid)
	if !ok {
		return scanChildren(ppid)
	}
	out := make([]proc, 0, len(pids))
	for _, pid := range pids {
		if p, pgid, ok := procStat(strconv.Itoa(pid)); ok && p == ppid {
			out = append(out, proc{pid: pid, pgid: pgid})
		}
	}
	return out
}

// ownProc reports whether /proc shows restart-run's own PID namespace: it
// does not under unshare --pid without --mount-proc.
func ownProc() bool {
	v := procView()
	return v.ok && v.depth == 0
}

// onlyChild reports whether pid is the one child of ppid left.
func onlyChild(ppid, pid int) bool {
	kids := childrenOf(ppid)
	return len(kids) == 1 && kids[0].pid == pid
}

// taskChildren reads the children files of every thread of ppid; ok is
// false where the kernel has none.
func taskChildren(ppid int) (pids []int, ok bool) {
	return taskChildrenIn("/proc/" + strconv.Itoa(ppid) + "/task")
}

// taskChildrenIn reads the children files of every thread in dir, a
// process's task directory.
func taskChildrenIn(dir string) (pids []int, ok bool) {
	tids, err := os.ReadDir(dir)
	if err != nil {
		return nil, false
	}
	for _, tid := range tids {
		b, err := os.ReadFile(dir + "/" + tid.Name() + "/children")
		if errors.Is(err, fs.ErrNotExist) {
			if _, serr := os.Stat(dir + "/" + tid.Name()); serr == nil {
				return nil, false // the thread is there, its children file is not
			}
			continue // the thread has exited
		}
		for _, f := range bytes.Fields(b) {
			if pid, err := strconv.Atoi(string(f)); err == nil {
				pids = append(pids, pid)
			}
		}
	}
	return pids, true
}

// scanChildren finds the children of ppid by reading every process's stat.
func scanChildren(ppid int) []proc {
	return scanProcs(func(p, _ int) bool { return p == ppid })
}

// scanProcs lists the processes whose parent and group keep takes, from
// every process's stat.
func scanProcs(keep func(ppid, pgid int) bool) []proc {
	d, err := os.Open("/proc")
	if err != nil {
		return nil
	}
	defer d.Close()
	names, _ := d.Readdirnames(-1)
	var out []proc
	for _, name := range names {
		pid, err := strconv.Atoi(name)
		if err != nil {
			continue
		}
		if p, g, ok := procStat(name); ok && keep(p, g) {
			out = append(out, proc{pid: pid, pgid: g})
		}
	}
	return out
}

// procStat reads the parent and process group of a process from /proc.
func procStat(pid string) (ppid, pgid int, ok bool) {
	b, err := os.ReadFile("/proc/" + pid + "/stat")
	if err != nil {
		return 0, 0, false
	}
	// The command name in parentheses may hold spaces and parentheses;
	// the fields after the last ')' are "state ppid pgrp ...".
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, 0, false
	}
	f := bytes.Fields(b[i+1:])
	if len(f) < 3 {
		return 0, 0, false
	}
	p, err1 := strconv.Atoi(string(f[1]))
	g, err2 := strconv.Atoi(string(f[2]))
	return p, g, err1 == nil && err2 == nil
}
