package main

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/rs/zerolog"
	"golang.org/x/sys/unix"
)

// Unit tests of the OOM kill detection: reading the counter's text, finding
// the counter's file from /proc/self/cgroup and /proc/self/mountinfo, and
// the component and the supervisor's classification driven with a counter
// file of the test's own. The end-to-end tests are in oom_test.go.

func TestOOMParseKills(t *testing.T) {
	for _, tc := range []struct {
		name, text string
		want       uint64
		ok         bool
	}{
		{"v2 memory.events", "low 0\nhigh 0\nmax 12\noom 3\noom_kill 2\noom_group_kill 1\n", 2, true},
		{"v1 memory.oom_control", "oom_kill_disable 0\nunder_oom 0\noom_kill 5\n", 5, true},
		{"no final newline", "oom_kill_disable 0\nunder_oom 0\noom_kill 7", 7, true},
		{"largest count", "oom_kill 18446744073709551615\n", 1<<64 - 1, true},
		{"v1 before Linux 4.13: no oom_kill", "oom_kill_disable 1\nunder_oom 0\n", 0, false},
		{"keys that look like it only", "oom 4\noom_group_kill 3\noom_kill_disable 1\n", 0, false},
		{"empty", "", 0, false},
		{"no value", "oom_kill\n", 0, false},
		{"not a number", "oom_kill many\n", 0, false},
		{"negative", "oom_kill -1\n", 0, false},
		{"too large", "oom_kill 18446744073709551616\n", 0, false},
		{"extra field", "oom_kill 1 2\n", 0, false},
		{"binary garbage", "\x00\xff\x01oom_kill\x00 9", 0, false},
	} {
		n, ok := parseOOMKills(tc.text)
		if n != tc.want || ok != tc.ok {
			t.Errorf("%s: parseOOMKills(%q) = %d, %v; want %d, %v", tc.name, tc.text, n, ok, tc.want, tc.ok)
		}
	}
}

func TestOOMParseProcCgroup(t *testing.T) {
	for _, tc := range []struct {
		name, text string
		v2, v1     string
	}{
		{"v2", "0::/user.slice/user-1000.slice/session-3.scope\n", "/user.slice/user-1000.slice/session-3.scope", ""},
		{"v1", "12:pids:/\n4:memory:/batch/job-7\n3:cpu,cpuacct:/\n1:name=systemd:/init.scope\n", "", "/batch/job-7"},
		{"v1, memory with others", "7:cpuacct,memory,cpu:/docker/abc\n", "", "/docker/abc"},
		{"hybrid", "9:name=systemd:/\n4:memory:/batch/job-7\n1:cpu:/\n0::/\n", "/", "/batch/job-7"},
		{"container, cgroup namespace", "0::/\n", "/", ""},
		{"colon in the path", "0::/a:b\n", "/a:b", ""},
		{"memory named only as a part", "5:memoryless:/x\n6:name=memory2:/y\n", "", ""},
		{"v1 hierarchy 0 is not v2", "0:memory:/m\n", "", "/m"},
		{"garbage", "hello\n0:\n0::relative\n\n", "", ""},
	} {
		v2, v1 := parseProcCgroup(tc.text)
		if v2 != tc.v2 || v1 != tc.v1 {
			t.Errorf("%s: parseProcCgroup = %q, %q; want %q, %q", tc.name, v2, v1, tc.v2, tc.v1)
		}
	}
}

