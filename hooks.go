package main

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"syscall"
	"time"

	"github.com/rs/zerolog"
	"golang.org/x/sys/unix"
)

// This file runs --exec-start-pre and --exec-stop-post, systemd's
// ExecStartPre= and ExecStopPost=: commands before every start of the
// child and after every end of it, one at a time, each in a process group
// of its own, never while the child runs.

// hookKind is which hooks a batch runs.
type hookKind int

const (
	startPre hookKind = iota
	stopPost
)

func (k hookKind) String() string { return [...]string{"start-pre", "stop-post"}[k] }

// hookOutcome is what the end of a hook, or the start of a batch, asks of
// the loop. done: the batch is over. For start-pre, failed is the result
// of a start that failed (a hook without "-" failed or ran out of time),
// and stopped says that a stop request ended the batch; with neither, the
// child is started.
type hookOutcome struct {
	kind    hookKind
	done    bool
	failed  *Result
	stopped bool
}

// hookRun is the hook in flight.
type hookRun struct {
	cmd      hookCmd
	pid      int // its pid, which is its process group's number too
	began    time.Time
	killed   bool // the kill signal has been sent: SIGKILL is next
	timedOut bool
}

// hookRunner runs the hooks. It owns the queue of a batch, the hook in
// flight and its alarm; the loop selects on C, reap hands it the hook's
// wait status, and what the loop must do next comes back as a
// hookOutcome. It never signals the child.
type hookRunner struct {
	pre, post []hookCmd
	env       []string
	log       zerolog.Logger
	timeout   time.Duration // --timeout-hook; maxDuration for none
	stopAfter time.Duration // --timeout-stop: from the kill signal to SIGKILL
	killSig   unix.Signal
	// spawn starts a hook in a process group of its own; kill signals
	// that group. Neither waits: reap does. Tests put fakes in both.
	spawn func(argv, env []string) (int, error)
	kill  func(pgid int, sig unix.Signal)

	kind    hookKind
	queue   []hookCmd
	run     *hookRun
	end     hookEnd  // how the last run ended, for the stop-post hooks
	extra   []string // the stop-post batch's variables
	stopped bool     // a stop request ended the start-pre batch
	alarm   alarm    // --timeout-hook, then SIGKILL after --timeout-stop
}

func newHookRunner(cfg *config, env []string, log zerolog.Logger) *hookRunner {
	return &hookRunner{
		pre:       cfg.hooks.pre,
		post:      cfg.hooks.post,
		env:       env,
		log:       log,
		timeout:   cfg.hooks.timeout,
		stopAfter: cfg.timeoutStop,
		killSig:   cfg.killSignal,
		spawn:     startHook,
		kill:      killGroup,
	}
}

// killGroup sends sig to the process group pgid, then SIGCONT so that a
// stopped hook can act on it.
func killGroup(pgid int, sig unix.Signal) {
	_ = unix.Kill(-pgid, sig)
	if sig != unix.SIGKILL {
		_ = unix.Kill(-pgid, unix.SIGCONT)
	}
}

// startHook starts a hook command with stdout and stderr where the child
// has them, stdin from /dev/null (systemd's StandardInput=null), in a
// process group of its own.
func startHook(argv, env []string) (int, error) {
	path, err := lookCommand(argv[0])
	if err != nil {
		return 0, err // a commandError: 127 or 126
	}
	null, err := os.Open(os.DevNull)
	if err != nil {
		return 0, err
	}
	defer null.Close()
	return forkExec(path, argv, &syscall.ProcAttr{
		Env:   env,
		Files: []uintptr{null.Fd(), 1, 2},
		Sys:   &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL},
	})
}

// C rings when the hook in flight has run out of time.
func (h *hookRunner) C() <-chan time.Time { return h.alarm.C() }

// owns says whether pid, reaped, is the hook in flight.
func (h *hookRunner) owns(pid int) bool { return h.run != nil && pid != 0 && pid == h.run.pid }

// running says which kind of hook is in flight, if one is.
func (h *hookRunner) running() (hookKind, bool) { return h.kind, h.run != nil }

