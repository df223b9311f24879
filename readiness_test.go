package main

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

func needPython(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath("python3"); err != nil {
		t.Skip("python3 is needed (Debian package python3; .ci/run installs it)")
	}
}

func needSystemdNotify(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath("systemd-notify"); err != nil {
		t.Skip("systemd-notify is needed (Debian package systemd; .ci/run installs it)")
	}
}

// TestNotifyReadySystemdNotify: a shell child tells readiness with the real
// systemd-notify, which must return with status 0: restart-run closes its
// BARRIER=1 descriptor (else systemd-notify fails after a 5 s wait).
func TestNotifyReadySystemdNotify(t *testing.T) {
	needSystemdNotify(t)
	r := startRR(t, nil, "--type=notify", "--notify-access=all", "--restart=no", "--", "sh", "-c",
		`sleep 0.1; systemd-notify --ready --status="warming done"; echo notified $?; echo ready $$; exec sleep 1000`)
	if got := r.line("notified"); got[0] != "0" {
		t.Errorf("systemd-notify exit status %s, want 0 (its barrier was not released?)", got[0])
	}
	ready := r.next("ready")
	r.waitReady()
	r.signal(syscall.SIGTERM)
	r.wait()
	if s := r.named("status"); len(s) != 1 || s[0].str("status") != "warming done" {
		t.Errorf("status events %v", s)
	}
	if ready.num("pid") != r.named("start")[0].num("pid") {
		t.Errorf("ready event %v", ready)
	}
}

// TestNotifyAccessMain: under main only the child's own datagrams count:
// go-systemd's SdNotify from the child itself is taken; from a process the
// child started it is refused (logged at debug) and the start times out
// (class timeout).
func TestNotifyAccessMain(t *testing.T) {
	r := startRR(t, nil, append([]string{"--type=notify", "--restart=no", "--"}, child("sdnotify", "READY=1")...)...)
	r.next("ready")
	r.waitReady()
	r.signal(syscall.SIGTERM)
	r.wait()

	// A helper process of the child's (here go-systemd in a grandchild)
	// sends from its own pid, which main refuses. (systemd-notify run as
	// root would not do: it sends on behalf of its parent, the shell.) The
	// start timeout must outlast the grandchild's start and its send, or
	// the refusal is never tested: 5 s, not 1 s, on a loaded machine.
	helper := strings.Join(child("sdnotify", "READY=1"), " ")
	r = startRR(t, nil, "--type=notify", "--timeout-start=5s", "--restart=no", "--log-level=debug", "--", "sh", "-c",
		helper+" & echo ready $$; exec sleep 1000")
	r.line("sent")
	r.waitReady()
	to := r.next("timeout")
	if to.str("level") != "warn" {
		t.Errorf("timeout event %v", to)
	}
	if st := r.wait(); st != 143 {
		t.Errorf("status %d, want 143 (stopped with SIGTERM)", st)
	}
	if e := r.named("exit"); len(e) != 1 || e[0].str("class") != "timeout" {
		t.Errorf("exit %v, want class timeout", e)
	}
	if n := len(r.named("ready")); n != 0 {
		t.Errorf("%d ready events from a refused sender", n)
	}
	if !strings.Contains(r.logText(), "refused") {
		t.Errorf("no debug line for the refused datagram; log:\n%s", r.logText())
	}
}

// TestTimeoutWatchdogPolicies: each policy against the timeout class
// (--runtime-max) and the watchdog class (no WATCHDOG=1 within --watchdog).
func TestTimeoutWatchdogPolicies(t *testing.T) {
	restarts := map[string][]Policy{
		"timeout":  {Always, OnFailure, OnAbnormal},
		"watchdog": {Always, OnFailure, OnAbnormal, OnWatchdog},
	}
	flags := map[string]string{"timeout": "--runtime-max=200ms", "watchdog": "--watchdog=200ms"}
	for _, class := range []string{"timeout", "watchdog"} {
		for _, p := range allPolicies {
			t.Run(class+"/"+string(p), func(t *testing.T) {
				t.Parallel()
				r := startRR(t, nil, "--restart="+string(p), flags[class], "--burst=2", "--restart-sec=0", "--timeout-stop=2s",
					"--", "sh", "-c", "echo ready $$; exec sleep 1000")
				r.wait()
				want := 1
				if slices.Contains(restarts[class], p) {
					want = 2
				}
				exits := r.named("exit")
				if len(exits) != want {
					t.Fatalf("%d runs, want %d; log:\n%s", len(exits), want, r.logText())
				}
				for _, e := range exits {
					if e.str("class") != class {
						t.Errorf("exit %v, want class %s", e, class)
					}
				}
				if n := len(r.named(class)); n != want {
					t.Errorf("%d %s events, want %d", n, class, want)
				}
			})
		}
	}
}

