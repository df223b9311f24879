package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"os/exec"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// healthOutputMax bounds what a check's output can put in the log.
const healthOutputMax = 4096

// healthCheck is one way to probe the child: a command, an HTTP GET or a TCP
// connect (SPEC.md section 8, Docker HEALTHCHECK's meaning).
type healthCheck struct {
	argv     []string // --health-cmd, split as a shell splits words
	url      *url.URL // --health-http
	addr     string   // --health-tcp
	interval time.Duration
	timeout  time.Duration
	start    time.Duration // --health-start-period
	retries  int
}

func (c *healthCheck) kind() string {
	switch {
	case c.argv != nil:
		return "cmd"
	case c.url != nil:
		return "http"
	default:
		return "tcp"
	}
}

// healthState counts one run's consecutive failures as Docker does: a
// failure within the start period does not count, and a pass ends the start
// period; retries consecutive failures make the child unhealthy.
type healthState struct {
	retries     int
	startPeriod time.Duration
	began       time.Time
	inStart     bool
	failures    int
}

func (h *healthState) reset(now time.Time) {
	h.began, h.inStart, h.failures = now, h.startPeriod > 0, 0
}

// record takes one result and returns the state it leaves: "healthy",
// "starting" (a failure that did not count), "failing" (counted, fewer than
// retries so far) or "unhealthy".
func (h *healthState) record(ok bool, now time.Time) string {
	if h.inStart && now.Sub(h.began) >= h.startPeriod {
		h.inStart = false
	}
	switch {
	case ok:
		h.inStart, h.failures = false, 0
		return "healthy"
	case h.inStart:
		return "starting"
	}
	h.failures++
	if h.failures >= h.retries {
		return "unhealthy"
	}
	return "failing"
}

// healthResult is one finished check, delivered to the supervisor's loop.
type healthResult struct {
	gen    int // which check; a stale one is ignored
	err    error
	output string
}

// probe runs an HTTP or TCP check in a goroutine; the command check is
// started by the supervisor, which alone may reap processes.
func probe(ctx context.Context, c *healthCheck) error {
	if c.url != nil {
		return httpCheck(ctx, c.url)
	}
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", c.addr)
	if err != nil {
		return err
	}
	return conn.Close()
}

// healthRun is the check in flight.
type healthRun struct {
	gen   int
	pid   int // the command's pid, 0 for HTTP and TCP
	began time.Time
}

// startHealth begins one check of the running child.
func (s *supervisor) startHealth() {
	c := s.cfg.health
	s.healthGen++
	run := &healthRun{gen: s.healthGen, began: time.Now()}
	s.healthRun = run
	s.healthTimeout.set(c.timeout)
	if c.argv == nil {
		ctx, cancel := context.WithTimeout(context.Background(), c.timeout)
		go func() {
			defer cancel()
			s.healthDone <- healthResult{gen: run.gen, err: probe(ctx, c)}
		}()
		return
	}
	pid, out, err := s.startHealthCmd(c.argv)
	if err != nil {
		// Counted at once, from the loop itself: a send to healthDone from
		// here could block on a full channel that only this loop drains.
		s.healthFinished(healthResult{gen: run.gen, err: err})
		return
	}
	run.pid = pid
	go func() {
		// The output, bounded, for the debug log; the rest is drained so
		// the check never blocks on a full pipe.
		b, _ := io.ReadAll(io.LimitReader(out, healthOutputMax))
		_, _ = io.Copy(io.Discard, out)
		out.Close()
		s.healthOutput <- healthResult{gen: run.gen, output: string(b)}
	}()
}

