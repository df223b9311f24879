package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"golang.org/x/sys/unix"
)

// TestSize: --memory-max's values, as systemd's MemoryMax= writes them
// (base 1024, upper-case suffixes), and what is refused, each with a
// message that names the value and what is allowed.
func TestSize(t *testing.T) {
	for in, want := range map[string]int64{
		"1": 1, "100": 100, "512B": 512, "1K": 1024, "64M": 64 << 20, "2G": 2 << 30, "3T": 3 << 40, "1P": 1 << 50, "7E": 7 << 60,
		"1.5G": 3 << 29, "0.5K": 512, "1.5": 1, "1.0009765625K": 1025, "10.75M": 10*(1<<20) + 3<<18,
		"9223372036854775807": math.MaxInt64, "9223372036854775807B": math.MaxInt64,
		"007M": 7 << 20, "7.5E": 7<<60 + 1<<59,
		"0.001K": 1, // 1.024 bytes, rounded down as systemd does
		// (2^53-1) K and 1023 bytes of the fraction: the most there is.
		"9007199254740991.9999K": math.MaxInt64,
	} {
		var z Size
		if err := z.UnmarshalText([]byte(in)); err != nil || int64(z) != want {
			t.Errorf("Size(%q) = %d, %v; want %d", in, z, err, want)
		}
	}
	for _, in := range []string{"", "M", "x", "64m", "64k", "1g", "64MB", "64MiB", "64Mi", "1KB", "64 M", " 64M", "64M ",
		"+64M", "1e6", "0x40", ".5M", "5.M", "1.2.3M", "1G512M", "1G 512M", "64X", "1_000", "infinity", "50%"} {
		z := Size(7)
		err := z.UnmarshalText([]byte(in))
		if err == nil || !strings.Contains(err.Error(), strconv.Quote(in)+" is not a size: a number of bytes, or a number with K, M, G, T, P or E after it (base 1024, upper case") || z != 7 {
			t.Errorf("Size(%q) = %d, %v; want an error naming the value and the units, and the value left alone", in, z, err)
		}
	}
	for _, in := range []string{"-1", "-64M", "-0", "-1.5G"} {
		z := Size(7)
		if err := z.UnmarshalText([]byte(in)); err == nil || err.Error() != strconv.Quote(in)+" is negative; give a size more than 0" || z != 7 {
			t.Errorf("Size(%q) = %d, %v; want negative, and the value left alone", in, z, err)
		}
	}
	for _, in := range []string{"0", "0M", "0.0G", "000", "0.0001K", "0B"} {
		z := Size(7)
		if err := z.UnmarshalText([]byte(in)); err == nil || !strings.Contains(err.Error(), strconv.Quote(in)+" is not more than 0 bytes") || z != 7 {
			t.Errorf("Size(%q) = %d, %v; want not more than 0, and the value left alone", in, z, err)
		}
	}
	for _, in := range []string{"9223372036854775808", "8E", "8192P", "99999999999999999999", "99999999999999999999K",
		"8388608T", "7.9999999999999999999E", "18446744073709551616", "16E", "9007199254740992K"} {
		z := Size(7)
		err := z.UnmarshalText([]byte(in))
		if err == nil || err.Error() != strconv.Quote(in)+" is too large (at most 9223372036854775807 bytes, just under 8E)" || z != 7 {
			t.Errorf("Size(%q) = %d, %v; want too large, and the value left alone", in, z, err)
		}
	}
	for z, want := range map[Size]string{0: "0", 1: "1", 1000: "1000", 1024: "1K", 1536: "1536", 1536 << 10: "1536K",
		64 << 20: "64M", 3 << 30: "3G", 1 << 40: "1T", 1 << 50: "1P", 7 << 60: "7E", math.MaxInt64: "9223372036854775807"} {
		if got := z.String(); got != want {
			t.Errorf("Size(%d).String() = %q, want %q", int64(z), got, want)
		}
	}
}

// fakeProc is a made-up /proc for the memory ceiling: restart-run is "1",
// processes are named as /proc would name them, and pid maps a name to the
// number restart-run's namespace gives it (offset, as under a PID
// namespace whose /proc is an outer one's).
type fakeProc struct {
	kids   map[string][]string
	rss    map[string]int64 // a process missing here has gone
	comms  map[string]string
	offset int
	reads  int // resident calls, for counting what a sample reads
}

func (f *fakeProc) self() string                  { return "1" }
func (f *fakeProc) children(name string) []string { return f.kids[name] }
func (f *fakeProc) comm(name string) string       { return f.comms[name] }
func (f *fakeProc) pid(name string) int {
	n, _ := strconv.Atoi(name)
	return n - f.offset
}
func (f *fakeProc) resident(name string) (int64, bool) {
	f.reads++
	b, ok := f.rss[name]
	return b, ok
}

const mib = 1 << 20

