package main

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"runtime"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// This file is the supervisor's side of SPEC.md section 8: readiness, the
// start and runtime timeouts, the watchdog, and the relay up to an outer
// notify-aware supervisor. notify.go has the socket and the protocol.

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

// spawn starts the command, directly or through the exec shim. Through the
// shim it waits until the command itself runs (the shim's report descriptor
// closes) or cannot (the shim writes the errno), so that a failed exec is a
// failed start, as without the shim, and no signal is forwarded to the shim
// in between: signals wait in their channels meanwhile.
func (s *supervisor) spawn(pgid, tty int) (int, error) {
	if !s.viaShim {
		return startChild(s.path, s.cfg.argv, s.env, pgid, tty)
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
	fd, err := unix.FcntlInt(w.Fd(), unix.F_DUPFD, 3)
	w.Close()
	if err != nil {
		return 0, fmt.Errorf("exec shim pipe: %w", err)
	}
	env := append(s.env[:len(s.env):len(s.env)], execShimEnv+"="+strconv.Itoa(fd))
	argv := append([]string{shimArgv0, s.path}, s.cfg.argv...)
	pid, err := startChild(selfExe, argv, env, pgid, tty)
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

// upstream is restart-run's own notify socket, when a notify-aware
// supervisor (systemd with Type=notify) started it.
type upstream struct {
	addr     string
	watchdog time.Duration // half of our own WATCHDOG_USEC: how often to ping
	ready    bool          // READY=1 sent
}

// newUpstream reads NOTIFY_SOCKET, WATCHDOG_USEC and WATCHDOG_PID from
// restart-run's environment; they are restart-run's own and never the
// child's.
func newUpstream() *upstream {
	addr := os.Getenv("NOTIFY_SOCKET")
	if addr == "" {
		return nil
	}
	u := &upstream{addr: addr}
	usec, err := strconv.ParseUint(os.Getenv("WATCHDOG_USEC"), 10, 64)
	pid := os.Getenv("WATCHDOG_PID")
	if err == nil && usec > 0 && (pid == "" || pid == strconv.Itoa(os.Getpid())) {
		u.watchdog = time.Duration(usec) * time.Microsecond / 2
	}
	return u
}

func (s *supervisor) tellUp(payload string) {
	if s.up == nil {
		return
	}
	if err := sendNotify(s.up.addr, payload); err != nil {
		s.log.Debug().Str("event", "notify").Str("payload", payload).Err(err).Msg("cannot notify the outer supervisor")
	}
}

// runStarted arms the per-run timers once the child runs. Until it is ready
// only --timeout-start guards it: the watchdog and --runtime-max start in
// becameReady, as systemd arms them on entering the running state.
func (s *supervisor) runStarted() {
	s.ready = false
	s.watchdogPeriod = s.cfg.watchdog
	if s.cfg.notifyType != "notify" {
		s.becameReady()
	} else if s.cfg.timeoutStart > 0 {
		s.startTimeout.set(s.cfg.timeoutStart)
	}
	s.healthStarted()
}

// runEnded disarms them.
func (s *supervisor) runEnded() {
	s.startTimeout.stop()
	s.runtimeMax.stop()
	s.watchdog.stop()
	s.healthStopped()
}

// becameReady: the child entered the running state (at its start under
// --type=simple, at READY=1 under --type=notify). systemd stops the watchdog
// while a unit starts and (re)arms it, and RuntimeMaxSec=, from here on, so a
// service that takes longer than its watchdog period to start is not killed
// for it: until now --timeout-start alone has guarded the start.
func (s *supervisor) becameReady() {
	s.ready = true
	s.startTimeout.stop()
	if s.cfg.runtimeMax > 0 {
		s.runtimeMax.set(s.cfg.runtimeMax)
	}
	if s.watchdogPeriod > 0 {
		s.watchdog.set(s.watchdogPeriod)
	}
	if s.cfg.notifyType == "notify" {
		s.log.Info().Str("event", "ready").Int("pid", s.pid).Dur("after_ms", time.Since(s.started)).Msg("child is ready")
	}
	if s.up != nil && !s.up.ready {
		s.up.ready = true
		s.tellUp("READY=1\nMAINPID=" + strconv.Itoa(s.self))
	}
}

// onNotify handles one datagram from the child's NOTIFY_SOCKET.
func (s *supervisor) onNotify(d notifyDatagram) {
	if s.cfg.notifyAccess == "main" && (s.pid == 0 || d.pid != s.pid) {
		s.log.Debug().Str("event", "notify").Int("sender", d.pid).Int("pid", s.pid).
			Msg("datagram refused: --notify-access=main takes only the child's own")
		return
	}
	if s.phase != running {
		return // from a run that has ended
	}
	m := d.msg
	if m.Status != nil {
		s.log.Info().Str("event", "status").Int("pid", s.pid).Str("status", *m.Status).Msg("child status")
	}
	if m.Reloading {
		s.log.Info().Str("event", "reloading").Int("pid", s.pid).Msg("child is reloading")
	}
	if m.Stopping {
		s.log.Info().Str("event", "stopping").Int("pid", s.pid).Msg("child is stopping")
	}
	if m.RestartReset {
		s.backoff().Reset()
		s.log.Info().Str("event", "restart-reset").Int("pid", s.pid).Msg("backoff reset by the child")
	}
	if m.ExtendTimeoutUSec != nil {
		s.extendTimeout(usec(*m.ExtendTimeoutUSec))
	}
	if s.stopping || s.forced != nil {
		return // being stopped: readiness and the watchdog no longer count
	}
	if m.Ready && !s.ready {
		s.becameReady()
	}
	if m.WatchdogUSec != nil {
		// The child changes its own watchdog period; 0 turns it off.
		// Before READY=1 it only takes effect once the child is ready.
		s.watchdogPeriod = usec(*m.WatchdogUSec)
		s.watchdog.stop()
		if s.watchdogPeriod > 0 && s.ready {
			s.watchdog.set(s.watchdogPeriod)
		}
	}
	if m.Watchdog && s.watchdogPeriod > 0 && s.ready {
		s.watchdog.set(s.watchdogPeriod)
	}
	if m.WatchdogTrigger {
		s.watchdogFailed("the child asked for it (WATCHDOG=trigger)")
	}
}

// usec turns a protocol value in microseconds into a duration, saturating:
// systemd's "infinity" (2^64-1) must not wrap around to a short time.
func usec(u uint64) time.Duration {
	if u > uint64(math.MaxInt64/int64(time.Microsecond)) {
		return math.MaxInt64
	}
	return time.Duration(u) * time.Microsecond
}

// extendTimeout: EXTEND_TIMEOUT_USEC= pushes the timeout of the current
// phase (stop while being stopped, start until ready, runtime after) to no
// sooner than d from now, as systemd does; it never shortens one.
func (s *supervisor) extendTimeout(d time.Duration) {
	a := &s.runtimeMax
	switch {
	case s.stopping || s.forced != nil:
		a = &s.kill
	case !s.ready:
		a = &s.startTimeout
	}
	if a.on && time.Until(a.when) < d {
		a.set(d)
		if a == &s.kill && s.stopping {
			s.stopDeadline = a.when
		}
	}
}

func (s *supervisor) onStartTimeout() {
	s.log.Warn().Str("event", "timeout").Int("pid", s.pid).Dur("timeout_ms", s.cfg.timeoutStart).
		Msg("no READY=1 within --timeout-start; stopping the child")
	s.terminate(Timeout, s.cfg.killSignal)
}

func (s *supervisor) onRuntimeMax() {
	s.log.Warn().Str("event", "timeout").Int("pid", s.pid).Dur("timeout_ms", s.cfg.runtimeMax).
		Msg("child ran past --runtime-max; stopping it")
	s.terminate(Timeout, s.cfg.killSignal)
}

func (s *supervisor) watchdogFailed(why string) {
	s.log.Warn().Str("event", "watchdog").Int("pid", s.pid).Dur("period_ms", s.watchdogPeriod).
		Str("reason", why).Msg("watchdog failed; stopping the child")
	s.terminate(Watchdog, s.cfg.watchdogSignal)
}

// terminate stops the child on restart-run's own account (a timeout, the
// watchdog, failed health checks); class is how the run will be classed,
// whatever the child then dies of.
func (s *supervisor) terminate(class Class, sig unix.Signal) {
	if s.phase != running || s.forced != nil {
		return
	}
	s.forced = &class
	s.runEnded()
	s.stopChild(sig)
	if !s.kill.on {
		s.kill.set(s.cfg.timeoutStop)
	}
}
