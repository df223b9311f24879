package main

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"strconv"
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
	finished              // restart-run is about to exit
)

// alarm is a timer that is either armed or not; its channel is nil when it
// is not, so a select on it waits for nothing.
type alarm struct {
	t    *time.Timer
	on   bool
	when time.Time
}

func (a *alarm) set(d time.Duration) {
	a.when = time.Now().Add(d)
	if a.t == nil {
		a.t = time.NewTimer(d)
	} else {
		a.t.Reset(d) // since Go 1.23 Reset drops a value not yet received
	}
	a.on = true
}

func (a *alarm) stop() {
	if a.t != nil {
		a.t.Stop()
	}
	a.on = false
}

func (a *alarm) C() <-chan time.Time {
	if !a.on {
		return nil
	}
	return a.t.C
}

// supervisor owns the child and all of restart-run's state. Only the
// goroutine in run touches it: signals, child exits and timers all arrive as
// values in its one select.
type supervisor struct {
	cfg  *config
	log  zerolog.Logger
	path string
	self int
	sigs chan os.Signal // every other signal
	// SIGCHLD and the stop signals, apart so that a flood of other signals
	// cannot crowd them out
	sigChld, sigStop chan os.Signal
	tty              *terminal // nil unless restart-run runs in a terminal's foreground
	env              []string  // the child's environment
	// viaShim: the command is started through the exec shim, which sets
	// WATCHDOG_PID (under --watchdog)
	viaShim bool

	notify *notifySocket // the child's NOTIFY_SOCKET, nil when not needed
	up     *upstream     // our own outer supervisor's socket, or nil
	guard  *guard        // ends the child's group if restart-run is killed; nil when none runs
	// guardSpare: a guard that ends may be replaced once in this run
	guardSpare bool

	phase    phase
	pid      int // the main child, 0 when none runs
	pgid     int // the main child's process group, kept until it is empty
	started  time.Time
	attempt  int // starts so far
	restarts int
	stopping bool
	forced   *Class // Timeout or Watchdog when restart-run killed the child
	last     Result
	status   int

	sentinel     int  // the terminal sentinel of this run, 0 when none
	childStopped bool // the child was stopped from the terminal (Ctrl-Z)

	kill  alarm // SIGKILL after --timeout-stop
	pause alarm // the pause before a restart

	stopDeadline time.Time   // when a stop request's --timeout-stop runs out; zero until one was sent
	droppedSigs  int         // signals dropped in this pause (only the first is logged)
	sigpipeSeen  bool        // SIGPIPE logged once: logging it may raise it again
	sig32Seen    bool        // signal 32 logged once
	earlyStop    unix.Signal // the stop signal that came before the first start

	// readiness and the watchdog of the current run
	ready          bool
	watchdogPeriod time.Duration
	startTimeout   alarm // --timeout-start, until READY=1
	runtimeMax     alarm // --runtime-max
	watchdog       alarm // the next WATCHDOG=1 is due
	upWatchdog     alarm // our own ping to the outer supervisor
	settle         alarm // hand back start-up memory (once, settleDelay after the first start)

	health *healthChecker // the health checks, nil without one

	// cleanup of one run's leftovers
	noChildren bool                // the last reap found no children at all
	killed     bool                // leftovers have been sent SIGKILL
	signalled  map[int]unix.Signal // what each leftover was last sent; 0 is the group
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
	s := &supervisor{
		cfg:     cfg,
		log:     log,
		path:    path,
		self:    os.Getpid(),
		sigs:    sigs.other,
		sigChld: sigs.chld,
		sigStop: sigs.stop,
	}
	s.tty = openTerminal()
	s.env = cfg.env
	s.up = newUpstream()
	s.health = newHealthChecker(cfg.health, cfg.env, log)
	if cfg.notifyType == "notify" || cfg.watchdog > 0 {
		n, err := openNotifySocket(log)
		if err != nil {
			return nil, err
		}
		s.notify = n
		s.env = append(s.env, "NOTIFY_SOCKET="+n.Path())
	}
	if cfg.watchdog > 0 {
		s.env = append(s.env, "WATCHDOG_USEC="+strconv.FormatInt(cfg.watchdog.Microseconds(), 10))
		s.viaShim = true
	}
	if err := setSubreaper(); err != nil {
		return nil, err
	}
	return s, nil
}

