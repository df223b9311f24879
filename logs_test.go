package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
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