func TestOOMParseMountinfo(t *testing.T) {
	text := `22 1 259:1 / / rw,relatime shared:1 - ext4 /dev/root rw
29 23 0:26 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:4 - cgroup2 cgroup2 rw,nsdelegate,memory_recursiveprot
34 30 0:31 /docker/abc /sys/fs/cgroup/memory rw,relatime shared:9 master:20 - cgroup cgroup rw,memory
35 30 0:32 / /mnt/my\040cgroups rw - cgroup cgroup rw,cpu,cpuacct
36 30 0:33 / /short rw - cgroup2
37 30 0:34 / /no-separator rw shared:1 cgroup2 cgroup2 rw
38 30 0:35 / /no-super-options rw shared:1 shared:2 - cgroup2 cgroup2
bad line
`
	got := parseMountinfo(text)
	want := []cgroupMount{
		{root: "/", point: "/sys/fs/cgroup", fstype: "cgroup2", options: "rw,nsdelegate,memory_recursiveprot"},
		{root: "/docker/abc", point: "/sys/fs/cgroup/memory", fstype: "cgroup", options: "rw,memory"},
		{root: "/", point: "/mnt/my cgroups", fstype: "cgroup", options: "rw,cpu,cpuacct"},
	}
	if !slices.Equal(got, want) {
		t.Errorf("parseMountinfo =\n%+v\nwant\n%+v", got, want)
	}
	for in, out := range map[string]string{`a\040b`: "a b", `a\011b\012c\134d`: "a\tb\nc\\d", `a\04`: `a\04`, `a\9zz`: `a\9zz`, `plain`: "plain", `\040`: " "} {
		if got := unescapeMountinfo(in); got != out {
			t.Errorf("unescapeMountinfo(%q) = %q, want %q", in, got, out)
		}
	}
}

// Samples of /proc/self/mountinfo's cgroup lines.
const (
	mountsV2 = "22 1 259:1 / / rw - ext4 /dev/root rw\n" +
		"29 23 0:26 / /sys/fs/cgroup rw,nosuid shared:4 - cgroup2 cgroup2 rw,nsdelegate\n"
	mountsV1 = "30 22 0:27 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755\n" +
		"31 30 0:28 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu\n" +
		"34 30 0:31 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory\n" +
		"39 30 0:36 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd\n"
	mountsHybrid = mountsV1 + "40 30 0:37 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw\n"
	// A container without a cgroup namespace: each hierarchy is mounted
	// from the container's own cgroup.
	mountsDockerV1 = "700 690 0:31 /docker/abc /sys/fs/cgroup/memory ro,nosuid master:15 - cgroup cgroup rw,memory\n" +
		"701 690 0:28 /docker/abc /sys/fs/cgroup/cpu,cpuacct ro,nosuid master:11 - cgroup cgroup rw,cpu,cpuacct\n"
	// The same hierarchy seen twice: mounted from a cgroup that does not
	// hold ours, then from the root.
	mountsTwice = "50 22 0:26 /other /mnt/other rw - cgroup2 cgroup2 rw\n" +
		"51 22 0:26 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw\n"
)

func TestOOMCounterFiles(t *testing.T) {
	for _, tc := range []struct {
		name, cgroup, mounts string
		want                 []string
	}{
		{"v2", "0::/system.slice/app.service\n", mountsV2,
			[]string{"/sys/fs/cgroup/system.slice/app.service/memory.events"}},
		{"v1", "4:memory:/batch/job-7\n1:cpu:/\n", mountsV1,
			[]string{"/sys/fs/cgroup/memory/batch/job-7/memory.oom_control"}},
		{"hybrid: v2 first, then v1", "4:memory:/batch/job-7\n1:cpu:/\n0::/\n", mountsHybrid,
			[]string{"/sys/fs/cgroup/unified/memory.events", "/sys/fs/cgroup/memory/batch/job-7/memory.oom_control"}},
		{"container with a cgroup namespace", "0::/\n", mountsV2,
			[]string{"/sys/fs/cgroup/memory.events"}},
		{"container without one, v1", "4:memory:/docker/abc\n3:cpu,cpuacct:/docker/abc\n", mountsDockerV1,
			[]string{"/sys/fs/cgroup/memory/memory.oom_control"}},
		{"container without one, v1, below its cgroup", "4:memory:/docker/abc/inner\n", mountsDockerV1,
			[]string{"/sys/fs/cgroup/memory/inner/memory.oom_control"}},
		{"a cgroup outside the mount's root", "4:memory:/docker/other\n", mountsDockerV1, nil},
		{"a name that only starts like the mount's root", "4:memory:/docker/abcdef\n", mountsDockerV1, nil},
		{"outside the cgroup namespace", "0::/../sibling\n", mountsV2, nil},
		{"the first mount that shows the cgroup", "0::/app\n", mountsTwice,
			[]string{"/sys/fs/cgroup/app/memory.events"}},
		{"the mount under the root that holds it", "0::/other/app\n", mountsTwice,
			[]string{"/mnt/other/app/memory.events"}},
		{"v1 memory not mounted", "4:memory:/x\n", "31 30 0:28 / /sys/fs/cgroup/cpu rw - cgroup cgroup rw,cpu\n", nil},
		{"v2 not mounted", "0::/x\n", mountsV1, nil},
		{"no cgroup at all", "", mountsV2, nil},
	} {
		if got := oomCounterFiles(tc.cgroup, tc.mounts); !slices.Equal(got, tc.want) {
			t.Errorf("%s: oomCounterFiles = %q, want %q", tc.name, got, tc.want)
		}
	}
}

