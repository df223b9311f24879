//go:build !unitonly

package main

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"github.com/kballard/go-shellquote"
	"golang.org/x/sys/unix"
)

// The example unit and where it says restart-run and the daemon are
// installed; TestSystemdExample runs the built binary and the script from
// examples/notify/python in their place, and changes nothing else.
const (
	exampleUnit   = "examples/systemd/restart-run-example.service"
	unitBinary    = "/usr/local/bin/restart-run"
	unitDaemon    = "/usr/local/lib/restart-run-example/notifyd.py"
	exampleDaemon = "examples/notify/python/notifyd.py"
)

// unitFile is a unit file as systemd reads it: section, key, then every
// value assigned to that key, in order.
type unitFile map[string]map[string][]string

// readUnit parses a unit file by systemd.syntax(7): comment lines start with
// '#' or ';', a line that ends in a backslash goes on in the next (the
// backslash becomes a space), whitespace around keys and values is dropped.
func readUnit(t *testing.T, path string) unitFile {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	u := unitFile{}
	section, cont := "", ""
	for n, line := range strings.Split(string(b), "\n") {
		line = strings.TrimSpace(line)
		if line == "" && cont == "" || strings.HasPrefix(line, "#") || strings.HasPrefix(line, ";") {
			continue
		}
		if l, ok := strings.CutSuffix(line, `\`); ok {
			cont += l + " "
			continue
		}
		line, cont = cont+line, ""
		if strings.HasPrefix(line, "[") && strings.HasSuffix(line, "]") {
			section = line[1 : len(line)-1]
			u[section] = map[string][]string{}
			continue
		}
		key, val, ok := strings.Cut(line, "=")
		if !ok || section == "" {
			t.Fatalf("%s:%d: %q is not KEY=VALUE in a section", path, n+1, line)
		}
		key = strings.TrimSpace(key)
		u[section][key] = append(u[section][key], strings.TrimSpace(val))
	}
	return u
}

// one is the single value of a key that must be set once.
func (u unitFile) one(t *testing.T, section, key string) string {
	t.Helper()
	v := u[section][key]
	if len(v) != 1 || v[0] == "" {
		t.Fatalf("[%s] %s= is set %d times (%q); the test plays it set once", section, key, len(v), v)
	}
	return v[0]
}

// timespan parses a systemd time span (systemd.time(7)): "10s", "3min",
// "1min 30s", a bare number of seconds.
func timespan(t *testing.T, s string) time.Duration {
	t.Helper()
	units := map[string]time.Duration{
		"": time.Second, "us": time.Microsecond, "usec": time.Microsecond,
		"ms": time.Millisecond, "msec": time.Millisecond,
		"s": time.Second, "sec": time.Second, "second": time.Second, "seconds": time.Second,
		"m": time.Minute, "min": time.Minute, "minute": time.Minute, "minutes": time.Minute,
		"h": time.Hour, "hr": time.Hour, "hour": time.Hour, "hours": time.Hour,
	}
	var total time.Duration
	rest := strings.TrimSpace(s)
	for rest != "" {
		i := strings.IndexFunc(rest, func(r rune) bool { return (r < '0' || r > '9') && r != '.' })
		if i < 0 {
			i = len(rest)
		}
		num, err := strconv.ParseFloat(rest[:i], 64)
		rest = strings.TrimLeft(rest[i:], " ")
		j := strings.IndexFunc(rest, func(r rune) bool { return r == ' ' || r >= '0' && r <= '9' })
		if j < 0 {
			j = len(rest)
		}
		unit, ok := units[rest[:j]]
		if err != nil || !ok {
			t.Fatalf("time span %q: the test reads numbers with us, ms, s, min or h", s)
		}
		total += time.Duration(num * float64(unit))
		rest = strings.TrimLeft(rest[j:], " ")
	}
	if total <= 0 {
		t.Fatalf("time span %q: want more than 0", s)
	}
	return total
}

// sdSocket is systemd's end of the notify protocol: a datagram socket
// that takes each sender's credentials (SO_PASSCRED, as systemd's own) and
// the kernel's time of arrival (SO_TIMESTAMPNS), so that the test checks
// who sent what, and when, by the kernel's account rather than by when it
// got round to reading.
type sdSocket struct {
	t    *testing.T
	addr string
	fd   int
	got  []sdMsg // every datagram received so far
}

type sdMsg struct {
	payload string
	pid     int
	at      time.Time
}

// has tells whether the datagram holds the assignment line, as a whole line.
func (m sdMsg) has(line string) bool {
	return slices.Contains(strings.Split(m.payload, "\n"), line)
}

// openSDSocket binds addr: a path, or an abstract name that starts with '@'.
func openSDSocket(t *testing.T, addr string) *sdSocket {
	t.Helper()
	fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Close(fd) })
	for _, opt := range []int{unix.SO_PASSCRED, unix.SO_TIMESTAMPNS} {
		if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, opt, 1); err != nil {
			t.Fatal(err)
		}
	}
	if err := unix.Bind(fd, &unix.SockaddrUnix{Name: addr}); err != nil {
		t.Fatalf("bind %s: %v", addr, err)
	}
	return &sdSocket{t: t, addr: addr, fd: fd}
}

// await waits until a datagram with the line want arrives, at the latest
// by until, and returns it; it keeps every datagram in o.got.
func (o *sdSocket) await(r *rr, want string, until time.Time) sdMsg {
	o.t.Helper()
	for {
		if m, ok := o.recv(); ok {
			if m.has(want) {
				return m
			}
			continue
		}
		left := time.Until(until)
		if left <= 0 {
			o.t.Fatalf("no %q on the notify socket in time; it got %q; log:\n%s", want, o.payloads(), r.logText())
		}
		fds := []unix.PollFd{{Fd: int32(o.fd), Events: unix.POLLIN}}
		if _, err := unix.Poll(fds, int(left.Milliseconds())+1); err != nil && !errors.Is(err, unix.EINTR) {
			o.t.Fatalf("notify socket: poll: %v", err)
		}
	}
}

// drain takes every datagram already queued.
func (o *sdSocket) drain() {
	for {
		if _, ok := o.recv(); !ok {
			return
		}
	}
}

func (o *sdSocket) payloads() []string {
	var p []string
	for _, m := range o.got {
		p = append(p, fmt.Sprintf("%d:%s", m.pid, m.payload))
	}
	return p
}

// recv takes one queued datagram, without waiting.
func (o *sdSocket) recv() (sdMsg, bool) {
	o.t.Helper()
	buf := make([]byte, 4096)
	oob := make([]byte, unix.CmsgSpace(unix.SizeofUcred)+unix.CmsgSpace(int(unsafe.Sizeof(unix.Timespec{}))))
	n, noob, _, _, err := unix.Recvmsg(o.fd, buf, oob, unix.MSG_DONTWAIT)
	if errors.Is(err, unix.EAGAIN) {
		return sdMsg{}, false
	}
	if err != nil {
		o.t.Fatalf("notify socket: %v", err)
	}
	cmsgs, err := unix.ParseSocketControlMessage(oob[:noob])
	if err != nil {
		o.t.Fatalf("notify socket: control data: %v", err)
	}
	m := sdMsg{payload: string(buf[:n])}
	for _, c := range cmsgs {
		switch {
		case c.Header.Level != unix.SOL_SOCKET:
		case c.Header.Type == unix.SCM_CREDENTIALS:
			cred, err := unix.ParseUnixCredentials(&c)
			if err != nil {
				o.t.Fatalf("notify socket: credentials: %v", err)
			}
			m.pid = int(cred.Pid)
		case c.Header.Type == unix.SCM_TIMESTAMPNS:
			var ts unix.Timespec
			copy(unsafe.Slice((*byte)(unsafe.Pointer(&ts)), unsafe.Sizeof(ts)), c.Data)
			m.at = time.Unix(ts.Unix())
		}
	}
	if m.pid == 0 || m.at.IsZero() {
		o.t.Fatalf("notify socket: datagram %q came without credentials or arrival time", m.payload)
	}
	o.got = append(o.got, m)
	return m, true
}

// TestSystemdExample plays systemd's part for the example unit: it reads
// examples/systemd/restart-run-example.service, runs its ExecStart= with
// only the paths of restart-run and of the daemon changed, in the
// environment the unit gives (Environment=, RuntimeDirectory=), with a
// notify socket of its own as NOTIFY_SOCKET, WatchdogSec= as WATCHDOG_USEC
// and restart-run's pid as WATCHDOG_PID, as systemd sets them. It checks
// what systemd would act on:
//   - READY=1, with MAINPID= restart-run's pid, arrives only once the daemon
//     serves: the test connects to the daemon's socket the moment READY=1
//     is in, and the daemon makes that socket before it sends its own
//     READY=1 to restart-run;
//   - WATCHDOG=1 arrives within WatchdogSec= of READY=1 and of the one
//     before, twice (restart-run pings at half of it);
//   - SIGTERM to restart-run alone (KillMode=mixed) brings STOPPING=1, and
//     restart-run exits within TimeoutStopSec= with the daemon's status (the
//     README's "stop requested" row), one systemd counts as clean;
//   - every datagram came from restart-run's own pid (NotifyAccess=main).
//
// A directive the test neither plays nor names as systemd's business alone
// fails it, so that the unit cannot change under the test unnoticed.
func TestSystemdExample(t *testing.T) {
	needPython(t)
	unit := readUnit(t, exampleUnit)
	played := []string{"Type", "NotifyAccess", "ExecStart", "RuntimeDirectory", "Environment", "WatchdogSec",
		"TimeoutStartSec", "TimeoutStopSec", "KillMode", "SuccessExitStatus"}
	// What systemd does after restart-run has exited or missed a ping,
	// which this test never brings about.
	systemdOnly := []string{"Restart", "RestartSec", "WatchdogSignal"}
	for key := range unit["Service"] {
		if !slices.Contains(played, key) && !slices.Contains(systemdOnly, key) {
			t.Fatalf("[Service] %s= is new to this test: play it, or name it as systemd's alone", key)
		}
	}
	for key, want := range map[string]string{"Type": "notify", "NotifyAccess": "main", "KillMode": "mixed"} {
		if got := unit.one(t, "Service", key); got != want {
			t.Fatalf("%s=%s; the test plays %s=%s", key, got, key, want)
		}
	}

	// ExecStart=, with the two paths changed. systemd's own quoting is
	// close enough to the shell's for a plain command line; prefixes
	// ("-", "@", "+", ...), variables and specifiers are not played.
	execStart := unit.one(t, "Service", "ExecStart")
	if strings.ContainsAny(execStart, "$%") || strings.ContainsAny(execStart[:1], "-@:+!|") {
		t.Fatalf("ExecStart=%s: variables, specifiers and prefixes are not played", execStart)
	}
	argv, err := shellquote.Split(execStart)
	if err != nil {
		t.Fatalf("ExecStart=%s: %v", execStart, err)
	}
	daemonAt := slices.Index(argv, "--") + 1
	if argv[0] != unitBinary || daemonAt == 0 || daemonAt == len(argv) || argv[daemonAt] != unitDaemon {
		t.Fatalf("ExecStart= %q: want %s, its flags, -- and %s", argv, unitBinary, unitDaemon)
	}
	daemonPath, err := filepath.Abs(exampleDaemon)
	if err != nil {
		t.Fatal(err)
	}
	argv[0], argv[daemonAt] = rrBin(t), daemonPath

	watchdog := timespan(t, unit.one(t, "Service", "WatchdogSec"))
	startTimeout := timespan(t, unit.one(t, "Service", "TimeoutStartSec"))
	stopTimeout := timespan(t, unit.one(t, "Service", "TimeoutStopSec"))
	clean := []int{0}
	for _, f := range strings.Fields(unit.one(t, "Service", "SuccessExitStatus")) {
		n, err := strconv.Atoi(f)
		if err != nil {
			t.Fatalf("SuccessExitStatus=: %q: the test plays exit codes only", f)
		}
		clean = append(clean, n)
	}

	// The environment: the test's own (systemd's is smaller, but the PATH
	// must find python3 as this machine has it), less anything that would
	// change what restart-run or the daemon do, plus what the unit and
	// systemd set.
	var env []string
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		if !strings.HasPrefix(name, "RESTART_RUN_") && !slices.Contains([]string{"NOTIFY_SOCKET", "WATCHDOG_USEC",
			"WATCHDOG_PID", "RUNTIME_DIRECTORY", "LISTEN_FDS", "LISTEN_PID", helperEnv}, name) {
			env = append(env, kv)
		}
	}
	for _, v := range unit["Service"]["Environment"] {
		words, err := shellquote.Split(v)
		if err != nil {
			t.Fatalf("Environment=%s: %v", v, err)
		}
		env = append(env, words...)
	}
	top := t.TempDir()
	runtimeDir := filepath.Join(top, unit.one(t, "Service", "RuntimeDirectory"))
	if err := os.Mkdir(runtimeDir, 0o755); err != nil {
		t.Fatal(err)
	}
	o := openSDSocket(t, filepath.Join(top, "notify"))
	env = append(env, "RUNTIME_DIRECTORY="+runtimeDir, "NOTIFY_SOCKET="+o.addr,
		fmt.Sprintf("WATCHDOG_USEC=%d", watchdog.Microseconds()))

	// systemd sets WATCHDOG_PID to the pid it forked; sh puts its own there
	// and execs restart-run, which keeps it.
	cmd := exec.Command("sh", append([]string{"-c", `export WATCHDOG_PID=$$; exec "$@"`, "sh"}, argv...)...)
	cmd.Env = env
	r := startCmd(t, cmd)
	pid := r.cmd.Process.Pid

	// The unit allows startTimeout; a test that waits that long for a
	// python start has a broken machine to report.
	ready := o.await(r, "READY=1", time.Now().Add(min(startTimeout, 30*time.Second)))
	// At once, before anything else: the daemon must already be serving.
	sock := filepath.Join(runtimeDir, "notifyd.sock")
	conn, err := net.Dial("unix", sock)
	if err != nil {
		t.Fatalf("READY=1 came up before the daemon served: %v; log:\n%s", err, r.logText())
	}
	_ = conn.SetDeadline(time.Now().Add(deadline))
	hello, err := bufio.NewReader(conn).ReadString('\n')
	conn.Close()
	child := r.next("start").num("pid")
	if want := fmt.Sprintf("hello from notifyd %d\n", int(child)); err != nil || hello != want {
		t.Errorf("the daemon answered %q (%v), want %q", hello, err, want)
	}
	if !ready.has(fmt.Sprintf("MAINPID=%d", pid)) {
		t.Errorf("READY=1 came as %q, want MAINPID=%d in it", ready.payload, pid)
	}

	// Each ping must come within WatchdogSec of the last (of READY=1 for
	// the first: systemd arms the watchdog there), or systemd would stop
	// restart-run. Pinging at half the period, restart-run has half of it
	// to spare each time.
	last := ready.at
	for i := range 2 {
		ping := o.await(r, "WATCHDOG=1", last.Add(2*watchdog))
		if gap := ping.at.Sub(last); gap >= watchdog {
			t.Errorf("WATCHDOG=1 number %d came %v after the last one (or READY=1); WatchdogSec=%v", i+1, gap, watchdog)
		}
		last = ping.at
	}

	r.signal(syscall.SIGTERM)
	o.await(r, "STOPPING=1", time.Now().Add(deadline))
	select {
	case <-r.done:
	case <-time.After(stopTimeout):
		t.Fatalf("restart-run still runs %v after SIGTERM: systemd would SIGKILL it (TimeoutStopSec=); log:\n%s",
			stopTimeout, r.logText())
	}
	status := r.wait()
	exits := r.named("exit")
	if len(exits) != 1 || exits[0].num("exit_code") != float64(status) || exits[0].str("class") != "clean" {
		t.Errorf("restart-run exited with %d after the daemon's runs %v; want one clean run, and its status", status, exits)
	}
	if status != 0 || !slices.Contains(clean, status) {
		t.Errorf("status %d: want 0 (the daemon's own after SIGTERM), which systemd counts as clean", status)
	}

	o.drain()
	readies := 0
	for _, m := range o.got {
		if m.pid != pid {
			t.Errorf("datagram %q came from pid %d, not restart-run's %d: NotifyAccess=main drops it", m.payload, m.pid, pid)
		}
		if m.has("READY=1") {
			readies++
		}
	}
	if readies != 1 {
		t.Errorf("READY=1 came %d times, want once; datagrams %q", readies, o.payloads())
	}
}
