package main

import (
	"fmt"
	"os"
	"runtime"
	"time"

	"github.com/rs/zerolog"
	"golang.org/x/sys/unix"
)

// phase is where one run of the child stands.
type phase int

const (
	running  phase = iota // the main child is alive
	cleaning              // it ended; its leftovers are being stopped
	pausing               // waiting --restart-sec before the next start
	hooking               // a start-pre or stop-post hook runs; the child does not
	finished              // restart-run is about to exit
)

// supervisor owns the child and the components that watch it. Only the
// goroutine in run touches it: signals, child exits and timers all arrive as
// values in its one select, and each case hands the event to the component
// that owns it.
type supervisor struct {
	cfg *config
	log zerolog.Logger
	cmd command  // what each start runs
	sig signalIn // the signals, and what was logged of those dropped

	readiness *readiness     // sd_notify, start and runtime timeouts, watchdog, upward relay
	health    *healthChecker // the health checks, nil without one
	end       cleaner        // stop requests, restart-run's own kill, leftovers
	term      terminalRuns   // the terminal and its sentinel
	guard     *guardKeeper   // ends the child's group if restart-run is killed
	ceiling   *memoryCeiling // --memory-max, nil without it
	mem       handBack       // start-up memory, handed back once
	oom       oomWatch       // the oom_kill counter of restart-run's cgroup
	hooks     *hookRunner    // --exec-start-pre and --exec-stop-post

	phase phase
	child childRun // the current run and its child
	last  Result   // how the last run ended
	pause alarm    // the pause before a restart
}

// childRun is the current run: its number, its main child (pid 0 when none
// runs) and the child's process group, kept until it is empty; and the
// restarts so far, over restart-run's life.
type childRun struct {
	attempt   int // starts so far
	restarts  int
	pid, pgid int
	started   time.Time
}

func newSupervisor(cfg *config, log zerolog.Logger, sigs *signalChans) (*supervisor, error) {
	path, err := lookCommand(cfg.argv[0])
	if err != nil {
		return nil, err
	}
	<-sigs.ready
	if sigs.rawErr != nil {
		log.Warn().Str("event", "signal").Err(sigs.rawErr).
			Msg("signals 32 and 34 and SIGPROF are not caught; they end restart-run")
	}
	self := os.Getpid()
	s := &supervisor{
		cfg:     cfg,
		log:     log,
		cmd:     command{path: path, argv: cfg.argv, env: cfg.env, viaShim: cfg.watchdog > 0, readyFD: cfg.readyFD, passed: cfg.passedFDs},
		sig:     signalIn{chld: sigs.chld, stop: sigs.stop, other: sigs.other},
		health:  newHealthChecker(cfg.health, cfg.env, log),
		end:     cleaner{cfg: cfg, log: log, self: self},
		term:    terminalRuns{log: log, stops: cfg.stopSignals, self: self, tty: openTerminal()},
		guard:   newGuardKeeper(cfg, log, self),
		ceiling: newMemoryCeiling(cfg, log),
		mem:     handBack{log: log},
		oom:     newOOMWatch(log),
	}
	r, env, err := newReadiness(cfg, log, self)
	if err != nil {
		return nil, err
	}
	s.readiness = r
	s.cmd.env = append(s.cmd.env, env...)
	s.hooks = newHookRunner(cfg, s.cmd.env, log)
	if err := setSubreaper(); err != nil {
		return nil, err
	}
	return s, nil
}

// run supervises until no restart is due and returns the exit status.
func (s *supervisor) run() int {
	defer s.close()
	s.readiness.startUp()
	if status, stop := s.signalsBeforeStart(); stop {
		return status
	}
	if !s.cfg.limiter.Allow(time.Now()) {
		panic("the start limiter refused the first start") // Burst >= 1 here
	}
	// Before the first start, so that no moment passes with a child's
	// group and no guard; it learns of the group as soon as there is one.
	s.guard.start(0)
	s.start()
	s.mem.arm()
	for s.phase != finished {
		if s.phase == pausing && !s.pause.on {
			// A restart with no pause: signals that came meanwhile go
			// first (a stop request must win), then start at once, with
			// no timer on the restart path.
			select {
			case sig := <-s.sig.stop:
				s.onSignal(sig.(unix.Signal))
				continue
			case sig := <-s.sig.other:
				s.onSignal(sig.(unix.Signal))
				continue
			default:
			}
			s.start()
			continue
		}
		r, h := s.readiness, s.health
		select {
		case sig := <-s.sig.chld:
			s.onSignal(sig.(unix.Signal))
		case sig := <-s.sig.stop:
			s.onSignal(sig.(unix.Signal))
		case sig := <-s.sig.other:
			s.onSignal(sig.(unix.Signal))
		case <-s.end.killC():
			s.onKillTimeout()
		case <-s.pause.C():
			// The pause is over: the zero-delay path above starts the
			// child, after any signal that came at the same moment.
			s.pause.on = false
		case d := <-r.notifyC():
			s.onNotify(d)
		case newline := <-r.readyFDC():
			r.onReadyFD(newline, s.phase == running, s.end.settling())
		case <-r.startC():
			s.terminate(r.onStartTimeout())
		case <-r.runtimeC():
			s.terminate(r.onRuntimeMax())
		case <-r.watchdogC():
			s.terminate(r.onWatchdog())
		case <-r.upC():
			r.pingUp()
		case <-h.nextC():
			s.healthSaid(h.due(s.checkable()))
		case <-h.timeoutC():
			s.healthSaid(h.expired(s.checkable()))
		case res := <-h.doneC():
			s.healthSaid(h.finished(res, s.checkable()))
		case res := <-h.outputC():
			h.logOutput(res)
		case <-s.ceiling.C():
			s.terminate(s.ceiling.due(s.helper))
		case <-s.mem.C():
			s.mem.due()
		case <-s.hooks.C():
			s.hooks.expired()
		}
	}
	return s.last.Status()
}

