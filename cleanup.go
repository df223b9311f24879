package main

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"strconv"
	"time"

	"golang.org/x/sys/unix"
)

// This file cleans up after a run: what the child left behind (its process
// group and the orphans reparented to restart-run) is signalled, and SIGKILLed
// after --timeout-stop, before any restart or exit. It also lists processes
// from /proc for it (nsproc.go where /proc is an outer namespace's).

// groupAlive reports whether any process is left in process group pgid.
func groupAlive(pgid int) bool {
	return pgid > 0 && unix.Kill(-pgid, 0) != unix.ESRCH
}

type proc struct{ pid, pgid int }

// groupMembers lists the processes of process group pgid, which outlived
// its leader. Each of them descends from restart-run (its subreaper), so
// the walk reads restart-run's tree, not every process of the machine: on
// a host with thousands of processes a full scan took half a second of the
// loop. Where the kernel has no children files it scans every process's
// stat; where /proc is not restart-run's namespace's, see nsproc.go.
func groupMembers(self, pgid int) []proc {
	switch v := procView(); {
	case !v.ok:
		return nil
	case v.depth > 0:
		return foreignGroup(v, pgid)
	}
	var out []proc
	seen := map[int]bool{}
	for queue := []int{self}; len(queue) > 0; queue = queue[1:] {
		kids, ok := taskChildren(queue[0])
		if !ok {
			if _, err := os.Stat("/proc/" + strconv.Itoa(queue[0])); err != nil {
				continue // it exited during the walk
			}
			return scanProcs(func(_, g int) bool { return g == pgid })
		}
		for _, k := range kids {
			if seen[k] {
				continue
			}
			seen[k] = true
			if _, g, ok := procStat(strconv.Itoa(k)); ok && g == pgid {
				out = append(out, proc{pid: k, pgid: g})
			}
			queue = append(queue, k)
		}
	}
	return out
}

// childrenOf lists the processes whose parent is ppid: the orphans
// reparented to restart-run as subreaper, and its own children. It reads
// each thread's /proc/PID/task/TID/children where the kernel has them
// (CONFIG_PROC_CHILDREN), else every process's stat; it runs only when
// leftovers may exist. restart-run's own children are found through
// /proc/self where /proc is not its namespace's (nsproc.go), and not at
// all where /proc does not show it: /proc/PID there is another process.
func childrenOf(ppid int) []proc {
	if ppid == os.Getpid() {
		switch v := procView(); {
		case !v.ok:
			return nil
		case v.depth > 0:
			return foreignChildren(v)
		}
	}
	pids, ok := taskChildren(ppid)
	if !ok {
		return scanChildren(ppid)
	}
	out := make([]proc, 0, len(pids))
	for _, pid := range pids {
		if p, pgid, ok := procStat(strconv.Itoa(pid)); ok && p == ppid {
			out = append(out, proc{pid: pid, pgid: pgid})
		}
	}
	return out
}

// ownProc reports whether /proc shows restart-run's own PID namespace: it
// does not under unshare --pid without --mount-proc.
func ownProc() bool {
	v := procView()
	return v.ok && v.depth == 0
}

// onlyChild reports whether pid is the one child of ppid left.
func onlyChild(ppid, pid int) bool {
	kids := childrenOf(ppid)
	return len(kids) == 1 && kids[0].pid == pid
}

// taskChildren reads the children files of every thread of ppid; ok is
// false where the kernel has none.
func taskChildren(ppid int) (pids []int, ok bool) {
	return taskChildrenIn("/proc/" + strconv.Itoa(ppid) + "/task")
}

// taskChildrenIn reads the children files of every thread in dir, a
// process's task directory.
func taskChildrenIn(dir string) (pids []int, ok bool) {
	tids, err := os.ReadDir(dir)
	if err != nil {
		return nil, false
	}
	for _, tid := range tids {
		b, err := os.ReadFile(dir + "/" + tid.Name() + "/children")
		if errors.Is(err, fs.ErrNotExist) {
			if _, serr := os.Stat(dir + "/" + tid.Name()); serr == nil {
				return nil, false // the thread is there, its children file is not
			}
			continue // the thread has exited
		}
		for _, f := range bytes.Fields(b) {
			if pid, err := strconv.Atoi(string(f)); err == nil {
				pids = append(pids, pid)
			}
		}
	}
	return pids, true
}

// scanChildren finds the children of ppid by reading every process's stat.
func scanChildren(ppid int) []proc {
	return scanProcs(func(p, _ int) bool { return p == ppid })
}

// scanProcs lists the processes whose parent and group keep takes, from
// every process's stat.
func scanProcs(keep func(ppid, pgid int) bool) []proc {
	var out []proc
	for _, name := range procPids() {
		if p, g, ok := procStat(name); ok && keep(p, g) {
			pid, _ := strconv.Atoi(name)
			out = append(out, proc{pid: pid, pgid: g})
		}
	}
	return out
}