// run supervises until no restart is due and returns the exit status.
func (s *supervisor) run() int {
	defer s.close()
	if s.up != nil && s.up.watchdog > 0 {
		s.upWatchdog.set(s.up.watchdog)
	}
	if status, stop := s.signalsBeforeStart(); stop {
		return status
	}
	if !s.cfg.limiter.Allow(time.Now()) {
		panic("the start limiter refused the first start") // Burst >= 1 here
	}
	// Before the first start, so that no moment passes with a child's
	// group and no guard; it learns of the group as soon as there is one.
	s.startGuard()
	if err := s.start(); err != nil {
		return err.(commandError).status
	}
	// Start-up's memory is handed back once the child has been supervised
	// for a moment, not at once: a short command (restart-run --restart=no
	// -- true) never pays for the collection.
	s.settle.set(settleDelay)
	for s.phase != finished {
		if s.phase == pausing && !s.pause.on {
			// A restart with no pause: signals that came meanwhile go
			// first (a stop request must win), then start at once, with
			// no timer on the restart path.
			select {
			case sig := <-s.sigStop:
				s.onSignal(sig.(unix.Signal))
				continue
			case sig := <-s.sigs:
				s.onSignal(sig.(unix.Signal))
				continue
			default:
			}
			if err := s.start(); err != nil {
				return err.(commandError).status
			}
			continue
		}
		select {
		case sig := <-s.sigChld:
			s.onSignal(sig.(unix.Signal))
		case sig := <-s.sigStop:
			s.onSignal(sig.(unix.Signal))
		case sig := <-s.sigs:
			s.onSignal(sig.(unix.Signal))
		case <-s.kill.C():
			s.kill.on = false
			s.onKillTimeout()
		case <-s.pause.C():
			// The pause is over: the zero-delay path above starts the
			// child, after any signal that came at the same moment.
			s.pause.on = false
		case d := <-s.notifyC():
			s.onNotify(d)
		case <-s.startTimeout.C():
			s.startTimeout.on = false
			s.onStartTimeout()
		case <-s.runtimeMax.C():
			s.runtimeMax.on = false
			s.onRuntimeMax()
		case <-s.watchdog.C():
			s.watchdog.on = false
			s.watchdogFailed("no WATCHDOG=1 within the period")
		case <-s.health.nextC():
			s.healthSaid(s.health.due(s.checkable()))
		case <-s.health.timeoutC():
			s.healthSaid(s.health.expired(s.checkable()))
		case r := <-s.health.doneC():
			s.healthSaid(s.health.finished(r, s.checkable()))
		case r := <-s.health.outputC():
			s.health.logOutput(r)
		case <-s.settle.C():
			s.settle.on = false
			before := residentBytes()
			advised := settleMemory()
			s.log.Debug().Str("event", "memory").Int("advised", advised).
				Int("rss_before", before).Int("rss_after", residentBytes()).Msg("start-up memory handed back")
		case <-s.upWatchdog.C():
			s.tellUp("WATCHDOG=1")
			s.upWatchdog.set(s.up.watchdog)
		}
	}
	return s.status
}

// raiseOnExit is the signal restart-run should end itself by, or 0: SIGINT
// or SIGQUIT when a stop by that signal (or Ctrl-C, Ctrl-\ in the terminal)
// ended the child by it, or came before the first start (see reraise).
func (s *supervisor) raiseOnExit() unix.Signal {
	sig := s.earlyStop
	if s.attempt > 0 {
		sig = 0
		if s.stopping {
			sig = s.last.Sig
		}
	}
	if (sig == unix.SIGINT || sig == unix.SIGQUIT) && s.cfg.stopSignals.Has(sig) {
		return sig
	}
	return 0
}

func (s *supervisor) notifyC() <-chan notifyDatagram {
	if s.notify == nil {
		return nil
	}
	return s.notify.C()
}