// close removes the notify socket, ends the guard and closes the OOM
// counter; restart-run is about to exit.
func (s *supervisor) close() {
	s.readiness.close()
	s.guard.close()
	s.oom.close()
}

// start begins a start: the start-pre hooks, then the child.
func (s *supervisor) start() {
	s.child.attempt++
	s.end.newRun()
	s.hooked(s.hooks.begin(startPre))
}

// spawn execs the child once. A first start that cannot exec ends
// restart-run with 127 or 126; a later one ends that start as exit code
// 127 or 126.
func (s *supervisor) spawn() {
	pgid, tty := s.term.startRun()
	s.guard.newRun(s.child.pgid)
	s.oom.runStarted()
	ready, err := s.readiness.beforeStart()
	var pid int
	if err == nil {
		pid, err = s.cmd.spawn(pgid, tty, ready)
	}
	if ready != nil {
		// Only the child holds the write end from here, so the reader sees
		// EOF once the child, and whatever it passed the pipe on to, is done.
		ready.Close()
	}
	if err != nil {
		s.readiness.childGone()
		s.term.startFailed()
		ce := execError(s.cfg.argv[0], err)
		s.last = Result{Class: ExitCode, Code: ce.status}
		if s.child.attempt == 1 {
			s.exitCode(s.log.Error().Str("event", "exit").Int("attempt", s.child.attempt), ce.status).
				Err(ce).Msg("cannot start the command")
			s.finish()
			return
		}
		s.log.Warn().Str("event", "exit").Int("pid", 0).Int("attempt", s.child.attempt).Int("exit_code", ce.status).
			Str("class", ExitCode.String()).Dur("runtime_ms", 0).Strs("command", s.cfg.argv).Err(ce).Msg("cannot start the command")
		s.backoff().Ran(0)
		s.hooks.end = hookEnd{result: serviceResult(ExitCode, false)}
		s.ended()
		return
	}
	if pgid == 0 {
		pgid = pid
	}
	s.child.pid, s.child.started = pid, time.Now()
	s.setGroup(pgid)
	s.sig.dropped = 0
	s.phase = running
	ev := s.log.Info().Str("event", "start").Int("pid", pid).Int("attempt", s.child.attempt).
		Strs("command", s.cfg.argv)
	s.ceiling.describe(ev).Msg("child started")
	s.readiness.runStarted(pid, s.child.started)
	s.health.runStarted(pid)
	s.ceiling.runStarted(pid)
}

// runEnded: the run is over for readiness, the health checks and the
// memory ceiling, because the child is being stopped or has ended.
func (s *supervisor) runEnded() {
	s.readiness.runEnded()
	s.health.runEnded()
	s.ceiling.runEnded()
}

// helper tells restart-run's own processes among its children, which are
// not the child's: the guard, the terminal's sentinel, a health check
// command, a hook.
func (s *supervisor) helper(pid int) bool {
	return pid != 0 && (pid == s.guard.pid() || pid == s.term.sentinel || s.health.owns(pid) || s.hooks.owns(pid))
}

// onNotify hands a datagram to readiness and does what it asks.
func (s *supervisor) onNotify(d notifyDatagram) {
	asks := s.readiness.onNotify(d, s.phase == running, s.end.settling())
	if asks.resetBackoff {
		s.backoff().Reset()
	}
	if asks.extendStop {
		s.end.extend(asks.extend)
	}
	if asks.stop != nil {
		s.terminate(asks.stop)
	}
}

func (s *supervisor) backoff() *Backoff { return &s.cfg.backoff }

