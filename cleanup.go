package main

import (
	"time"

	"github.com/rs/zerolog"
	"golang.org/x/sys/unix"
)

// This file ends a run: a stop request, restart-run's own kill of the child
// (a timeout, the watchdog, failed health checks), SIGKILL after
// --timeout-stop, and the cleanup of what the child left behind (its process
// group and the orphans reparented to restart-run) before any restart or
// exit.

// cleaner owns the state of a run's end: whether a stop was requested (no
// restart follows) or a restart (--restart-signal: one follows at once),
// whether restart-run is killing the child on its own account, the one
// deadline of a stop or restart request, the kill alarm, and which
// leftovers have had which signal. It signals only leftovers; the loop
// signals the child, and learns from the return values when a cleanup is
// over.
type cleaner struct {
	cfg  *config
	log  zerolog.Logger
	self int

	stopping   bool                // a stop request came: no restart follows
	restarting bool                // --restart-signal came: a restart follows at once, unless a stop request wins
	forced     *Class              // Timeout or Watchdog when restart-run killed the child
	deadline   time.Time           // when a stop or restart request's --timeout-stop runs out; zero until one was sent
	kill       alarm               // SIGKILL after --timeout-stop
	killed     bool                // leftovers have been sent SIGKILL
	sentKill   bool                // restart-run sent SIGKILL to the child itself this run
	signalled  map[int]unix.Signal // what each leftover was last sent; 0 is the group
	noChildren bool                // the last reap found no children at all
}

func (c *cleaner) killC() <-chan time.Time { return c.kill.C() }

// beingStopped: a stop signal or restart-run's own kill has been sent to
// the child of this run.
func (c *cleaner) beingStopped() bool { return !c.deadline.IsZero() || c.forced != nil }

// settling: the child is being stopped or no restart may follow, so
// readiness, the watchdog and health checks no longer count.
func (c *cleaner) settling() bool { return c.stopping || c.restarting || c.forced != nil }

// ownKill: restart-run itself is stopping the child, for a timeout, the
// watchdog, health checks or a restart on request; not for a stop request,
// which only passes the signal on.
func (c *cleaner) ownKill() bool { return c.forced != nil || c.restarting }

// newRun forgets how the last run was ended: a new start is nobody's stop
// or restart.
func (c *cleaner) newRun() {
	c.forced, c.restarting, c.deadline, c.sentKill = nil, false, time.Time{}, false
}

// armStop starts the one deadline of a stop or restart request, unless
// restart-run's own kill has set the alarm already.
func (c *cleaner) armStop() {
	if !c.kill.on {
		c.kill.set(c.cfg.timeoutStop)
	}
	c.deadline = c.kill.when
}

// force records that restart-run stops the child on its own account, with
// class; false if it is doing so already.
func (c *cleaner) force(class Class) bool {
	if c.forced != nil {
		return false
	}
	c.forced = &class
	if !c.kill.on {
		c.kill.set(c.cfg.timeoutStop)
	}
	return true
}

// extend: EXTEND_TIMEOUT_USEC= while the child is being stopped pushes the
// stop's SIGKILL to no sooner than d from now, as systemd does.
func (c *cleaner) extend(d time.Duration) {
	if c.kill.extend(d) && (c.stopping || c.restarting) {
		c.deadline = c.kill.when
	}
}

// begin starts the cleanup after the child ended and says how long the
// leftovers get before SIGKILL. A stop request has one deadline for the
// child and its leftovers together, as systemd's stop timeout: what is left
// when it has passed gets SIGKILL at once.
func (c *cleaner) begin() (wait time.Duration) {
	c.kill.stop()
	c.killed = c.cfg.killMode == "mixed"
	c.signalled = nil
	wait = c.cfg.timeoutStop
	if !c.deadline.IsZero() {
		wait = time.Until(c.deadline)
		if wait <= 0 {
			c.killed = true
		}
	}
	return max(wait, 0)
}