// close removes the notify socket and ends the guard; restart-run is about
// to exit.
func (s *supervisor) close() {
	if s.notify != nil {
		_ = s.notify.Close()
	}
	if s.guard != nil {
		s.guard.stop(false)
		s.guard = nil
	}
}

// start execs the child once. Only the first start can fail outright; a
// later failure to exec ends that start as exit code 127 or 126.
func (s *supervisor) start() error {
	s.attempt++
	pgid, tty := 0, -1
	if s.tty != nil && s.tty.gone() {
		// Hung up in the pause, while restart-run held it.
		s.dropTerminal(nil)
	}
	if s.tty != nil {
		if sp, err := s.tty.startSentinel(s.cfg.stopSignals, 0); err == nil {
			s.sentinel, pgid, tty = sp, sp, s.tty.fd
		} else {
			s.log.Warn().Str("event", "sentinel").Err(err).Msg("cannot start the terminal sentinel; Ctrl-C will restart the child")
			tty = s.tty.fd
		}
	}
	if s.guard == nil {
		s.startGuard() // the last run's guard died twice
	}
	s.guardSpare = true
	pid, err := s.spawn(pgid, tty)
	if err != nil {
		if s.sentinel != 0 {
			_ = unix.Kill(s.sentinel, unix.SIGKILL) // reaped by reap()
			s.sentinel = 0
		}
		if s.tty != nil {
			// The fork handed the terminal to the new group before the
			// exec failed: take it back, or Ctrl-C would reach nobody.
			_ = s.tty.foreground(s.tty.self)
		}
		ce := execError(s.cfg.argv[0], err)
		if s.attempt == 1 {
			s.log.Error().Str("event", "exit").Int("attempt", s.attempt).Int("exit_code", ce.status).
				Err(ce).Msg("cannot start the command")
			return ce
		}
		s.log.Warn().Str("event", "exit").Int("pid", 0).Int("attempt", s.attempt).Int("exit_code", ce.status).
			Str("class", ExitCode.String()).Dur("runtime_ms", 0).Strs("command", s.cfg.argv).Err(ce).Msg("cannot start the command")
		s.last = Result{Class: ExitCode, Code: ce.status}
		s.backoff().Ran(0)
		s.decideNext()
		return nil
	}
	if pgid == 0 {
		pgid = pid
	}
	s.pid, s.started, s.forced = pid, time.Now(), nil
	s.setGroup(pgid)
	s.droppedSigs = 0
	s.phase = running
	s.log.Info().Str("event", "start").Int("pid", pid).Int("attempt", s.attempt).
		Strs("command", s.cfg.argv).Msg("child started")
	s.runStarted()
	return nil
}

func (s *supervisor) backoff() *Backoff { return &s.cfg.backoff }

// signalsBeforeStart handles the signals that came while restart-run was
// starting up (they are caught from package initialisation on). A stop
// request ends restart-run before anything is started, with the status of
// a process killed by that signal; any other signal is dropped, as in a
// pause, since no child runs to take it.
func (s *supervisor) signalsBeforeStart() (status int, stop bool) {
	for {
		var sig unix.Signal
		select {
		case v := <-s.sigStop:
			sig = v.(unix.Signal)
		case v := <-s.sigs:
			sig = v.(unix.Signal)
		default:
			return 0, false
		}
		switch {
		case s.cfg.stopSignals.Has(sig):
			s.log.Info().Str("event", "stop").Str("signal", signalName(sig)).
				Msg("stop requested before the first start; nothing was started")
			s.earlyStop = sig
			return 128 + int(sig), true
		case sig != unix.SIGPIPE:
			s.log.Info().Str("event", "signal").Str("signal", signalName(sig)).
				Msg("no child running yet; signal dropped")
		}
	}
}

