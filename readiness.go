package main

import (
	"math"
	"os"
	"strconv"
	"time"

	"golang.org/x/sys/unix"
)

// This file is the supervisor's side of SPEC.md section 8: readiness, the
// start and runtime timeouts, the watchdog, and the relay up to an outer
// notify-aware supervisor. notify.go has the socket and the protocol.

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
