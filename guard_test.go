//go:build !unitonly

package main

import (
	"fmt"
	"os"
	"os/exec"
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
	// restart-run logs the start once the guard knows the group; a kill
	// before that is the moment the README owns up to.
	r.next("start")
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
		waitUntil(t, "the guard ignores SIGTERM", func() bool { return ignores(old, unix.SIGTERM) })
		// A SIGTERM to every process (systemd stopping a unit) is for
		// restart-run to act on: the guard ignores it, and the event below
		// names the SIGKILL that follows, not the SIGTERM.
		_ = unix.Kill(old, unix.SIGTERM)
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
	// A guard that keeps dying is replaced once in each run, not in a loop
	// of forks (before: every death started another at once); the next
	// start brings a guard back.
	t.Run("replaced once a run", func(t *testing.T) {
		r, pids := groupKids(t, "--restart=always", "--timeout-stop=1m")
		for i := 0; i < 2; i++ {
			g := guardOf(t, r.cmd.Process.Pid)
			_ = unix.Kill(g, unix.SIGKILL)
			e := r.next("guard")
			if e.num("pid") != float64(g) || e.str("signal") != "SIGKILL" {
				t.Fatalf("guard event %v, want guard %d's end by SIGKILL", e, g)
			}
		}
		// The event is logged once the loop has decided: any replacement
		// would be a child of restart-run by now.
		for _, p := range childrenOf(r.cmd.Process.Pid) {
			if b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", p.pid)); strings.HasPrefix(string(b), guardArgv0+"\x00") {
				t.Errorf("guard %d started after the second death in one run", p.pid)
			}
		}
		_ = unix.Kill(pids[0], unix.SIGKILL) // the child ends: a restart, and a guard with it
		if e := r.next("start"); e.num("attempt") != 2 {
			t.Fatalf("start %v, want attempt 2", e)
		}
		guardOf(t, r.cmd.Process.Pid)
		r.signal(syscall.SIGTERM)
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

// TestNoGuardForeignProc: under a PID namespace whose /proc is the outer
// one (unshare --pid without --mount-proc), /proc cannot tell the guard from
// other children, so none runs and the cleanup ends on ECHILD as before (with
// a guard, the cleanup waited for it: restart-run hung after its child ended).
func TestNoGuardForeignProc(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("unshare --pid needs root; CI runs this as root")
	}
	if _, err := exec.LookPath("unshare"); err != nil {
		t.Skip("unshare (util-linux) is not installed")
	}
	// restart-run is the shell's child, not PID 1 of the namespace; should
	// the test fail, killing unshare ends the whole namespace.
	cmd := exec.Command("unshare", "--pid", "--fork", "--kill-child", "sh", "-c", `"$0" --restart=no --timeout-stop=1m -- true; echo rc $?`, rrBin(t))
	r := startCmd(t, cmd)
	if rc := r.line("rc"); rc[0] != "0" {
		t.Errorf("restart-run status %s, want 0; log:\n%s", rc[0], r.logText())
	}
	r.wait()
	if k := r.named("kill"); len(k) != 0 {
		t.Errorf("kill events %v: the cleanup waited for a child that was not there", k)
	}
}

// TestForeignProcLeftovers: where /proc is the outer namespace's (unshare
// --pid without --mount-proc), a leftover that left the child's process
// group is still found, signalled and waited for, and restart-run exits.
// Before, the cleanup looked for its orphans under /proc/PID, another
// process there (the outer init's, as PID 1), signalled numbers from that
// process's children, and waited for its own leftover for ever, a stop
// request included. As PID 1 and as a shell's child; each script's
// leftover is a sleep in a session of its own, which writes its pid (in
// the namespace) before its parent exits.
func TestForeignProcLeftovers(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("unshare --pid needs root; CI runs this as root")
	}
	if _, err := exec.LookPath("unshare"); err != nil {
		t.Skip("unshare (util-linux) is not installed")
	}
	if _, err := exec.LookPath("setsid"); err != nil {
		t.Skip("setsid (util-linux) is not installed")
	}
	const leave = `mkfifo "$0/fifo"
setsid sh -c 'echo $$ > "$0/orphan"; echo > "$0/fifo"; exec sleep 1000' "$0" </dev/null >/dev/null 2>&1 &
read x < "$0/fifo"`
	for _, pid1 := range []bool{true, false} {
		t.Run(map[bool]string{true: "pid1", false: "child-of-sh"}[pid1], func(t *testing.T) {
			dir := t.TempDir()
			rr := []string{rrBin(t), "--restart=no", "--timeout-stop=1m", "--", "sh", "-c", leave, dir}
			// Should the test fail, killing unshare ends the namespace.
			args := append([]string{"--pid", "--fork", "--kill-child"}, rr...)
			if !pid1 {
				args = append([]string{"--pid", "--fork", "--kill-child", "sh", "-c",
					`"$@"; echo rc $?; if kill -0 "$(cat "$D/orphan")"; then echo orphan alive; else echo orphan gone; fi`, "sh"}, rr...)
			}
			cmd := exec.Command("unshare", args...)
			cmd.Env = append(os.Environ(), helperEnv+"=1", "D="+dir)
			r := startCmd(t, cmd)
			if !pid1 {
				if rc := r.line("rc"); rc[0] != "0" {
					t.Errorf("restart-run status %s, want 0; log:\n%s", rc[0], r.logText())
				}
				if o := r.line("orphan"); o[0] != "gone" {
					t.Errorf("the leftover is %s after restart-run exited; log:\n%s", o[0], r.logText())
				}
			}
			if st := r.wait(); st != 0 {
				t.Errorf("status %d, want 0; log:\n%s", st, r.logText())
			}
			orphans := 0
			for _, c := range r.named("cleanup") {
				orphans += int(c.num("orphans"))
			}
			if k := r.named("kill"); orphans != 1 || len(k) != 0 {
				t.Errorf("%d orphans signalled, %d kill events; want 1 orphan, ended by SIGTERM; log:\n%s", orphans, len(k), r.logText())
			}
		})
	}
}

// ignores reports whether pid ignores sig, from the SigIgn mask in /proc.
func ignores(pid int, sig unix.Signal) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return false
	}
	for _, line := range strings.Split(string(b), "\n") {
		if mask, ok := strings.CutPrefix(line, "SigIgn:"); ok {
			m, err := strconv.ParseUint(strings.TrimSpace(mask), 16, 64)
			return err == nil && m&(1<<(sig-1)) != 0
		}
	}
	return false
}
