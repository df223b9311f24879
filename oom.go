package main

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/rs/zerolog"
	"golang.org/x/sys/unix"
)

// This file tells a kernel OOM kill of the child from any other SIGKILL.
// The kernel counts the processes its OOM killer ends in each memory
// cgroup: the oom_kill line of cgroup v2's memory.events (which counts
// those of the cgroups below too), or of cgroup v1's memory.oom_control.
// restart-run reads the counter of the cgroup it runs in (in a container,
// the container's own) when the child starts, and again only when the
// child has died of SIGKILL: if it grew, the OOM killer ended the child.
// No polling, no goroutine, nothing written to any cgroup.

// oomWatch owns the counter: its file, kept open from restart-run's start
// (close-on-exec: no child gets it), and its value at the start of the
// current run. A cgroup file read again from offset 0 is made afresh, so
// each look is one pread: a third of the time of an open, a read and a
// close.
type oomWatch struct {
	log   zerolog.Logger
	file  string   // the counter's file, "" where none could be read
	fd    int      // file, open; only when file is set
	tried []string // the files looked at, where none could be read
	start uint64   // the count at the start of the current run
	known bool     // start was read at the start of the current run
}

// newOOMWatch finds the counter of restart-run's own cgroup, once. It
// logs nothing: what it found is said at debug level when it matters,
// when the child dies of SIGKILL (killedByOOM). A line at start-up would
// be one more line of every one-shot run at debug, which restart-run
// keeps to start, exit and done.
func newOOMWatch(log zerolog.Logger) oomWatch {
	cgroup, err1 := os.ReadFile("/proc/self/cgroup")
	mounts, err2 := os.ReadFile("/proc/self/mountinfo")
	var files []string
	if err1 == nil && err2 == nil {
		files = oomCounterFiles(string(cgroup), string(mounts))
	}
	w := watchOOM(files)
	w.log = log
	return w
}

// watchOOM watches the first of files that can be opened and read and
// holds an oom_kill count.
func watchOOM(files []string) oomWatch {
	for _, f := range files {
		fd, err := unix.Open(f, unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			continue
		}
		if _, ok := readOOMKills(fd); ok {
			return oomWatch{file: f, fd: fd}
		}
		unix.Close(fd)
	}
	return oomWatch{tried: files}
}

// close closes the counter's file; restart-run is about to exit.
func (w *oomWatch) close() {
	if w.file != "" {
		unix.Close(w.fd)
		*w = oomWatch{log: w.log}
	}
}

// runStarted reads the counter as a run starts. The supervisor calls it
// just before the child is spawned, so that an OOM kill of the child
// cannot come before the read, however soon after its exec it comes.
func (w *oomWatch) runStarted() {
	if w.file != "" {
		w.start, w.known = readOOMKills(w.fd)
	}
}

// killedByOOM reports whether the counter grew since the run started; the
// supervisor asks only when the child died of SIGKILL. Another process of
// the cgroup killed by the OOM killer at the same time counts as well: the
// counter does not say whom it killed. It says at debug level what the
// counter said, or why there is no answer.
func (w *oomWatch) killedByOOM() bool {
	ev := w.log.Debug().Str("event", "oom")
	if w.file == "" {
		ev.Strs("tried", w.tried).Msg("no oom_kill counter readable: an OOM kill cannot be told from another SIGKILL")
		return false
	}
	ev = ev.Str("file", w.file)
	if !w.known {
		ev.Msg("the oom_kill counter could not be read at the start of the run")
		return false
	}
	n, ok := readOOMKills(w.fd)
	if !ok {
		ev.Msg("the oom_kill counter could not be read")
		return false
	}
	ev = ev.Uint64("oom_kill_at_start", w.start).Uint64("oom_kill", n)
	if n > w.start {
		ev.Msg("the oom_kill counter grew during the run")
		return true
	}
	ev.Msg("the oom_kill counter did not grow during the run")
	return false
}

// readOOMKills reads the oom_kill count from the open file fd, from its
// start. Both files are a few lines; one that fills the buffer is not one
// of them, and a line cut short could read as a smaller number.
func readOOMKills(fd int) (uint64, bool) {
	var buf [512]byte
	n, err := unix.Pread(fd, buf[:], 0)
	if err != nil || n <= 0 || n == len(buf) {
		return 0, false
	}
	return parseOOMKills(string(buf[:n]))
}

// parseOOMKills finds the line "oom_kill N" in the text of memory.events
// (cgroup v2) or memory.oom_control (cgroup v1), among keys that look like
// it (oom, oom_kill_disable, oom_group_kill).
func parseOOMKills(text string) (uint64, bool) {
	for line := range strings.Lines(text) {
		f := strings.Fields(line)
		if len(f) == 2 && f[0] == "oom_kill" {
			n, err := strconv.ParseUint(f[1], 10, 64)
			if err != nil {
				return 0, false
			}
			return n, true
		}
	}
	return 0, false
}