// begin starts a batch: the start-pre hooks, or the stop-post hooks of the
// run that ended as h.end says.
func (h *hookRunner) begin(kind hookKind) hookOutcome {
	h.kind, h.stopped, h.extra = kind, false, nil
	h.queue = h.pre
	if kind == stopPost {
		h.queue, h.extra = h.post, h.end.env()
	}
	return h.next()
}

// next starts the next hook of the batch; a hook that cannot be started
// fails as a shell's 127 or 126 would.
func (h *hookRunner) next() hookOutcome {
	for len(h.queue) > 0 {
		c := h.queue[0]
		h.queue = h.queue[1:]
		pid, err := h.spawn(c.argv, h.environ())
		if err == nil {
			h.run = &hookRun{cmd: c, pid: pid, began: time.Now()}
			h.alarm.set(h.timeout)
			h.log.Debug().Str("event", "hook").Str("hook", h.kind.String()).Strs("command", c.argv).Int("pid", pid).
				Msg("hook started")
			return hookOutcome{kind: h.kind}
		}
		var ce commandError
		if !errors.As(err, &ce) {
			ce = execError(c.argv[0], err)
		}
		status := ce.status
		if o, stop := h.failed(c, 0, err, Result{Class: ExitCode, Code: status}, time.Now()); stop {
			return o
		}
	}
	return hookOutcome{kind: h.kind, done: true}
}

// environ is the child's environment, with the batch's variables in place
// of any of the same name.
func (h *hookRunner) environ() []string {
	if len(h.extra) == 0 {
		return h.env
	}
	env := make([]string, 0, len(h.env)+len(h.extra))
	for _, kv := range h.env {
		name, _, _ := strings.Cut(kv, "=")
		switch name {
		case "SERVICE_RESULT", "EXIT_CODE", "EXIT_STATUS", "RESTART_RUN_PID":
		default:
			env = append(env, kv)
		}
	}
	return append(env, h.extra...)
}

// status is the hook's exit status (128+signal when a signal killed it)
// and that signal, or 0.
func (h *hookRun) status(ws unix.WaitStatus) (int, unix.Signal) {
	code, sig := exitStatus(ws)
	if sig != 0 {
		return 128 + int(sig), sig
	}
	return code, 0
}

// exited takes the hook's wait status from reap, kills what it left in its
// group (nothing of a hook may run beside the child), and goes on with the
// batch, or ends it.
func (h *hookRunner) exited(ws unix.WaitStatus) hookOutcome {
	run := h.run
	h.run = nil
	h.alarm.stop()
	// What is left of its group. The group keeps its number while it has
	// members; without any, the number is free, but the kernel hands out
	// pids in turn, so it comes round again only after the whole pid
	// space, not in the moment since the reap: the kill finds ESRCH.
	h.kill(run.pid, unix.SIGKILL)
	status, sig := run.status(ws)
	now := time.Now()
	switch {
	case h.stopped:
		h.log.Info().Str("event", "hook").Str("hook", h.kind.String()).Strs("command", run.cmd.argv).Int("pid", run.pid).
			Int("exit_code", status).Dur("duration_ms", now.Sub(run.began)).Msg("hook stopped by a stop request; the child is not started")
		h.queue = nil
		return hookOutcome{kind: h.kind, done: true, stopped: true}
	case status == 0:
		h.log.Info().Str("event", "hook").Str("hook", h.kind.String()).Strs("command", run.cmd.argv).Int("pid", run.pid).
			Int("exit_code", 0).Dur("duration_ms", now.Sub(run.began)).Msg("hook done")
		return h.next()
	}
	r := Result{Class: ExitCode, Code: status}
	err := fmt.Errorf("exit code %d", status)
	if sig != 0 {
		err = fmt.Errorf("killed by %s", signalName(sig))
	}
	if run.timedOut {
		r.Class = Timeout
		err = fmt.Errorf("timed out after %v, %w", h.timeout, err)
	}
	if o, stop := h.failed(run.cmd, run.pid, err, r, run.began); stop {
		return o
	}
	return h.next()
}

