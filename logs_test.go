//go:build !unitonly

package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// gatedWriter is a reader of stderr that stalls: its first Write waits for
// open to be closed. Each Write is announced on wrote.
type gatedWriter struct {
	open    chan struct{}
	entered chan struct{} // closed when the first Write has begun
	wrote   chan struct{}
	once    sync.Once
	mu      sync.Mutex
	buf     bytes.Buffer
}

func newGatedWriter() *gatedWriter {
	return &gatedWriter{open: make(chan struct{}), entered: make(chan struct{}), wrote: make(chan struct{}, 1000)}
}

func (g *gatedWriter) Write(p []byte) (int, error) {
	g.once.Do(func() { close(g.entered) })
	<-g.open
	g.mu.Lock()
	g.buf.Write(p)
	g.mu.Unlock()
	select {
	case g.wrote <- struct{}{}:
	default:
	}
	return len(p), nil
}

func (g *gatedWriter) events(t *testing.T) []event {
	t.Helper()
	g.mu.Lock()
	defer g.mu.Unlock()
	var out []event
	for _, line := range strings.Split(strings.TrimSuffix(g.buf.String(), "\n"), "\n") {
		var e event
		if err := json.Unmarshal([]byte(line), &e); err != nil {
			t.Fatalf("not a JSON line: %q", line)
		}
		out = append(out, e)
	}
	return out
}

// TestLogBufferDrops: with the reader stalled, logging returns at once;
// lines past the limit are dropped, and their exact count is logged after
// the lines that came before them once the reader takes writes again.
func TestLogBufferDrops(t *testing.T) {
	g := newGatedWriter()
	log, logs := newLogger(g, "json", "info")
	log.Info().Str("event", "first").Msg("")
	<-g.entered // the writer holds "first" and is stuck on the reader
	// Far more than the limit: each call must return although nothing is
	// written.
	const n = 4 * logBufferLimit / 100
	for i := range n {
		log.Info().Str("event", "line").Int("i", i).Str("pad", strings.Repeat("x", 50)).Msg("")
	}
	close(g.open)
	timeout := time.After(deadline)
	for !strings.Contains(g.text(), `"log-dropped"`) {
		select {
		case <-g.wrote:
		case <-timeout:
			t.Fatalf("no log-dropped line within %v; got:\n%s", deadline, g.text())
		}
	}
	log.Info().Str("event", "after").Msg("")
	logs.flush(deadline)

	evs := g.events(t)
	if evs[0].str("event") != "first" {
		t.Fatalf("first line %v", evs[0])
	}
	kept := 0
	for _, e := range evs[1:] {
		if e.str("event") != "line" {
			break
		}
		if int(e.num("i")) != kept {
			t.Fatalf("line %d after %d kept lines: lines must be kept in order from the first", int(e.num("i")), kept)
		}
		kept++
	}
	if kept == 0 || kept == n {
		t.Fatalf("%d of %d lines kept: want some kept and some dropped", kept, n)
	}
	if len(evs) != kept+3 {
		t.Fatalf("%d lines, want first, %d kept, log-dropped and after", len(evs), kept)
	}
	d, after := evs[kept+1], evs[kept+2]
	if d.str("event") != "log-dropped" || int(d.num("dropped")) != n-kept || d.str("level") != "warn" || d["time"] == nil {
		t.Errorf("%v, want log-dropped at warn with dropped %d", d, n-kept)
	}
	if after.str("event") != "after" {
		t.Errorf("last line %v, want the one logged after the count", after)
	}
}

func (g *gatedWriter) text() string {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.buf.String()
}

// TestLogBufferFlush: flush writes out every line for a reader that reads,
// and gives up after its wait on one that has stalled.
func TestLogBufferFlush(t *testing.T) {
	var out bytes.Buffer
	log, logs := newLogger(&out, "json", "info")
	for i := range 100 {
		log.Info().Str("event", "line").Int("i", i).Msg("")
	}
	logs.flush(deadline)
	if n := strings.Count(out.String(), "\n"); n != 100 {
		t.Errorf("%d lines written by flush, want 100", n)
	}

	g := newGatedWriter()
	defer close(g.open)
	log, logs = newLogger(g, "console", "info")
	log.Info().Str("event", "line").Msg("")
	<-g.entered
	flushed := make(chan struct{})
	go func() { logs.flush(10 * time.Millisecond); close(flushed) }()
	select {
	case <-flushed:
	case <-time.After(deadline):
		t.Fatal("flush waits for a stalled reader")
	}
}

// stalled is restart-run with its stderr a pipe that the test does not read,
// restarting a child that exits at once and logs a long command line.
type stalled struct {
	cmd    *exec.Cmd
	stderr *os.File      // the pipe's read end
	size   int           // what the pipe holds
	pad    int           // bytes of the child's command line, in each start line
	stamps chan struct{} // one value for each start of the child
}