// TestWatchdog: the child gets WATCHDOG_USEC and its own WATCHDOG_PID;
// pings keep it alive; a missed ping sends --watchdog-signal (SIGABRT);
// WATCHDOG=trigger fails it at once.
func TestWatchdog(t *testing.T) {
	// The child pings itself (go-systemd), 40 times 100 ms apart: it runs
	// for twice the 2 s period, so without the pings the watchdog fires,
	// and a ping is late only if the child stalls for most of a period.
	// (A shell running systemd-notify was the pinger before; each of its
	// pings could take longer than a 300 ms period to start.)
	// At debug: under --restart=no a clean exit is logged at debug.
	r := startRR(t, nil, append([]string{"--watchdog=2s", "--restart=no", "--log-level=debug", "--"}, child("pings", "40", "100ms")...)...)
	wd := r.line("wd")
	if len(wd) != 3 || wd[0] != "2000000" || wd[1] != wd[2] {
		t.Errorf("child saw WATCHDOG_USEC, WATCHDOG_PID, pid = %v; want 2000000 and its own pid", wd)
	}
	if st := r.wait(); st != 0 {
		t.Errorf("a child that pings: status %d, want 0; log:\n%s", st, r.logText())
	}
	if e := r.named("exit"); len(e) != 1 || e[0].str("class") != "clean" {
		t.Errorf("exits %v", e)
	}

	r = startRR(t, nil, "--watchdog=200ms", "--restart=no", "--", "sh", "-c", "echo ready $$; exec sleep 1000")
	if st := r.wait(); st != 134 {
		t.Errorf("missed watchdog: status %d, want 134 (SIGABRT)", st)
	}
	if e := r.named("exit"); len(e) != 1 || e[0].str("class") != "watchdog" || e[0].str("signal") != "SIGABRT" {
		t.Errorf("exits %v", e)
	}

	needSystemdNotify(t)
	r = startRR(t, nil, "--watchdog=1h", "--watchdog-signal=SIGUSR2", "--notify-access=all", "--restart=no", "--", "sh", "-c",
		"systemd-notify WATCHDOG=trigger; echo ready $$; exec sleep 1000")
	if st := r.wait(); st != 128+int(syscall.SIGUSR2) {
		t.Errorf("WATCHDOG=trigger: status %d, want %d", st, 128+int(syscall.SIGUSR2))
	}
}

// TestExtendTimeout: EXTEND_TIMEOUT_USEC pushes the start timeout out, as
// systemd does. A child that sends it and is ready only after the original
// --timeout-start is not stopped; one that never gets ready is stopped at
// the extended deadline: not at the original one, and not never. The child
// is the Go helper (go-systemd), whose start is quick; the original
// timeout (2s) leaves it ample time to send the extension first.
func TestExtendTimeout(t *testing.T) {
	t.Run("ready within the extension", func(t *testing.T) {
		t.Parallel()
		r := startRR(t, nil, append([]string{"--type=notify", "--timeout-start=2s", "--restart=no", "--"},
			child("notify-seq", "EXTEND_TIMEOUT_USEC=60000000", "3s", "READY=1")...)...)
		start := r.next("start")
		ready := r.next("ready")
		if d := ready.at(t).Sub(start.at(t)); d < 3*time.Second {
			t.Errorf("ready %v after the start, before the child's 3s", d)
		}
		r.signal(syscall.SIGTERM)
		r.wait()
		if n := len(r.named("timeout")); n != 0 {
			t.Errorf("%d timeouts despite EXTEND_TIMEOUT_USEC; log:\n%s", n, r.logText())
		}
	})
	t.Run("never ready", func(t *testing.T) {
		t.Parallel()
		r := startRR(t, nil, append([]string{"--type=notify", "--timeout-start=2s", "--restart=no", "--"},
			child("notify-seq", "EXTEND_TIMEOUT_USEC=5000000")...)...)
		start := r.next("start")
		r.line("sent")
		// The extension is taken after the start, so the deadline it sets
		// is at least 5s after the start event.
		to := r.next("timeout")
		if d := to.at(t).Sub(start.at(t)); d < 5*time.Second {
			t.Errorf("timed out %v after the start, before the extended 5s; log:\n%s", d, r.logText())
		}
		if st := r.wait(); st != 143 {
			t.Errorf("status %d, want 143 (stopped with SIGTERM)", st)
		}
		if e := r.named("exit"); len(e) != 1 || e[0].str("class") != "timeout" {
			t.Errorf("exits %v, want one of class timeout", e)
		}
	})
}

