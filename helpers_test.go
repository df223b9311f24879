package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/coreos/go-systemd/v22/daemon"
	"golang.org/x/sys/unix"
)

// helperEnv marks the test binary re-executed as a child. It is not
// prefixed RESTART_RUN_, which restart-run strips.
const helperEnv = "RRTEST_HELPER"

// The restart-run binary for the end-to-end tests, built once, by the first
// test that needs it: a run of unit tests alone (go test -run TestLimiter,
// the mutation pass of tools/mutation.sh) does not pay for the build.
var (
	buildOnce sync.Once
	buildDir  string
	buildPath string
	buildErr  error
)

// rrBin is the path of the built restart-run binary.
func rrBin(tb testing.TB) string {
	tb.Helper()
	buildOnce.Do(func() {
		if buildDir, buildErr = os.MkdirTemp("", "restart-run-test"); buildErr != nil {
			return
		}
		buildPath = filepath.Join(buildDir, "restart-run")
		args := []string{"build", "-o", buildPath}
		if raceEnabled {
			args = append(args, "-race")
		}
		if coverDir != "" {
			args = append(args, "-cover", "-covermode="+testing.CoverMode())
		}
		build := exec.Command("go", append(args, ".")...)
		if out, err := build.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("%v\n%s", err, out)
		}
	})
	if buildErr != nil {
		tb.Fatalf("building restart-run: %v", buildErr)
	}
	return buildPath
}

// The static restart-run, built as a release builds it (CGO_ENABLED=0,
// -trimpath, no -race), once, by the first test that needs it.
var (
	staticOnce sync.Once
	staticDir  string
	staticPath string
	staticErr  error
)

// staticBin is the path of the static build: for PID 1 in an empty root,
// where the race runtime's libc is missing, and for timing the race
// runtime hides (its start-up is slower).
func staticBin(tb testing.TB) string {
	tb.Helper()
	staticOnce.Do(func() {
		if staticDir, staticErr = os.MkdirTemp("", "restart-run-static"); staticErr != nil {
			return
		}
		staticPath = filepath.Join(staticDir, "restart-run")
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		build := exec.CommandContext(ctx, "go", "build", "-trimpath", "-o", staticPath, ".")
		build.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := build.CombinedOutput(); err != nil {
			staticErr = fmt.Errorf("CGO_ENABLED=0 go build: %v\n%s", err, out)
		}
	})
	if staticErr != nil {
		tb.Fatalf("building the static restart-run: %v", staticErr)
	}
	return staticPath
}

// coverDir, under go test -cover, collects the coverage counters of the
// restart-run binaries the tests start (built with -cover too), which
// addCoverage adds to the test's own profile: without them a profile would
// show the supervisor as never run, and gremlins, which tests only the
// mutants a profile shows as run, would skip it.
var coverDir string

func TestMain(m *testing.M) {
	if os.Getenv(helperEnv) != "" {
		os.Exit(helper(os.Args[1:]))
	}
	// Race-enabled programs sleep a second at exit by default; the helper
	// children and the binary under test would each pay it.
	os.Setenv("GORACE", "atexit_sleep_ms=0")
	if testing.CoverMode() != "" {
		var err error
		if coverDir, err = os.MkdirTemp("", "restart-run-cover"); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Setenv("GOCOVERDIR", coverDir) // for the children, not for us
	}
	code := m.Run()
	if coverDir != "" {
		if err := addCoverage(coverDir); err != nil {
			fmt.Fprintln(os.Stderr, "adding the binary's coverage to the profile:", err)
			code = 1
		}
		os.RemoveAll(coverDir)
	}
	if buildDir != "" {
		os.RemoveAll(buildDir)
	}
	if staticDir != "" {
		os.RemoveAll(staticDir)
	}
	os.Exit(code)
}