func startStalled(t *testing.T) *stalled {
	t.Helper()
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pr.Close() })
	// The smallest pipe (a page) fills sooner.
	_, _ = unix.FcntlInt(pw.Fd(), unix.F_SETPIPE_SZ, 4096)
	size, err := unix.FcntlInt(pw.Fd(), unix.F_GETPIPE_SZ, 0)
	if err != nil {
		t.Fatal(err)
	}
	pad := strings.Repeat("x", 8192)
	cmd := exec.Command(rrBin(t), append([]string{"--restart=always", "--restart-sec=0", "--burst=0", "--"},
		child("exit", "0", pad)...)...)
	cmd.Env = append(os.Environ(), helperEnv+"=1")
	cmd.Stderr = pw
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pw.Close()
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
			cmd.Wait()
		}
	})
	s := &stalled{cmd: cmd, stderr: pr, size: size, pad: len(pad), stamps: make(chan struct{}, 100000)}
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if strings.HasPrefix(sc.Text(), "stamp ") {
				s.stamps <- struct{}{}
			}
		}
	}()
	return s
}

// stop sends SIGTERM and fails the test unless restart-run exits.
func (s *stalled) stop(t *testing.T, why string) {
	t.Helper()
	s.cmd.Process.Signal(syscall.SIGTERM)
	if !exited(s.cmd) {
		t.Fatalf("restart-run did not exit within %v of SIGTERM %s", deadline, why)
	}
	if st := s.cmd.ProcessState.ExitCode(); st != 0 && st != 143 {
		// 0: stopped between two runs; 143: the child was killed by it
		t.Errorf("status %d (%v), want 0 or 143", st, s.cmd.ProcessState)
	}
}

// TestStalledStderr: a reader of restart-run's stderr that stops reading
// costs log lines, never a restart or a stop. Both subtests time out when
// the loop writes its log to stderr itself.
func TestStalledStderr(t *testing.T) {
	t.Run("stop", func(t *testing.T) {
		t.Parallel()
		// Once the pipe is full, SIGTERM is acted on with it still unread:
		// restart-run stops and exits, giving its last lines at most
		// logFlushWait.
		s := startStalled(t)
		waitUntil(t, "restart-run's stderr pipe full", func() bool {
			n, err := unix.IoctlGetInt(int(s.stderr.Fd()), unix.TIOCINQ) // FIONREAD: bytes in the pipe
			return err == nil && n >= s.size
		})
		s.stop(t, "with its stderr full and unread")
	})
	t.Run("dropped", func(t *testing.T) {
		t.Parallel()
		// Restarts go on while nobody reads: enough of them to log well over
		// what the pipe and the log buffer hold. Without a drop, the pipe,
		// the batch the writer is stuck on and the queue hold at most size +
		// 2*(logBufferLimit + one line), and each run logs at least pad
		// bytes in its start line.
		s := startStalled(t)
		runs := (s.size+2*(logBufferLimit+2*s.pad))/s.pad + 2
		timeout := time.After(deadline)
		for range runs {
			select {
			case <-s.stamps:
			case <-timeout:
				t.Fatalf("restart-run did not start its child %d times within %v with its stderr unread", runs, deadline)
			}
		}
		// Read again, the pipe gets the count of the lines dropped
		// meanwhile, while restart-run runs on.
		events := make(chan event, 100000)
		go func() {
			defer close(events)
			sc := bufio.NewScanner(s.stderr)
			sc.Buffer(make([]byte, 1<<20), 1<<20)
			for sc.Scan() {
				var e event
				if json.Unmarshal(sc.Bytes(), &e) == nil {
					events <- e
				}
			}
		}()
		var d event
		for d == nil {
			select {
			case e := <-events:
				if e.str("event") == "log-dropped" {
					d = e
				}
			case <-timeout:
				t.Fatalf("no log-dropped line within %v of reading stderr again", deadline)
			}
		}
		if d.num("dropped") < 1 || d.str("level") != "warn" {
			t.Errorf("log-dropped %v, want dropped > 0 at warn", d)
		}
		t.Logf("%v lines dropped", d["dropped"])
		// With the reader back, the last lines are flushed at exit.
		s.stop(t, "")
		var last string
		for e := range events {
			last = e.str("event")
		}
		if last != "done" {
			t.Errorf("last line %q, want done", last)
		}
	})
}

