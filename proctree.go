package main

import (
	"bytes"
	"os"
	"strconv"

	"golang.org/x/sys/unix"
)

// This file lists processes from /proc for the cleanup (cleanup.go) and the
// guard: a process group's members, restart-run's children. nsproc.go reads
// them where /proc is an outer namespace's.

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
	tids, ok := procDir(dir)
	if !ok {
		return nil, false
	}
	var buf []byte
	for _, tid := range tids {
		b, ok := readProc(dir+"/"+tid+"/children", &buf)
		if !ok {
			if unix.Access(dir+"/"+tid, unix.F_OK) == nil {
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

// readProc reads a small file of /proc whole into *buf, grown as needed,
// and returns what it read; ok is false if the file cannot be opened (the
// process or thread has gone). It makes the raw system calls: os.ReadFile
// adds an fstat, two fcntl and an epoll_ctl (the runtime's poller tries
// every file it opens) to each file, and restart-run reads one for each of
// its threads at every restart.
func readProc(path string, buf *[]byte) (b []byte, ok bool) {
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, false
	}
	defer unix.Close(fd)
	if len(*buf) == 0 {
		*buf = make([]byte, 4096)
	}
	n := 0
	for {
		m, err := unix.Read(fd, (*buf)[n:])
		if err != nil || m <= 0 {
			return (*buf)[:n], err == nil
		}
		n += m
		if n < len(*buf) {
			// A /proc file hands out all it has, up to the size asked
			// for: a short read is the end.
			return (*buf)[:n], true
		}
		*buf = append(*buf, make([]byte, len(*buf))...)
	}
}

// procDir lists the entries of a directory of /proc, with the raw system
// calls (see readProc); ok is false if it cannot be opened.
func procDir(dir string) (names []string, ok bool) {
	fd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, false
	}
	defer unix.Close(fd)
	var ents [4096]byte
	for {
		n, err := unix.ReadDirent(fd, ents[:])
		if err != nil || n <= 0 {
			return names, true
		}
		_, _, names = unix.ParseDirent(ents[:n], -1, names)
	}
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
	names, _ := procDir("/proc")
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
	buf := make([]byte, 1024)
	b, ok := readProc("/proc/"+pid+"/stat", &buf)
	if !ok {
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
