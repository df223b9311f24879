//go:build !unitonly

package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

func BenchmarkDecide(b *testing.B) {
	l := Lists{Prevent: mustListB(b, "7 SIGUSR2"), Force: mustListB(b, "9")}
	r := Result{Class: Signal, Code: -1, Sig: 9}
	for b.Loop() {
		decide(OnAbnormal, r, l, false, 3, 10)
	}
}

func mustListB(b *testing.B, s string) StatusList {
	var l StatusList
	if err := l.UnmarshalText([]byte(s)); err != nil {
		b.Fatal(err)
	}
	return l
}

func BenchmarkLimiter(b *testing.B) {
	l := Limiter{Burst: 5, Interval: 10 * time.Second}
	now := time.Now()
	for b.Loop() {
		now = now.Add(3 * time.Second) // a new window every few starts
		l.Allow(now)
	}
}

func BenchmarkParseNotify(b *testing.B) {
	msg := []byte("READY=1\nSTATUS=serving 1200 requests per second\nWATCHDOG=1\nMAINPID=4242\nX_CUSTOM=1\n")
	b.SetBytes(int64(len(msg)))
	for b.Loop() {
		if _, err := parseNotify(msg); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkParseFlags is restart-run's flag parsing (kong building its model
// of the CLI and parsing a short command line): the largest part of a
// one-shot run that is restart-run's own rather than the Go runtime's.
func BenchmarkParseFlags(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := parse([]string{"--restart=no", "--", "true"}, io.Discard); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkRestartCycle is one whole restart of a child that exits at once:
// the built binary runs /bin/true b.N+1 times with no pause and no limit.
func BenchmarkRestartCycle(b *testing.B) {
	cmd := exec.Command(rrBin(b), "--restart=always", "--restart-sec=0", "--burst=0", "--log-level=error",
		"--max-restarts="+strconv.Itoa(b.N), "--", "true")
	b.ResetTimer()
	if out, err := cmd.CombinedOutput(); err != nil {
		b.Fatalf("%v: %s", err, out)
	}
}

// BenchmarkOneShot is restart-run's whole life around a child that exits
// at once: start-up, one start, the exit, the clean-up, the end
// (restart-run --restart=no -- true), as a shell script would run it.
func BenchmarkOneShot(b *testing.B) {
	bin := rrBin(b)
	for b.Loop() {
		if out, err := exec.Command(bin, "--restart=no", "--log-level=error", "--", "true").CombinedOutput(); err != nil {
			b.Fatalf("%v: %s", err, out)
		}
	}
}

// BenchmarkRestartCycleLogged is BenchmarkRestartCycle with its three info
// lines a cycle (start, exit, restart) written to a pipe that is read as
// fast as it comes: the cost of logging on the restart path.
func BenchmarkRestartCycleLogged(b *testing.B) {
	cmd := exec.Command(rrBin(b), "--restart=always", "--restart-sec=0", "--burst=0", "--log-level=info",
		"--max-restarts="+strconv.Itoa(b.N), "--", "true")
	b.ResetTimer()
	if out, err := cmd.CombinedOutput(); err != nil {
		b.Fatalf("%v: %s", err, out)
	}
}

// procStats is what the soak test watches in restart-run.
type procStats struct {
	rssKiB, anonKiB, fds, threads int
	fdList                        []string
}

func statsOf(t *testing.T, pid int) procStats {
	t.Helper()
	var st procStats
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		switch f[0] {
		case "VmRSS:":
			st.rssKiB, _ = strconv.Atoi(f[1])
		case "RssAnon:":
			st.anonKiB, _ = strconv.Atoi(f[1])
		case "Threads:":
			st.threads, _ = strconv.Atoi(f[1])
		}
	}
	// restart-run keeps running while we look, and each start holds a
	// close-on-exec pipe for a moment (Go's fork reports a failed exec
	// through it; the soak's children need no other pipe): those are not
	// counted. Every other descriptor is.
	ents, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		target, err1 := os.Readlink(fmt.Sprintf("/proc/%d/fd/%s", pid, e.Name()))
		info, err2 := os.ReadFile(fmt.Sprintf("/proc/%d/fdinfo/%s", pid, e.Name()))
		if err1 != nil || err2 != nil || strings.HasPrefix(target, "pipe:") && cloexec(string(info)) {
			continue // closed since the listing, or the fork's pipe
		}
		st.fds++
		st.fdList = append(st.fdList, e.Name()+"->"+target)
	}
	return st
}

// cloexec reads the close-on-exec bit from a /proc/PID/fdinfo text.
func cloexec(fdinfo string) bool {
	for _, line := range strings.Split(fdinfo, "\n") {
		if v, ok := strings.CutPrefix(line, "flags:"); ok {
			flags, err := strconv.ParseUint(strings.TrimSpace(v), 8, 64)
			return err == nil && flags&0o2000000 != 0
		}
	}
	return false
}

// TestSoak: 20,000 restarts of a child that exits at once. restart-run's
// memory, descriptors, threads and goroutines must end within a small
// margin of where they stood after 100 restarts, with no zombie or stray
// process left. It takes a while, so it runs only with RR_SOAK=1 (.ci/run
// sets it).
func TestSoak(t *testing.T) {
	if os.Getenv("RR_SOAK") == "" {
		t.Skip("the soak test runs with RR_SOAK=1 (as .ci/run does)")
	}
	const total, early = 20000, 100
	// The binary as users get it (no race detector, whose own memory would
	// hide what restart-run does; static).
	bin := filepath.Join(t.TempDir(), "restart-run")
	build := exec.Command("go", "build", "-o", bin, ".")
	build.Env = append(os.Environ(), "CGO_ENABLED=0") // static, as restart-run ships
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v: %s", err, out)
	}
	cmd := exec.Command(bin, "--restart=always", "--restart-sec=0", "--burst=0", "--log-level=debug",
		"--max-restarts="+strconv.Itoa(total+1000), "--", "true")
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pid := cmd.Process.Pid
	var first, mid, last procStats
	var g0, g1 int
	restarts := 0
	sc := bufio.NewScanner(stderr)
	for sc.Scan() {
		if !strings.Contains(sc.Text(), `"event":"restart"`) {
			continue
		}
		var e event
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			t.Fatal(err)
		}
		restarts++
		// restart-run runs on (the pipe holds a few hundred lines) while we
		// look, so it is still running when the last look is taken.
		switch restarts {
		case early:
			first, g0 = statsOf(t, pid), int(e.num("goroutines"))
		case total / 2:
			mid = statsOf(t, pid)
		case total:
			last, g1 = statsOf(t, pid), int(e.num("goroutines"))
			// restart-run goes on restarting while we look (its log never
			// waits for us), so a child that has just exited may be a
			// zombie for a moment; a leaked one stays.
			if z := zombiePids(pid); len(z) != 0 {
				waitUntil(t, fmt.Sprintf("zombies %v after %d restarts reaped", z, total), func() bool {
					return !slices.ContainsFunc(zombiePids(pid), func(p int) bool { return slices.Contains(z, p) })
				})
			}
		}
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("restart-run: %v", err)
	}
	if restarts != total+1000 {
		t.Fatalf("%d restarts, want %d", restarts, total+1000)
	}
	if first.rssKiB == 0 || last.rssKiB == 0 {
		t.Fatalf("no reading of restart-run's memory: %+v, %+v", first, last)
	}
	t.Logf("after %d restarts: %+v, %d goroutines; after %d: %+v; after %d: %+v, %d goroutines",
		early, first, g0, total/2, mid, total, last, g1)
	// Margins: the Go runtime creates its poller (an epoll and an eventfd)
	// once, on the first timer it needs, which may come after the first
	// look, and the first collections come after it too. Memory is compared
	// by RssAnon (heap and stacks, where a leak would be): restart-run hands
	// back its binary's start-up pages after the first start, and the code
	// that runs later faults back in, so file-backed RSS grows by design
	// at first, and the heap grows to its collector goal. The second half of
	// the run must then be flat in all of RSS, within the swing of a heap
	// collected at GOGC=20 and of one more runtime thread: over 10,000
	// restarts a leak of 110 bytes a restart would pass the 1 MiB allowed.
	if last.fds > first.fds+2 || last.threads > first.threads+2 || g1 != g0 || last.anonKiB > first.anonKiB+2048 {
		t.Errorf("growth over %d restarts: %+v (%d goroutines) -> %+v (%d goroutines)", total-early, first, g0, last, g1)
	}
	if last.fds != mid.fds || last.threads > mid.threads+1 || last.rssKiB > mid.rssKiB+1024 {
		t.Errorf("growth over the last %d restarts: %+v -> %+v", total/2, mid, last)
	}
	if kids := childrenOf(pid); len(kids) != 0 {
		t.Errorf("restart-run left children %v", kids)
	}
}

// BenchmarkMemorySample is one sample of --memory-max on the real /proc:
// the tree below this test process, a shell and its child (sh -c 'sleep
// & wait'), which is what restart-run reads for such a child, plus its
// own threads' children files. README's CPU per hour of sampling is this
// times the samples in an hour.
func BenchmarkMemorySample(b *testing.B) {
	sh := exec.Command("sh", "-c", "sleep 1000 & wait")
	if err := sh.Start(); err != nil {
		b.Fatal(err)
	}
	defer func() {
		for _, k := range childrenOf(sh.Process.Pid) {
			_ = syscall.Kill(k.pid, syscall.SIGKILL)
		}
		_ = sh.Process.Kill()
		_ = sh.Wait()
	}()
	others := func(pid int) bool { return pid != sh.Process.Pid }
	for measureTree(&liveProc{}, others).procs != 2 {
		time.Sleep(time.Millisecond) // until sh has started sleep
	}
	b.ReportAllocs()
	for b.Loop() {
		measureTree(&liveProc{}, others)
	}
	threads, _ := os.ReadDir("/proc/self/task")
	b.ReportMetric(float64(len(threads)), "threads")
}