// startHealthCmd starts the check command in a process group of its own, so
// a check that runs past its timeout is killed with whatever it started.
func (s *supervisor) startHealthCmd(argv []string) (int, *os.File, error) {
	path, err := exec.LookPath(argv[0])
	if err != nil {
		return 0, nil, fmt.Errorf("health check: %w", err)
	}
	r, w, err := os.Pipe()
	if err != nil {
		return 0, nil, fmt.Errorf("health check output pipe: %w", err)
	}
	defer w.Close()
	null, err := os.Open(os.DevNull)
	if err != nil {
		r.Close()
		return 0, nil, err
	}
	defer null.Close()
	pid, err := forkExec(path, argv, &syscall.ProcAttr{
		Env:   s.cfg.env,
		Files: []uintptr{null.Fd(), w.Fd(), w.Fd()},
		Sys:   &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL},
	})
	if err != nil {
		r.Close()
		return 0, nil, fmt.Errorf("health check: %w", err)
	}
	return pid, r, nil
}

// onHealthExit takes the check command's status from reap.
func (s *supervisor) onHealthExit(ws unix.WaitStatus) {
	run := s.healthRun
	run.pid = 0
	var err error
	switch code, sig := exitStatus(ws); {
	case sig != 0:
		err = fmt.Errorf("killed by %s", signalName(sig))
	case code != 0:
		err = fmt.Errorf("exit code %d", code)
	}
	s.healthFinished(healthResult{gen: run.gen, err: err})
}

// onHealthTimeout kills a check that ran past --health-timeout; it fails.
func (s *supervisor) onHealthTimeout() {
	run := s.healthRun
	if run == nil {
		return
	}
	if run.pid != 0 {
		_ = unix.Kill(-run.pid, unix.SIGKILL) // its status comes through reap
		s.healthTimedOut = true
		return
	}
	s.healthFinished(healthResult{gen: run.gen, err: context.DeadlineExceeded})
}

// healthFinished records a result and schedules the next check.
func (s *supervisor) healthFinished(r healthResult) {
	run := s.healthRun
	if run == nil || r.gen != run.gen {
		return // not the check in flight
	}
	s.healthRun = nil
	s.healthTimeout.stop()
	timedOut := s.healthTimedOut
	s.healthTimedOut = false
	if r.gen != s.healthGen || s.phase != running || s.forced != nil || s.stopping {
		return // the run it checked has ended, or is being stopped
	}
	if timedOut || errors.Is(r.err, context.DeadlineExceeded) {
		r.err = fmt.Errorf("timed out after %v", s.cfg.health.timeout)
	}
	state := s.healthState.record(r.err == nil, time.Now())
	ev := s.log.Debug()
	switch {
	case r.err != nil && state == "starting":
		ev = s.log.Debug().Err(r.err) // within --health-start-period: it does not count
	case r.err != nil:
		ev = s.log.Warn().Err(r.err)
	case state != s.healthLast:
		ev = s.log.Info()
	}
	s.healthLast = state
	ev.Str("event", "health").Str("check", s.cfg.health.kind()).Str("status", state).
		Int("failures", s.healthState.failures).Dur("duration_ms", time.Since(run.began)).Int("pid", s.pid).
		Msg("health check")
	if state == "unhealthy" {
		s.terminate(Watchdog, s.cfg.killSignal)
		return
	}
	s.healthNext.set(s.cfg.health.interval)
}

// onHealthOutput logs what a check command printed.
func (s *supervisor) onHealthOutput(r healthResult) {
	if r.output != "" {
		s.log.Debug().Str("event", "health").Str("output", r.output).Msg("health check output")
	}
}

// healthStarted begins the checks of a new run; healthStopped ends them.
func (s *supervisor) healthStarted() {
	if s.cfg.health == nil {
		return
	}
	s.healthState.reset(time.Now())
	s.healthLast = ""
	s.healthNext.set(s.cfg.health.interval)
}

func (s *supervisor) healthStopped() {
	if s.cfg.health == nil {
		return
	}
	s.healthNext.stop()
	s.healthTimeout.stop()
	if run := s.healthRun; run != nil && run.pid != 0 {
		_ = unix.Kill(-run.pid, unix.SIGKILL) // reaped by reap, then ignored
	}
	s.healthGen++ // whatever is in flight is stale now
}