// addCoverage appends the counters the children left in dir to the profile
// m.Run has written (-test.coverprofile), as text profile lines; a reader
// of the profile adds up the counts of a block that appears twice. A child
// killed outright leaves no counters: a path only such a child ran stays
// uncovered.
func addCoverage(dir string) error {
	f := flag.Lookup("test.coverprofile")
	if f == nil || f.Value.String() == "" {
		return nil // go test -cover without a profile: percentages only
	}
	profile := f.Value.String()
	if out := flag.Lookup("test.outputdir"); out != nil && out.Value.String() != "" && !filepath.IsAbs(profile) {
		profile = filepath.Join(out.Value.String(), profile)
	}
	if ents, _ := os.ReadDir(dir); len(ents) == 0 {
		return nil // no end-to-end test ran
	}
	text := filepath.Join(dir, "profile.txt")
	if out, err := exec.Command("go", "tool", "covdata", "textfmt", "-i="+dir, "-o="+text).CombinedOutput(); err != nil {
		return fmt.Errorf("go tool covdata: %v: %s", err, out)
	}
	b, err := os.ReadFile(text)
	if err != nil {
		return err
	}
	_, blocks, _ := strings.Cut(string(b), "\n") // less its "mode:" line
	pf, err := os.OpenFile(profile, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	if _, err := pf.WriteString(blocks); err != nil {
		pf.Close()
		return err
	}
	return pf.Close()
}

// helper is the child the end-to-end tests supervise: the test binary run
// again with a verb. It talks to the test through its stdout, which it
// shares with restart-run.
func helper(args []string) int {
	say := func(format string, a ...any) { fmt.Printf(format+"\n", a...) }
	switch args[0] {
	case "exit": // exit N
		n, _ := strconv.Atoi(args[1])
		say("stamp %d %d", os.Getpid(), time.Now().UnixNano())
		return n
	case "wait": // print "ready PID", then wait to be signalled
		say("ready %d", os.Getpid())
		sleepForever()
	case "ignore-term": // like wait, but SIGTERM does nothing
		signal.Ignore(syscall.SIGTERM)
		say("ready %d", os.Getpid())
		sleepForever()
	case "signals": // report each listed signal received
		ch := make(chan os.Signal, 100)
		for _, name := range args[1:] {
			s, _ := parseSignal(name)
			signal.Notify(ch, s)
		}
		say("ready %d", os.Getpid())
		for s := range ch {
			say("got %s %d", signalName(s.(syscall.Signal)), os.Getpid())
		}
	case "seq": // seq FILE LONG FOR N: count runs in FILE; run LONG lasts FOR; exit N
		b, _ := os.ReadFile(args[1])
		n, _ := strconv.Atoi(strings.TrimSpace(string(b)))
		n++
		os.WriteFile(args[1], []byte(strconv.Itoa(n)), 0o644)
		say("stamp %d %d", os.Getpid(), time.Now().UnixNano())
		if long, _ := strconv.Atoi(args[2]); long == n {
			d, _ := time.ParseDuration(args[3])
			time.Sleep(d) // the child's own behaviour: a long run
		}
		code, _ := strconv.Atoi(args[4])
		return code
	case "sdnotify": // print the notify variables, sleep a little, send STATE with go-systemd, wait
		say("env NOTIFY_SOCKET=%s WATCHDOG_USEC=%s WATCHDOG_PID=%s", os.Getenv("NOTIFY_SOCKET"),
			os.Getenv("WATCHDOG_USEC"), os.Getenv("WATCHDOG_PID"))
		time.Sleep(200 * time.Millisecond) // the child's own pace: ready a little after start
		say("sent %d", time.Now().UnixNano())
		if ok, err := daemon.SdNotify(false, args[1]); !ok || err != nil {
			say("sdnotify-failed %v %v", ok, err)
		}
		say("ready %d", os.Getpid())
		sleepForever()
	case "notify-seq": // for each step: a duration is slept (the child's own pace), anything else sent with go-systemd; then wait
		for _, step := range args[1:] {
			if d, err := time.ParseDuration(step); err == nil {
				time.Sleep(d)
				continue
			}
			if ok, err := daemon.SdNotify(false, step); !ok || err != nil {
				say("sdnotify-failed %v %v", ok, err)
			}
			say("sent %s", step)
		}
		sleepForever()
	case "pings": // pings N EVERY: print the watchdog variables and pid, send WATCHDOG=1 with go-systemd N times, EVERY apart, exit 0
		say("wd %s %s %d", os.Getenv("WATCHDOG_USEC"), os.Getenv("WATCHDOG_PID"), os.Getpid())
		n, _ := strconv.Atoi(args[1])
		every, _ := time.ParseDuration(args[2])
		for i := range n {
			if i > 0 {
				time.Sleep(every) // the child's own pace
			}
			if ok, err := daemon.SdNotify(false, "WATCHDOG=1"); !ok || err != nil {
				say("sdnotify-failed %v %v", ok, err)
				return 1
			}
		}
		return 0
	case "pings-until-term": // pings-until-term EVERY SHUTDOWN: WATCHDOG=1 every EVERY until SIGTERM, then "term", SHUTDOWN without pings, exit 0
		term := make(chan os.Signal, 1)
		signal.Notify(term, syscall.SIGTERM)
		every, _ := time.ParseDuration(args[1])
		shutdown, _ := time.ParseDuration(args[2])
		tick := time.NewTicker(every)
		for i := 0; ; i++ {
			if ok, err := daemon.SdNotify(false, "WATCHDOG=1"); !ok || err != nil {
				say("sdnotify-failed %v %v", ok, err)
			}
			if i == 0 {
				say("ready %d", os.Getpid())
			}
			select {
			case <-term:
				say("term %d", os.Getpid())
				time.Sleep(shutdown) // the child's own behaviour: a slow shutdown
				return 0
			case <-tick.C:
			}
		}
	case "notify-on-usr1": // print the notify variables, then send each STATE with go-systemd on SIGUSR1; report SIGWINCH
		// The test decides when the child becomes ready, so it can look
		// at what restart-run did before that.
		ch := make(chan os.Signal, 10)
		signal.Notify(ch, syscall.SIGUSR1, syscall.SIGWINCH)
		say("env NOTIFY_SOCKET=%s WATCHDOG_USEC=%s WATCHDOG_PID=%s", os.Getenv("NOTIFY_SOCKET"),
			os.Getenv("WATCHDOG_USEC"), os.Getenv("WATCHDOG_PID"))
		say("waiting %d", os.Getpid())
		for s := range ch {
			if s == syscall.SIGWINCH {
				say("got SIGWINCH")
				continue
			}
			for _, state := range args[1:] {
				if ok, err := daemon.SdNotify(false, state); !ok || err != nil {
					say("sdnotify-failed %v %v", ok, err)
				}
			}
			say("sent %d", os.Getpid())
		}
	case "graceful": // on SIGTERM say "term" and shut down until SIGUSR2, then exit 0; report SIGWINCH
		ch := make(chan os.Signal, 10)
		signal.Notify(ch, syscall.SIGTERM, syscall.SIGUSR2, syscall.SIGWINCH)
		say("ready %d", os.Getpid())
		for s := range ch {
			switch s {
			case syscall.SIGTERM:
				say("term %d", os.Getpid())
			case syscall.SIGWINCH:
				say("got SIGWINCH")
			case syscall.SIGUSR2:
				return 0
			}
		}
	case "slow-ready", "notify-ready":
		// slow-ready D: a slow start of D, then READY=1 once, no watchdog
		// pings; notify-ready: print the notify socket, READY=1 at once
		if args[0] == "notify-ready" {
			say("env NOTIFY_SOCKET=%s", os.Getenv("NOTIFY_SOCKET"))
		} else {
			d, _ := time.ParseDuration(args[1])
			time.Sleep(d) // the child's own behaviour: it takes D to start
		}
		if ok, err := daemon.SdNotify(false, "READY=1"); !ok || err != nil {
			say("sdnotify-failed %v %v", ok, err)
		}
		say("ready %d", os.Getpid())
		sleepForever()
	case "alloc": // alloc MIB: offer itself to the OOM killer first, say "ready PID", take MIB MiB touching every page, say "survived", exit 3
		_ = os.WriteFile("/proc/self/oom_score_adj", []byte("1000"), 0)
		say("ready %d", os.Getpid())
		mib, _ := strconv.Atoi(args[1])
		var kept [][]byte
		for range mib {
			b := make([]byte, 1<<20)
			for i := 0; i < len(b); i += 4096 {
				b[i] = 1
			}
			kept = append(kept, b)
		}
		say("survived %d", len(kept))
		return 3
	case "report": // print what the child inherited, as JSON
		fds := map[string]string{}
		ents, _ := os.ReadDir("/proc/self/fd")
		for _, e := range ents {
			target, _ := os.Readlink("/proc/self/fd/" + e.Name())
			fds[e.Name()] = target
		}
		pgid, _ := unix.Getpgid(0)
		b, _ := json.Marshal(map[string]any{"env": os.Environ(), "fds": fds, "pid": os.Getpid(), "pgid": pgid})
		say("report %s", b)
	default:
		fmt.Fprintln(os.Stderr, "unknown helper verb", args[0])
		return 99
	}
	return 0
}

// sleepForever blocks without the runtime calling it a deadlock.
func sleepForever() {
	for {
		time.Sleep(time.Hour)
	}
}

// child is the command line that runs the helper under restart-run.
func child(verb ...string) []string {
	exe, err := os.Executable()
	if err != nil {
		panic(err)
	}
	return append([]string{exe}, verb...)
}

// event is one JSON log line of restart-run.
type event map[string]any

func (e event) num(k string) float64 { f, _ := e[k].(float64); return f }
func (e event) str(k string) string  { s, _ := e[k].(string); return s }
func (e event) strs(k string) []string {
	var out []string
	l, _ := e[k].([]any)
	for _, v := range l {
		s, _ := v.(string)
		out = append(out, s)
	}
	return out
}

// at is when restart-run logged the event, by its own clock.
func (e event) at(t *testing.T) time.Time {
	t.Helper()
	ts, err := time.Parse(time.RFC3339Nano, e.str("time"))
	if err != nil {
		t.Fatalf("event %v: time: %v", e, err)
	}
	return ts
}

// rr is one run of the restart-run binary with its log and stdout read
// line by line as they come.
type rr struct {
	t      *testing.T
	cmd    *exec.Cmd
	events chan event
	out    chan string
	done   chan struct{}
	status int

	mu   sync.Mutex
	log  []string // every stderr line, for failure messages
	all  []event
	leak bool // something held restart-run's output after it exited
}

const deadline = 10 * time.Second

func startRR(t *testing.T, env []string, args ...string) *rr {
	t.Helper()
	cmd := exec.Command(rrBin(t), args...)
	cmd.Env = append(append(os.Environ(), helperEnv+"=1"), env...)
	return startCmd(t, cmd)
}

// startCmd runs cmd (restart-run, perhaps behind another program) with its
// stdout and stderr read as they come.
func startCmd(t *testing.T, cmd *exec.Cmd) *rr {
	t.Helper()
	if cmd.Env == nil {
		cmd.Env = append(os.Environ(), helperEnv+"=1")
	}
	// Our own pipes rather than exec's: the readers run to EOF on their own
	// time, and a process that outlives restart-run holding them is given
	// at most deadline after restart-run's exit, then reported as a leak
	// by wait instead of hanging the test.
	stderrR, stderrW, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	stdoutR, stdoutW, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr, cmd.Stdout = stderrW, stdoutW
	r := &rr{t: t, cmd: cmd, events: make(chan event, 10000), out: make(chan string, 10000), done: make(chan struct{})}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	stderrW.Close()
	stdoutW.Close()
	readers := make(chan struct{}, 2)
	go func() {
		defer func() { readers <- struct{}{} }()
		sc := bufio.NewScanner(stderrR)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			line := sc.Text()
			var e event
			r.mu.Lock()
			r.log = append(r.log, line)
			if json.Unmarshal([]byte(line), &e) == nil {
				r.all = append(r.all, e)
			}
			r.mu.Unlock()
			if e != nil {
				r.events <- e
			}
		}
	}()
	go func() {
		defer func() { readers <- struct{}{} }()
		sc := bufio.NewScanner(stdoutR)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			r.out <- sc.Text()
		}
	}()
	go func() {
		_ = cmd.Wait()
		r.status = cmd.ProcessState.ExitCode()
		if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			r.status = 128 + int(ws.Signal())
		}
		// One deadline for both readers: once it has passed, neither is
		// waited for any more (a timer channel fires once, so a second
		// receive from it would block for good). Closing our read ends
		// then wakes a reader still blocked in Read.
		timeout := time.NewTimer(deadline)
		defer timeout.Stop()
	wait:
		for range 2 {
			select {
			case <-readers:
			case <-timeout.C:
				r.mu.Lock()
				r.log = append(r.log, "TEST: a process outlived restart-run holding its stdout or stderr")
				r.leak = true
				r.mu.Unlock()
				break wait
			}
		}
		stderrR.Close()
		stdoutR.Close()
		close(r.done)
	}()
	t.Cleanup(func() {
		select {
		case <-r.done:
		default:
			_ = cmd.Process.Kill()
			<-r.done
		}
	})
	return r
}

