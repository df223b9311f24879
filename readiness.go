package main

import (
	"math"
	"os"
	"strconv"
	"time"

	"github.com/rs/zerolog"
	"golang.org/x/sys/unix"
)

// This file is SPEC.md section 8 as the loop sees it: readiness, the start
// and runtime timeouts, the watchdog, and the relay up to an outer
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

// readiness owns the readiness and the watchdog of each run of the child:
// its NOTIFY_SOCKET, --timeout-start, --runtime-max, the watchdog period the
// child may change, and restart-run's own notify socket upward. It signals
// nobody: when the child must be stopped for a timeout or the watchdog, it
// logs why and hands the loop a stopOrder; what else a datagram asks of the
// loop comes back as notifyAsks.
type readiness struct {
	cfg    *config
	log    zerolog.Logger
	self   int           // restart-run's pid, the MAINPID told upward
	notify *notifySocket // the child's NOTIFY_SOCKET, nil when not needed
	up     *upstream     // our own outer supervisor's socket, or nil
	pipe   *readyPipe    // this run's --notification-fd pipe, nil when none is open

	pid     int       // the child of the current run, for the log
	started time.Time // when it started
	ready   bool
	period  time.Duration // the watchdog period of this run; 0: none

	startTimeout alarm // --timeout-start, until READY=1
	runtimeMax   alarm // --runtime-max
	watchdog     alarm // the next WATCHDOG=1 is due
	upWatchdog   alarm // our own ping to the outer supervisor
}

// stopOrder is how the loop must stop the child: the class the run will
// end with, whatever the child then dies of, and the signal to send.
type stopOrder struct {
	class Class
	sig   unix.Signal
}

// notifyAsks is what a datagram asks of the loop besides readiness.
type notifyAsks struct {
	resetBackoff bool          // RESTART_RESET=1
	extendStop   bool          // EXTEND_TIMEOUT_USEC= while the child is being stopped:
	extend       time.Duration // the stop's deadline is pushed to no sooner than extend from now
	stop         *stopOrder    // WATCHDOG=trigger
}

// newReadiness opens the child's notify socket where --type=notify or the
// watchdog needs one, and returns what the child's environment gains.
func newReadiness(cfg *config, log zerolog.Logger, self int) (r *readiness, env []string, err error) {
	r = &readiness{cfg: cfg, log: log, self: self, up: newUpstream()}
	if cfg.notifyType == "notify" || cfg.watchdog > 0 {
		n, err := openNotifySocket(log)
		if err != nil {
			return nil, nil, err
		}
		r.notify = n
		env = append(env, "NOTIFY_SOCKET="+n.Path())
	}
	if cfg.watchdog > 0 {
		env = append(env, "WATCHDOG_USEC="+strconv.FormatInt(cfg.watchdog.Microseconds(), 10))
	}
	return r, env, nil
}

// notifyC, startC, runtimeC, watchdogC and upC are what the loop selects
// on: the child's datagrams and the four alarms.
func (r *readiness) notifyC() <-chan notifyDatagram {
	if r.notify == nil {
		return nil
	}
	return r.notify.C()
}

// readyFDC delivers what this run's --notification-fd pipe said: true for
// a newline, false for EOF without one.
func (r *readiness) readyFDC() <-chan bool {
	if r.pipe == nil {
		return nil
	}
	return r.pipe.C()
}

func (r *readiness) startC() <-chan time.Time    { return r.startTimeout.C() }
func (r *readiness) runtimeC() <-chan time.Time  { return r.runtimeMax.C() }
func (r *readiness) watchdogC() <-chan time.Time { return r.watchdog.C() }
func (r *readiness) upC() <-chan time.Time       { return r.upWatchdog.C() }

// close removes the child's notify socket; restart-run is about to exit.
func (r *readiness) close() {
	if r.notify != nil {
		_ = r.notify.Close()
	}
	r.closePipe()
}

