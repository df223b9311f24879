//go:build !unitonly

package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// End-to-end tests of the OOM kill detection; the unit tests are in
// oom_unit_test.go.

// TestOOMKernelKill: the kernel's OOM killer ends the child, in a cgroup
// with a memory limit that the test makes for restart-run and removes
// afterwards. The exit line says class oom-kill and oom_kill, and the
// status is the child's, 137. Only where /sys/fs/cgroup is cgroup v2, we
// may create a cgroup there, and the memory controller is enabled for it;
// skipped with the reason elsewhere. It writes to no cgroup it did not
// create, and to no v1 hierarchy.
func TestOOMKernelKill(t *testing.T) {
	dir := memoryCgroup(t, 128<<20)
	procs := filepath.Join(dir, "cgroup.procs")
	// The shell moves itself into the cgroup and becomes restart-run, so
	// that restart-run runs in it from its first instruction, as in a
	// container.
	args := append([]string{"-c", `echo $$ > "$1" && shift && exec "$@"`, "sh", procs,
		rrBin(t), "--log-level=debug", "--restart=no", "--"}, child("alloc", "1024")...)
	r := startCmd(t, exec.Command("sh", args...))
	r.next("start")
	if w := r.next("oom"); w.str("file") != filepath.Join(dir, "memory.events") || w.num("oom_kill") <= w.num("oom_kill_at_start") {
		t.Errorf("oom event %v; want the counter of %s, grown", w, filepath.Join(dir, "memory.events"))
	}
	exit := r.next("exit")
	if exit.str("class") != "oom-kill" || exit["oom_kill"] != true || exit.num("exit_code") != 137 ||
		exit.str("signal") != "SIGKILL" || exit.str("level") != "warn" {
		t.Errorf("exit %v; want class oom-kill, oom_kill true, exit_code 137, signal SIGKILL, at warn; log:\n%s", exit, r.logText())
	}
	if st := r.wait(); st != 137 {
		t.Errorf("restart-run exited %d, want the child's 137; log:\n%s", st, r.logText())
	}
}

// TestOOMOutsideKill: a SIGKILL sent to the child by someone else, with no
// OOM kill in restart-run's cgroup, stays class signal, and the exit line
// says nothing of the OOM killer. Where the counter is readable (the oom
// debug line before the exit names it), this guards the comparison;
// elsewhere, that nothing changes without one.
func TestOOMOutsideKill(t *testing.T) {
	t.Parallel()
	r := startRR(t, nil, append([]string{"--log-level=debug", "--restart=no", "--"}, child("wait")...)...)
	pid, _ := strconv.Atoi(r.line("ready")[0])
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatalf("kill -9 %d: %v", pid, err)
	}
	w := r.next("oom")
	exit := r.next("exit")
	if _, said := exit["oom_kill"]; said || exit.str("class") != "signal" || exit.num("exit_code") != 137 || exit.str("signal") != "SIGKILL" {
		t.Errorf("exit %v; want class signal, exit_code 137, signal SIGKILL, no oom_kill; log:\n%s", exit, r.logText())
	}
	if st := r.wait(); st != 137 {
		t.Errorf("restart-run exited %d, want 137", st)
	}
	if f := w.str("file"); f != "" {
		if w.num("oom_kill") != w.num("oom_kill_at_start") {
			t.Errorf("oom event %v: the counter grew; did the kernel kill something else in this cgroup?", w)
		}
		t.Logf("the counter was watched: %s", f)
	} else {
		t.Logf("no counter readable here (tried %v): only the path without one was run", w.strs("tried"))
	}
}