func (r *rr) logText() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return strings.Join(r.log, "\n")
}

// next waits for the next log event named name, skipping others.
func (r *rr) next(name string) event {
	r.t.Helper()
	timeout := time.After(deadline)
	for {
		select {
		case e := <-r.events:
			if e.str("event") == name {
				return e
			}
		case <-timeout:
			r.t.Fatalf("no %q event within %v; log:\n%s", name, deadline, r.logText())
		}
	}
}

// line waits for the next stdout line that starts with prefix and returns
// its fields after the prefix.
func (r *rr) line(prefix string) []string {
	r.t.Helper()
	timeout := time.After(deadline)
	for {
		select {
		case l := <-r.out:
			if rest, ok := strings.CutPrefix(l, prefix+" "); ok {
				return strings.Fields(rest)
			}
		case <-timeout:
			r.t.Fatalf("no %q line on stdout within %v; log:\n%s", prefix, deadline, r.logText())
		}
	}
}

// wait waits for restart-run to exit and returns its status.
func (r *rr) wait() int {
	r.t.Helper()
	select {
	case <-r.done:
		if r.leak {
			r.t.Errorf("a process outlived restart-run; log:\n%s", r.logText())
		}
		return r.status
	case <-time.After(2 * deadline):
		// done closes at most deadline after the exit (see startCmd).
		r.t.Fatalf("restart-run did not exit, or its output did not close, within %v; log:\n%s", 2*deadline, r.logText())
		return -1
	}
}