// sweep signals what is left of process group pgid and every orphan
// reparented to restart-run (but the guard) that has not had this signal
// yet: the kill signal (then SIGCONT, so a stopped process can act on it),
// or SIGKILL once the time is up or under --kill-mode=mixed. It reports
// whether the group is empty.
func (c *cleaner) sweep(pgid, guard int) (groupGone bool) {
	sig := c.cfg.killSignal
	if c.killed {
		sig = unix.SIGKILL
	}
	hit := func(pid int) {
		_ = unix.Kill(pid, sig)
		if sig != unix.SIGKILL {
			_ = unix.Kill(pid, unix.SIGCONT)
		}
	}
	if c.signalled == nil {
		c.signalled = map[int]unix.Signal{}
	}
	// The group is signalled as a whole, once for each signal; key 0 stands
	// for it. Orphans that left the group are signalled one by one.
	group, orphans := 0, 0
	switch {
	case !groupAlive(pgid):
		groupGone, pgid = true, 0
	case c.signalled[0] != sig:
		// Counted before the signal thins it out; at least 1, the group
		// being alive, where /proc is another PID namespace's.
		group = max(1, len(groupMembers(c.self, pgid)))
		hit(-pgid)
		c.signalled[0] = sig
	}
	if !c.noChildren {
		for _, p := range childrenOf(c.self) {
			if p.pgid == pgid || c.signalled[p.pid] == sig || (guard != 0 && p.pid == guard) {
				continue
			}
			hit(p.pid)
			c.signalled[p.pid] = sig
			orphans++
		}
	}
	if group+orphans > 0 {
		// As systemd's "Killing process N (name) with signal SIGTERM".
		c.log.Info().Str("event", "cleanup").Str("signal", signalName(sig)).Int("pgid", pgid).
			Int("group", group).Int("orphans", orphans).Msg("signalling what the child left behind")
	}
	return groupGone
}

// The supervisor's side: it signals the child, and moves on when the
// cleanup is over.

// requestStop handles a stop signal (--stop-signals: SIGTERM, SIGINT and
// SIGQUIT unless set): pass it on and never restart again.
func (s *supervisor) requestStop(sig unix.Signal) {
	if !s.end.stopping {
		s.readiness.tellUp("STOPPING=1")
	}
	s.end.stopping = true
	s.log.Info().Str("event", "stop").Str("signal", signalName(sig)).Msg("stop requested")
	// The first stop signal sent to the child; a Ctrl-C from the terminal
	// before it (stopping set, nothing sent by restart-run) does not count.
	first := s.end.deadline.IsZero()
	switch s.phase {
	case running:
		if first {
			// From here the child is being stopped: no start, runtime or
			// watchdog timeout and no health check may class or signal it.
			s.runEnded()
		}
		s.stopChild(sig)
		if first {
			s.end.armStop()
		}
	case cleaning:
		// The leftovers are being stopped already; the decision that follows
		// sees the stop and does not restart.
	case pausing:
		s.pause.stop()
		s.finish()
	case hooking:
		// A start-pre hook is stopped and the child is not started; the
		// stop-post hooks run, then restart-run exits. Stop-post hooks
		// are left to finish. A stop before any child ran exits as one
		// before the first start does; one during the stop-post hooks of
		// a start that failed keeps that failure's status.
		if kind, _ := s.hooks.running(); kind == startPre && s.child.started.IsZero() {
			s.last = Result{Class: Clean, Code: -1, Sig: sig}
		}
		s.hooks.stop()
	}
}