func TestRoundDuration(t *testing.T) {
	for in, want := range map[time.Duration]string{
		5862684 * time.Nanosecond:   "5.9ms",
		215443 * time.Microsecond:   "215ms",
		10000300 * time.Microsecond: "10s",
		1500 * time.Millisecond:     "1.5s",
		90 * time.Second:            "1m30s",
		0:                           "0s",
		1234 * time.Nanosecond:      "1.2µs",
		999 * time.Nanosecond:       "999ns",
		12345 * time.Microsecond:    "12ms",
	} {
		if got := roundDuration(in).String(); got != want {
			t.Errorf("roundDuration(%v) = %s, want %s", in, got, want)
		}
	}
}

// logLines runs restart-run to its end and returns its stderr, line by
// line, and its exit status.
func logLines(t *testing.T, env []string, args ...string) ([]string, int) {
	t.Helper()
	cmd := exec.Command(rrBin(t), args...)
	cmd.Env = append(os.Environ(), env...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil && cmd.ProcessState == nil {
		t.Fatal(err)
	}
	return strings.Split(strings.TrimSuffix(stderr.String(), "\n"), "\n"), cmd.ProcessState.ExitCode()
}

// TestLogLevels: a crash loop shows at --log-level=warn, one warn line per
// crash and an error line for the limit (before: the crashes were at
// info, and only the limit showed); each line says it is restart-run's
// and carries what led to the decision.
func TestLogLevels(t *testing.T) {
	r := startRR(t, nil, "--log-level=warn", "--burst=3", "--", "sh", "-c", "exit 3")
	if st := r.wait(); st != 3 {
		t.Fatalf("status %d", st)
	}
	var got []string
	for _, e := range r.logged() {
		got = append(got, e.str("level")+" "+e.str("event"))
		if e.str("logger") != "restart-run" {
			t.Errorf("line without logger=restart-run: %v", e)
		}
		if e.str("event") == "exit" && (!slices.Equal(e.strs("command"), []string{"sh", "-c", "exit 3"}) || e["runtime_ms"] == nil) {
			t.Errorf("exit without its command or runtime_ms: %v", e)
		}
	}
	if want := []string{"warn exit", "warn exit", "warn exit", "error limit"}; !slices.Equal(got, want) {
		t.Errorf("at warn: %q, want %q", got, want)
	}
	lim := r.named("limit")
	if len(lim) != 1 || lim[0].num("starts") != 3 || lim[0].num("burst") != 3 || lim[0].num("restarts") != 2 || lim[0].num("interval_ms") != 10000 {
		t.Errorf("limit %v, want starts 3 of burst 3 after 2 restarts, interval_ms 10000", lim)
	}

	// At info: each restart carries the limiter's count, the burst, the
	// restarts so far and the pause.
	r = startRR(t, nil, "--burst=3", "--max-restarts=5", "--", "sh", "-c", "exit 3")
	r.wait()
	restarts := r.named("restart")
	if len(restarts) != 2 {
		t.Fatalf("%d restarts, want 2", len(restarts))
	}
	for i, e := range restarts {
		if e.num("restarts") != float64(i+1) || e.num("starts") != float64(i+2) || e.num("burst") != 3 ||
			e.num("max_restarts") != 5 || e.num("delay_ms") != 100 || e.str("level") != "info" {
			t.Errorf("restart %d: %v, want restarts %d, starts %d of burst 3, max_restarts 5, delay_ms 100", i, e, i+1, i+2)
		}
	}
}

// TestOneShotQuiet: restart-run --restart=no -- true prints its start
// line and nothing else (tini prints nothing); a failed one-shot adds the
// exit at warn.
func TestOneShotQuiet(t *testing.T) {
	lines, st := logLines(t, nil, "--restart=no", "--", "true")
	if st != 0 || len(lines) != 1 || !strings.Contains(lines[0], `"event":"start"`) {
		t.Errorf("clean one-shot: status %d, %d lines %q; want 0 and the start line alone", st, len(lines), lines)
	}
	lines, st = logLines(t, nil, "--restart=no", "--", "sh", "-c", "exit 4")
	if st != 4 || len(lines) != 2 || !strings.Contains(lines[1], `"level":"warn"`) || !strings.Contains(lines[1], `"event":"exit"`) {
		t.Errorf("failed one-shot: status %d, lines %q; want 4, start and a warn exit", st, lines)
	}
	lines, _ = logLines(t, nil, "--restart=no", "--log-level=debug", "--", "true")
	var events []string
	for _, l := range lines {
		var e event
		if json.Unmarshal([]byte(l), &e) == nil {
			events = append(events, e.str("level")+" "+e.str("event"))
		}
	}
	if want := []string{"info start", "debug exit", "debug done"}; !slices.Equal(events, want) {
		t.Errorf("at debug: %q, want %q", events, want)
	}

	// A clean status that --restart-force-exit-status restarts is no
	// one-shot: each restart follows its exit line (they were debug, and
	// the log showed restarts of runs that never ended).
	lines, st = logLines(t, nil, "--restart=no", "--restart-force-exit-status=0", "--burst=2", "--", "true")
	events = nil
	for _, l := range lines {
		var e event
		if json.Unmarshal([]byte(l), &e) == nil {
			events = append(events, e.str("level")+" "+e.str("event"))
		}
	}
	if want := []string{"info start", "info exit", "info restart", "info start", "info exit", "error limit"}; st != 0 || !slices.Equal(events, want) {
		t.Errorf("forced restarts under --restart=no: status %d, %q; want 0, %q", st, events, want)
	}
}

// TestConsoleLog: readable lines show durations with their unit and no
// logger field; colour goes with NO_COLOR and TERM=dumb, and stays
// otherwise (the control: the check can see colour).
func TestConsoleLog(t *testing.T) {
	for _, tc := range []struct {
		env    []string
		colour bool
	}{
		{[]string{"TERM=xterm", "NO_COLOR="}, true},
		{[]string{"TERM=xterm", "NO_COLOR=1"}, false},
		{[]string{"TERM=dumb", "NO_COLOR="}, false},
	} {
		lines, _ := logLines(t, tc.env, "--log-format=console", "--burst=2", "--", "sh", "-c", "exit 3")
		text := strings.Join(lines, "\n")
		if strings.Contains(text, "\x1b[") != tc.colour {
			t.Errorf("%q: colour %v, want %v:\n%q", tc.env, !tc.colour, tc.colour, text)
		}
		plain := regexp.MustCompile("\x1b\\[[0-9;]*m").ReplaceAllString(text, "")
		for _, want := range []*regexp.Regexp{
			regexp.MustCompile(`runtime=[0-9.]+(µs|ms|s)\b`),
			regexp.MustCompile(`delay=100ms\b`),
			regexp.MustCompile(`interval=10s\b`),
		} {
			if !want.MatchString(plain) {
				t.Errorf("%q: no %s in\n%s", tc.env, want, plain)
			}
		}
		if strings.Contains(plain, "logger=") || strings.Contains(plain, "_ms=") {
			t.Errorf("%q: logger or a _ms field on the console:\n%s", tc.env, plain)
		}
	}

	// The longest interval a flag takes, shown as itself (Round leaves the
	// longest duration as it is): written as milliseconds and read back it
	// is past the largest int64, and its conversion once came out negative
	// (-2562047h47m16.854775808s).
	lines, st := logLines(t, nil, "--log-format=console", "--burst=1", "--interval=2562047h47m16.854775807s", "--", "sh", "-c", "exit 3")
	plain := regexp.MustCompile("\x1b\\[[0-9;]*m").ReplaceAllString(strings.Join(lines, "\n"), "")
	if !strings.Contains(plain, "interval=2562047h47m16.854775807s") || st != 3 {
		t.Errorf("the longest interval: status %d, log:\n%s\nwant status 3 and interval=2562047h47m16.854775807s", st, plain)
	}
}

// TestForwardAndCleanupLogged: a forwarded signal is logged at debug, and
// what the child leaves behind is logged as it is signalled: how many, with
// which signal.
func TestForwardAndCleanupLogged(t *testing.T) {
	r := startRR(t, nil, append([]string{"--restart=no", "--log-level=debug", "--"}, child("signals", "USR1")...)...)
	pid := r.waitReady()
	r.signal(syscall.SIGUSR1)
	r.line("got")
	f := r.next("forward")
	if f.str("level") != "debug" || f.str("signal") != "SIGUSR1" || f.num("pid") != float64(pid) || f["group"] != false {
		t.Errorf("forward %v, want SIGUSR1 to %d at debug", f, pid)
	}
	_ = unix.Kill(pid, unix.SIGTERM)
	r.wait()

	r = startRR(t, nil, "--restart=no", "--", "sh", "-c", "sleep 1000 & sleep 1000 & echo ready $$")
	r.waitReady()
	c := r.next("cleanup")
	if c.str("level") != "info" || c.str("signal") != "SIGTERM" || c.num("group") != 2 || c.num("orphans") != 0 {
		t.Errorf("cleanup %v, want 2 processes of the group sent SIGTERM", c)
	}
	r.wait()

	// Leftovers below leftovers: a subshell, reparented to restart-run,
	// and its two sleeps, restart-run's grandchildren; all three count.
	// The child ends only once the sleeps have started (a fifo).
	fifo := filepath.Join(t.TempDir(), "started")
	r = startRR(t, nil, "--restart=no", "--", "sh", "-c",
		`mkfifo "$0" || exit 9; (sleep 1000 & sleep 1000 & echo >"$0"; wait) & read _ <"$0"; echo ready $$`, fifo)
	r.waitReady()
	if c := r.next("cleanup"); c.num("group") != 3 {
		t.Errorf("cleanup %v, want 3 processes of the group", c)
	}
	r.wait()
}