func (s *supervisor) childEnded(ws unix.WaitStatus) {
	code, sig := exitStatus(ws)
	ran := time.Since(s.child.started)
	var oom bool
	s.last, oom = s.classifyEnd(code, sig)
	// A failure (any class but clean: a crash, an OOM kill, a timeout) is
	// a warning, so that --log-level=warn shows a crash loop; a clean end
	// is news only where restarts are (see quiet).
	ev := s.log.Warn()
	if s.last.Class == Clean {
		ev = s.quiet()
	}
	ev = ev.Str("event", "exit").Int("pid", s.child.pid).Int("exit_code", s.last.Status())
	if sig != 0 {
		ev = ev.Str("signal", signalName(sig))
	}
	msg := "child exited"
	if oom {
		ev, msg = ev.Bool("oom_kill", true), "child killed by the kernel's OOM killer"
	}
	if s.end.restarting {
		ev = ev.Bool("restart_requested", true) // it was stopped by --restart-signal
	}
	ev.Str("class", s.last.Class.String()).Dur("runtime_ms", ran).Strs("command", s.cfg.argv).Msg(msg)
	s.hooks.end = childEnd(s.last, s.child.pid, ws)
	s.child.pid = 0
	s.end.kill.stop()
	s.runEnded()
	s.readiness.childGone()
	s.backoff().Ran(ran)
	s.term.runEnded(s.end.stopping)

	s.phase = cleaning
	if s.term.sentinel != 0 {
		// Settle the sentinel before anything else can SIGKILL it: a
		// Ctrl-C it has already received must show in how it ends. It
		// ends at once on SIGTERM; the cleanup goes on when it is reaped.
		_ = unix.Kill(s.term.sentinel, unix.SIGTERM)
		s.end.kill.set(s.cfg.timeoutStop)
		return
	}
	s.cleanup()
}

// decideNext applies the restart decision, --max-restarts and the start
// limiter to the run that just ended, once its stop-post hooks are done,
// then pauses or finishes.
func (s *supervisor) decideNext() {
	d := decideRun(s.cfg.policy, s.last, s.cfg.lists, s.end.stopping, s.end.restarting, s.child.restarts, s.cfg.maxRestarts)
	status := s.last.Status()
	if !d.Restart {
		if d.Why == WhyMaxRestarts {
			s.exitCode(s.log.Error().Str("event", "give-up").Int("restarts", s.child.restarts), status).
				Msg("--max-restarts used up; not restarting")
		} else {
			s.exitCode(s.quiet().Str("event", "done").Str("reason", string(d.Why)), status).
				Msg("not restarting")
		}
		s.finish()
		return
	}
	// A restart on request starts at once, and says nothing of how the
	// child fares: the backoff is neither advanced nor reset by it.
	var delay time.Duration
	if d.Why != WhyRequested {
		delay = s.backoff().Next()
	}
	if !s.cfg.limiter.Allow(time.Now().Add(delay)) {
		s.exitCode(s.log.Error().Str("event", "limit").Int("starts", s.cfg.limiter.Starts()).Int("burst", s.cfg.limiter.Burst).
			Dur("interval_ms", s.cfg.limiter.Interval).Int("restarts", s.child.restarts), status).
			Msg("start limit hit; not restarting")
		s.finish()
		return
	}
	s.child.restarts++
	after := s.last.Class.String()
	if d.Why == WhyRequested {
		after = signalName(s.cfg.restartSignal) + " (--restart-signal)"
	}
	s.readiness.tellUp(fmt.Sprintf("STATUS=restarting %s (attempt %d) after %s", s.cfg.argv[0], s.child.attempt+1, after))
	// What led to the restart: the limiter's count in its window (this
	// start included) against the burst, and the restarts so far.
	ev := s.log.Info().Str("event", "restart").Dur("delay_ms", delay).Int("attempt", s.child.attempt+1).Str("reason", string(d.Why)).
		Int("restarts", s.child.restarts).Int("starts", s.cfg.limiter.Starts()).Int("burst", s.cfg.limiter.Burst)
	if s.cfg.maxRestarts > 0 {
		ev = ev.Int("max_restarts", s.cfg.maxRestarts)
	}
	if s.log.GetLevel() <= zerolog.DebugLevel {
		ev = ev.Int("goroutines", runtime.NumGoroutine()) // for the soak test's leak check
	}
	ev.Msg("restarting")
	s.phase = pausing
	if delay > 0 {
		s.pause.set(delay)
	}
}

// exitCode adds to a line that tells the status restart-run is about to
// exit with its exit_code (the child's status) and, when --exit-status-map
// changes it, mapped_to, what restart-run exits with instead.
func (s *supervisor) exitCode(ev *zerolog.Event, status int) *zerolog.Event {
	ev = ev.Int("exit_code", status)
	if to, ok := s.cfg.exitMap.Map(status); ok {
		ev = ev.Int("mapped_to", to)
	}
	return ev
}

// quiet is the level of the news a clean one-shot run would print: a clean
// exit, and the "done" after it. Under --restart=no they are debug, so
// that restart-run --restart=no -- true prints only its start line, near
// tini's silence; elsewhere they are info, and so they are for a status
// in --restart-force-exit-status, which restarts even under
// --restart=no, and for a run that --restart-signal ends (unless a stop
// request won): a restart line must follow an exit line.
func (s *supervisor) quiet() *zerolog.Event {
	if s.cfg.policy == "no" && !s.cfg.lists.Force.Has(s.last.Code, s.last.Sig) && (!s.end.restarting || s.end.stopping) {
		return s.log.Debug()
	}
	return s.log.Info()
}

// finish ends the loop; restart-run exits with the last run's status.
func (s *supervisor) finish() { s.phase = finished }