// requestRestart handles --restart-signal: restart the child, as systemctl
// restart does. A running child is stopped as a stop request stops it,
// but with --kill-signal, which is restart-run's own signal for stopping
// the child: to its group under --kill-mode=control-group, SIGKILL after
// --timeout-stop, and one deadline for it and its leftovers. Once they are
// gone, decideNext starts it again at once, whatever --restart and the
// status lists say; the start limiter counts that start, and the backoff
// is left as it was. A stop request, before or during it, wins. In the
// pause before a restart that is due anyway, the pause is cut short: the
// start was counted already when it was decided.
func (s *supervisor) requestRestart(sig unix.Signal) {
	ignored := func(why string) {
		s.log.Debug().Str("event", "signal").Str("signal", signalName(sig)).Msg(why)
	}
	switch {
	case s.end.stopping:
		ignored("a stop is under way, and it wins; restart signal ignored")
		return
	case s.end.restarting || (s.phase == pausing && !s.pause.on):
		ignored("a restart is under way already; restart signal ignored")
		return
	case s.phase == hooking:
		// A start (its start-pre hooks) or a run's end (its stop-post
		// hooks) is under way: as a restart already is.
		ignored("a hook is running, a start or the end of a run under way; restart signal ignored")
		return
	}
	ev := s.log.Info().Str("event", "restart-request").Str("signal", signalName(sig))
	switch s.phase {
	case running:
		s.end.restarting = true
		ev = ev.Int("pid", s.child.pid)
		if s.end.forced != nil {
			// restart-run's own kill goes on as it was, with its class
			// and its alarm; only the decision after it changes.
			ev.Msg("restart requested; the child is being stopped already")
			return
		}
		ev.Str("kill_signal", signalName(s.cfg.killSignal)).Msg("restart requested; stopping the child")
		s.runEnded()
		s.stopChild(s.cfg.killSignal)
		s.end.armStop()
	case cleaning:
		s.end.restarting = true
		ev.Msg("restart requested; the child has ended, and starts again once its leftovers are gone")
	case pausing:
		ev.Msg("restart requested; the pause is cut short")
		s.pause.stop()
	}
}

// terminate stops the child on restart-run's own account (a timeout, the
// watchdog, failed health checks, --memory-max); the order's class is how
// the run will be classed, whatever the child then dies of. A nil order
// stops nothing.
func (s *supervisor) terminate(o *stopOrder) {
	if o == nil || s.phase != running || !s.end.force(o.class) {
		return
	}
	s.runEnded()
	s.stopChild(o.sig)
}

// stopChild sends a stop signal as signalChild does, to the group, then
// SIGCONT as systemd's kill_and_sigcont does: a child stopped by SIGSTOP
// would otherwise keep the signal pending until SIGKILL after
// --timeout-stop, instead of acting on it.
func (s *supervisor) stopChild(sig unix.Signal) {
	s.signalChild(sig, true)
	if sig != unix.SIGKILL && sig != unix.SIGCONT {
		s.signalChild(unix.SIGCONT, true)
	}
}

func (s *supervisor) onKillTimeout() {
	s.end.kill.on = false
	switch s.phase {
	case running:
		s.log.Warn().Str("event", "kill").Int("pid", s.child.pid).Dur("timeout_ms", s.cfg.timeoutStop).
			Msg("child did not stop in time; sending SIGKILL")
		s.signalChild(unix.SIGKILL, s.cfg.killMode != "process")
	case cleaning:
		if s.term.sentinel != 0 {
			_ = unix.Kill(s.term.sentinel, unix.SIGKILL) // reaped, then cleanup
			return
		}
		s.log.Warn().Str("event", "kill").Dur("timeout_ms", s.cfg.timeoutStop).
			Msg("leftover processes did not stop in time; sending SIGKILL")
		s.end.killed = true
		s.sweep()
		s.checkCleaned()
	}
}

// cleanup stops the child's leftovers, from here until the decision, so
// that a restarted server finds its port free and nothing outlives us.
func (s *supervisor) cleanup() {
	wait := s.end.begin()
	if s.cfg.killMode == "process" {
		s.ended()
		return
	}
	s.sweep()
	if !s.checkCleaned() {
		s.end.kill.set(wait)
	}
}

func (s *supervisor) sweep() {
	if s.end.sweep(s.child.pgid, s.guard.pid()) {
		s.setGroup(0) // empty: its number may be reused by an unrelated group
	}
}

// checkCleaned ends the cleanup once the group is empty and every child of
// restart-run has been reaped, and reports whether it did. Only then do
// the stop-post hooks run, so that none overlaps with what the child left.
func (s *supervisor) checkCleaned() bool {
	if !s.end.noChildren || groupAlive(s.child.pgid) {
		return false
	}
	s.end.kill.stop()
	s.setGroup(0)
	s.ended()
	return true
}
