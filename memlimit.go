package main

import (
	"bytes"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/rs/zerolog"
	"golang.org/x/sys/unix"
)

// This file is --memory-max: the resident memory of the child's whole tree,
// sampled from /proc every --memory-check-interval while a run is under
// way, and a stop, class oom-kill, when it goes above the ceiling. Nothing
// of it runs without the flag: no alarm, no read of /proc.

// memoryCeiling owns the sampling of one run at a time: its alarm, and what
// it reads /proc through. It signals nobody: over the ceiling it logs what
// it measured and hands the loop a stopOrder, as readiness does.
type memoryCeiling struct {
	limit int64         // bytes
	every time.Duration // --memory-check-interval
	kill  stopOrder     // class oom-kill, by --kill-signal
	log   zerolog.Logger
	// open gives what one sample reads /proc through; the unit tests put a
	// made-up process tree in its place.
	open func() procFS

	pid    int // the run's main child, for the log
	sample alarm
}

// newMemoryCeiling is nil without --memory-max: the loop's calls on a nil
// one do nothing and its channel is nil, so no timer ever runs. It is nil
// too, with a warning, where /proc does not show restart-run (mounted for
// a PID namespace it is not in): nothing could be measured there.
func newMemoryCeiling(cfg *config, log zerolog.Logger) *memoryCeiling {
	if cfg.memoryMax <= 0 {
		return nil
	}
	if !procView().ok {
		log.Warn().Str("event", "memory-max").Int64("limit_bytes", cfg.memoryMax).
			Msg("/proc does not show restart-run, so the child's memory cannot be read; --memory-max is not enforced")
		return nil
	}
	return &memoryCeiling{
		limit: cfg.memoryMax,
		every: cfg.memoryCheck,
		kill:  stopOrder{OOMKill, cfg.killSignal},
		log:   log,
		open:  func() procFS { return &liveProc{} },
	}
}

// C is what the loop selects on: the next sample is due.
func (m *memoryCeiling) C() <-chan time.Time {
	if m == nil {
		return nil
	}
	return m.sample.C()
}

// describe adds the ceiling to a run's start line, so that the log says
// what is watched and how.
func (m *memoryCeiling) describe(e *zerolog.Event) *zerolog.Event {
	if m == nil {
		return e
	}
	return e.Int64("memory_max_bytes", m.limit).Dur("memory_check_ms", m.every).Str("memory_from", "/proc")
}

// runStarted arms the first sample of the run of child pid.
func (m *memoryCeiling) runStarted(pid int) {
	if m == nil {
		return
	}
	m.pid = pid
	m.sample.set(m.every)
}

// runEnded disarms it: the child is being stopped or has ended.
func (m *memoryCeiling) runEnded() {
	if m == nil {
		return
	}
	m.sample.stop()
}

// due takes one sample when the alarm rings. helper tells restart-run's
// own processes among its children (the guard, the terminal's sentinel,
// a health check command), whose memory is not the child's. Over the
// ceiling it logs the measure and returns how to stop the child; under
// it, it arms the next sample.
func (m *memoryCeiling) due(helper func(pid int) bool) *stopOrder {
	m.sample.on = false
	fs := m.open()
	u := measureTree(fs, helper)
	if u.rss <= m.limit {
		m.sample.set(m.every)
		return nil
	}
	m.log.Warn().Str("event", "memory-max").Int("pid", m.pid).Int64("rss_bytes", u.rss).
		Int64("limit_bytes", m.limit).Int("processes", u.procs).
		Int("biggest_pid", fs.pid(u.top)).Str("biggest_name", fs.comm(u.top)).Int64("biggest_rss_bytes", u.topRSS).
		Msg("the child's processes went above --memory-max; stopping the child")
	o := m.kill
	return &o
}

// procFS is what a sample reads of /proc, by the names /proc gives
// processes (their numbers in /proc's PID namespace, which need not be
// restart-run's: nsproc.go).
type procFS interface {
	// self is restart-run's own name.
	self() string
	// children lists the children of process name.
	children(name string) []string
	// resident is the resident memory of process name in bytes; ok is
	// false once it has gone.
	resident(name string) (bytes int64, ok bool)
	// pid is the process's number in restart-run's namespace, 0 if none.
	pid(name string) int
	// comm is its command name, "" if gone.
	comm(name string) string
}

