package main

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// groupKids runs restart-run with flags on a shell that starts two
// background sleeps in its process group, and returns it with the pids of
// the shell and both sleeps. Survivors are killed when the test ends.
func groupKids(t *testing.T, flags ...string) (*rr, []int) {
	t.Helper()
	r := startRR(t, nil, append(flags, "--", "sh", "-c", `sleep 1000 & a=$!; sleep 1000 & echo kids $$ $a $!; wait`)...)
	var pids []int
	for _, f := range r.line("kids") {
		pid, err := strconv.Atoi(f)
		if err != nil {
			t.Fatalf("kids line %q", f)
		}
		pids = append(pids, pid)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("log:\n%s", r.logText())
		}
		for _, pid := range pids {
			if alive(pid) {
				_ = unix.Kill(pid, unix.SIGKILL)
			}
		}
	})
	return r, pids
}

// guardOf waits for restart-run's guard process and returns its pid.
func guardOf(t *testing.T, rrPid int) int {
	t.Helper()
	pid := 0
	waitUntil(t, "the guard process", func() bool {
		for _, p := range childrenOf(rrPid) {
			if b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", p.pid)); strings.HasPrefix(string(b), guardArgv0+"\x00") {
				pid = p.pid
				return true
			}
		}
		return false
	})
	return pid
}

// TestKilledSupervisorTakesGroup: when restart-run is killed outright, its
// child's whole process group dies with it, not just the child (which gets
// its parent-death signal): before the guard, both background sleeps of
// `sh -c 'sleep & sleep & wait'` lived on under PID 1. A guard that is
// killed itself is replaced. Under --kill-mode=process leftovers are left
// alone by design, and no guard runs.
func TestKilledSupervisorTakesGroup(t *testing.T) {
	for _, mode := range []string{"control-group", "mixed"} {
		t.Run(mode, func(t *testing.T) {
			r, pids := groupKids(t, "--kill-mode="+mode, "--restart=no")
			guardOf(t, r.cmd.Process.Pid)
			r.signal(syscall.SIGKILL)
			for _, pid := range pids {
				waitGone(t, pid, 5*time.Second)
			}
			if st := r.wait(); st != 137 {
				t.Errorf("status %d, want 137", st)
			}
			if g := r.named("guard"); len(g) != 1 || g[0].num("pgid") != float64(pids[0]) {
				t.Errorf("guard events %v, want one for group %d", g, pids[0])
			}
		})
	}
	t.Run("guard replaced", func(t *testing.T) {
		r, pids := groupKids(t, "--restart=no")
		old := guardOf(t, r.cmd.Process.Pid)
		_ = unix.Kill(old, unix.SIGKILL)
		if e := r.next("guard"); e.str("signal") != "SIGKILL" {
			t.Errorf("guard event %v, want the old guard's end by SIGKILL", e)
		}
		if g := guardOf(t, r.cmd.Process.Pid); g == old {
			t.Fatalf("guard %d not replaced", g)
		}
		r.signal(syscall.SIGKILL)
		for _, pid := range pids {
			waitGone(t, pid, 5*time.Second)
		}
		r.wait()
	})
	t.Run("process", func(t *testing.T) {
		r, pids := groupKids(t, "--kill-mode=process", "--restart=no")
		r.signal(syscall.SIGKILL)
		waitGone(t, pids[0], 5*time.Second) // the child: parent-death signal
		for _, pid := range pids[1:] {
			if !alive(pid) {
				t.Errorf("leftover %d ended under --kill-mode=process", pid)
			}
			_ = unix.Kill(pid, unix.SIGKILL) // let go of restart-run's stdout
		}
		r.wait()
	})
}
