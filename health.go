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

	"github.com/rs/zerolog"
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

// healthChecker runs the health checks of each run of the child. It owns
// their state and their alarms; the supervisor's loop selects on its
// channels and hands it each event. It never reaches into the supervisor:
// whether the child may be checked at all (it runs and nobody is stopping
// it) comes in as live, and what the loop must then do (stop an unhealthy
// child, class watchdog) goes back as a return value.
type healthChecker struct {
	check *healthCheck
	log   zerolog.Logger
	// spawn starts the check command in a process group of its own and
	// kill ends that group; neither waits for it. reap, the one caller of
	// wait4, hands the command's status to exited. spawn is a function
	// value, bound to the child's environment at construction, rather than
	// a request handed back to the loop: a check then starts in one call,
	// not in a request and a second call with its pid, and nothing of the
	// supervisor's is within its reach. Tests put fakes in all three.
	spawn func(argv []string) (pid int, out io.ReadCloser, err error)
	kill  func(pgid int)
	now   func() time.Time

	state    healthState
	last     string // the state the last result left
	run      *healthRun
	gen      int
	timedOut bool
	child    int   // the main child's pid, for the log
	next     alarm // the next check is due
	timeout  alarm // --health-timeout of the check in flight
	done     chan healthResult
	output   chan healthResult
}

// newHealthChecker is nil when no check is configured; the loop's calls on
// a nil one do nothing and its channels are nil.
func newHealthChecker(c *healthCheck, env []string, log zerolog.Logger) *healthChecker {
	if c == nil {
		return nil
	}
	return &healthChecker{
		check:  c,
		log:    log,
		spawn:  func(argv []string) (int, io.ReadCloser, error) { return startHealthCmd(argv, env) },
		kill:   func(pgid int) { _ = unix.Kill(-pgid, unix.SIGKILL) },
		now:    time.Now,
		state:  healthState{retries: c.retries, startPeriod: c.start},
		done:   make(chan healthResult, 4),
		output: make(chan healthResult, 4),
	}
}

// nextC, timeoutC, doneC and outputC are what the loop selects on: the
// alarms, the results of HTTP and TCP checks, and check commands' output.
func (h *healthChecker) nextC() <-chan time.Time {
	if h == nil {
		return nil
	}
	return h.next.C()
}

func (h *healthChecker) timeoutC() <-chan time.Time {
	if h == nil {
		return nil
	}
	return h.timeout.C()
}

func (h *healthChecker) doneC() <-chan healthResult {
	if h == nil {
		return nil
	}
	return h.done
}

func (h *healthChecker) outputC() <-chan healthResult {
	if h == nil {
		return nil
	}
	return h.output
}

// owns says whether pid, reaped, is the check command in flight.
func (h *healthChecker) owns(pid int) bool {
	return h != nil && h.run != nil && pid == h.run.pid
}

// due begins one check of the running child when its alarm rings, if the
// child may still be checked. A command that cannot be started fails the
// check at once; unhealthy says the child must then be stopped.
func (h *healthChecker) due(live bool) (unhealthy bool) {
	h.next.on = false
	if !live {
		return false
	}
	c := h.check
	h.gen++
	run := &healthRun{gen: h.gen, began: h.now()}
	h.run = run
	h.timeout.set(c.timeout)
	if c.argv == nil {
		ctx, cancel := context.WithTimeout(context.Background(), c.timeout)
		done := h.done
		go func() {
			defer cancel()
			done <- healthResult{gen: run.gen, err: probe(ctx, c)}
		}()
		return false
	}
	pid, out, err := h.spawn(c.argv)
	if err != nil {
		// Counted at once, from the loop itself: a send to done from
		// here could block on a full channel that only the loop drains.
		return h.finished(healthResult{gen: run.gen, err: err}, live)
	}
	run.pid = pid
	output := h.output
	go func() {
		// The output, bounded, for the debug log; the rest is drained so
		// the check never blocks on a full pipe.
		b, _ := io.ReadAll(io.LimitReader(out, healthOutputMax))
		_, _ = io.Copy(io.Discard, out)
		out.Close()
		output <- healthResult{gen: run.gen, output: string(b)}
	}()
	return false
}