// beforeStart opens the coming run's --notification-fd pipe, when the flag
// is set, and returns the write end for the child, which the caller closes
// once the child has it. Each run has a pipe of its own, so a newline meant
// for one run cannot make the next one ready.
func (r *readiness) beforeStart() (*os.File, error) {
	r.closePipe()
	if r.cfg.readyFD == 0 {
		return nil, nil
	}
	p, w, err := openReadyPipe()
	if err != nil {
		return nil, err
	}
	r.pipe = p
	return w, nil
}

// childGone closes the run's pipe: its child has ended (or could not be
// started), as s6-supervise closes its end when the service dies.
func (r *readiness) childGone() { r.closePipe() }

func (r *readiness) closePipe() {
	if r.pipe != nil {
		r.pipe.close()
		r.pipe = nil
	}
}

// onReadyFD handles what the run's notification pipe said: a newline is
// READY=1 by s6's protocol, and counts as READY=1 would (live and stopping
// as for onNotify); EOF without one is no readiness, and news only while
// the child runs and is not being stopped (a child killed for its start
// timeout closes the pipe by dying). Either way the pipe is done with:
// restart-run closes its end, as s6-supervise does.
func (r *readiness) onReadyFD(newline, live, stopping bool) {
	r.closePipe()
	switch {
	case !live || stopping:
	case !newline:
		r.log.Debug().Str("event", "notify").Int("pid", r.pid).Int("fd", r.cfg.readyFD).
			Msg("--notification-fd closed without a newline (by the child, or as it ended); not ready")
	case !r.ready:
		r.becameReady("notification-fd")
	}
}

// tellUp sends payload to the outer supervisor, if there is one.
func (r *readiness) tellUp(payload string) {
	if r.up == nil {
		return
	}
	if err := sendNotify(r.up.addr, payload); err != nil {
		r.log.Debug().Str("event", "notify").Str("payload", payload).Err(err).Msg("cannot notify the outer supervisor")
	}
}

// startUp arms our own watchdog pings upward, for restart-run's whole life.
func (r *readiness) startUp() {
	if r.up != nil && r.up.watchdog > 0 {
		r.upWatchdog.set(r.up.watchdog)
	}
}

// pingUp: our own watchdog ping to the outer supervisor is due.
func (r *readiness) pingUp() {
	r.upWatchdog.on = false
	r.tellUp("WATCHDOG=1")
	r.upWatchdog.set(r.up.watchdog)
}

// runStarted arms the per-run timers once the child, pid, runs. Until it is
// ready only --timeout-start guards it: the watchdog and --runtime-max
// start in becameReady, as systemd arms them on entering the running state.
func (r *readiness) runStarted(pid int, started time.Time) {
	r.pid, r.started = pid, started
	r.ready = false
	r.period = r.cfg.watchdog
	if r.cfg.notifyType != "notify" {
		r.becameReady("")
	} else if r.cfg.timeoutStart > 0 {
		r.startTimeout.set(r.cfg.timeoutStart)
	}
}

// runEnded disarms them.
func (r *readiness) runEnded() {
	r.startTimeout.stop()
	r.runtimeMax.stop()
	r.watchdog.stop()
}

// becameReady: the child entered the running state (at its start under
// --type=simple, at READY=1 or the newline on --notification-fd under
// --type=notify, which via names for the log). systemd stops the watchdog
// while a unit starts and (re)arms it, and RuntimeMaxSec=, from here on, so a
// service that takes longer than its watchdog period to start is not killed
// for it: until now --timeout-start alone has guarded the start.
func (r *readiness) becameReady(via string) {
	r.ready = true
	r.startTimeout.stop()
	if r.cfg.runtimeMax > 0 {
		r.runtimeMax.set(r.cfg.runtimeMax)
	}
	if r.period > 0 {
		r.watchdog.set(r.period)
	}
	if r.cfg.notifyType == "notify" {
		r.log.Info().Str("event", "ready").Int("pid", r.pid).Dur("after_ms", time.Since(r.started)).Str("via", via).Msg("child is ready")
	}
	if r.up != nil && !r.up.ready {
		r.up.ready = true
		r.tellUp("READY=1\nMAINPID=" + strconv.Itoa(r.self))
	}
}