// counterFile is a stand-in for memory.events in a directory of the test's.
type counterFile struct {
	t    *testing.T
	path string
}

func newCounterFile(t *testing.T, n int) counterFile {
	c := counterFile{t, filepath.Join(t.TempDir(), "memory.events")}
	c.set(n)
	return c
}

func (c counterFile) set(n int) {
	c.write("low 0\nhigh 0\nmax 4\noom 9\noom_kill " + strconv.Itoa(n) + "\noom_group_kill 0\n")
}

func (c counterFile) write(text string) {
	c.t.Helper()
	if err := os.WriteFile(c.path, []byte(text), 0o644); err != nil {
		c.t.Fatal(err)
	}
}

func TestOOMWatch(t *testing.T) {
	c := newCounterFile(t, 3)
	dir := t.TempDir()
	garbage := filepath.Join(dir, "memory.oom_control")
	if err := os.WriteFile(garbage, []byte("oom_kill_disable 0\nunder_oom 0\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	w := watchOOM([]string{filepath.Join(dir, "missing"), garbage, c.path})
	if w.file != c.path {
		t.Fatalf("watchOOM picked %q, want the first readable counter %q", w.file, c.path)
	}

	w.runStarted()
	if w.killedByOOM() {
		t.Error("killedByOOM with the counter unchanged")
	}
	c.set(4)
	if !w.killedByOOM() {
		t.Error("not killedByOOM after the counter grew from 3 to 4")
	}

	// Each start takes the counter afresh: the last run's kill is not this one's.
	w.runStarted()
	if w.killedByOOM() {
		t.Error("killedByOOM in a new run with the counter unchanged since its start")
	}
	c.set(3) // a counter never shrinks; should it, it is no kill
	if w.killedByOOM() {
		t.Error("killedByOOM after the counter went down")
	}
	c.write("oom_kill broken\n")
	if w.killedByOOM() {
		t.Error("killedByOOM from a counter that no longer reads")
	}

	// A start that could not read the counter: no kill can be told, even
	// if the file reads again later.
	w.runStarted()
	c.set(7)
	if w.killedByOOM() {
		t.Error("killedByOOM in a run whose start could not read the counter")
	}

	// A file too long to be a counter's is not read at all: a line cut at
	// the end of the buffer would read as a smaller number.
	cut := "oom_kill 12"
	pad := strings.Repeat("x 0\n", 200)[:512-len(cut)-1] + "\n"
	c.write(pad + cut + "34\n")
	if n, ok := readOOMKills(w.fd); ok {
		t.Errorf("readOOMKills read %d from a file longer than its buffer", n)
	}
	c.write(strings.Repeat("x 0\n", 100) + "oom_kill 1\n") // within the buffer
	if n, ok := readOOMKills(w.fd); n != 1 || !ok {
		t.Errorf("readOOMKills = %d, %v from a file within its buffer, want 1", n, ok)
	}

	// The file stays open for restart-run's life, and no child gets it.
	fd := w.fd
	if flags, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0); err != nil || flags&unix.FD_CLOEXEC == 0 {
		t.Errorf("the counter's descriptor: flags %#x, %v; want close-on-exec", flags, err)
	}
	w.close()
	if _, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0); err == nil || w.file != "" || w.killedByOOM() {
		t.Errorf("after close: descriptor %d still open (%v), or watch %+v", fd, err, w)
	}

	// Nothing readable: the component does nothing, and keeps no
	// descriptor of the files it tried.
	before := openFiles(t)
	none := watchOOM([]string{filepath.Join(dir, "missing"), garbage})
	none.runStarted()
	if none.file != "" || none.killedByOOM() {
		t.Errorf("watch with no readable file: %+v, killedByOOM %v", none, none.killedByOOM())
	}
	none.close()
	if after := openFiles(t); after != before {
		t.Errorf("%d descriptors open after watching nothing, %d before", after, before)
	}
}

