package main

import (
	"encoding/json"
	"io"
	"math"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/rs/zerolog"
	"golang.org/x/sys/unix"
)

// logBufferLimit is how many bytes of log lines wait for stderr before
// further lines are dropped: some hundreds of lines, on top of what the pipe
// or terminal itself holds.
const logBufferLimit = 64 << 10

// logFlushWait is how long restart-run waits at exit for its last lines to
// reach a reader that has stalled.
const logFlushWait = time.Second

// newLogger writes JSON lines, or readable lines when asked or when stderr is
// a terminal, through a logBuffer: the loop hands each line over and goes on,
// and the buffer's own goroutine writes it. flush the buffer before exit.
func newLogger(w io.Writer, format, level string) (zerolog.Logger, *logBuffer) {
	if format == "auto" {
		format = "json"
		if f, ok := w.(*os.File); ok && isTerminal(int(f.Fd())) {
			format = "console"
		}
	}
	lvl, _ := zerolog.ParseLevel(level) // LogLevel has checked it
	b := newLogBuffer(w)
	// Console lines are formatted before the buffer, so that it holds
	// finished lines in either format; the count of dropped lines is
	// formatted after it, straight to stderr, by the buffer's goroutine.
	var in, direct io.Writer = b, w
	if format == "console" {
		in, direct = consoleWriter(b), consoleWriter(w)
	}
	report := zerolog.New(direct).Level(lvl).With().Timestamp().Str("logger", logSource).Logger()
	b.report = func(dropped int) {
		report.Warn().Str("event", "log-dropped").Int("dropped", dropped).
			Msg("log lines dropped: stderr was not being read")
	}
	go b.drain()
	return zerolog.New(in).Level(lvl).With().Timestamp().Str("logger", logSource).Logger(), b
}

// logSource is the value of the logger field on every line restart-run
// writes itself: in one stream with a child that logs JSON too (docker
// logs), it tells restart-run's lines apart.
const logSource = "restart-run"

// consoleWriter writes readable lines: colour unless NO_COLOR is set or
// TERM=dumb; durations, held in fields named for their unit (runtime_ms),
// shown as Go durations (runtime=5.9ms); no logger field, which a reader of
// the console has no use for.
func consoleWriter(out io.Writer) zerolog.ConsoleWriter {
	return zerolog.ConsoleWriter{
		Out:           out,
		TimeFormat:    "15:04:05.000",
		NoColor:       os.Getenv("NO_COLOR") != "" || os.Getenv("TERM") == "dumb",
		FormatPrepare: consoleDurations,
		FieldsExclude: []string{"logger"},
	}
}

// consoleDurations turns each field NAME_ms (a number of milliseconds) into
// NAME, a duration rounded to what a reader needs: 5.9ms, 215ms, 10s.
func consoleDurations(fields map[string]any) error {
	for k, v := range fields {
		name, ok := strings.CutSuffix(k, "_ms")
		ms, isNum := v.(json.Number)
		if !ok || !isNum {
			continue
		}
		f, err := ms.Float64()
		if err != nil {
			continue
		}
		delete(fields, k)
		fields[name] = roundDuration(msDuration(f)).String()
	}
	return nil
}

// msDuration is ms milliseconds, at most the longest duration: a
// float64 past it converts to an int64 the Go spec leaves undefined
// (math.MinInt64 on amd64), and the longest pause or interval a flag
// takes (2562047h47m16.854775807s) is past it once written as
// milliseconds in JSON and read back.
func msDuration(ms float64) time.Duration {
	ns := ms * float64(time.Millisecond)
	switch {
	case ns >= math.MaxInt64:
		return math.MaxInt64
	case ns <= math.MinInt64:
		return math.MinInt64
	}
	return time.Duration(ns)
}

// roundDuration keeps what a reader needs: whole units from 10 of them,
// else tenths: 5.862684ms is 5.9ms, 215.443ms is 215ms, 10.0003s is 10s.
func roundDuration(d time.Duration) time.Duration {
	for _, unit := range []time.Duration{time.Second, time.Millisecond, time.Microsecond} {
		switch {
		case d >= 10*unit:
			return d.Round(unit)
		case d >= unit:
			return d.Round(unit / 10)
		}
	}
	return d
}