// TestRestartReset: RESTART_RESET=1 from the child sets the backoff back.
func TestRestartReset(t *testing.T) {
	needSystemdNotify(t)
	counter := filepath.Join(t.TempDir(), "runs")
	script := fmt.Sprintf(`n=$(cat %[1]s 2>/dev/null || echo 0); n=$((n+1)); echo $n > %[1]s
if [ $n -eq 3 ]; then systemd-notify RESTART_RESET=1; fi; exit 1`, counter)
	// --restart-reset-after=1h: on a loaded machine a run could last past
	// the default (80ms here) and reset the count on its own.
	r := startRR(t, nil, "--restart-sec=10ms", "--restart-steps=3", "--restart-max-delay=80ms", "--restart-reset-after=1h", "--burst=0", "--max-restarts=4",
		"--notify-access=all", "--watchdog=1h", "--", "sh", "-c", script)
	r.wait()
	var got []float64
	for _, e := range r.named("restart") {
		got = append(got, e.num("delay_ms"))
	}
	if want := []float64{10, 20, 10, 20}; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("delays %v, want %v; log:\n%s", got, want, r.logText())
	}
}

// outerSocket stands in for systemd: the NOTIFY_SOCKET restart-run itself
// gets under a notify-aware supervisor. The kernel stamps each datagram
// with its time of arrival (SO_TIMESTAMPNS), so the gaps between
// restart-run's sends do not depend on when the test reads them.
type outerSocket struct {
	t    *testing.T
	addr string
	fd   int
}

// outerMsg is one datagram restart-run sent up, and when it arrived.
type outerMsg struct {
	payload string
	at      time.Time
}

func openOuter(t *testing.T) *outerSocket {
	t.Helper()
	addr := filepath.Join(t.TempDir(), "systemd")
	fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Close(fd) })
	if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_TIMESTAMPNS, 1); err != nil {
		t.Fatal(err)
	}
	if err := unix.Bind(fd, &unix.SockaddrUnix{Name: addr}); err != nil {
		t.Fatal(err)
	}
	return &outerSocket{t: t, addr: addr, fd: fd}
}

// tryRecv takes a datagram that is already queued, without waiting; ok is
// false when there is none. Everything restart-run has sent by now is
// queued: sendNotify returns once the kernel has the datagram.
func (o *outerSocket) tryRecv() (m outerMsg, ok bool) {
	o.t.Helper()
	buf := make([]byte, 4096)
	oob := make([]byte, unix.CmsgSpace(int(unsafe.Sizeof(unix.Timespec{}))))
	n, noob, _, _, err := unix.Recvmsg(o.fd, buf, oob, unix.MSG_DONTWAIT)
	if errors.Is(err, unix.EAGAIN) {
		return outerMsg{}, false
	}
	if err != nil {
		o.t.Fatalf("outer socket: %v", err)
	}
	cmsgs, err := unix.ParseSocketControlMessage(oob[:noob])
	if err != nil {
		o.t.Fatalf("outer socket: control data: %v", err)
	}
	for _, c := range cmsgs {
		if c.Header.Level == unix.SOL_SOCKET && c.Header.Type == unix.SCM_TIMESTAMPNS {
			var ts unix.Timespec
			copy(unsafe.Slice((*byte)(unsafe.Pointer(&ts)), unsafe.Sizeof(ts)), c.Data)
			m.at = time.Unix(ts.Unix())
		}
	}
	if m.at.IsZero() {
		o.t.Fatalf("outer socket: datagram %q came without its arrival time", buf[:n])
	}
	m.payload = string(buf[:n])
	return m, true
}