// oomCounterFiles lists the files that may hold the oom_kill counter of
// the process's cgroup, given its /proc/self/cgroup and
// /proc/self/mountinfo: cgroup v2's memory.events first, then v1's
// memory.oom_control. On a hybrid system both may be listed, and only one
// is there: the memory controller is bound to one hierarchy.
func oomCounterFiles(cgroup, mountinfo string) []string {
	v2, v1 := parseProcCgroup(cgroup)
	mounts := parseMountinfo(mountinfo)
	var files []string
	for _, want := range []struct {
		path, file string
		ok         func(m cgroupMount) bool
	}{
		{v2, "memory.events", func(m cgroupMount) bool { return m.fstype == "cgroup2" }},
		{v1, "memory.oom_control", func(m cgroupMount) bool {
			return m.fstype == "cgroup" && hasField(m.options, ",", "memory")
		}},
	} {
		if want.path == "" {
			continue
		}
		for _, m := range mounts {
			if !want.ok(m) {
				continue
			}
			if dir, ok := m.dirOf(want.path); ok {
				files = append(files, filepath.Join(dir, want.file))
				break
			}
		}
	}
	return files
}

// parseProcCgroup reads /proc/self/cgroup: the process's cgroup v2 path
// (the line "0::/path") and its cgroup v1 memory path (the line whose
// controller list holds memory, "4:memory:/path"); "" for either that is
// not there.
func parseProcCgroup(text string) (v2, v1Memory string) {
	for line := range strings.Lines(text) {
		id, rest, ok1 := strings.Cut(strings.TrimSuffix(line, "\n"), ":")
		controllers, path, ok2 := strings.Cut(rest, ":")
		if !ok1 || !ok2 || !strings.HasPrefix(path, "/") {
			continue
		}
		switch {
		case id == "0" && controllers == "":
			v2 = path
		case hasField(controllers, ",", "memory"):
			v1Memory = path
		}
	}
	return v2, v1Memory
}

// cgroupMount is a mount of a cgroup hierarchy, from /proc/self/mountinfo.
type cgroupMount struct {
	root    string // the cgroup of the hierarchy mounted there ("/", or the container's cgroup)
	point   string // where it is mounted
	fstype  string // cgroup2, or cgroup (v1)
	options string // the super options: the controllers of a v1 hierarchy
}

// parseMountinfo lists the cgroup and cgroup2 mounts in /proc/self/mountinfo:
//
//	34 30 0:31 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
//
// (mount ID, parent ID, device, root, mount point, mount options, optional
// fields up to "-", filesystem type, source, super options).
func parseMountinfo(text string) []cgroupMount {
	var mounts []cgroupMount
	for line := range strings.Lines(text) {
		f := strings.Fields(line)
		if len(f) < 10 {
			continue
		}
		sep := 6
		for sep < len(f) && f[sep] != "-" {
			sep++
		}
		if sep+3 >= len(f) {
			continue
		}
		if fstype := f[sep+1]; fstype == "cgroup" || fstype == "cgroup2" {
			mounts = append(mounts, cgroupMount{
				root: unescapeMountinfo(f[3]), point: unescapeMountinfo(f[4]),
				fstype: fstype, options: f[sep+3],
			})
		}
	}
	return mounts
}

// dirOf maps the cgroup path (as /proc/self/cgroup names it) to its
// directory under this mount, if the mount shows it: a mount whose root is
// the container's cgroup (/docker/abc mounted at /sys/fs/cgroup/memory)
// shows /docker/abc/x as /sys/fs/cgroup/memory/x, and nothing outside it.
// A path that climbs out of a cgroup namespace's root ("/../x") is not
// shown anywhere.
func (m cgroupMount) dirOf(path string) (string, bool) {
	rel := path
	if m.root != "/" {
		rest, ok := strings.CutPrefix(path, m.root)
		if !ok || (rest != "" && !strings.HasPrefix(rest, "/")) {
			return "", false
		}
		rel = rest
	}
	if hasField(rel, "/", "..") {
		return "", false
	}
	return filepath.Join(m.point, rel), true
}

// unescapeMountinfo undoes mountinfo's octal escapes of space, tab, newline
// and backslash ("\040").
func unescapeMountinfo(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+4 <= len(s) {
			if n, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// hasField reports whether s, split at sep, has the field f.
func hasField(s, sep, f string) bool {
	for x := range strings.SplitSeq(s, sep) {
		if x == f {
			return true
		}
	}
	return false
}

// classifyEnd classifies the child's end. A SIGKILL is class oom-kill
// (and oom true) when the oom_kill counter of restart-run's cgroup grew
// during the run: the kernel's OOM killer kills with SIGKILL, and systemd
// calls that end Result=oom-kill. A reason of restart-run's own for
// killing the child (a timeout, the watchdog) wins, and the counter is
// then not read, and so it is when restart-run sent SIGKILL itself (after
// --timeout-stop, or as --kill-signal): an OOM kill elsewhere in the cgroup
// must not be taken for its cause. --success-exit-status does not make an
// OOM kill clean;
// the prevent and force lists see its signal, SIGKILL, in decide, as
// for any other end.
func (s *supervisor) classifyEnd(code int, sig unix.Signal) (r Result, oom bool) {
	forced := s.end.forced
	if sig == unix.SIGKILL && forced == nil && !s.end.sentKill && s.oom.killedByOOM() {
		c := OOMKill
		forced, oom = &c, true
	}
	return classify(code, sig, s.cfg.lists.Success, forced), oom
}
