//go:build !unitonly

package main

import (
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
)

// End-to-end tests of --memory-max: the built binary, real children that
// allocate memory, and restart-run's log.

// allocScript says its pid (as its PID namespace numbers it), then grows
// by argv[1] MiB, argv[2] times, writing every byte so that each step is
// resident, saying so on stdout after each; then it
// holds the memory until it is stopped, or until the directory argv[3]
// is gone: the test's own, removed when the test ends, so that one that
// failed leaves no python3 behind (one in a session of its own would
// outlive restart-run).
const allocScript = `
import os, sys, time
step, steps, home = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
print("python", os.getpid(), flush=True)
held = []
for i in range(steps):
    held.append(b"x" * (step << 20))
    print("allocated", (i + 1) * step, flush=True)
    time.sleep(0.05)
print("peak", flush=True)
while os.path.isdir(home):
    time.sleep(0.1)
`

// memoryFlags: a ceiling of 64 MiB sampled every 100ms; the children
// below grow to 128 MiB in steps of 16.
var memoryFlags = []string{"--memory-max=64M", "--memory-check-interval=100ms"}

const limit64M = 64 << 20

// checkOverLimit checks a memory-max event: above 64 MiB, from at least
// procs processes, the biggest a python3 (its command name may carry the
// version, python3.12), and returns the biggest's pid.
func checkOverLimit(t *testing.T, r *rr, e event, procs int) int {
	t.Helper()
	if e.str("level") != "warn" || e.num("limit_bytes") != limit64M || e.num("rss_bytes") <= limit64M ||
		e.num("processes") < float64(procs) || !strings.HasPrefix(e.str("biggest_name"), "python") ||
		e.num("biggest_rss_bytes") <= 0 || e.num("biggest_rss_bytes") > e.num("rss_bytes") || e.num("biggest_pid") <= 0 {
		t.Errorf("memory-max event %v: want warn, over 64 MiB of at least %d processes, the biggest a python; log:\n%s", e, procs, r.logText())
	}
	return int(e.num("biggest_pid"))
}

// checkOOMExit checks that the run of pid ended by restart-run's stop:
// SIGTERM, class oom-kill.
func checkOOMExit(t *testing.T, r *rr, e event, pid int) {
	t.Helper()
	if e.num("pid") != float64(pid) || e.str("class") != "oom-kill" || e.str("signal") != "SIGTERM" || e.num("exit_code") != 143 || e.str("level") != "warn" {
		t.Errorf("exit event %v: want the child %d by SIGTERM (143), class oom-kill, at warn; log:\n%s", e, pid, r.logText())
	}
}

// TestMemoryMaxRestarts: a child that grows past --memory-max is stopped
// (class oom-kill), restarted under on-failure, stopped again, and the
// limiter ends it with the child's status. Each start line names the
// ceiling and how it is read.
func TestMemoryMaxRestarts(t *testing.T) {
	needPython(t)
	args := append(append([]string{"--restart=on-failure", "--burst=2", "--interval=1h"}, memoryFlags...),
		"--", "python3", "-c", allocScript, "16", "8", t.TempDir())
	r := startRR(t, nil, args...)
	for run := 1; run <= 2; run++ {
		start := r.next("start")
		if start.num("attempt") != float64(run) || start.num("memory_max_bytes") != limit64M ||
			start.num("memory_check_ms") != 100 || start.str("memory_from") != "/proc" {
			t.Errorf("start %v: want attempt %d with the ceiling, 100ms, from /proc", start, run)
		}
		pid := int(start.num("pid"))
		over := r.next("memory-max")
		if checkOverLimit(t, r, over, 1) != pid || over.num("pid") != float64(pid) {
			t.Errorf("memory-max event %v: want the child %d, itself the biggest", over, pid)
		}
		checkOOMExit(t, r, r.next("exit"), pid)
		if run == 1 {
			if e := r.next("restart"); e.num("attempt") != 2 {
				t.Errorf("restart %v: want attempt 2", e)
			}
		}
	}
	if e := r.next("limit"); e.num("exit_code") != 143 {
		t.Errorf("limit %v: want exit code 143", e)
	}
	if st := r.wait(); st != 143 {
		t.Errorf("status %d, want 143 (the child's SIGTERM); log:\n%s", st, r.logText())
	}
	if n := len(r.named("memory-max")); n != 2 {
		t.Errorf("%d memory-max events, want 2; log:\n%s", n, r.logText())
	}
}