// expect waits for the next datagram that contains want, skipping others.
func (o *outerSocket) expect(r *rr, want string) outerMsg {
	o.t.Helper()
	stop := time.Now().Add(deadline)
	for {
		if m, ok := o.tryRecv(); ok {
			if strings.Contains(m.payload, want) {
				return m
			}
			continue
		}
		left := time.Until(stop)
		if left <= 0 {
			o.t.Fatalf("no %q from restart-run within %v; log:\n%s", want, deadline, r.logText())
		}
		fds := []unix.PollFd{{Fd: int32(o.fd), Events: unix.POLLIN}}
		if _, err := unix.Poll(fds, int(left.Milliseconds())+1); err != nil && !errors.Is(err, unix.EINTR) {
			o.t.Fatalf("outer socket: poll: %v", err)
		}
	}
}

// queued takes every datagram already queued.
func (o *outerSocket) queued() []outerMsg {
	o.t.Helper()
	var out []outerMsg
	for {
		m, ok := o.tryRecv()
		if !ok {
			return out
		}
		out = append(out, m)
	}
}

// TestUpwardRelay: under a notify-aware supervisor (a socket of the test's
// own standing in for systemd) restart-run passes READY=1 up once its
// child has sent its own, and not before; it sends STOPPING=1 on SIGTERM;
// and the child sees none of the outer NOTIFY_SOCKET, WATCHDOG_USEC and
// WATCHDOG_PID, only a NOTIFY_SOCKET of its own. (An earlier version took
// the test's reading time of READY=1 for its sending time, so READY=1 sent
// at the child's start passed; with it, the outer socket got READY=1 a
// second before the child was ready.)
func TestUpwardRelay(t *testing.T) {
	o := openOuter(t)
	// WATCHDOG_PID names another process, so restart-run pings nothing up
	// here and the variables are all the test looks at; TestUpwardWatchdog
	// has the pings.
	env := []string{"NOTIFY_SOCKET=" + o.addr, "WATCHDOG_USEC=200000", "WATCHDOG_PID=4242"}
	r := startRR(t, env, append([]string{"--type=notify", "--restart=no", "--"}, child("notify-on-usr1", "READY=1")...)...)
	envLine := r.line("env")
	own := strings.TrimPrefix(envLine[0], "NOTIFY_SOCKET=")
	if own == "" || own == o.addr || strings.Join(envLine[1:], " ") != "WATCHDOG_USEC= WATCHDOG_PID=" {
		t.Errorf("child saw %v; want a NOTIFY_SOCKET of its own and no WATCHDOG_USEC or WATCHDOG_PID", envLine)
	}
	if st, err := os.Stat(filepath.Dir(own)); err != nil || st.Mode().Perm() != 0o700 {
		t.Errorf("notify socket directory %s: %v; want mode 0700", filepath.Dir(own), err)
	}
	r.line("waiting")
	// A signal forwarded to the child is handled in restart-run's loop,
	// which runs only once the start (and whatever it sends up) is done.
	r.signal(syscall.SIGWINCH)
	r.line("got")
	for _, m := range o.queued() {
		if strings.Contains(m.payload, "READY=1") {
			t.Fatalf("READY=1 passed up (%q) before the child was ready; log:\n%s", m.payload, r.logText())
		}
	}
	r.signal(syscall.SIGUSR1) // forwarded: the child sends READY=1 now
	ready := o.expect(r, "READY=1")
	if want := fmt.Sprintf("MAINPID=%d", r.cmd.Process.Pid); !strings.Contains(ready.payload, want) {
		t.Errorf("passed up %q, want %s in it", ready.payload, want)
	}
	r.line("sent")
	r.next("ready")
	r.signal(syscall.SIGTERM)
	o.expect(r, "STOPPING=1")
	r.wait()
	if n := len(r.named("ready")); n != 1 {
		t.Errorf("%d ready events, want 1", n)
	}
	if _, err := os.Stat(filepath.Dir(own)); !os.IsNotExist(err) {
		t.Errorf("notify socket directory still there after exit: %v", err)
	}
}