// procPids lists the processes /proc shows, as the names of their
// directories.
func procPids() []string {
	d, err := os.Open("/proc")
	if err != nil {
		return nil
	}
	defer d.Close()
	names, _ := d.Readdirnames(-1)
	pids := names[:0]
	for _, name := range names {
		if _, err := strconv.Atoi(name); err == nil {
			pids = append(pids, name)
		}
	}
	return pids
}

// procStat reads the parent and process group of a process from /proc.
func procStat(pid string) (ppid, pgid int, ok bool) {
	b, err := os.ReadFile("/proc/" + pid + "/stat")
	if err != nil {
		return 0, 0, false
	}
	// The command name in parentheses may hold spaces and parentheses;
	// the fields after the last ')' are "state ppid pgrp ...".
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, 0, false
	}
	f := bytes.Fields(b[i+1:])
	if len(f) < 3 {
		return 0, 0, false
	}
	p, err1 := strconv.Atoi(string(f[1]))
	g, err2 := strconv.Atoi(string(f[2]))
	return p, g, err1 == nil && err2 == nil
}

func (s *supervisor) onKillTimeout() {
	switch s.phase {
	case running:
		s.log.Warn().Str("event", "kill").Int("pid", s.pid).Dur("timeout_ms", s.cfg.timeoutStop).
			Msg("child did not stop in time; sending SIGKILL")
		s.signalChild(unix.SIGKILL, s.cfg.killMode != "process")
	case cleaning:
		if s.sentinel != 0 {
			_ = unix.Kill(s.sentinel, unix.SIGKILL) // reaped, then cleanup
			return
		}
		s.log.Warn().Str("event", "kill").Dur("timeout_ms", s.cfg.timeoutStop).
			Msg("leftover processes did not stop in time; sending SIGKILL")
		s.killed = true
		s.sweep()
		s.checkCleaned()
	}
}

// cleanup stops the child's leftovers, from here until the decision, so
// that a restarted server finds its port free and nothing outlives us.
func (s *supervisor) cleanup() {
	s.kill.stop()
	s.killed = s.cfg.killMode == "mixed"
	s.signalled = nil
	if s.cfg.killMode == "process" {
		s.decideNext()
		return
	}
	// A stop request has one deadline for the child and its leftovers
	// together, as systemd's stop timeout: what is left when it has passed
	// gets SIGKILL at once.
	wait := s.cfg.timeoutStop
	if !s.stopDeadline.IsZero() {
		wait = time.Until(s.stopDeadline)
		if wait <= 0 {
			s.killed = true
		}
	}
	s.sweep()
	if !s.checkCleaned() {
		s.kill.set(max(wait, 0))
	}
}

// sweep signals what is left of the child's process group and every orphan
// reparented to restart-run that has not had this signal yet: the kill
// signal (then SIGCONT, so a stopped process can act on it), or SIGKILL once
// the time is up or under --kill-mode=mixed.
func (s *supervisor) sweep() {
	sig := s.cfg.killSignal
	if s.killed {
		sig = unix.SIGKILL
	}
	hit := func(pid int) {
		_ = unix.Kill(pid, sig)
		if sig != unix.SIGKILL {
			_ = unix.Kill(pid, unix.SIGCONT)
		}
	}
	if s.signalled == nil {
		s.signalled = map[int]unix.Signal{}
	}
	// The group is signalled as a whole, once for each signal; key 0 stands
	// for it. Orphans that left the group are signalled one by one.
	group, orphans := 0, 0
	switch {
	case !groupAlive(s.pgid):
		s.setGroup(0) // empty: its number may be reused by an unrelated group
	case s.signalled[0] != sig:
		// Counted before the signal thins it out; at least 1, the group
		// being alive, where /proc is another PID namespace's.
		group = max(1, len(groupMembers(s.self, s.pgid)))
		hit(-s.pgid)
		s.signalled[0] = sig
	}
	if !s.noChildren {
		for _, p := range childrenOf(s.self) {
			if p.pgid == s.pgid || s.signalled[p.pid] == sig || (s.guard != nil && p.pid == s.guard.pid) {
				continue
			}
			hit(p.pid)
			s.signalled[p.pid] = sig
			orphans++
		}
	}
	if group+orphans > 0 {
		// As systemd's "Killing process N (name) with signal SIGTERM".
		s.log.Info().Str("event", "cleanup").Str("signal", signalName(sig)).Int("pgid", s.pgid).
			Int("group", group).Int("orphans", orphans).Msg("signalling what the child left behind")
	}
}

// checkCleaned ends the cleanup once the group is empty and every child of
// restart-run has been reaped, and reports whether it did.
func (s *supervisor) checkCleaned() bool {
	if !s.noChildren || groupAlive(s.pgid) {
		return false
	}
	s.kill.stop()
	s.setGroup(0)
	s.decideNext()
	return true
}
