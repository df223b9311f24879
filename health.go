package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"os/exec"
	"strconv"
	"strings"
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

// httpBodyMax bounds how much of an answer's body httpCheck reads (and
// throws away) before it closes the connection.
const httpBodyMax = 64 << 10

// httpHeadMax bounds an answer's head: its status line and headers, and
// those of any 1xx interim answers before it. A server that sends header
// lines without end (or 1xx answers without end) fails the check here
// rather than at the deadline, having cost us at most this much reading.
const httpHeadMax = 64 << 10

// httpCheck is --health-http: one GET on a fresh connection, passed by a
// 2xx or 3xx status (a redirect is an answer and is not followed, as with
// Docker's curl -f). It is a small client of our own rather than net/http,
// which with its TLS stack is half of restart-run's binary and start-up;
// https:// is therefore not offered.
func httpCheck(ctx context.Context, u *url.URL) error {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", httpAddr(u))
	if err != nil {
		return err
	}
	defer conn.Close()
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(dl)
	}
	return httpGet(conn, u)
}

// httpGet sends the GET for u on conn and reads the answer. The request is
// HTTP/1.0 with Connection: close, but a server may still answer as
// HTTP/1.1 and keep the connection open, so the body is read by its
// Content-Length or chunks when it has them, else to the end, and never
// past httpBodyMax: the check ends when the answer does, not at the
// deadline. Interim 1xx answers (103 Early Hints, which Go's own server
// sends even to HTTP/1.0 clients) are skipped, as net/http does. The head
// is read within httpHeadMax, and of its headers only the two that say
// where the body ends are kept.
func httpGet(conn io.ReadWriter, u *url.URL) error {
	req := "GET " + u.RequestURI() + " HTTP/1.0\r\nHost: " + httpHost(u) + "\r\nUser-Agent: restart-run\r\nAccept: */*\r\nConnection: close\r\n"
	if u.User != nil {
		pass, _ := u.User.Password()
		req += "Authorization: Basic " + base64.StdEncoding.EncodeToString([]byte(u.User.Username()+":"+pass)) + "\r\n"
	}
	if _, err := io.WriteString(conn, req+"\r\n"); err != nil {
		return err
	}
	head := &httpHead{br: bufio.NewReaderSize(conn, 4096), left: httpHeadMax}
	var code int
	var hdr httpFields
	for code < 200 || code == 101 {
		line, err := head.line()
		if err != nil {
			return fmt.Errorf("reading the status line: %w", err)
		}
		if code, err = httpStatus(line); err != nil {
			return err
		}
		if hdr, err = head.fields(); err != nil {
			return err
		}
		if code == 101 {
			return fmt.Errorf("HTTP status %d", code) // no upgrade was asked for
		}
	}
	body := io.LimitReader(head.br, httpBodyMax)
	n, lenErr := strconv.ParseInt(hdr.contentLength, 10, 64)
	var err error
	switch {
	case strings.EqualFold(hdr.transferEncoding, "chunked"):
		err = skipChunks(bufio.NewReader(body))
	case lenErr == nil && n >= 0:
		_, err = io.CopyN(io.Discard, body, n)
	default:
		_, err = io.Copy(io.Discard, body)
	}
	if err != nil && !errors.Is(err, io.EOF) {
		return fmt.Errorf("reading the body: %w", err)
	}
	if code > 399 {
		return fmt.Errorf("HTTP status %d", code)
	}
	return nil
}

// errHeadTooBig fails a check whose answer head runs past httpHeadMax.
var errHeadTooBig = fmt.Errorf("answer head over %d KiB", httpHeadMax>>10)

// httpHead reads an answer's head line by line, every byte counted against
// what is left of its cap.
type httpHead struct {
	br   *bufio.Reader
	left int
}

// httpFields are the only headers httpGet uses: where the body ends.
type httpFields struct {
	contentLength, transferEncoding string
}

// line reads one line. A line longer than the reader's buffer (4 KiB)
// comes back cut to that much, the rest read and dropped within the cap:
// a long Set-Cookie or Content-Security-Policy is no reason to fail a
// check, and neither the status code nor the headers we use are that long.
// Nothing grows with the line: ReadSlice hands back its own buffer.
func (h *httpHead) line() ([]byte, error) {
	var cut []byte // the first 4 KiB of a line longer than the buffer
	for {
		b, err := h.br.ReadSlice('\n')
		if h.left -= len(b); h.left < 0 {
			return nil, errHeadTooBig
		}
		if err != bufio.ErrBufferFull {
			if cut != nil {
				return cut, err
			}
			return b, err
		}
		if cut == nil {
			cut = bytes.Clone(b) // the next ReadSlice overwrites b
		}
	}
}

// fields reads header lines up to the blank line that ends them and keeps
// Content-Length and Transfer-Encoding (the last of each, as a map would);
// the rest are only counted against the cap.
func (h *httpHead) fields() (httpFields, error) {
	var f httpFields
	for {
		line, err := h.line()
		if err != nil {
			return httpFields{}, fmt.Errorf("reading the headers: %w", err)
		}
		line = bytes.TrimRight(line, "\r\n")
		if len(line) == 0 {
			return f, nil
		}
		k, v, _ := bytes.Cut(line, []byte(":"))
		switch k = bytes.TrimSpace(k); {
		case bytes.EqualFold(k, []byte("content-length")):
			f.contentLength = string(bytes.TrimSpace(v))
		case bytes.EqualFold(k, []byte("transfer-encoding")):
			f.transferEncoding = string(bytes.TrimSpace(v))
		}
	}
}

// skipChunks reads a chunked body to its last chunk and trailer.
func skipChunks(br *bufio.Reader) error {
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			return err
		}
		size, _, _ := strings.Cut(strings.TrimSpace(line), ";")
		n, err := strconv.ParseInt(size, 16, 64)
		if err != nil || n < 0 {
			return fmt.Errorf("bad chunk size %q", line)
		}
		if n == 0 {
			trailer := &httpHead{br: br, left: httpHeadMax} // within the body's cap too
			_, err := trailer.fields()
			return err
		}
		if _, err := br.Discard(int(n) + 2); err != nil {
			return err
		}
	}
}

// httpHost is the Host header for u: its host and port, less the zone of
// an IPv6 address (http://[fe80::1%25eth0]:80/), which means nothing to
// the server.
func httpHost(u *url.URL) string {
	h := u.Host
	if i, j := strings.Index(h, "%"), strings.Index(h, "]"); strings.HasPrefix(h, "[") && i > 0 && j > i {
		h = h[:i] + h[j:]
	}
	return h
}

// httpAddr is the host and port to connect to for u (port 80 by default).
func httpAddr(u *url.URL) string {
	port := u.Port()
	if port == "" {
		port = "80"
	}
	return net.JoinHostPort(u.Hostname(), port)
}

// httpStatus reads the code from a status line such as "HTTP/1.1 200 OK".
func httpStatus(line []byte) (int, error) {
	proto, rest, _ := strings.Cut(strings.TrimRight(string(line), "\r\n"), " ")
	code, _, _ := strings.Cut(rest, " ")
	n, err := strconv.Atoi(code)
	if !strings.HasPrefix(proto, "HTTP/") || len(code) != 3 || err != nil || n < 100 {
		return 0, fmt.Errorf("not an HTTP answer: %q", line)
	}
	return n, nil
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
