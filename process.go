package main

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// This file starts the child: command lookup, fork and exec (through the
// exec shim when the child must see its own pid in WATCHDOG_PID), and the
// one wait loop (reap), which hands each ended process to its owner.

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
// terminal's foreground group. files is its descriptor table, nil for
// stdin, stdout and stderr alone (see childFiles for more). Nothing here
// waits for the child: the supervisor's reap is the only waiter.
func startChild(path string, argv, env []string, pgid, tty int, files []uintptr) (int, error) {
	if files == nil {
		files = []uintptr{0, 1, 2}
	}
	attr := &syscall.ProcAttr{
		Env:   env,
		Files: files,
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

// execShimEnv starts restart-run as the exec shim: it sets WATCHDOG_PID to
// its own pid, which the command keeps across exec, and execs the command.
// ForkExec fixes the environment before the pid is known, so the child's
// pid can reach its environment only this way. The variable's value is the
// descriptor on which the shim reports a failed exec.
const (
	execShimEnv = "RESTART_RUN_INTERNAL_EXEC"
	shimArgv0   = "restart-run (exec)"
)

// selfExe is restart-run's own binary as the kernel holds it: still there
// when the file has been replaced or removed (a package upgrade).
const selfExe = "/proc/self/exe"

// execShim is the body of the shim: args are the command's path and argv.
func execShim(args []string) int {
	report, _ := strconv.Atoi(os.Getenv(execShimEnv))
	env := make([]string, 0, len(os.Environ())+1)
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, execShimEnv+"=") {
			env = append(env, kv)
		}
	}
	env = append(env, "WATCHDOG_PID="+strconv.Itoa(os.Getpid()))
	// The report descriptor closes on a successful exec, which is how the
	// supervisor learns that the command runs.
	unix.CloseOnExec(report)
	// exec keeps the calling thread's signal mask: make it empty, as
	// forkExec does for a child started directly.
	runtime.LockOSThread()
	var empty unix.Sigset_t
	_ = unix.PthreadSigmask(unix.SIG_SETMASK, &empty, nil)
	err := unix.Exec(args[0], args[1:], env)
	var errno [4]byte
	if e, ok := err.(unix.Errno); ok {
		binary.LittleEndian.PutUint32(errno[:], uint32(e))
	}
	_, _ = unix.Write(report, errno[:])
	return 127
}

// command is what each start runs: the command's path, its argv and the
// environment it gets; viaShim starts it through the exec shim, which sets
// WATCHDOG_PID (under --watchdog). Under --notification-fd the child gets
// the run's pipe at readyFD, beside the descriptors passed through.
type command struct {
	path    string
	argv    []string
	env     []string
	viaShim bool
	readyFD int
	passed  []int
}

// files is the child's descriptor table: nil (stdin, stdout, stderr, and
// what restart-run inherited passing through exec by itself) without a
// notification pipe; with one, ready at readyFD and every descriptor that
// passes through named, with keep.
func (c *command) files(ready *os.File, keep ...int) []uintptr {
	if ready == nil {
		return nil
	}
	return childFiles(c.readyFD, ready.Fd(), append(c.passed[:len(c.passed):len(c.passed)], keep...))
}