// TestMemoryMaxOnAbort: under on-abort, which does not restart oom-kill
// (systemd's table), restart-run exits with the child's status after the
// one run.
func TestMemoryMaxOnAbort(t *testing.T) {
	needPython(t)
	args := append(append([]string{"--restart=on-abort"}, memoryFlags...), "--", "python3", "-c", allocScript, "16", "8", t.TempDir())
	r := startRR(t, nil, args...)
	pid := int(r.next("start").num("pid"))
	checkOverLimit(t, r, r.next("memory-max"), 1)
	checkOOMExit(t, r, r.next("exit"), pid)
	if e := r.next("done"); e.num("exit_code") != 143 {
		t.Errorf("done %v: want exit code 143", e)
	}
	if st := r.wait(); st != 143 {
		t.Errorf("status %d, want 143; log:\n%s", st, r.logText())
	}
	if n, m := len(r.named("start")), len(r.named("restart")); n != 1 || m != 0 {
		t.Errorf("%d starts, %d restarts under on-abort; want 1, 0; log:\n%s", n, m, r.logText())
	}
}

// TestMemoryMaxTree: what the child starts counts, wherever it went: a
// grandchild in the child's process group, one in a session of its own
// (setsid) that the child waits for, and an orphan that left the group
// and whose parent has exited, reparented to restart-run. The shell that
// is the child holds a few MiB; the python3 below it is the biggest, and
// the child is stopped for it. What is left of the tree is stopped after
// the child (a process outliving restart-run with its stdout fails the
// test in r.wait).
func TestMemoryMaxTree(t *testing.T) {
	needPython(t)
	for _, tc := range []struct{ name, script string }{
		{"grandchild", `python3 -c "$1" 16 8 "$2"; exit 3`},
		{"own session", `setsid python3 -c "$1" 16 8 "$2"; exit 3`},
		{"orphan", `(setsid python3 -c "$1" 16 8 "$2" &); exec sleep 1000`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := append(append([]string{"--restart=no"}, memoryFlags...), "--", "sh", "-c", tc.script, "sh", allocScript, t.TempDir())
			r := startRR(t, nil, args...)
			pid := int(r.next("start").num("pid"))
			python, _ := strconv.Atoi(r.line("python")[0])
			if biggest := checkOverLimit(t, r, r.next("memory-max"), 2); biggest != python || biggest == pid {
				t.Errorf("the biggest process is %d; want the python3 %d below the child %d", biggest, python, pid)
			}
			checkOOMExit(t, r, r.next("exit"), pid)
			if st := r.wait(); st != 143 {
				t.Errorf("status %d, want 143; log:\n%s", st, r.logText())
			}
		})
	}
}

// TestMemoryMaxForeignProc: where /proc is an outer PID namespace's
// (unshare --pid without --mount-proc), restart-run, PID 1 of its own
// namespace, still reads the child's tree, through /proc/self, and names
// the biggest process by the number its own namespace gives it.
func TestMemoryMaxForeignProc(t *testing.T) {
	needPython(t)
	if os.Geteuid() != 0 {
		t.Skip("unshare --pid needs root; CI runs this as root")
	}
	if _, err := exec.LookPath("unshare"); err != nil {
		t.Skip("unshare (util-linux) is not installed")
	}
	// Should the test fail, killing unshare ends the namespace.
	args := append(append([]string{"--pid", "--fork", "--kill-child", rrBin(t), "--restart=no"}, memoryFlags...),
		"--", "sh", "-c", `python3 -c "$1" 16 8 "$2"; exit 3`, "sh", allocScript, t.TempDir())
	cmd := exec.Command("unshare", args...)
	r := startCmd(t, cmd)
	start := r.next("start")
	python, _ := strconv.Atoi(r.line("python")[0])
	if biggest := checkOverLimit(t, r, r.next("memory-max"), 2); biggest != python {
		t.Errorf("the biggest process is %d; want the python3, %d in restart-run's namespace", biggest, python)
	}
	checkOOMExit(t, r, r.next("exit"), int(start.num("pid")))
	if st := r.wait(); st != 143 {
		t.Errorf("status %d, want 143; log:\n%s", st, r.logText())
	}
}