// logged returns the events logged so far: after next returned one, every
// event before it.
func (r *rr) logged() []event {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.all)
}

// named returns every logged event named name, once restart-run has exited.
func (r *rr) named(name string) []event {
	r.wait()
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []event
	for _, e := range r.all {
		if e.str("event") == name {
			out = append(out, e)
		}
	}
	return out
}

func (r *rr) signal(sig syscall.Signal) {
	r.t.Helper()
	if err := r.cmd.Process.Signal(sig); err != nil {
		r.t.Fatalf("signal restart-run: %v", err)
	}
}

// waitReady waits for the child's "ready PID" line and returns the pid.
func (r *rr) waitReady() int {
	r.t.Helper()
	pid, _ := strconv.Atoi(r.line("ready")[0])
	return pid
}

// startBlocked starts restart-run with sig blocked, as a parent that
// blocks it would: Go's fork gives the child the forking thread's mask.
func startBlocked(t *testing.T, sig syscall.Signal, args ...string) *rr {
	t.Helper()
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	var set, old unix.Sigset_t
	set.Val[(sig-1)/64] |= 1 << ((sig - 1) % 64)
	if err := unix.PthreadSigmask(unix.SIG_BLOCK, &set, &old); err != nil {
		t.Fatal(err)
	}
	defer unix.PthreadSigmask(unix.SIG_SETMASK, &old, nil)
	return startRR(t, nil, args...)
}