// openFiles is the number of descriptors the test process has open.
func openFiles(t *testing.T) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	return len(ents)
}

// TestOOMClassifyEnd drives the supervisor's classification of an end with
// a counter file of the test's own.
func TestOOMClassifyEnd(t *testing.T) {
	timeout := Timeout
	for _, tc := range []struct {
		name   string
		grow   bool
		forced *Class
		killed bool // restart-run sent SIGKILL itself
		code   int
		sig    unix.Signal
		want   Class
		oom    bool
		cfg    config
	}{
		{"SIGKILL, counter grew", true, nil, false, -1, unix.SIGKILL, OOMKill, true, config{}},
		{"SIGKILL, counter unchanged", false, nil, false, -1, unix.SIGKILL, Signal, false, config{}},
		{"restart-run's own kill wins", true, &timeout, false, -1, unix.SIGKILL, Timeout, false, config{}},
		{"restart-run's own SIGKILL, counter grew", true, nil, true, -1, unix.SIGKILL, Signal, false, config{}},
		{"another signal, counter grew", true, nil, false, -1, unix.SIGSEGV, Signal, false, config{}},
		{"SIGTERM, counter grew", true, nil, false, -1, unix.SIGTERM, Clean, false, config{}},
		{"exit code, counter grew", true, nil, false, 1, 0, ExitCode, false, config{}},
		{"SIGKILL in --success-exit-status, counter grew", true, nil, false, -1, unix.SIGKILL, OOMKill, true,
			config{lists: Lists{Success: mustList(t, "SIGKILL")}}},
		{"SIGKILL in --success-exit-status, counter unchanged", false, nil, false, -1, unix.SIGKILL, Clean, false,
			config{lists: Lists{Success: mustList(t, "SIGKILL")}}},
	} {
		c := newCounterFile(t, 0)
		s := &supervisor{cfg: &tc.cfg, oom: watchOOM([]string{c.path})}
		s.oom.runStarted()
		s.end.forced, s.end.sentKill = tc.forced, tc.killed
		if tc.grow {
			c.set(1)
		}
		r, oom := s.classifyEnd(tc.code, tc.sig)
		if r.Class != tc.want || oom != tc.oom {
			t.Errorf("%s: class %s, oom %v; want %s, %v", tc.name, r.Class, oom, tc.want, tc.oom)
		}
		if r.Code != tc.code || r.Sig != tc.sig {
			t.Errorf("%s: result %+v keeps not the child's status (%d, %s)", tc.name, r, tc.code, tc.sig)
		}
		s.oom.close()
	}
}