// TestUpwardWatchdog: given WATCHDOG_USEC (and its own WATCHDOG_PID),
// restart-run pings WATCHDOG=1 up at half that period, as sd_watchdog_enabled(3)
// advises, so that a late ping does not trip the outer watchdog. The gaps
// are the kernel's arrival times: pinging at the full period makes every
// gap at least the period (a timer never fires early); at half, a gap
// reaches 0.8 of it only when restart-run is held up by 0.3 of it (600ms),
// and three of four gaps must be shorter.
func TestUpwardWatchdog(t *testing.T) {
	const period = 2 * time.Second
	o := openOuter(t)
	// WATCHDOG_PID must be restart-run's own, as systemd sets it: sh
	// puts its pid there and execs restart-run, which keeps it.
	cmd := exec.Command("sh", "-c", `export WATCHDOG_PID=$$; exec "$@"`, "sh", rrBin(t), "--restart=no", "--",
		"sh", "-c", `echo env $WATCHDOG_USEC.$WATCHDOG_PID.; echo ready $$; exec sleep 1000`)
	cmd.Env = append(os.Environ(), helperEnv+"=1", "NOTIFY_SOCKET="+o.addr,
		fmt.Sprintf("WATCHDOG_USEC=%d", period.Microseconds()))
	r := startCmd(t, cmd)
	if got := r.line("env"); got[0] != ".." {
		t.Errorf("child saw WATCHDOG_USEC.WATCHDOG_PID. = %s, want neither", got[0])
	}
	var pings []time.Time
	for range 5 {
		pings = append(pings, o.expect(r, "WATCHDOG=1").at)
	}
	short := 0
	var gaps []time.Duration
	for i := 1; i < len(pings); i++ {
		gap := pings[i].Sub(pings[i-1])
		gaps = append(gaps, gap)
		if gap < period*8/10 {
			short++
		}
	}
	if short < 3 {
		t.Errorf("WATCHDOG=1 gaps %v; want at least 3 of them under 0.8 of the %v period (pings at half of it)", gaps, period)
	}
	r.signal(syscall.SIGTERM)
	r.wait()
}

// TestUpwardStatus: restart-run passes STATUS= up on each restart, and
// READY=1 only once, for the first child.
func TestUpwardStatus(t *testing.T) {
	o := openOuter(t)
	r := startRR(t, []string{"NOTIFY_SOCKET=" + o.addr}, append([]string{"--restart=on-failure", "--restart-sec=0",
		"--burst=0", "--max-restarts=2", "--"}, child("exit", "3")...)...)
	if st := r.wait(); st != 3 {
		t.Errorf("status %d, want 3; log:\n%s", st, r.logText())
	}
	// restart-run has exited: all it sent is queued.
	var status []string
	ready := 0
	for _, m := range o.queued() {
		for _, l := range strings.Split(m.payload, "\n") {
			if v, ok := strings.CutPrefix(l, "STATUS="); ok {
				status = append(status, v)
			}
			if l == "READY=1" {
				ready++
			}
		}
	}
	if len(status) != 2 || !strings.Contains(status[0], "attempt 2") || !strings.Contains(status[1], "attempt 3") {
		t.Errorf("STATUS= passed up %q; want one for each of the 2 restarts, attempts 2 and 3", status)
	}
	if ready != 1 {
		t.Errorf("READY=1 passed up %d times, want once", ready)
	}
}

func TestUsecSaturates(t *testing.T) {
	if got := usec(1500); got != 1500*time.Microsecond {
		t.Errorf("usec(1500) = %v", got)
	}
	for _, u := range []uint64{1<<64 - 1, 18446744073709552, 1 << 63} {
		if got := usec(u); got < 100*365*24*time.Hour {
			t.Errorf("usec(%d) = %v, want it to saturate, not wrap", u, got)
		}
	}
}