// failed logs a hook that failed and says whether that ends the batch: a
// start-pre hook without "-" fails the start, with r as its result. Any
// other failure is logged and changes nothing.
func (h *hookRunner) failed(c hookCmd, pid int, err error, r Result, began time.Time) (hookOutcome, bool) {
	fatal := h.kind == startPre && !c.ignore
	ev := h.log.Warn()
	msg := "hook failed; going on"
	switch {
	case fatal:
		msg = "start-pre hook failed; the child is not started"
	case c.ignore:
		ev, msg = h.log.Info(), "hook failed; ignored (\"-\")"
	}
	ev.Str("event", "hook").Str("hook", h.kind.String()).Strs("command", c.argv).Int("pid", pid).
		Int("exit_code", r.Status()).Str("class", r.Class.String()).Bool("ignore_failure", c.ignore).
		Dur("duration_ms", time.Since(began)).Err(err).Msg(msg)
	if !fatal {
		return hookOutcome{}, false
	}
	h.queue = nil
	return hookOutcome{kind: h.kind, done: true, failed: &r}, true
}

// expired: the hook ran past --timeout-hook (its group gets the kill
// signal) or, after that, past --timeout-stop (SIGKILL).
func (h *hookRunner) expired() {
	h.alarm.on = false
	run := h.run
	if run == nil {
		return
	}
	sig, limit, msg := h.killSig, h.timeout, "hook ran past --timeout-hook; signalling its process group"
	if run.killed {
		sig, limit, msg = unix.SIGKILL, h.stopAfter, "hook did not stop within --timeout-stop; sending SIGKILL to its process group"
	} else {
		run.killed = true
		run.timedOut = true
		h.alarm.set(h.stopAfter)
	}
	h.log.Warn().Str("event", "hook").Str("hook", h.kind.String()).Strs("command", run.cmd.argv).Int("pid", run.pid).
		Str("signal", signalName(sig)).Dur("timeout_ms", limit).Msg(msg)
	h.kill(run.pid, sig)
}

// stop takes a stop request. A start-pre hook in flight is stopped (the
// kill signal to its group, SIGKILL after --timeout-stop) and the batch
// ends when it has; stop-post hooks are left to finish, bounded by
// --timeout-hook. It reports whether it sent a signal.
func (h *hookRunner) stop() bool {
	run := h.run
	switch {
	case run == nil || h.stopped:
		return false
	case h.kind == stopPost:
		h.log.Debug().Str("event", "hook").Str("hook", h.kind.String()).Int("pid", run.pid).
			Msg("stop requested; the stop-post hooks finish first")
		return false
	}
	h.stopped = true
	h.queue = nil
	if run.killed {
		return false // it ran out of time and is being killed already
	}
	run.killed = true
	h.log.Info().Str("event", "hook").Str("hook", h.kind.String()).Strs("command", run.cmd.argv).Int("pid", run.pid).
		Str("signal", signalName(h.killSig)).Msg("stop requested; stopping the start-pre hook")
	h.kill(run.pid, h.killSig)
	h.alarm.set(h.stopAfter)
	return true
}

// The supervisor's side: what the loop does with what the hooks say.

// hooked acts on a hook outcome: wait for the batch, start the child,
// run the stop-post hooks of a start that did not happen, or decide.
func (s *supervisor) hooked(o hookOutcome) {
	switch {
	case !o.done:
		s.phase = hooking
	case o.kind == stopPost:
		s.decideNext()
	case o.failed != nil:
		s.last = *o.failed
		s.backoff().Ran(0)
		s.hooks.end = hookEnd{result: serviceResult(s.last.Class, false)}
		s.ended()
	case o.stopped:
		s.hooks.end = hookEnd{result: "success"} // systemd's result for a stop
		s.ended()
	default:
		s.spawn()
	}
}

// ended runs the stop-post hooks of the run that ended (s.hooks.end), then
// the decision.
func (s *supervisor) ended() { s.hooked(s.hooks.begin(stopPost)) }
