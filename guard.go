package main

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/rs/zerolog"
	"golang.org/x/sys/unix"
)

// The guard ends the child's process group when restart-run itself is
// killed outright (SIGKILL, the OOM killer), so that an outer supervisor
// that starts restart-run again never finds the old service's processes
// still holding its port. The main child gets SIGKILL from the kernel as
// its parent-death signal, but that signal is not inherited: without the
// guard, `sh -c 'server & server2'` would leave both servers running.
//
// The guard is one small process for restart-run's whole life (a process
// per start would double the cost of a restart). It is restart-run's own
// child, in a session of its own so that no terminal or group signal meant
// for restart-run reaches it, and it holds the read end of a pipe whose
// write end only restart-run holds. restart-run writes the child's process
// group to the pipe whenever it changes (0 once the group is empty). When
// restart-run dies, the kernel closes the write end, the guard reads EOF and
// sends SIGKILL to the last group it was told of. On a normal exit
// restart-run has emptied the group already and kills the guard itself.
//
// No guard runs under --kill-mode=process (leftovers are left alone by
// design) or when restart-run is PID 1, where the kernel kills every
// process of the namespace when restart-run dies.
const (
	guardEnv   = "RESTART_RUN_INTERNAL_GUARD"
	guardArgv0 = "restart-run (guard)"
)

type guard struct {
	pid  int
	w    int // the pipe's write end: close-on-exec, non-blocking
	pgid int // the group the guard was last told of
}

// startGuard starts a guard that knows of group pgid (0: none yet).
// logFormat is passed on for the one line the guard may log.
func startGuard(pgid int, logFormat string) (*guard, error) {
	var p [2]int
	// Close-on-exec, so that no child of restart-run keeps the write end
	// open past its exec, which would hide restart-run's death from the
	// guard; non-blocking, so that a stopped guard cannot stall the loop.
	if err := unix.Pipe2(p[:], unix.O_CLOEXEC|unix.O_NONBLOCK); err != nil {
		return nil, fmt.Errorf("guard pipe: %w", err)
	}
	g := &guard{w: p[1]}
	// The group goes into the pipe before the guard starts, so that it is
	// there for the guard to read whatever happens to either from here on.
	err := g.tell(pgid)
	var null *os.File
	if err == nil {
		null, err = os.Open(os.DevNull)
	}
	if err != nil {
		unix.Close(p[0])
		unix.Close(p[1])
		return nil, fmt.Errorf("guard: %w", err)
	}
	pid, err := forkExec(selfExe, []string{guardArgv0}, &syscall.ProcAttr{
		Dir:   "/", // pin no mount point
		Env:   []string{guardEnv + "=" + logFormat},
		Files: []uintptr{null.Fd(), null.Fd(), 2, uintptr(p[0])},
		Sys:   &syscall.SysProcAttr{Setsid: true},
	})
	null.Close()
	unix.Close(p[0])
	if err != nil {
		unix.Close(p[1])
		return nil, fmt.Errorf("guard: %w", err)
	}
	g.pid = pid
	return g, nil
}

// tell records the child's process group with the guard.
func (g *guard) tell(pgid int) error {
	if pgid == g.pgid {
		return nil
	}
	var b [8]byte
	binary.NativeEndian.PutUint64(b[:], uint64(pgid))
	for {
		// Eight bytes are written whole or not at all (PIPE_BUF).
		_, err := unix.Write(g.w, b[:])
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			return fmt.Errorf("tell the guard: %w", err)
		}
		g.pgid = pgid
		return nil
	}
}

// stop ends a guard that is no longer needed: SIGKILL, which also ends a
// stopped one, so the wait is short. It reaps the guard itself: it runs
// only once the supervisor's loop, the usual waiter, has returned, or when
// reap has already taken the guard's status (reaped set).
func (g *guard) stop(reaped bool) {
	unix.Close(g.w)
	if reaped {
		return
	}
	_ = unix.Kill(g.pid, unix.SIGKILL)
	for {
		_, err := unix.Wait4(g.pid, nil, 0, nil)
		if !errors.Is(err, unix.EINTR) {
			return
		}
	}
}

