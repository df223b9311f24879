package main

import (
	"bytes"
	"os"
	"strconv"
	"sync"
)

// A /proc that is not restart-run's own PID namespace's: under unshare
// --pid without --mount-proc it is the parent namespace's, which numbers
// every process its own way. /proc/PID there is another process, so the
// cleanup, which finds the orphans reparented to restart-run through /proc,
// read some other process's children (the host init's, as PID 1), sent
// signals to their numbers in its own namespace, never found its real
// leftovers, and waited for them for ever: a stop request could not end it.
// The kernel gives the way back: /proc/self is restart-run whatever the
// numbering, and each process's status lists its pid and process group in
// every namespace from /proc's down to its own (NSpid, NSpgid; Linux 4.1).

// procNS is how /proc sees restart-run's PID namespace.
type procNS struct {
	// ok: /proc shows restart-run at all; it does not where /proc is the
	// mount of a namespace restart-run is not in.
	ok bool
	// depth is how many namespaces below /proc's restart-run's is: the
	// index, in NSpid and NSpgid, of a number in restart-run's namespace.
	// 0 where /proc is its own.
	depth int
	// self is restart-run's pid as /proc numbers it.
	self string
}

// procView is read once: restart-run's namespace and /proc's do not change
// under it.
var procView = sync.OnceValue(func() procNS {
	self, err := os.Readlink("/proc/self")
	if err != nil {
		return procNS{}
	}
	st, ok := readNSStatus(self)
	if !ok || len(st.nspid) == 0 {
		// No NSpid (before Linux 4.1): /proc is our own if it numbers us
		// as we do.
		return procNS{ok: self == strconv.Itoa(os.Getpid()), self: self}
	}
	depth := len(st.nspid) - 1
	if st.nspid[depth] != strconv.Itoa(os.Getpid()) {
		return procNS{}
	}
	return procNS{ok: true, depth: depth, self: self}
})

// nsStatus is what restart-run needs from /proc/PID/status: the parent as
// /proc numbers it, and the pid and process group in each namespace.
type nsStatus struct {
	ppid          string
	nspid, nspgid []string
}

func readNSStatus(pid string) (nsStatus, bool) {
	b, err := os.ReadFile("/proc/" + pid + "/status")
	if err != nil {
		return nsStatus{}, false
	}
	var st nsStatus
	for _, line := range bytes.Split(b, []byte("\n")) {
		key, value, _ := bytes.Cut(line, []byte(":"))
		switch string(key) {
		case "PPid":
			st.ppid = string(bytes.TrimSpace(value))
		case "NSpid":
			st.nspid = fields(value)
		case "NSpgid":
			st.nspgid = fields(value)
		}
	}
	return st, true
}

func fields(b []byte) []string {
	var out []string
	for _, f := range bytes.Fields(b) {
		out = append(out, string(f))
	}
	return out
}

// inOurs is a process as restart-run's namespace numbers it; ok is false
// for one outside that namespace (NSpid ends above it).
func (v procNS) inOurs(st nsStatus) (p proc, ok bool) {
	if len(st.nspid) <= v.depth || len(st.nspgid) <= v.depth {
		return proc{}, false
	}
	pid, err1 := strconv.Atoi(st.nspid[v.depth])
	pgid, err2 := strconv.Atoi(st.nspgid[v.depth])
	return proc{pid: pid, pgid: pgid}, err1 == nil && err2 == nil
}

// foreignChildren is childrenOf for restart-run itself where /proc is an
// ancestor namespace's: its children as its own namespace numbers them.
func foreignChildren(v procNS) []proc {
	pids, ok := taskChildrenIn("/proc/self/task")
	if !ok {
		return foreignScan(v, func(st nsStatus) bool { return st.ppid == v.self })
	}
	out := make([]proc, 0, len(pids))
	for _, pid := range pids {
		st, ok := readNSStatus(strconv.Itoa(pid))
		if !ok || st.ppid != v.self {
			continue // gone, or its number taken since by another's child
		}
		if p, ok := v.inOurs(st); ok {
			out = append(out, p)
		}
	}
	return out
}

// foreignGroup is groupMembers where /proc is an ancestor namespace's.
func foreignGroup(v procNS, pgid int) []proc {
	want := strconv.Itoa(pgid)
	return foreignScan(v, func(st nsStatus) bool {
		return len(st.nspgid) > v.depth && st.nspgid[v.depth] == want
	})
}

// foreignScan lists, from every process's status, those keep takes that
// restart-run's namespace can see, numbered as it numbers them.
func foreignScan(v procNS, keep func(nsStatus) bool) []proc {
	var out []proc
	for _, name := range procPids() {
		st, ok := readNSStatus(name)
		if !ok || !keep(st) {
			continue
		}
		if p, ok := v.inOurs(st); ok {
			out = append(out, p)
		}
	}
	return out
}