// memoryCgroup makes a cgroup v2 of the test's own, under /sys/fs/cgroup,
// with memory.max limit and no swap, and removes it when the test ends.
// It skips the test, saying why, where that cannot be done: not cgroup v2,
// not writable, or the memory controller not enabled for new cgroups
// there (the test enables it nowhere: that would write to a cgroup it did
// not create).
func memoryCgroup(t *testing.T, limit int) string {
	t.Helper()
	const root = "/sys/fs/cgroup"
	var st unix.Statfs_t
	if err := unix.Statfs(root, &st); err != nil {
		t.Skipf("no cgroup v2 to make a memory-limited cgroup in: statfs %s: %v", root, err)
	}
	if st.Type != unix.CGROUP2_SUPER_MAGIC {
		t.Skipf("%s is not a cgroup v2 mount (filesystem magic %#x: cgroup v1 or hybrid, whose hierarchies the test leaves alone)", root, st.Type)
	}
	sub, err := os.ReadFile(filepath.Join(root, "cgroup.subtree_control"))
	if err != nil {
		t.Skipf("cannot read %s/cgroup.subtree_control: %v", root, err)
	}
	if !slices.Contains(strings.Fields(string(sub)), "memory") {
		t.Skipf("the memory controller is not enabled for new cgroups in %s (cgroup.subtree_control: %q)", root, strings.TrimSpace(string(sub)))
	}
	dir, err := os.MkdirTemp(root, fmt.Sprintf("restart-run-test-%d-", os.Getpid()))
	if err != nil {
		t.Skipf("cannot make a cgroup in %s: %v", root, err)
	}
	t.Cleanup(func() { removeCgroup(t, dir) })
	set := func(file, value string) error {
		return os.WriteFile(filepath.Join(dir, file), []byte(value), 0)
	}
	if err := set("memory.max", strconv.Itoa(limit)); err != nil {
		t.Skipf("cannot set memory.max in the test's cgroup %s: %v", dir, err)
	}
	if err := set("memory.swap.max", "0"); err != nil {
		if !errors.Is(err, fs.ErrNotExist) {
			t.Skipf("cannot set memory.swap.max in the test's cgroup %s: %v", dir, err)
		}
		if swaps, _ := os.ReadFile("/proc/swaps"); strings.Count(string(swaps), "\n") > 1 {
			t.Skipf("swap is on and %s has no memory.swap.max: the child would swap, not be killed", dir)
		}
	}
	// Can a process of ours move in? A shell that moves and exits.
	if out, err := exec.Command("sh", "-c", `echo $$ > "$1"`, "sh", filepath.Join(dir, "cgroup.procs")).CombinedOutput(); err != nil {
		t.Skipf("cannot move a process into the test's cgroup %s: %v: %s", dir, err, bytes.TrimSpace(out))
	}
	return dir
}

// removeCgroup removes the test's cgroup once it is empty. Its processes
// are the test's own, ended by then (restart-run has exited, or the
// test's cleanup killed it, and with it the child); should any be left
// after deadline, cgroup.kill ends them.
func removeCgroup(t *testing.T, dir string) {
	err := unix.Rmdir(dir)
	if err == nil || errors.Is(err, unix.ENOENT) {
		return
	}
	if errors.Is(err, unix.EBUSY) && !cgroupEmptied(dir, deadline) {
		_ = os.WriteFile(filepath.Join(dir, "cgroup.kill"), []byte("1"), 0)
		cgroupEmptied(dir, deadline)
	}
	if err := unix.Rmdir(dir); err != nil {
		t.Errorf("the test's cgroup %s is left behind: %v", dir, err)
	}
}

// cgroupEmptied waits up to d for cgroup.events to say "populated 0": the
// kernel wakes a poll for POLLPRI on the file when a value in it changes.
func cgroupEmptied(dir string, d time.Duration) bool {
	f, err := os.Open(filepath.Join(dir, "cgroup.events"))
	if err != nil {
		return false
	}
	defer f.Close()
	until := time.Now().Add(d)
	for {
		// Reading the file is what a later change is measured from.
		b := make([]byte, 256)
		n, err := f.ReadAt(b, 0)
		if err != nil && !errors.Is(err, io.EOF) {
			return false
		}
		if slices.Contains(strings.Split(string(b[:n]), "\n"), "populated 0") {
			return true
		}
		left := time.Until(until)
		if left <= 0 {
			return false
		}
		fds := []unix.PollFd{{Fd: int32(f.Fd()), Events: unix.POLLPRI}}
		if _, err := unix.Poll(fds, int(left/time.Millisecond)+1); err != nil && !errors.Is(err, unix.EINTR) {
			return false
		}
	}
}