// TestStopDisarmsTimers: once a stop is requested, a child shutting down
// gracefully is not failed by its watchdog or --runtime-max. The child
// pings (go-systemd) every 100 ms until SIGTERM, then takes 5 s to shut
// down without a ping: longer than the 2 s watchdog period, and past the
// 4 s --runtime-max, so either fires if the stop left it armed. The stop
// comes as soon as the child says ready, seconds before either is due.
// (The child was a shell pinging with systemd-notify under a 300 ms
// period: the stop had to come before its first ping, which could take
// longer than that to start.)
func TestStopDisarmsTimers(t *testing.T) {
	r := startRR(t, nil, append([]string{"--watchdog=2s", "--runtime-max=4s", "--restart=always", "--"},
		child("pings-until-term", "100ms", "5s")...)...)
	r.waitReady()
	r.signal(syscall.SIGTERM)
	r.line("term")
	if st := r.wait(); st != 0 {
		t.Errorf("status %d, want 0 (the child's own clean end); log:\n%s", st, r.logText())
	}
	if n := len(r.named("watchdog")) + len(r.named("timeout")); n != 0 {
		t.Errorf("%d watchdog or timeout events during a stop", n)
	}
	if e := r.named("exit"); len(e) != 1 || e[0].str("class") != "clean" {
		t.Errorf("exits %v, want one clean", e)
	}
}

// TestShimExecFailure: with --watchdog the command goes through the exec
// shim; a command that cannot be executed still ends the first start with
// 127 and no retries.
func TestShimExecFailure(t *testing.T) {
	script := filepath.Join(t.TempDir(), "bad")
	os.WriteFile(script, []byte("#!/nonexistent/interpreter\n"), 0o755)
	cmd := exec.Command(rrBin(t), "--watchdog=5s", "--restart=always", "--", script)
	out, _ := cmd.CombinedOutput()
	if st := cmd.ProcessState.ExitCode(); st != 127 || strings.Count(string(out), `"event":"start"`) != 0 {
		t.Errorf("status %d, want 127 and no start; output:\n%s", st, out)
	}
}

// TestTimersFromReady: under --type=notify the watchdog and --runtime-max
// start at READY=1, as systemd arms them on entering the running state, so
// a service that takes longer than either to start is not killed for it.
// The child takes 1.5 s to send READY=1 and then never pings: the watchdog
// (or the runtime limit) must fire after READY=1, one period later, and
// not during the start (before the fix: 1 s after the spawn, every time).
func TestTimersFromReady(t *testing.T) {
	for _, c := range []struct{ flag, event, class string }{
		{"--watchdog=1s", "watchdog", "watchdog"},
		{"--runtime-max=1s", "timeout", "timeout"},
	} {
		t.Run(c.event, func(t *testing.T) {
			r := startRR(t, nil, append([]string{"--type=notify", "--timeout-start=1m", c.flag, "--restart=no", "--"},
				child("slow-ready", "1.5s")...)...)
			ready := r.next("ready")
			fired := r.next(c.event)
			if d := fired.at(t).Sub(ready.at(t)); d < 900*time.Millisecond {
				t.Errorf("%s fired %v after READY=1, want a whole period (1s) after it; log:\n%s", c.event, d, r.logText())
			}
			r.wait()
			if e := r.named("exit"); len(e) != 1 || e[0].str("class") != c.class {
				t.Errorf("exits %v, want one of class %s", e, c.class)
			}
		})
	}
}

// TestWatchdogLowFileLimit: under an open-file limit of 16 the exec shim
// that sets WATCHDOG_PID still starts the command (before the fix its pipe
// was moved to descriptor 100 or above: "invalid argument", exit 126).
func TestWatchdogLowFileLimit(t *testing.T) {
	cmd := exec.Command("sh", "-c", `ulimit -n 16 && exec "$@"`, "sh", rrBin(t), "--watchdog=1m", "--restart=no", "--",
		"sh", "-c", `echo wd $WATCHDOG_PID $$`)
	r := startCmd(t, cmd)
	if wd := r.line("wd"); len(wd) != 2 || wd[0] != wd[1] {
		t.Errorf("WATCHDOG_PID and the child's pid: %v", wd)
	}
	if st := r.wait(); st != 0 {
		t.Errorf("status %d, want 0; log:\n%s", st, r.logText())
	}
}