// spawn starts the command, directly or through the exec shim. Through the
// shim it waits until the command itself runs (the shim's report descriptor
// closes) or cannot (the shim writes the errno), so that a failed exec is a
// failed start, as without the shim, and no signal is forwarded to the shim
// in between: signals wait in their channels meanwhile.
//
// ready is the write end of the run's notification pipe, or nil. Its Fd
// makes it blocking, which the child wants: the pipe's flags are shared
// with the child's copy.
func (c *command) spawn(pgid, tty int, ready *os.File) (int, error) {
	if !c.viaShim {
		return startChild(c.path, c.argv, c.env, pgid, tty, c.files(ready))
	}
	r, w, err := os.Pipe()
	if err != nil {
		return 0, fmt.Errorf("exec shim pipe: %w", err)
	}
	defer r.Close()
	// The shim inherits a copy without close-on-exec. F_DUPFD takes the
	// lowest free number from 3 up, so it never lands on a descriptor
	// restart-run inherited (3>file), which the command must get unmoved,
	// and it works under any open-file limit that has room for it; the shim
	// makes it close-on-exec before the command runs. Only this goroutine
	// forks, so no other child can inherit it.
	avoid := 0
	if ready != nil {
		avoid = c.readyFD // the number the notification pipe takes in the child
	}
	fd, err := dupFrom3(w.Fd(), avoid)
	w.Close()
	if err != nil {
		return 0, fmt.Errorf("exec shim pipe: %w", err)
	}
	env := append(c.env[:len(c.env):len(c.env)], execShimEnv+"="+strconv.Itoa(fd))
	argv := append([]string{shimArgv0, c.path}, c.argv...)
	pid, err := startChild(selfExe, argv, env, pgid, tty, c.files(ready, fd))
	unix.Close(fd)
	if err != nil {
		return 0, err
	}
	// EOF: the command runs. Four bytes: the errno of its failed exec.
	// A shim stopped before its exec (Ctrl-Z reaches the foreground group
	// it is in) would never get there, so it is sent SIGCONT while we wait;
	// and should the wait still drag on, the start counts as made and reap
	// tells the rest, rather than the loop hanging here.
	var errno [4]byte
	giveUp := time.Now().Add(2 * time.Second)
	for {
		_ = r.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
		n, err := io.ReadFull(r, errno[:])
		switch {
		case n == 4:
			return 0, unix.Errno(binary.LittleEndian.Uint32(errno[:])) // the shim exits; reap takes it
		case n == 0 && errors.Is(err, os.ErrDeadlineExceeded) && time.Now().Before(giveUp):
			_ = unix.Kill(pid, unix.SIGCONT)
		default:
			return pid, nil
		}
	}
}

// dupFrom3 duplicates fd, without close-on-exec, to the lowest free number
// from 3 up that is not avoid (0: any).
func dupFrom3(fd uintptr, avoid int) (int, error) {
	dup, err := unix.FcntlInt(fd, unix.F_DUPFD, 3)
	if err != nil || dup != avoid {
		return dup, err
	}
	above, err := unix.FcntlInt(fd, unix.F_DUPFD, avoid+1)
	unix.Close(dup)
	return above, err
}

// reap is the only caller of wait4: any other waiter could take the main
// child's status before we see it. It reaps every zombie, orphans included.
func (s *supervisor) reap() {
	var main, lostSentinel, hook *unix.WaitStatus
	lostPID := 0
	resume := false
	flags := unix.WNOHANG
	if s.term.tty != nil {
		flags |= unix.WUNTRACED // to follow Ctrl-Z
	}
	for {
		var ws unix.WaitStatus
		pid, err := unix.Wait4(-1, &ws, flags, nil)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if pid <= 0 || err != nil {
			s.end.noChildren = errors.Is(err, unix.ECHILD)
			break
		}
		switch {
		case pid == s.guard.pid() && pid != 0:
			if !ws.Stopped() {
				s.guard.ended(ws, s.child.pgid)
			}
		case ws.Stopped():
			if pid == s.child.pid && s.child.pid != 0 {
				s.term.childStoppedBy(ws.StopSignal())
			}
		case pid == s.child.pid && s.child.pid != 0:
			main = &ws
		case s.health.owns(pid):
			s.healthSaid(s.health.exited(ws, s.checkable()))
		case s.hooks.owns(pid):
			hook = &ws
		case pid == s.term.sentinel && s.term.sentinel != 0:
			interrupt, lost := s.term.sentinelEnded(ws, s.phase == running)
			if interrupt {
				s.onTerminalInterrupt()
			}
			if lost {
				lostSentinel, lostPID = &ws, pid
			}
			// A run that ended earlier was waiting for the sentinel.
			resume = s.phase == cleaning
		}
	}
	if lostSentinel != nil && main == nil {
		// Only now: had the child ended too, in this same reap, no
		// successor would be needed.
		s.term.sentinelLost(lostPID, *lostSentinel, s.child.pgid, s.end.stopping, s.end.ownKill())
	}
	if g := s.guard.pid(); !s.end.noChildren && g != 0 && (main != nil || s.phase == cleaning) {
		// The guard is a child for restart-run's whole life: the cleanup
		// waits for every child but it.
		s.end.noChildren = onlyChild(s.end.self, g)
	}
	switch {
	case main != nil:
		s.childEnded(*main)
	case hook != nil:
		s.hooked(s.hooks.exited(*hook))
	case resume:
		s.cleanup()
	case s.phase == cleaning && s.term.sentinel == 0:
		s.sweep() // orphans reparented since the last look
		s.checkCleaned()
	}
}