// TestOOMWatchLogs: finding the counter logs nothing; each time the
// supervisor asks about a SIGKILL, one debug line says what the counter
// said, or why there is no answer.
func TestOOMWatchLogs(t *testing.T) {
	var buf bytes.Buffer
	logged := func() []event {
		t.Helper()
		var es []event
		for l := range strings.Lines(buf.String()) {
			var e event
			if err := json.Unmarshal([]byte(l), &e); err != nil {
				t.Fatalf("%q: %v", l, err)
			}
			es = append(es, e)
		}
		buf.Reset()
		return es
	}
	log := zerolog.New(&buf).Level(zerolog.DebugLevel)

	w := newOOMWatch(log)
	if es := logged(); len(es) != 0 {
		t.Errorf("newOOMWatch logged %v; want nothing until a SIGKILL", es)
	}
	t.Logf("on this machine: file %q, tried %q", w.file, w.tried)
	w.close()

	c := newCounterFile(t, 3)
	w = watchOOM([]string{c.path})
	w.log = log
	w.runStarted()
	for _, grow := range []bool{false, true} {
		if grow {
			c.set(5)
		}
		w.killedByOOM()
		es := logged()
		if len(es) != 1 || es[0].str("event") != "oom" || es[0].str("level") != "debug" || es[0].str("file") != c.path ||
			es[0].num("oom_kill_at_start") != 3 || es[0].num("oom_kill") != float64(3+2*btoi(grow)) {
			t.Errorf("grown %v: logged %v; want one oom line at debug with the file, oom_kill_at_start 3 and oom_kill", grow, es)
		}
	}
	c.write("garbage\n")
	w.runStarted()
	w.killedByOOM()
	if es := logged(); len(es) != 1 || es[0].str("file") != c.path || es[0]["oom_kill"] != nil {
		t.Errorf("unreadable at the start: logged %v; want one line with the file and no count", es)
	}
	w.close()

	missing := filepath.Join(t.TempDir(), "memory.events")
	none := watchOOM([]string{missing})
	none.log = log
	none.runStarted()
	none.killedByOOM()
	if es := logged(); len(es) != 1 || es[0].str("event") != "oom" || es[0].str("level") != "debug" ||
		!slices.Equal(es[0].strs("tried"), []string{missing}) {
		t.Errorf("no counter: logged %v; want one oom line at debug with the files tried", es)
	}

	w = watchOOM([]string{c.path})
	w.log = zerolog.New(&buf).Level(zerolog.InfoLevel)
	w.runStarted()
	w.killedByOOM()
	if buf.Len() != 0 {
		t.Errorf("logged above debug: %s", buf.String())
	}
	w.close()
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

// TestOwnSIGKILLRemembered: a SIGKILL restart-run sends the child (after
// --timeout-stop, or as --kill-signal) is remembered for the run, so that
// classifyEnd does not put the death down to an OOM kill; other signals
// are not, and a new run forgets it.
func TestOwnSIGKILLRemembered(t *testing.T) {
	child := exec.Command("sleep", "100")
	if err := child.Start(); err != nil {
		t.Fatal(err)
	}
	s := &supervisor{cfg: &config{killMode: "control-group"}}
	s.child.pid = child.Process.Pid
	s.signalChild(unix.SIGCONT, true)
	if s.end.sentKill {
		t.Fatal("SIGCONT taken for restart-run's own SIGKILL")
	}
	s.signalChild(unix.SIGKILL, false)
	if !s.end.sentKill {
		t.Error("restart-run's own SIGKILL not remembered")
	}
	if err := child.Wait(); err == nil || !strings.Contains(child.ProcessState.String(), "killed") {
		t.Errorf("the child did not die of SIGKILL: %v", err)
	}
	s.end.newRun()
	if s.end.sentKill {
		t.Error("a new run still remembers the last run's SIGKILL")
	}
}

// TestNewOOMWatch: newOOMWatch finds the counter from this process's own
// /proc/self/cgroup and /proc/self/mountinfo, the same file as the parsers
// find from the same text. Where this machine has no readable counter both
// say none, and the test says so.
func TestNewOOMWatch(t *testing.T) {
	cgroup, err1 := os.ReadFile("/proc/self/cgroup")
	mounts, err2 := os.ReadFile("/proc/self/mountinfo")
	if err1 != nil || err2 != nil {
		t.Skipf("no /proc to read: %v, %v", err1, err2)
	}
	want := watchOOM(oomCounterFiles(string(cgroup), string(mounts)))
	defer want.close()
	got := newOOMWatch(zerolog.Nop())
	defer got.close()
	if got.file != want.file {
		t.Errorf("newOOMWatch watches %q; the parsers find %q", got.file, want.file)
	}
	if want.file == "" {
		t.Logf("no oom_kill counter is readable here (tried %q)", want.tried)
	}
}