// fakeTree is restart-run (1) with its child (1100), a shell whose
// grandchild (1101, in a session of its own) started 1102; an orphan
// (1200) reparented to restart-run with a child of its own (1201); and
// restart-run's helpers, the guard (1050), the terminal's sentinel (1051)
// and a health check command (1052) with a child (1053), which are not the
// child's and hold more than all of it. Under offset, restart-run's
// namespace numbers each process offset lower.
func fakeTree(offset int) *fakeProc {
	return &fakeProc{
		offset: offset,
		kids: map[string][]string{
			"1":    {"1050", "1100", "1051", "1200", "1052"},
			"1100": {"1101"},
			"1101": {"1102"},
			"1200": {"1201"},
			"1052": {"1053"},
		},
		rss: map[string]int64{
			"1100": 2 * mib, "1101": 30 * mib, "1102": 8 * mib, "1200": 16 * mib, "1201": 8 * mib,
			"1050": 100 * mib, "1051": 100 * mib, "1052": 100 * mib, "1053": 100 * mib,
		},
		comms: map[string]string{"1100": "sh", "1101": "python3", "1102": "cat", "1200": "worker", "1201": "worker"},
	}
}

// helpersOf says which pids are the fake tree's helpers, as restart-run's
// namespace numbers them.
func helpersOf(offset int) func(int) bool {
	return func(pid int) bool { return pid == 1050-offset || pid == 1051-offset || pid == 1052-offset }
}

func newTestCeiling(t *testing.T, limit int64, fs procFS) (*memoryCeiling, *bytes.Buffer) {
	var log bytes.Buffer
	m := newMemoryCeiling(&config{memoryMax: limit, memoryCheck: 2 * hour, killSignal: unix.SIGINT}, zerolog.New(&log))
	if m == nil {
		t.Fatal("no memory ceiling with --memory-max set")
	}
	m.open = func() procFS { return fs }
	t.Cleanup(m.sample.stop)
	return m, &log
}

// TestMeasureTree: a sample adds up the child, its descendants in any
// group or session, and the orphans with theirs; restart-run's helpers
// and what they run are left out, told by restart-run's own numbering;
// a process that has gone counts for nothing, its children still count.
func TestMeasureTree(t *testing.T) {
	for _, offset := range []int{0, 1000} {
		fs := fakeTree(offset)
		u := measureTree(fs, helpersOf(offset))
		if want := int64(64 * mib); u.rss != want || u.procs != 5 || u.top != "1101" || u.topRSS != 30*mib {
			t.Errorf("offset %d: %d bytes in %d processes, biggest %q with %d; want %d in 5, 1101 with %d",
				offset, u.rss, u.procs, u.top, u.topRSS, want, 30*mib)
		}
	}
	fs := fakeTree(0)
	delete(fs.rss, "1101") // gone between the listing and its statm
	fs.kids["1102"] = []string{"1100"}
	fs.kids["1201"] = []string{"1102"} // met twice as the tree changes
	fs.rss["1201"] = 16 * mib          // as big as 1200, met after it: the first met is named
	u := measureTree(fs, helpersOf(0))
	if u.rss != 42*mib || u.procs != 4 || u.top != "1200" || fs.reads != 5 {
		t.Errorf("a gone process and repeats: %d bytes in %d processes (%d reads), biggest %q; want %d in 4 (5 reads), 1200",
			u.rss, u.procs, fs.reads, u.top, 42*mib)
	}
	if u := measureTree(&fakeProc{kids: map[string][]string{}}, helpersOf(0)); u != (treeUsage{}) {
		t.Errorf("no children: %+v", u)
	}
}

// TestMemoryCeiling drives the component as the loop does: a run starts,
// the alarm rings, the sample is under, at and above the ceiling.
func TestMemoryCeiling(t *testing.T) {
	fs := fakeTree(0)
	m, log := newTestCeiling(t, 64*mib, fs)
	disarmed(t, "sample before the first run", &m.sample)
	m.runStarted(1100)
	dueIn(t, "first sample", &m.sample, 2*hour)

	// At the ceiling is not above it.
	if o := m.due(helpersOf(0)); o != nil {
		t.Errorf("64 MiB against a ceiling of 64 MiB: %+v, want no stop", o)
	}
	dueIn(t, "next sample after one under the ceiling", &m.sample, 2*hour)
	if log.Len() != 0 {
		t.Errorf("a sample under the ceiling logged: %s", log)
	}

	// One byte more.
	fs.rss["1102"]++
	o := m.due(helpersOf(0))
	if o == nil || *o != (stopOrder{OOMKill, unix.SIGINT}) {
		t.Fatalf("64 MiB + 1 byte: %+v, want a stop by --kill-signal, class oom-kill", o)
	}
	disarmed(t, "sample after the ceiling was passed", &m.sample)
	var e map[string]any
	if err := json.Unmarshal(log.Bytes(), &e); err != nil {
		t.Fatalf("log %q: %v", log, err)
	}
	for k, want := range map[string]any{"level": "warn", "event": "memory-max", "pid": 1100.0, "rss_bytes": float64(64*mib + 1),
		"limit_bytes": float64(64 * mib), "processes": 5.0, "biggest_pid": 1101.0, "biggest_name": "python3",
		"biggest_rss_bytes": float64(30 * mib)} {
		if e[k] != want {
			t.Errorf("memory-max event: %s = %v, want %v; %s", k, e[k], want, log)
		}
	}

	// The next run is watched afresh; its end disarms the alarm.
	m.runStarted(1300)
	dueIn(t, "first sample of the next run", &m.sample, 2*hour)
	m.runEnded()
	disarmed(t, "sample after the run ended", &m.sample)
}