func isTerminal(fd int) bool {
	_, err := unix.IoctlGetTermios(fd, unix.TCGETS)
	return err == nil
}

func init() {
	// Sub-second timestamps: restarts 100ms apart must be told apart.
	zerolog.TimeFieldFormat = time.RFC3339Nano
	zerolog.DurationFieldUnit = time.Millisecond
	zerolog.DurationFieldInteger = false
}

// logBuffer stands between the logger and stderr so that logging never
// blocks the loop: a reader of stderr that stops reading (a stopped pager,
// a stuck log shipper, a terminal held by Ctrl-S) would otherwise stop
// restarts and stop requests with it. Lines wait here, up to logBufferLimit
// bytes, for the buffer's one writer goroutine; past that they are dropped
// and counted, and the count is logged (event log-dropped) after the lines
// that came before them, once stderr takes writes again.
//
// The writer sleeps on a channel while there is nothing to write: no timer,
// no polling, so an idle restart-run is not woken. (zerolog's diode does
// not poll either, with a waiter, but its waiter broadcasts without holding
// the lock its reader sleeps under: a wake-up can be missed, leaving a line
// unwritten until the next one comes, which may be hours for a quiet
// service. On a slot collision it also writes to stderr itself, from the
// goroutine that logs.)
type logBuffer struct {
	out io.Writer
	// report logs the count of dropped lines straight to out. A func, not
	// a zerolog.Logger field: logBuffer is an io.Writer, so the linker
	// keeps its type for reflection, and kong's MethodByName would then
	// keep every exported method of Logger and Context (131 KB).
	report func(dropped int)
	wake   chan struct{} // one pending wake-up at most
	done   chan struct{} // closed when the writer has written everything, at exit

	mu      sync.Mutex
	queue   []byte // whole lines waiting for the writer
	spare   []byte // the writer's last batch, reused for the next queue
	full    bool   // lines are being dropped until the writer takes the queue
	dropped int    // lines dropped since the writer last took the queue
	closing bool   // restart-run is exiting: write what is left, then stop
}

func newLogBuffer(out io.Writer) *logBuffer {
	return &logBuffer{out: out, wake: make(chan struct{}, 1), done: make(chan struct{})}
}

// Write takes one line (zerolog writes each line whole, once) and never
// blocks on the reader of stderr.
func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	// A line that does not fit is dropped, and so is every line after it
	// until the writer takes the queue: the count then stands exactly where
	// the lines are missing. A line longer than the limit still goes into
	// an empty queue.
	if b.full || len(b.queue) > 0 && len(b.queue)+len(p) > logBufferLimit {
		b.full = true
		b.dropped++
		b.mu.Unlock()
		return len(p), nil
	}
	first := len(b.queue) == 0
	b.queue = append(b.queue, p...) // zerolog reuses p once Write returns
	b.mu.Unlock()
	if first {
		// A queue that held lines already has its wake-up pending, or the
		// writer looks at it again after its current write.
		b.poke()
	}
	return len(p), nil
}

func (b *logBuffer) poke() {
	select {
	case b.wake <- struct{}{}:
	default:
	}
}

// drain is the writer goroutine. Write errors are ignored, as zerolog
// ignores them: with the reader gone (EPIPE) each write fails at once and
// raises a SIGPIPE that the loop ignores, and nothing is retried.
func (b *logBuffer) drain() {
	for range b.wake {
		for {
			b.mu.Lock()
			batch, dropped, closing := b.queue, b.dropped, b.closing
			b.queue, b.spare, b.full, b.dropped = b.spare[:0], nil, false, 0
			b.mu.Unlock()
			if len(batch) == 0 && dropped == 0 {
				if closing {
					close(b.done)
					return
				}
				b.mu.Lock()
				b.spare = batch
				b.mu.Unlock()
				break
			}
			_, _ = b.out.Write(batch)
			if dropped > 0 {
				b.report(dropped)
			}
			b.mu.Lock()
			b.spare = batch
			b.mu.Unlock()
		}
	}
}

// flush writes out what is left before restart-run exits, waiting at most
// wait for a reader that has stalled: exit must not hang on it.
func (b *logBuffer) flush(wait time.Duration) {
	b.mu.Lock()
	b.closing = true
	b.mu.Unlock()
	b.poke()
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case <-b.done:
	case <-t.C:
	}
}