// alive reports whether pid exists and is not a zombie.
func alive(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	i := bytes.LastIndexByte(b, ')')
	return i > 0 && len(b) > i+2 && b[i+2] != 'Z'
}

// waitUntil polls cond until it holds or the deadline passes: for states
// with no event to wait on (a zombie reaped by another process).
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	stop := time.Now().Add(deadline)
	for !cond() {
		if time.Now().After(stop) {
			t.Fatalf("%s: not within %v", what, deadline)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// serving waits for python's own "Serving HTTP on" line: http.server
// prints it once its socket listens, so a GET after it is answered.
func (r *rr) serving(port int) {
	r.t.Helper()
	if f := r.line("Serving"); !slices.Contains(f, strconv.Itoa(port)) {
		r.t.Fatalf("python serves %v, not port %d", f, port)
	}
}

// fetch GETs url once, within the deadline.
func fetch(url string) (int, string, error) {
	c := &http.Client{Timeout: deadline}
	resp, err := c.Get(url)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), err
}

// waitGone waits, on the kernel's word through a pidfd, for pid to exit.
func waitGone(t *testing.T, pid int, within time.Duration) {
	t.Helper()
	fd, err := unix.PidfdOpen(pid, 0)
	if errors.Is(err, unix.ESRCH) {
		return
	}
	if err != nil {
		t.Fatalf("pidfd_open(%d): %v", pid, err)
	}
	defer unix.Close(fd)
	fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
	for {
		n, err := unix.Poll(fds, int(within.Milliseconds()))
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if n == 1 {
			return
		}
		t.Fatalf("process %d still alive after %v", pid, within)
	}
}