// TestMemoryCeilingOff: without --memory-max there is no component, and
// what the loop calls on it does nothing: no alarm, no channel to wake the
// loop, nothing added to the start line.
func TestMemoryCeilingOff(t *testing.T) {
	m := newMemoryCeiling(&config{memoryCheck: 5 * time.Second}, zerolog.Nop())
	if m != nil {
		t.Fatalf("a memory ceiling without --memory-max: %+v", m)
	}
	m.runStarted(1100)
	if m.C() != nil {
		t.Error("a channel to select on without --memory-max")
	}
	m.runEnded()
	var log bytes.Buffer
	logger := zerolog.New(&log)
	m.describe(logger.Info()).Msg("")
	if strings.Contains(log.String(), "memory") {
		t.Errorf("the start line without --memory-max says %s", log.String())
	}
	// With it, the start line says what is watched and how.
	log.Reset()
	m, _ = newTestCeiling(t, 512*mib, fakeTree(0))
	m.describe(logger.Info()).Msg("")
	if want := `"memory_max_bytes":536870912,"memory_check_ms":7200000,"memory_from":"/proc"`; !strings.Contains(log.String(), want) {
		t.Errorf("the start line says %s, want %s", log.String(), want)
	}
}

// TestLiveProc: the sample of the real /proc, from this test process: a
// shell and its child (in a session of its own) count, each with its
// statm's resident pages, and the test's other children are left out as
// helpers; the scan of every process's stat, the fallback where the
// kernel has no children files, finds the same tree.
func TestLiveProc(t *testing.T) {
	if !ownProc() {
		t.Skip("/proc is not this process's PID namespace's")
	}
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	// The grandchild says its pid once it runs in its own session, as
	// a shell: its name is then "sh" until it becomes "sleep", never
	// "setsid".
	sh := exec.Command("sh", "-c", "setsid sh -c 'echo $$; exec sleep 1000' & wait")
	sh.Stdout = w
	if err := sh.Start(); err != nil {
		t.Fatal(err)
	}
	w.Close()
	defer func() { _ = sh.Process.Kill(); _ = sh.Wait() }()
	var grandchild int
	if _, err := fmt.Fscan(r, &grandchild); err != nil {
		t.Fatal(err)
	}
	defer syscall.Kill(grandchild, syscall.SIGKILL)
	others := func(pid int) bool { return pid != sh.Process.Pid }
	statm := func(pid int) int64 {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/statm", pid))
		if err != nil {
			t.Fatal(err)
		}
		n, _ := strconv.ParseInt(strings.Fields(string(b))[1], 10, 64)
		return n * int64(os.Getpagesize())
	}
	// A file longer than the buffer (a children file of some 600
	// children) is read whole; one that is gone is not.
	long := bytes.Repeat([]byte("12345 "), 2000)
	path := t.TempDir() + "/children"
	if err := os.WriteFile(path, long, 0o644); err != nil {
		t.Fatal(err)
	}
	l := &liveProc{}
	if b, ok := l.read(path); !ok || !bytes.Equal(b, long) {
		t.Errorf("read of %d bytes: %d bytes, %v", len(long), len(b), ok)
	}
	if b, ok := l.read(path + "-gone"); ok || len(b) != 0 {
		t.Errorf("read of a file that is not there: %q, %v", b, ok)
	}
	for _, fallback := range []bool{false, true} {
		var l *liveProc
		var u treeUsage
		// setsid forks once more where it would lead a process group;
		// wait until the tree has settled into sh and one grandchild.
		waitUntil(t, "sh and its grandchild measured", func() bool {
			l = &liveProc{} // a fresh sample
			if fallback {
				l.scan()
			}
			u = measureTree(l, others)
			return u.procs == 2
		})
		want := statm(sh.Process.Pid) + statm(grandchild)
		if u.rss < want/2 || u.rss > want*2 {
			t.Errorf("fallback %v: %d bytes, want about %d", fallback, u.rss, want)
		}
		if name := l.comm(u.top); name != "sh" && name != "sleep" {
			t.Errorf("fallback %v: biggest is %q (%s)", fallback, name, u.top)
		}
		if p := l.pid(u.top); p != sh.Process.Pid && p != grandchild {
			t.Errorf("fallback %v: biggest is pid %d, neither sh %d nor its grandchild %d", fallback, p, sh.Process.Pid, grandchild)
		}
	}
}