// onNotify handles one datagram from the child's NOTIFY_SOCKET. live says
// the run's child still runs, stopping that it is being stopped (a stop
// request, or restart-run's own kill): readiness and the watchdog then no
// longer count.
func (r *readiness) onNotify(d notifyDatagram, live, stopping bool) (asks notifyAsks) {
	if r.cfg.notifyAccess == "main" && (!live || d.pid != r.pid) {
		pid := 0
		if live {
			pid = r.pid
		}
		r.log.Debug().Str("event", "notify").Int("sender", d.pid).Int("pid", pid).
			Msg("datagram refused: --notify-access=main takes only the child's own")
		return asks
	}
	if !live {
		return asks // from a run that has ended
	}
	m := d.msg
	if m.Status != nil {
		r.log.Info().Str("event", "status").Int("pid", r.pid).Str("status", *m.Status).Msg("child status")
	}
	if m.Reloading {
		r.log.Info().Str("event", "reloading").Int("pid", r.pid).Msg("child is reloading")
	}
	if m.Stopping {
		r.log.Info().Str("event", "stopping").Int("pid", r.pid).Msg("child is stopping")
	}
	if m.RestartReset {
		asks.resetBackoff = true
		r.log.Info().Str("event", "restart-reset").Int("pid", r.pid).Msg("backoff reset by the child")
	}
	if m.ExtendTimeoutUSec != nil {
		if d := usec(*m.ExtendTimeoutUSec); stopping {
			asks.extendStop, asks.extend = true, d
		} else {
			r.extendTimeout(d)
		}
	}
	if stopping {
		return asks // being stopped: readiness and the watchdog no longer count
	}
	if m.Ready && !r.ready {
		r.becameReady("notify-socket")
	}
	if m.WatchdogUSec != nil {
		// The child changes its own watchdog period; 0 turns it off.
		// Before READY=1 it only takes effect once the child is ready.
		r.period = usec(*m.WatchdogUSec)
		r.watchdog.stop()
		if r.period > 0 && r.ready {
			r.watchdog.set(r.period)
		}
	}
	if m.Watchdog && r.period > 0 && r.ready {
		r.watchdog.set(r.period)
	}
	if m.WatchdogTrigger {
		asks.stop = r.watchdogFailed("the child asked for it (WATCHDOG=trigger)")
	}
	return asks
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
// phase (start until ready, runtime after; the stop's is the cleanup's) to
// no sooner than d from now, as systemd does; it never shortens one.
func (r *readiness) extendTimeout(d time.Duration) {
	a := &r.runtimeMax
	if !r.ready {
		a = &r.startTimeout
	}
	a.extend(d)
}

// onStartTimeout, onRuntimeMax and onWatchdog: an alarm rang. Each says
// why in the log and how the child is to be stopped.
func (r *readiness) onStartTimeout() *stopOrder {
	r.startTimeout.on = false
	r.log.Warn().Str("event", "timeout").Int("pid", r.pid).Dur("timeout_ms", r.cfg.timeoutStart).
		Msg("no READY=1 within --timeout-start; stopping the child")
	return &stopOrder{Timeout, r.cfg.killSignal}
}

func (r *readiness) onRuntimeMax() *stopOrder {
	r.runtimeMax.on = false
	r.log.Warn().Str("event", "timeout").Int("pid", r.pid).Dur("timeout_ms", r.cfg.runtimeMax).
		Msg("child ran past --runtime-max; stopping it")
	return &stopOrder{Timeout, r.cfg.killSignal}
}

func (r *readiness) onWatchdog() *stopOrder {
	r.watchdog.on = false
	return r.watchdogFailed("no WATCHDOG=1 within the period")
}

func (r *readiness) watchdogFailed(why string) *stopOrder {
	r.log.Warn().Str("event", "watchdog").Int("pid", r.pid).Dur("period_ms", r.period).
		Str("reason", why).Msg("watchdog failed; stopping the child")
	return &stopOrder{Watchdog, r.cfg.watchdogSignal}
}