func (s *supervisor) onSignal(sig unix.Signal) {
	if s.cfg.stopSignals.Has(sig) {
		s.requestStop(sig)
		return
	}
	switch sig {
	case unix.SIGCHLD:
		s.reap()
	case unix.SIGPIPE:
		// Our stderr's reader went away, or someone sent it: either way it
		// must not kill the supervisor of a service that is still running.
		// Logged once only: with stderr gone, the log line itself raises
		// SIGPIPE again, and logging each would never end.
		if !s.sigpipeSeen {
			s.sigpipeSeen = true
			s.log.Debug().Str("event", "signal").Str("signal", "SIGPIPE").Msg("SIGPIPE ignored")
		}
	case 32:
		// Reserved for the C library's threads (glibc's SIGCANCEL): a Go
		// child would die of it, a C one ignores it. Not forwarded, as
		// dumb-init and tini, which cannot even catch it, do not.
		if !s.sig32Seen {
			s.sig32Seen = true
			s.log.Warn().Str("event", "signal").Str("signal", signalName(sig)).
				Msg("signal 32 is reserved for C libraries; not forwarded (further ones are not logged)")
		}
	case unix.SIGCONT:
		if s.childStopped {
			s.resumeChild()
			return
		}
		s.forward(sig)
	case unix.SIGTSTP:
		if s.tty != nil && s.phase != running {
			// Ctrl-Z while restart-run holds the terminal between runs.
			_ = unix.Kill(s.self, unix.SIGSTOP)
			return
		}
		s.forward(sig)
	default:
		s.forward(sig)
	}
}

// forward passes any other signal on to the child (to its process group
// under --forward-to=group), or drops it when none runs.
// While the child is being stopped (a stop request, or restart-run's own
// kill for a timeout, the watchdog or health), a signal whose default action
// would end or stop it is dropped: it could only cut a graceful shutdown
// short (a SIGHUP that reaches a child busy with its SIGTERM kills it) or
// freeze it until SIGKILL. systemd forwards nothing at all; tini forwards
// everything; this keeps what is harmless (SIGCONT, SIGWINCH).
func (s *supervisor) forward(sig unix.Signal) {
	if s.phase == running && (!s.stopDeadline.IsZero() || s.forced != nil) && !harmless(sig) {
		s.log.Debug().Str("event", "signal").Str("signal", signalName(sig)).Int("pid", s.pid).
			Msg("the child is being stopped; signal not forwarded")
		return
	}
	if s.phase == running {
		group := s.cfg.forwardTo == "group"
		// As tini's "Passing signal" at -vvv: at debug, and zerolog builds
		// nothing for a level that is off.
		s.log.Debug().Str("event", "forward").Str("signal", signalName(sig)).Int("pid", s.pid).Bool("group", group).
			Msg("signal passed on to the child")
		s.signalTarget(sig, group)
		return
	}
	// Only the first of a pause is logged: a flood of signals must not
	// turn into a flood of log lines that crowds the others out of the log
	// buffer.
	if s.droppedSigs++; s.droppedSigs == 1 {
		s.log.Info().Str("event", "signal").Str("signal", signalName(sig)).Msg("no child running; signal dropped (further ones in this pause are not logged)")
	}
}

// onTerminalInterrupt: the user pressed Ctrl-C or Ctrl-\ in the terminal.
// The terminal has signalled the child already; restart-run only makes sure
// that no restart follows when this run ends.
func (s *supervisor) onTerminalInterrupt() {
	if !s.stopping {
		s.log.Info().Str("event", "stop").Str("source", "terminal").Msg("interrupted from the terminal; no restart will follow")
	}
	s.stopping = true
}

// onChildStopped: the child stopped for job control (Ctrl-Z, or reading
// the terminal from the background). restart-run takes the terminal back
// and stops too, so that the shell sees the job stopped and "fg" works.
func (s *supervisor) onChildStopped(sig unix.Signal) {
	if s.tty == nil || (sig != unix.SIGTSTP && sig != unix.SIGTTIN && sig != unix.SIGTTOU) {
		return
	}
	s.childStopped = true
	_ = s.tty.foreground(s.tty.self)
	s.log.Info().Str("event", "signal").Str("signal", signalName(sig)).Msg("child stopped; stopping too")
	_ = unix.Kill(s.self, unix.SIGSTOP)
}

// resumeChild: restart-run was continued ("fg" or "bg" in the shell) while
// its child was stopped; the child goes on, with the terminal when
// restart-run itself has it.
func (s *supervisor) resumeChild() {
	s.childStopped = false
	if s.tty.isForeground() {
		_ = s.tty.foreground(s.pgid)
	}
	_ = unix.Kill(-s.pgid, unix.SIGCONT)
}

