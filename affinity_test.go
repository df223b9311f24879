package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

// cpusAllowed is a process's or thread's Cpus_allowed_list ("0-1"), from
// its status file under /proc (pid, or pid/task/tid), or "" when gone.
func cpusAllowed(pid int, task ...int) string {
	p := "/proc/" + strconv.Itoa(pid)
	for _, t := range task {
		p += "/task/" + strconv.Itoa(t)
	}
	b, err := os.ReadFile(p + "/status")
	if err != nil {
		return ""
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "Cpus_allowed_list:"); ok {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

// TestAffinityChildrenGetInheritedCPUs: whatever restart-run does with its
// own threads at the settle point, the child and a hook get exactly the
// CPUs restart-run was started with, on the first start and on a restart
// after the settle point; restart-run's own threads are on one of those
// CPUs from then on, or all of them when it was given one.
func TestAffinityChildrenGetInheritedCPUs(t *testing.T) {
	var own unix.CPUSet
	if err := unix.SchedGetaffinity(0, &own); err != nil {
		t.Fatal(err)
	}
	masks := []string{""} // the test's own mask
	first := firstCPU(&own)
	masks = append(masks, strconv.Itoa(first))
	if own.Count() >= 3 {
		var two unix.CPUSet
		for i := 0; two.Count() < 2; i++ {
			if own.IsSet(i) {
				two.Set(i)
			}
		}
		masks = append(masks, cpuList(&two))
	}
	for _, mask := range masks {
		name := "inherited-all"
		if mask != "" {
			name = "taskset-" + mask
		}
		t.Run(name, func(t *testing.T) {
			want := mask
			if want == "" {
				want = cpuList(&own)
			}
			args := []string{"--log-level=debug", "--restart=always", "--restart-sec=0",
				"--exec-start-pre", strings.Join(child("cpus"), " "), "--"}
			args = append(args, child("wait")...)
			var cmd *exec.Cmd
			if mask == "" {
				cmd = exec.Command(rrBin(t), args...)
			} else {
				taskset, err := exec.LookPath("taskset")
				if err != nil {
					t.Skip("no taskset")
				}
				cmd = exec.Command(taskset, append([]string{"-c", mask, rrBin(t)}, args...)...)
			}
			r := startCmd(t, cmd)
			check := func(what string, got string) {
				t.Helper()
				if got != want {
					t.Errorf("%s: Cpus_allowed_list %q, want %q (restart-run's inherited)", what, got, want)
				}
			}
			check("first hook", r.line("cpus")[0])
			pid, _ := strconv.Atoi(r.line("ready")[0])
			check("first child", cpusAllowed(pid))
			if got := cpusAllowed(r.cmd.Process.Pid); got != want {
				t.Fatalf("restart-run itself has %q, want %q", got, want)
			}
			r.next("memory") // the settle point
			tasks, _ := filepath.Glob("/proc/" + strconv.Itoa(r.cmd.Process.Pid) + "/task/*")
			pinned := map[string]bool{}
			for _, task := range tasks {
				tid, _ := strconv.Atoi(filepath.Base(task))
				if c := cpusAllowed(r.cmd.Process.Pid, tid); c != "" {
					pinned[c] = true
				}
			}
			wantPinned := want
			if strings.ContainsAny(want, ",-") {
				wantPinned = "" // one CPU of want, whichever
			}
			for c := range pinned {
				var in unix.CPUSet
				for _, part := range strings.Split(want, ",") {
					lo, hi, _ := strings.Cut(part, "-")
					a, _ := strconv.Atoi(lo)
					b := a
					if hi != "" {
						b, _ = strconv.Atoi(hi)
					}
					for i := a; i <= b; i++ {
						in.Set(i)
					}
				}
				n, err := strconv.Atoi(c)
				if len(pinned) != 1 || err != nil || !in.IsSet(n) || (wantPinned != "" && c != wantPinned) {
					t.Errorf("restart-run's threads after the settle point: %v, want all on one CPU of %s", pinned, want)
					break
				}
			}
			// A restart after the settle point: the child ends, and the
			// hook and the new child are forked from pinned threads.
			if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
				t.Fatal(err)
			}
			check("hook after the settle point", r.line("cpus")[0])
			pid, _ = strconv.Atoi(r.line("ready")[0])
			check("child after the settle point", cpusAllowed(pid))
			r.signal(syscall.SIGTERM)
			r.wait()
		})
	}
}