// treeUsage is one sample: the resident memory of every process measured,
// their number, and the biggest of them.
type treeUsage struct {
	rss    int64
	procs  int
	top    string // the biggest's name in /proc
	topRSS int64
}

// measureTree adds up the resident memory of every descendant of
// restart-run: the child, all it started, whatever process group or
// session they moved to, and the orphans reparented to restart-run with
// what they started; not restart-run's own helpers (and whatever they
// run), which helper picks out among its children.
func measureTree(fs procFS, helper func(pid int) bool) treeUsage {
	var u treeUsage
	var queue []string
	for _, k := range fs.children(fs.self()) {
		if !helper(fs.pid(k)) {
			queue = append(queue, k)
		}
	}
	seen := map[string]bool{}
	for len(queue) > 0 {
		name := queue[0]
		queue = queue[1:]
		if seen[name] {
			continue // a pid met twice while the tree changed under the walk
		}
		seen[name] = true
		if rss, ok := fs.resident(name); ok {
			u.procs++
			u.rss += rss
			if rss > u.topRSS {
				u.top, u.topRSS = name, rss
			}
		}
		queue = append(queue, fs.children(name)...)
	}
	return u
}

// liveProc is procFS on the real /proc, for one sample. Resident memory
// comes from /proc/PID/statm (pages, times the page size): the same
// figure as VmRSS in /proc/PID/status, which the kernel fills from the
// same counters but formats along with some fifty other lines. A process's
// children come from the children files of its threads; where the kernel
// has none (CONFIG_PROC_CHILDREN unset), one scan of every process's stat
// serves the whole sample. Files are read with plain system calls into
// one buffer: package os spends three more on each open file (fcntl for
// non-blocking, fstat, the read that finds the end), which made up half of
// a sample's time (BenchmarkMemorySample).
type liveProc struct {
	buf     []byte
	scanned map[string][]string // parent: children, from the scan; nil before it
}

func (l *liveProc) self() string { return procView().self }

// read returns the contents of a small file of /proc, valid until the next
// read; ok is false if it cannot be opened (the process has gone).
func (l *liveProc) read(path string) (b []byte, ok bool) { return readProc(path, &l.buf) }

func (l *liveProc) children(name string) []string {
	if l.scanned != nil {
		return l.scanned[name]
	}
	dir := "/proc/" + name + "/task"
	tids, ok := procDir(dir)
	if !ok {
		return nil // gone
	}
	var kids []string
	for _, tid := range tids {
		b, ok := l.read(dir + "/" + tid + "/children")
		if !ok {
			if err := unix.Access(dir+"/"+tid, unix.F_OK); err == nil {
				// The thread is there, its children file is not.
				l.scan()
				return l.scanned[name]
			}
			continue // the thread has exited
		}
		for _, f := range bytes.Fields(b) {
			kids = append(kids, string(f))
		}
	}
	return kids
}

// scan reads every process's parent from its stat, once a sample.
func (l *liveProc) scan() {
	l.scanned = map[string][]string{}
	for _, name := range procPids() {
		if ppid, _, ok := procStat(name); ok {
			p := strconv.Itoa(ppid)
			l.scanned[p] = append(l.scanned[p], name)
		}
	}
}

var pageSize = int64(os.Getpagesize())

func (l *liveProc) resident(name string) (int64, bool) {
	b, ok := l.read("/proc/" + name + "/statm")
	// size resident shared text lib data dt, in pages
	f := bytes.Fields(b)
	if !ok || len(f) < 2 {
		return 0, false
	}
	pages, err := strconv.ParseInt(string(f[1]), 10, 64)
	return pages * pageSize, err == nil
}

func (l *liveProc) pid(name string) int {
	if v := procView(); v.depth > 0 {
		st, ok := readNSStatus(name)
		if !ok {
			return 0
		}
		p, _ := v.inOurs(st)
		return p.pid
	}
	n, _ := strconv.Atoi(name)
	return n
}

func (l *liveProc) comm(name string) string {
	b, _ := l.read("/proc/" + name + "/comm")
	return strings.TrimSuffix(string(b), "\n")
}