// startHealthCmd starts the check command in a process group of its own, so
// a check that runs past its timeout is killed with whatever it started.
func startHealthCmd(argv, env []string) (int, io.ReadCloser, error) {
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
		Env:   env,
		Files: []uintptr{null.Fd(), w.Fd(), w.Fd()},
		Sys:   &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL},
	})
	if err != nil {
		r.Close()
		return 0, nil, fmt.Errorf("health check: %w", err)
	}
	return pid, r, nil
}

// exited takes the check command's status from reap.
func (h *healthChecker) exited(ws unix.WaitStatus, live bool) (unhealthy bool) {
	run := h.run
	run.pid = 0
	var err error
	switch code, sig := exitStatus(ws); {
	case sig != 0:
		err = fmt.Errorf("killed by %s", signalName(sig))
	case code != 0:
		err = fmt.Errorf("exit code %d", code)
	}
	return h.finished(healthResult{gen: run.gen, err: err}, live)
}

// expired kills a check that ran past --health-timeout; it fails.
func (h *healthChecker) expired(live bool) (unhealthy bool) {
	h.timeout.on = false
	run := h.run
	if run == nil {
		return false
	}
	if run.pid != 0 {
		h.kill(run.pid) // its status comes through reap
		h.timedOut = true
		return false
	}
	return h.finished(healthResult{gen: run.gen, err: context.DeadlineExceeded}, live)
}

// finished records a result and schedules the next check; unhealthy says
// the child must be stopped, and no check is scheduled.
func (h *healthChecker) finished(r healthResult, live bool) (unhealthy bool) {
	run := h.run
	if run == nil || r.gen != run.gen {
		return false // not the check in flight
	}
	h.run = nil
	h.timeout.stop()
	timedOut := h.timedOut
	h.timedOut = false
	if r.gen != h.gen || !live {
		return false // the run it checked has ended, or is being stopped
	}
	if timedOut || errors.Is(r.err, context.DeadlineExceeded) {
		r.err = fmt.Errorf("timed out after %v", h.check.timeout)
	}
	state := h.state.record(r.err == nil, h.now())
	ev := h.log.Debug()
	switch {
	case r.err != nil && state == "starting":
		ev = h.log.Debug().Err(r.err) // within --health-start-period: it does not count
	case r.err != nil:
		ev = h.log.Warn().Err(r.err)
	case state != h.last:
		ev = h.log.Info()
	}
	h.last = state
	ev.Str("event", "health").Str("check", h.check.kind()).Str("status", state).
		Int("failures", h.state.failures).Dur("duration_ms", h.now().Sub(run.began)).Int("pid", h.child).
		Msg("health check")
	if state == "unhealthy" {
		return true
	}
	h.next.set(h.check.interval)
	return false
}

// logOutput logs what a check command printed.
func (h *healthChecker) logOutput(r healthResult) {
	if r.output != "" {
		h.log.Debug().Str("event", "health").Str("output", r.output).Msg("health check output")
	}
}

// runStarted begins the checks of a new run of the child, pid; runEnded
// ends them.
func (h *healthChecker) runStarted(pid int) {
	if h == nil {
		return
	}
	h.child = pid
	h.state.reset(h.now())
	h.last = ""
	h.next.set(h.check.interval)
}

func (h *healthChecker) runEnded() {
	if h == nil {
		return
	}
	h.next.stop()
	h.timeout.stop()
	if run := h.run; run != nil && run.pid != 0 {
		h.kill(run.pid) // reaped by reap, then ignored
	}
	h.gen++ // whatever is in flight is stale now
}

// The supervisor's side: what the loop and reap hand the checks, and what
// they do with the answer. The checks themselves touch nothing of it.

// checkable: the child runs and nobody is stopping it, so a health check
// may start, and a result counts.
func (s *supervisor) checkable() bool {
	return s.phase == running && !s.end.settling()
}

// healthSaid stops the child when its health checks found it unhealthy.
func (s *supervisor) healthSaid(unhealthy bool) {
	if unhealthy {
		s.terminate(&stopOrder{Watchdog, s.cfg.killSignal})
	}
}