// guardMain is the body of the guard process.
func guardMain(logFormat string) int {
	// Hold nothing of restart-run's but the pipe and stderr: descriptors
	// it inherited (3>file) are its child's business.
	_ = unix.CloseRange(4, math.MaxUint32, 0)
	f := os.NewFile(3, "guard pipe")
	// A stop of the whole process tree (systemd's SIGTERM to every process
	// of the unit, a terminal's hangup) is restart-run's to handle; it
	// ends the guard itself, with SIGKILL.
	signal.Ignore(unix.SIGTERM, unix.SIGINT, unix.SIGHUP, unix.SIGQUIT)
	// It waits for restart-run's whole life: at its resting size, as
	// restart-run itself after start-up (memory.go).
	settleMemory()
	var b [8]byte
	pgid := 0
	for {
		if _, err := io.ReadFull(f, b[:]); err != nil {
			break // EOF: restart-run is gone
		}
		pgid = int(int64(binary.NativeEndian.Uint64(b[:])))
	}
	if pgid <= 0 || unix.Kill(-pgid, unix.SIGKILL) != nil {
		return 0 // no group, or nothing left in it
	}
	// One line for the operator, given up after a second if stderr's
	// reader is stalled: the guard must not outlive restart-run for long.
	log, logs := newLogger(os.Stderr, logFormat, "info")
	log.Warn().Str("event", "guard").Int("pgid", pgid).
		Msg("restart-run ended without stopping its child; the child's process group was sent SIGKILL")
	logs.flush(time.Second)
	return 0
}

// guardKeeper keeps a guard running beside the child for restart-run's
// whole life, where one is needed (not under --kill-mode=process, not as
// PID 1), tells it each change of the child's process group, and replaces
// one that ends or fails. Its methods on a keeper with no guard running do
// nothing but what they say.
type guardKeeper struct {
	log       zerolog.Logger
	logFormat string
	wanted    bool
	g         *guard // nil when none runs
	spare     bool   // a guard that ends may be replaced once in this run
}

func newGuardKeeper(cfg *config, log zerolog.Logger, self int) *guardKeeper {
	return &guardKeeper{log: log, logFormat: cfg.logFormat, wanted: cfg.killMode != "process" && self != 1}
}

// pid is the guard's, 0 when none runs.
func (k *guardKeeper) pid() int {
	if k.g == nil {
		return 0
	}
	return k.g.pid
}

// start starts a guard that knows of group pgid where one is wanted and
// where /proc is restart-run's own: the cleanup, which must wait for every
// child but the guard, can then tell them apart only through /proc. Under a
// PID namespace whose /proc is not mounted, restart-run's pid there is
// another process's, and no guard runs (the ECHILD rule then tells).
func (k *guardKeeper) start(pgid int) {
	if !k.wanted || !ownProc() {
		return
	}
	g, err := startGuard(pgid, k.logFormat)
	if err != nil {
		k.log.Warn().Str("event", "guard").Err(err).
			Msg("cannot start the guard; if restart-run is killed outright, the child's process group may outlive it")
		return
	}
	k.g = g
}

// newRun: a run of the child begins, in group pgid (0 until it has one). A
// guard that died twice in the last run is started again.
func (k *guardKeeper) newRun(pgid int) {
	if k.g == nil {
		k.start(pgid)
	}
	k.spare = true
}

// tell tells the guard of the child's process group.
func (k *guardKeeper) tell(pgid int) {
	if k.g == nil {
		return
	}
	if err := k.g.tell(pgid); err != nil {
		// A guard that cannot be told (stopped with a full pipe, or gone)
		// is replaced, so it never acts on a stale group.
		ev := k.log.Warn().Str("event", "guard").Int("pid", k.g.pid).Err(err)
		k.g.stop(false)
		k.g = nil
		k.replace(ev, pgid)
	}
}

// replace starts another guard for one that ended or failed, once in each
// run of the child: a guard that keeps dying (killed by something that
// kills each new one, or failing as it starts) must not turn into a loop of
// forks. The next start tries again.
func (k *guardKeeper) replace(ev *zerolog.Event, pgid int) {
	if !k.spare {
		ev.Msg("the guard ended again in this run; another is started with the next start")
		return
	}
	k.spare = false
	k.start(pgid)
	ev.Msg("the guard ended; started another")
}

// ended: the guard, reaped, died though restart-run lives (someone killed
// it). Another one takes its place.
func (k *guardKeeper) ended(ws unix.WaitStatus, pgid int) {
	code, sig := exitStatus(ws)
	if sig != 0 {
		code = 128 + int(sig)
	}
	ev := k.log.Warn().Str("event", "guard").Int("pid", k.g.pid).Int("exit_code", code)
	if sig != 0 {
		ev = ev.Str("signal", signalName(sig))
	}
	k.g.stop(true)
	k.g = nil
	k.replace(ev, pgid)
}

// close ends the guard; restart-run is about to exit.
func (k *guardKeeper) close() {
	if k.g != nil {
		k.g.stop(false)
		k.g = nil
	}
}

// setGroup records the child's process group, with the guard too.
func (s *supervisor) setGroup(pgid int) {
	s.child.pgid = pgid
	s.guard.tell(pgid)
}