// signalChild sends sig to the main child, or to its whole process group
// when group is set and --kill-mode is control-group.
func (s *supervisor) signalChild(sig unix.Signal, group bool) {
	s.signalTarget(sig, group && s.cfg.killMode == "control-group")
}

// signalTarget sends sig to the main child, or to its whole process group.
func (s *supervisor) signalTarget(sig unix.Signal, group bool) {
	target := s.pid
	if group {
		target = -s.pgid
		// The child may have left the group (setsid, or a shell taking a
		// group of its own; in a terminal the group is the sentinel's):
		// then it is signalled on its own too, or a stop could never end.
		if g, err := unix.Getpgid(s.pid); err == nil && g != s.pgid {
			_ = unix.Kill(s.pid, sig)
		}
	}
	if err := unix.Kill(target, sig); err != nil && !errors.Is(err, unix.ESRCH) {
		s.log.Warn().Str("event", "signal").Str("signal", signalName(sig)).Int("pid", target).Err(err).Msg("cannot signal the child")
	}
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

// requestStop handles a stop signal (--stop-signals: SIGTERM, SIGINT and
// SIGQUIT unless set): pass it on and never restart again.
func (s *supervisor) requestStop(sig unix.Signal) {
	if !s.stopping {
		s.tellUp("STOPPING=1")
	}
	s.stopping = true
	s.log.Info().Str("event", "stop").Str("signal", signalName(sig)).Msg("stop requested")
	// The first stop signal sent to the child; a Ctrl-C from the terminal
	// before it (stopping set, nothing sent by restart-run) does not count.
	first := s.stopDeadline.IsZero()
	switch s.phase {
	case running:
		if first {
			// From here the child is being stopped: no start, runtime or
			// watchdog timeout and no health check may class or signal it.
			s.runEnded()
		}
		s.stopChild(sig)
		if first {
			if !s.kill.on {
				s.kill.set(s.cfg.timeoutStop)
			}
			s.stopDeadline = s.kill.when
		}
	case cleaning:
		// The leftovers are being stopped already; the decision that follows
		// sees the stop and does not restart.
	case pausing:
		s.pause.stop()
		s.finish(s.last.Status())
	}
}

// reap is the only caller of wait4: any other waiter could take the main
// child's status before we see it. It reaps every zombie, orphans included.
func (s *supervisor) reap() {
	var main, lostSentinel *unix.WaitStatus
	lostPID := 0
	resume := false
	flags := unix.WNOHANG
	if s.tty != nil {
		flags |= unix.WUNTRACED // to follow Ctrl-Z
	}
	for {
		var ws unix.WaitStatus
		pid, err := unix.Wait4(-1, &ws, flags, nil)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if pid <= 0 || err != nil {
			s.noChildren = errors.Is(err, unix.ECHILD)
			break
		}
		switch {
		case s.guard != nil && pid == s.guard.pid:
			if !ws.Stopped() {
				s.guardEnded(ws)
			}
		case ws.Stopped():
			if pid == s.pid && s.pid != 0 {
				s.onChildStopped(ws.StopSignal())
			}
		case pid == s.pid && s.pid != 0:
			main = &ws
		case s.health.owns(pid):
			s.healthSaid(s.health.exited(ws, s.checkable()))
		case pid == s.sentinel && s.sentinel != 0:
			s.sentinel = 0
			if s.sentinelEnded(ws) {
				lostSentinel, lostPID = &ws, pid
			}
			// A run that ended earlier was waiting for the sentinel.
			resume = s.phase == cleaning
		}
	}
	if lostSentinel != nil && main == nil {
		// Only now: had the child ended too, in this same reap, no
		// successor would be needed.
		s.sentinelLost(lostPID, *lostSentinel)
	}
	if !s.noChildren && s.guard != nil && (main != nil || s.phase == cleaning) {
		// The guard is a child for restart-run's whole life: the cleanup
		// waits for every child but it.
		s.noChildren = onlyChild(s.self, s.guard.pid)
	}
	switch {
	case main != nil:
		s.childEnded(*main)
	case resume:
		s.cleanup()
	case s.phase == cleaning && s.sentinel == 0:
		s.sweep() // orphans reparented since the last look
		s.checkCleaned()
	}
}

func (s *supervisor) childEnded(ws unix.WaitStatus) {
	code, sig := exitStatus(ws)
	ran := time.Since(s.started)
	s.last = classify(code, sig, s.cfg.lists.Success, s.forced)
	// A failure (any class but clean: a crash, an OOM kill's SIGKILL, a
	// timeout) is a warning, so that --log-level=warn shows a crash loop;
	// a clean end is news only where restarts are (see quiet).
	ev := s.log.Warn()
	if s.last.Class == Clean {
		ev = s.quiet()
	}
	ev = ev.Str("event", "exit").Int("pid", s.pid).Int("exit_code", s.last.Status())
	if sig != 0 {
		ev = ev.Str("signal", signalName(sig))
	}
	ev.Str("class", s.last.Class.String()).Dur("runtime_ms", ran).Strs("command", s.cfg.argv).Msg("child exited")
	s.pid = 0
	s.kill.stop()
	s.runEnded()
	s.backoff().Ran(ran)
	if s.tty != nil {
		s.childStopped = false
		s.takeTerminal()
	}

	s.phase = cleaning
	if s.sentinel != 0 {
		// Settle the sentinel before anything else can SIGKILL it: a
		// Ctrl-C it has already received must show in how it ends. It
		// ends at once on SIGTERM; the cleanup goes on when it is reaped.
		_ = unix.Kill(s.sentinel, unix.SIGTERM)
		s.kill.set(s.cfg.timeoutStop)
		return
	}
	s.cleanup()
}

// decideNext applies the restart decision, --max-restarts and the start
// limiter to the run that just ended, then pauses or finishes.
func (s *supervisor) decideNext() {
	d := decide(s.cfg.policy, s.last, s.cfg.lists, s.stopping, s.restarts, s.cfg.maxRestarts)
	status := s.last.Status()
	if !d.Restart {
		if d.Why == WhyMaxRestarts {
			s.log.Error().Str("event", "give-up").Int("restarts", s.restarts).Int("exit_code", status).
				Msg("--max-restarts used up; not restarting")
		} else {
			s.quiet().Str("event", "done").Str("reason", string(d.Why)).Int("exit_code", status).
				Msg("not restarting")
		}
		s.finish(status)
		return
	}
	delay := s.backoff().Next()
	if !s.cfg.limiter.Allow(time.Now().Add(delay)) {
		s.log.Error().Str("event", "limit").Int("starts", s.cfg.limiter.Starts()).Int("burst", s.cfg.limiter.Burst).
			Dur("interval_ms", s.cfg.limiter.Interval).Int("restarts", s.restarts).Int("exit_code", status).
			Msg("start limit hit; not restarting")
		s.finish(status)
		return
	}
	s.restarts++
	s.tellUp(fmt.Sprintf("STATUS=restarting %s (attempt %d) after %s", s.cfg.argv[0], s.attempt+1, s.last.Class))
	// What led to the restart: the limiter's count in its window (this
	// start included) against the burst, and the restarts so far.
	ev := s.log.Info().Str("event", "restart").Dur("delay_ms", delay).Int("attempt", s.attempt+1).Str("reason", string(d.Why)).
		Int("restarts", s.restarts).Int("starts", s.cfg.limiter.Starts()).Int("burst", s.cfg.limiter.Burst)
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

// quiet is the level of the news a clean one-shot run would print: a clean
// exit, and the "done" after it. Under --restart=no they are debug, so
// that restart-run --restart=no -- true prints only its start line, near
// tini's silence; elsewhere they are info, and so they are for a status
// in --restart-force-exit-status, which restarts even under
// --restart=no: a restart line must follow an exit line.
func (s *supervisor) quiet() *zerolog.Event {
	if s.cfg.policy == "no" && !s.cfg.lists.Force.Has(s.last.Code, s.last.Sig) {
		return s.log.Debug()
	}
	return s.log.Info()
}

func (s *supervisor) finish(status int) {
	s.phase = finished
	s.status = status
}
