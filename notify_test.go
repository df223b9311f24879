package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/coreos/go-systemd/v22/daemon"
	"github.com/rs/zerolog"
	"golang.org/x/sys/unix"
)

// notifyWait fails a test stuck waiting for a datagram; nothing waits on it
// when things work.
const notifyWait = 5 * time.Second

// scmMaxFD is SCM_MAX_FD, the most descriptors the kernel passes with one
// datagram (sendmsg fails with EINVAL beyond it).
const scmMaxFD = 253

func strp(s string) *string { return &s }
func u64p(n uint64) *uint64 { return &n }

func TestParseNotify(t *testing.T) {
	long := "STATUS=" + strings.Repeat("x", notifyBufferMax-len("STATUS="))
	good := []struct {
		name string
		in   string
		want notifyMsg
	}{
		{"ready", "READY=1", notifyMsg{Ready: true}},
		{"trailing newline", "READY=1\n", notifyMsg{Ready: true}},
		{"several with unknown keys",
			"READY=1\nSTATUS=Serving…\nWATCHDOG=1\nMAINPID=123\nX_FUTURE=yes\nMONOTONIC_USEC=5",
			notifyMsg{Ready: true, Watchdog: true, Status: strp("Serving…")}},
		{"ready=0 means nothing", "READY=0", notifyMsg{}},
		{"ready=yes means nothing", "READY=yes", notifyMsg{}},
		{"stopping", "STOPPING=1", notifyMsg{Stopping: true}},
		{"reloading", "RELOADING=1\nMONOTONIC_USEC=123", notifyMsg{Reloading: true}},
		{"watchdog trigger", "WATCHDOG=trigger", notifyMsg{WatchdogTrigger: true}},
		{"watchdog other", "WATCHDOG=0", notifyMsg{}},
		{"restart reset", "RESTART_RESET=1", notifyMsg{RestartReset: true}},
		{"barrier", "BARRIER=1", notifyMsg{Barrier: true}},
		{"numbers", "WATCHDOG_USEC=5000000\nEXTEND_TIMEOUT_USEC=0",
			notifyMsg{WatchdogUSec: u64p(5000000), ExtendTimeoutUSec: u64p(0)}},
		{"max uint64", "EXTEND_TIMEOUT_USEC=18446744073709551615",
			notifyMsg{ExtendTimeoutUSec: u64p(18446744073709551615)}},
		{"first of repeated wins", "STATUS=first\nSTATUS=second\nWATCHDOG_USEC=1\nWATCHDOG_USEC=2",
			notifyMsg{Status: strp("first"), WatchdogUSec: u64p(1)}},
		{"empty status", "STATUS=", notifyMsg{Status: strp("")}},
		{"status with =", "STATUS=a=b", notifyMsg{Status: strp("a=b")}},
		{"crlf", "READY=1\r\nSTATUS=x\r\n", notifyMsg{Ready: true, Status: strp("x")}},
		{"blank lines", "\n\nREADY=1\n\n\nSTOPPING=1\n", notifyMsg{Ready: true, Stopping: true}},
		{"one trailing NUL, as systemd allows", "READY=1\x00", notifyMsg{Ready: true}},
		{"empty key is just unknown", "=value\nREADY=1", notifyMsg{Ready: true}},
		{"exactly the limit", long, notifyMsg{Status: strp(long[len("STATUS="):])}},
	}
	for _, tc := range good {
		got, err := parseNotify([]byte(tc.in))
		if err != nil {
			t.Errorf("%s: parseNotify(%q): %v", tc.name, tc.in, err)
			continue
		}
		if !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s: parseNotify(%q) = %s, want %s", tc.name, tc.in, fmtMsg(got), fmtMsg(tc.want))
		}
	}

	bad := []struct{ in, want string }{
		{"", "empty"},
		{"\n", "empty"},
		{"\r\n\n", "empty"},
		{"\x00", "empty"},
		{long + "x", "over the 4096-byte limit"},
		{strings.Repeat("READY=1\n", 1000), "over the 4096-byte limit"},
		{"READY=1\x00STATUS=x", "NUL byte at offset 7"},
		{"READY=1\x00\x00", "NUL byte"},
		{"\x00READY=1", "NUL byte at offset 0"},
		{"STATUS=\xff", "UTF-8"},
		{"STATUS=\xed\xa0\x80", "UTF-8"}, // an encoded surrogate
		{"READY", "no '='"},
		{"READY=1\ngarbage", `"garbage" has no '='`},
		{strings.Repeat("y", 100), `"` + strings.Repeat("y", 64) + `..." has no '='`},
		{strings.Repeat("z", 64), `"` + strings.Repeat("z", 64) + `" has no '='`}, // 64 bytes are shown whole
		{"WATCHDOG_USEC=abc", "WATCHDOG_USEC"},
		{"WATCHDOG_USEC=", "WATCHDOG_USEC"},
		{"WATCHDOG_USEC=-1", "WATCHDOG_USEC"},
		{"WATCHDOG_USEC= 5", "WATCHDOG_USEC"},
		{"WATCHDOG_USEC=+5", "WATCHDOG_USEC"},
		{"WATCHDOG_USEC=0x10", "WATCHDOG_USEC"},
		{"WATCHDOG_USEC=1.5", "WATCHDOG_USEC"},
		{"EXTEND_TIMEOUT_USEC=18446744073709551616", "EXTEND_TIMEOUT_USEC"},
		{"READY=1\nWATCHDOG_USEC=1\nWATCHDOG_USEC=x", "WATCHDOG_USEC"},
	}
	for _, tc := range bad {
		got, err := parseNotify([]byte(tc.in))
		if err == nil {
			t.Errorf("parseNotify(%q) = %s, want an error with %q", tc.in, fmtMsg(got), tc.want)
			continue
		}
		if !strings.Contains(err.Error(), tc.want) {
			t.Errorf("parseNotify(%q): error %q does not say %q", tc.in, err, tc.want)
		}
		if !reflect.DeepEqual(got, notifyMsg{}) {
			t.Errorf("parseNotify(%q) failed but returned %s, want the zero message", tc.in, fmtMsg(got))
		}
	}
}

// fmtMsg shows a message with its pointers followed.
func fmtMsg(m notifyMsg) string {
	var b strings.Builder
	b.WriteString("{")
	for _, f := range []struct {
		name string
		on   bool
	}{{"Ready", m.Ready}, {"Stopping", m.Stopping}, {"Reloading", m.Reloading}, {"Watchdog", m.Watchdog},
		{"WatchdogTrigger", m.WatchdogTrigger}, {"RestartReset", m.RestartReset}, {"Barrier", m.Barrier}} {
		if f.on {
			b.WriteString(" " + f.name)
		}
	}
	if m.Status != nil {
		b.WriteString(" Status=" + strconv.Quote(*m.Status))
	}
	if m.WatchdogUSec != nil {
		b.WriteString(" WatchdogUSec=" + strconv.FormatUint(*m.WatchdogUSec, 10))
	}
	if m.ExtendTimeoutUSec != nil {
		b.WriteString(" ExtendTimeoutUSec=" + strconv.FormatUint(*m.ExtendTimeoutUSec, 10))
	}
	return b.String() + " }"
}

// encodeNotify writes a message back as a payload in canonical form.
func encodeNotify(m notifyMsg) string {
	var lines []string
	for _, f := range []struct {
		line string
		on   bool
	}{{"READY=1", m.Ready}, {"STOPPING=1", m.Stopping}, {"RELOADING=1", m.Reloading}, {"WATCHDOG=1", m.Watchdog},
		{"WATCHDOG=trigger", m.WatchdogTrigger}, {"RESTART_RESET=1", m.RestartReset}, {"BARRIER=1", m.Barrier}} {
		if f.on {
			lines = append(lines, f.line)
		}
	}
	if m.Status != nil {
		lines = append(lines, "STATUS="+*m.Status)
	}
	if m.WatchdogUSec != nil {
		lines = append(lines, "WATCHDOG_USEC="+strconv.FormatUint(*m.WatchdogUSec, 10))
	}
	if m.ExtendTimeoutUSec != nil {
		lines = append(lines, "EXTEND_TIMEOUT_USEC="+strconv.FormatUint(*m.ExtendTimeoutUSec, 10))
	}
	return strings.Join(lines, "\n")
}

func FuzzParseNotify(f *testing.F) {
	for _, s := range []string{
		"READY=1",
		"READY=1\n",
		"READY=1\nSTATUS=Serving 3 clients\nMAINPID=4711",
		"STOPPING=1", "RELOADING=1\nMONOTONIC_USEC=1234567", "RESTART_RESET=1", "BARRIER=1",
		"WATCHDOG=1", "WATCHDOG=trigger", "WATCHDOG_USEC=30000000", "EXTEND_TIMEOUT_USEC=18446744073709551615",
		"STATUS=", "STATUS=a=b=c", "STATUS=first\nSTATUS=second", "STATUS=héllo ✓",
		"READY=1\r\n", "\n\n\n", "=", "==", "=\n=", "READY=1\x00",
		"", "\x00", "READY=1\x00STATUS=x", "\xff\xfe", "STATUS=\xed\xa0\x80",
		"READY", "WATCHDOG_USEC=", "WATCHDOG_USEC=-1", "WATCHDOG_USEC=18446744073709551616",
		"EXTEND_TIMEOUT_USEC=0x10", "WATCHDOG_USEC=1\nWATCHDOG_USEC=x",
		"STATUS=" + strings.Repeat("x", notifyBufferMax-len("STATUS=")),
		"STATUS=" + strings.Repeat("x", notifyBufferMax),
		strings.Repeat("READY=1\n", 600),
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := parseNotify(b)
		if err != nil {
			if !reflect.DeepEqual(m, notifyMsg{}) {
				t.Fatalf("parseNotify(%q) failed (%v) but returned %s", b, err, fmtMsg(m))
			}
			return
		}
		// What is accepted is clean text under the limit.
		if len(b) > notifyBufferMax {
			t.Fatalf("parseNotify accepted %d bytes", len(b))
		}
		body := bytes.TrimSuffix(b, []byte{0})
		if bytes.IndexByte(body, 0) >= 0 || !utf8.Valid(body) {
			t.Fatalf("parseNotify accepted %q", b)
		}
		if m.Status != nil && strings.ContainsAny(*m.Status, "\n\r\x00") {
			t.Fatalf("parseNotify(%q): status %q spans lines", b, *m.Status)
		}
		// The message says all it understood: written back canonically and
		// parsed again, it is the same.
		enc := encodeNotify(m)
		if enc == "" {
			return // only unknown keys and values that mean nothing
		}
		m2, err := parseNotify([]byte(enc))
		if err != nil {
			t.Fatalf("parseNotify(%q) = %s, whose encoding %q fails: %v", b, fmtMsg(m), enc, err)
		}
		if !reflect.DeepEqual(m, m2) {
			t.Fatalf("parseNotify(%q) = %s, but its encoding %q parses as %s", b, fmtMsg(m), enc, fmtMsg(m2))
		}
	})
}

// syncBuffer is a log destination the reader goroutine writes while the
// test reads it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// openTestNotify opens a notify socket logging at debug level into a
// buffer, closed (and its log shown on failure) when the test ends.
func openTestNotify(t *testing.T) (*notifySocket, *syncBuffer) {
	t.Helper()
	logs := &syncBuffer{}
	n, err := openNotifySocket(zerolog.New(logs).Level(zerolog.DebugLevel))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := n.Close(); err != nil {
			t.Error(err)
		}
		if t.Failed() {
			t.Logf("notify socket log:\n%s", logs)
		}
	})
	return n, logs
}

// recvNotify waits for the next datagram the socket delivers.
func recvNotify(t *testing.T, n *notifySocket, what string) notifyDatagram {
	t.Helper()
	select {
	case d := <-n.C():
		return d
	case <-time.After(notifyWait):
		t.Fatalf("no datagram within %v: waited for %s", notifyWait, what)
		return notifyDatagram{}
	}
}

// sender is a test-owned datagram socket for sending anything at all.
type sender struct {
	t  *testing.T
	fd int
	to string
}

func newSender(t *testing.T, to string) *sender {
	t.Helper()
	fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Close(fd) })
	return &sender{t, fd, to}
}

func (s *sender) send(payload []byte, fds ...int) {
	s.t.Helper()
	var oob []byte
	if len(fds) > 0 {
		oob = unix.UnixRights(fds...)
	}
	if err := unix.Sendmsg(s.fd, payload, oob, &unix.SockaddrUnix{Name: s.to}, 0); err != nil {
		s.t.Fatalf("sendmsg %d bytes, %d fds: %v", len(payload), len(fds), err)
	}
}

// expectOnlyMarker sends a valid datagram with a unique status and checks
// it is the next one delivered. The socket has one reader handling
// datagrams in order, so whatever was sent before it has been dropped.
func expectOnlyMarker(t *testing.T, n *notifySocket, s *sender) {
	t.Helper()
	marker := "marker " + strconv.FormatInt(time.Now().UnixNano(), 10)
	s.send([]byte("READY=1\nSTATUS=" + marker))
	d := recvNotify(t, n, "the marker datagram")
	if d.msg.Status == nil || *d.msg.Status != marker || !d.msg.Ready {
		t.Fatalf("got %s before the marker: it should have been dropped", fmtMsg(d.msg))
	}
	if d.pid != os.Getpid() || d.uid != os.Getuid() {
		t.Errorf("marker from pid %d uid %d, want %d %d", d.pid, d.uid, os.Getpid(), os.Getuid())
	}
}

// pipeClosedEverywhere closes our write end and checks the read end sees
// EOF: no copy of the write end is left open anywhere.
func pipeClosedEverywhere(t *testing.T, r, w *os.File) {
	t.Helper()
	w.Close()
	r.SetReadDeadline(time.Now().Add(notifyWait))
	if _, err := r.Read(make([]byte, 1)); err != io.EOF {
		t.Fatalf("read end of the passed pipe: %v, want EOF: the socket kept a copy open", err)
	}
}

func countFDs(t *testing.T) []string {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range ents {
		target, _ := os.Readlink(filepath.Join("/proc/self/fd", e.Name()))
		out = append(out, e.Name()+"->"+target)
	}
	return out
}

func TestNotifySocketSetup(t *testing.T) {
	n, _ := openTestNotify(t)
	if filepath.Base(n.Path()) != "notify" {
		t.Errorf("socket path %q, want a file named notify", n.Path())
	}
	dir := filepath.Dir(n.Path())
	if !strings.HasPrefix(dir, os.TempDir()) {
		t.Errorf("socket directory %s is not under %s", dir, os.TempDir())
	}
	st, err := os.Stat(dir)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o700 {
		t.Errorf("socket directory mode %v, want 0700", st.Mode().Perm())
	}
	if st, err := os.Lstat(n.Path()); err != nil || st.Mode().Type() != os.ModeSocket {
		t.Errorf("%s is not a socket: %v %v", n.Path(), st, err)
	}
	rc, err := n.f.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	rc.Control(func(fd uintptr) {
		flags, err := unix.FcntlInt(fd, unix.F_GETFD, 0)
		if err != nil || flags&unix.FD_CLOEXEC == 0 {
			t.Errorf("socket fd flags %#x (%v): not close-on-exec", flags, err)
		}
		if v, err := unix.GetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_PASSCRED); err != nil || v != 1 {
			t.Errorf("SO_PASSCRED = %d (%v), want 1", v, err)
		}
		if v, err := unix.GetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_TYPE); err != nil || v != unix.SOCK_DGRAM {
			t.Errorf("SO_TYPE = %d (%v), want SOCK_DGRAM", v, err)
		}
	})
}

func TestNotifySocketClose(t *testing.T) {
	n, err := openNotifySocket(zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Close() }) // when a check below fails early
	// Fill the channel and then some, and read nothing: the reader ends up
	// waiting to deliver, and Close must still end it.
	s := newSender(t, n.Path())
	for i := 0; i < cap(n.c)+5; i++ {
		s.send([]byte("WATCHDOG=1"))
	}
	closed := make(chan error, 1)
	go func() { closed <- n.Close() }()
	select {
	case err := <-closed:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(notifyWait):
		t.Fatal("Close did not return: the reader goroutine is stuck")
	}
	select {
	case <-n.exited:
	default:
		t.Error("Close returned before the reader goroutine did")
	}
	if _, err := os.Stat(filepath.Dir(n.Path())); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("socket directory still there after Close: %v", err)
	}
	if err := n.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if err := sendNotify(n.Path(), "READY=1"); !errors.Is(err, unix.ENOENT) {
		t.Errorf("sendNotify to a closed socket: %v, want ENOENT", err)
	}
}

// TestNotifySystemdNotify runs the real systemd-notify. It sends its
// assignments, then BARRIER=1 with a pipe and waits (5 s by default) for us
// to close that pipe; it exits 0 only when we do: when the wait runs out it
// fails ("Failed to invoke barrier: Connection timed out", status 1). That
// status is the check, not how long it took, which includes its own start.
func TestNotifySystemdNotify(t *testing.T) {
	bin, err := exec.LookPath("systemd-notify")
	if err != nil {
		t.Skip("systemd-notify is not installed (apt-get install systemd)")
	}
	n, _ := openTestNotify(t)
	for _, tc := range []struct {
		args  []string
		check func(m notifyMsg) bool
	}{
		{[]string{"--ready"}, func(m notifyMsg) bool { return m.Ready }},
		{[]string{"--status=hello"}, func(m notifyMsg) bool { return m.Status != nil && *m.Status == "hello" }},
		{[]string{"WATCHDOG=1"}, func(m notifyMsg) bool { return m.Watchdog }},
		{[]string{"--ready", "--status=up and running", "EXTEND_TIMEOUT_USEC=1000000"}, func(m notifyMsg) bool {
			return m.Ready && m.Status != nil && *m.Status == "up and running" &&
				m.ExtendTimeoutUSec != nil && *m.ExtendTimeoutUSec == 1000000
		}},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			cmd := exec.Command(bin, tc.args...)
			cmd.Env = append(os.Environ(), "NOTIFY_SOCKET="+n.Path())
			stderr, exited := startClient(t, cmd)

			d := recvNotify(t, n, "the assignments")
			if !tc.check(d.msg) {
				t.Errorf("got %s", fmtMsg(d.msg))
			}
			// As root, systemd-notify sends its assignments with its
			// parent's pid in SCM_CREDENTIALS (the shell script that ran it
			// is the service); without privilege that fails and it sends
			// with its own.
			if d.pid != os.Getpid() && d.pid != cmd.Process.Pid {
				t.Errorf("pid %d, want ours (%d) or systemd-notify's (%d)", d.pid, os.Getpid(), cmd.Process.Pid)
			}
			t.Logf("assignments came with pid %d (test %d, systemd-notify %d)", d.pid, os.Getpid(), cmd.Process.Pid)
			if d.uid != os.Getuid() {
				t.Errorf("uid %d, want %d", d.uid, os.Getuid())
			}
			b := recvNotify(t, n, "BARRIER=1")
			if !b.msg.Barrier || b.pid != cmd.Process.Pid {
				t.Errorf("second datagram %s from pid %d, want BARRIER=1 from %d", fmtMsg(b.msg), b.pid, cmd.Process.Pid)
			}

			select {
			case err := <-exited:
				if err != nil {
					t.Fatalf("systemd-notify %v: %v (its barrier was not released?)\n%s", tc.args, err, stderr.Bytes())
				}
			case <-time.After(deadline):
				cmd.Process.Kill()
				<-exited
				t.Fatalf("systemd-notify %v still running %v after its barrier: the barrier fd was not closed", tc.args, deadline)
			}
		})
	}
}

func TestNotifyGoSystemd(t *testing.T) {
	n, _ := openTestNotify(t)
	t.Setenv("NOTIFY_SOCKET", n.Path())
	for _, tc := range []struct {
		state string
		want  notifyMsg
	}{
		{daemon.SdNotifyReady, notifyMsg{Ready: true}},
		{daemon.SdNotifyWatchdog, notifyMsg{Watchdog: true}},
		{daemon.SdNotifyReloading + "\nMONOTONIC_USEC=1", notifyMsg{Reloading: true}},
		{daemon.SdNotifyStopping + "\nSTATUS=bye", notifyMsg{Stopping: true, Status: strp("bye")}},
	} {
		ok, err := daemon.SdNotify(false, tc.state)
		if !ok || err != nil {
			t.Fatalf("SdNotify(%q) = %v, %v", tc.state, ok, err)
		}
		d := recvNotify(t, n, tc.state)
		if !reflect.DeepEqual(d.msg, tc.want) {
			t.Errorf("SdNotify(%q) delivered %s, want %s", tc.state, fmtMsg(d.msg), fmtMsg(tc.want))
		}
		if d.pid != os.Getpid() || d.uid != os.Getuid() {
			t.Errorf("SdNotify(%q) from pid %d uid %d, want %d %d", tc.state, d.pid, d.uid, os.Getpid(), os.Getuid())
		}
	}
}

func TestNotifyPassedFDs(t *testing.T) {
	n, logs := openTestNotify(t)
	s := newSender(t, n.Path())
	for _, tc := range []struct {
		name    string
		payload []byte
		copies  int
		arrives bool
	}{
		{"valid", []byte("BARRIER=1"), 1, true},
		{"garbage", []byte("\xff\x00garbage"), 1, false},
		{"empty", nil, 1, false},
		{"truncated", []byte("STATUS=" + strings.Repeat("x", 2*notifyBufferMax)), 1, false},
		{"most the kernel passes", []byte("READY=1"), scmMaxFD, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, w, err := os.Pipe()
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			fds := make([]int, tc.copies)
			for i := range fds {
				fds[i] = int(w.Fd())
			}
			s.send(tc.payload, fds...)
			if tc.arrives {
				d := recvNotify(t, n, "the datagram with fds")
				if d.msg.Barrier != (tc.name == "valid") || d.msg.Ready != (tc.name != "valid") {
					t.Errorf("got %s", fmtMsg(d.msg))
				}
			}
			pipeClosedEverywhere(t, r, w)
			expectOnlyMarker(t, n, s)
			if want := `"fds":` + strconv.Itoa(tc.copies); !tc.arrives && !strings.Contains(logs.String(), want) {
				t.Errorf("no drop logged with %s", want)
			}
		})
	}
}

// TestNotifyManyFDs: a datagram passing 200 descriptors puts at most
// notifyFDRoom of them in our table (the kernel closes the rest and flags
// the control data truncated), still counts when it is otherwise good, and
// leaves no descriptor open anywhere.
func TestNotifyManyFDs(t *testing.T) {
	n, logs := openTestNotify(t)
	s := newSender(t, n.Path())
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	before := countFDs(t)
	many := slices.Repeat([]int{int(w.Fd())}, 200)

	s.send([]byte("READY=1\nSTATUS=with 200 fds"), many...)
	if d := recvNotify(t, n, "READY=1 with 200 fds"); !d.msg.Ready || d.msg.Status == nil || *d.msg.Status != "with 200 fds" {
		t.Errorf("got %s, want READY=1 with its status", fmtMsg(d.msg))
	}
	s.send([]byte("BARRIER=1"), int(w.Fd()))
	if d := recvNotify(t, n, "BARRIER=1 with 1 fd"); !d.msg.Barrier {
		t.Errorf("got %s, want BARRIER=1", fmtMsg(d.msg))
	}
	s.send([]byte("READY\xff"), many...) // garbage: dropped, its fds closed all the same
	expectOnlyMarker(t, n, s)

	took := `"fds":` + strconv.Itoa(notifyFDRoom) + ","
	if got := strings.Count(logs.String(), took); got != 2 {
		t.Errorf("%d log lines with %#q, want 2 (READY=1 taken, garbage dropped): the kernel did not keep the rest", got, took)
	}
	if !strings.Contains(logs.String(), "the kernel closed the rest") {
		t.Errorf("no debug line for the truncated descriptors")
	}
	after := countFDs(t)
	if len(after) != len(before) {
		t.Errorf("%d fds open after, %d before:\nbefore %v\nafter  %v", len(after), len(before), before, after)
	}
	t.Logf("fds open before %d, after %d", len(before), len(after))
	pipeClosedEverywhere(t, r, w)
}

// TestNotifyFDFloodLowLimit: restart-run under RLIMIT_NOFILE 16, while a
// sender passes 200 descriptors with every datagram to its notify socket,
// keeps starting children and taking their READY=1, and has few
// descriptors of its own open. (With room for 253 passed descriptors each
// flood datagram filled its table until it closed them, and starts failed
// with EMFILE meanwhile.)
func TestNotifyFDFloodLowLimit(t *testing.T) {
	const starts = 30
	// Both limits: the Go runtime raises the soft limit to the hard one.
	cmd := exec.Command("sh", append([]string{"-c", `ulimit -n 16 && exec "$0" "$@"`, rrBin(t),
		"--type=notify", "--restart=always", "--restart-sec=0", "--burst=0", "--"}, child("notify-ready")...)...)
	r := startCmd(t, cmd)
	path, _ := strings.CutPrefix(r.line("env")[0], "NOTIFY_SOCKET=")

	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer pr.Close()
	stop, flooded := make(chan struct{}), make(chan int)
	go func() {
		n := 0
		defer func() { flooded <- n }()
		fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			return
		}
		defer unix.Close(fd)
		tv := unix.NsecToTimeval((100 * time.Millisecond).Nanoseconds())
		unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_SNDTIMEO, &tv) // a full queue: look at stop again
		oob := unix.UnixRights(slices.Repeat([]int{int(pw.Fd())}, 200)...)
		for {
			select {
			case <-stop:
				return
			default:
			}
			// From the test's pid, so refused under --notify-access=main,
			// after its descriptors are taken.
			if unix.Sendmsg(fd, []byte("STATUS=flood"), oob, &unix.SockaddrUnix{Name: path}, 0) == nil {
				n++
			}
		}
	}()

	rrFDs := func() int {
		ents, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", cmd.Process.Pid))
		if err != nil {
			t.Fatal(err)
		}
		return len(ents)
	}
	lo, hi := 1<<30, 0
	for i := 0; i < starts; i++ {
		pid, _ := strconv.Atoi(r.line("ready")[0])
		if ev := r.next("ready"); int(ev.num("pid")) != pid {
			t.Fatalf("ready event %v, want pid %d", ev, pid)
		}
		c := rrFDs()
		lo, hi = min(lo, c), max(hi, c)
		syscall.Kill(pid, syscall.SIGKILL)
	}
	close(stop)
	sent := <-flooded
	r.signal(syscall.SIGTERM)
	r.wait()
	pipeClosedEverywhere(t, pr, pw)

	failed := 0
	for _, e := range r.named("exit") {
		if e.str("error") != "" {
			failed++
		}
	}
	t.Logf("%d starts (%d failed), %d ready; %d flood datagrams of 200 fds; restart-run's fds at each READY=1: %d to %d",
		len(r.named("start")), failed, len(r.named("ready")), sent, lo, hi)
	if failed > 0 {
		t.Errorf("%d starts failed; log:\n%s", failed, r.logText())
	}
	if sent < starts {
		t.Errorf("only %d flood datagrams sent", sent)
	}
	// Its own descriptors are the same at every READY=1 but for the
	// passed ones the reader may hold at that moment.
	if hi-lo > notifyFDRoom {
		t.Errorf("restart-run had %d to %d fds open at READY=1; want no more than %d apart", lo, hi, notifyFDRoom)
	}
}

func TestNotifyGarbage(t *testing.T) {
	n, logs := openTestNotify(t)
	s := newSender(t, n.Path())
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	before := countFDs(t)

	for _, p := range []string{
		"", "\n", "\x00", strings.Repeat("R", notifyBufferMax+1), strings.Repeat("READY=1\n", 4000),
		"READY=1\x00STATUS=x", "STATUS=\xff\xfe", "READY", "WATCHDOG_USEC=soon",
	} {
		s.send([]byte(p))
	}
	expectOnlyMarker(t, n, s)
	for _, reason := range []string{"malformed", "payload truncated"} {
		if !strings.Contains(logs.String(), `"reason":"`+reason+`"`) {
			t.Errorf("no drop logged for reason %q", reason)
		}
	}

	seed := uint64(time.Now().UnixNano())
	t.Logf("random seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 0))
	const count = 10000
	withFD := 0
	for i := 0; i < count; i++ {
		p := make([]byte, rng.IntN(2*notifyBufferMax))
		for j := range p {
			p[j] = byte(rng.Uint32())
		}
		if _, err := parseNotify(p); err == nil {
			// Random bytes that happen to parse ("=" and the like) would
			// arrive; make them garbage for certain.
			p = append([]byte{0xff}, p...)
		}
		if i%8 == 0 {
			s.send(p, int(w.Fd()))
			withFD++
		} else {
			s.send(p)
		}
	}
	expectOnlyMarker(t, n, s)
	after := countFDs(t)
	if len(after) != len(before) {
		t.Errorf("%d fds open after %d garbage datagrams (%d with an fd), %d before:\nbefore %v\nafter  %v",
			len(after), count, withFD, len(before), before, after)
	}
	pipeClosedEverywhere(t, r, w)
}

// TestNotifyOtherUser sends from uid 65534 (nobody): the 0700 directory
// keeps it out, and with the directory opened up the uid check drops it.
func TestNotifyOtherUser(t *testing.T) {
	if os.Getuid() != 0 {
		t.Skip("needs root to run a sender as another user")
	}
	bin, err := exec.LookPath("systemd-notify")
	if err != nil {
		t.Skip("systemd-notify is not installed (apt-get install systemd)")
	}
	n, logs := openTestNotify(t)
	s := newSender(t, n.Path())
	run := func() (string, error) {
		cmd := exec.Command(bin, "--ready", "--status=intruder")
		cmd.Env = []string{"NOTIFY_SOCKET=" + n.Path()}
		cmd.Dir = "/"
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
		stderr, exited := startClient(t, cmd)
		select {
		case err := <-exited:
			return stderr.String(), err
		case <-time.After(deadline):
			cmd.Process.Kill()
			<-exited
			t.Fatalf("systemd-notify as nobody still running after %v", deadline)
			return "", nil
		}
	}

	t.Run("private directory", func(t *testing.T) {
		stderr, err := run()
		if err == nil {
			t.Errorf("systemd-notify as nobody reached the socket in a 0700 directory")
		}
		t.Logf("systemd-notify as nobody: %v: %s", err, strings.TrimSpace(stderr))
		expectOnlyMarker(t, n, s)
	})

	t.Run("uid check", func(t *testing.T) {
		if err := os.Chmod(filepath.Dir(n.Path()), 0o711); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(n.Path(), 0o666); err != nil {
			t.Fatal(err)
		}
		stderr, err := run()
		// It gets through now, and exits 0: even a refused datagram has
		// its barrier fd closed (else it would fail after its 5 s wait).
		if err != nil {
			t.Errorf("systemd-notify as nobody: %v: %s", err, stderr)
		}
		expectOnlyMarker(t, n, s)
		if got := strings.Count(logs.String(), `"reason":"sent by another user"`); got != 2 {
			t.Errorf("%d datagrams logged as sent by another user, want 2 (assignments and barrier)", got)
		}
		if !strings.Contains(logs.String(), `"uid":65534`) {
			t.Errorf("drop log does not name uid 65534")
		}
	})
}

func TestSendNotify(t *testing.T) {
	t.Run("to our socket", func(t *testing.T) {
		n, _ := openTestNotify(t)
		if err := sendNotify(n.Path(), "READY=1\nSTATUS=relayed"); err != nil {
			t.Fatal(err)
		}
		d := recvNotify(t, n, "the relayed datagram")
		if !d.msg.Ready || d.msg.Status == nil || *d.msg.Status != "relayed" || d.pid != os.Getpid() {
			t.Errorf("got %s from pid %d", fmtMsg(d.msg), d.pid)
		}
	})

	abstract := "@restart-run-test-" + strconv.Itoa(os.Getpid()) + "-" + strconv.FormatInt(time.Now().UnixNano(), 10)
	for _, addr := range []string{filepath.Join(t.TempDir(), "outer"), abstract} {
		t.Run(addr, func(t *testing.T) {
			c, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: addr, Net: "unixgram"})
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			want := "STATUS=restart 3\nWATCHDOG=1"
			if err := sendNotify(addr, want); err != nil {
				t.Fatal(err)
			}
			c.SetReadDeadline(time.Now().Add(notifyWait))
			buf := make([]byte, 2*notifyBufferMax)
			nb, err := c.Read(buf)
			if err != nil {
				t.Fatal(err)
			}
			if got := string(buf[:nb]); got != want {
				t.Errorf("received %q, want %q", got, want)
			}
		})
	}

	for _, tc := range []struct {
		addr string
		want error
	}{
		{"", nil},
		{"relative/socket", nil},
		{"/nonexistent/restart-run/notify", unix.ENOENT},
		{abstract + "-nobody-listens", unix.ECONNREFUSED},
		{"/" + strings.Repeat("x", 200), unix.EINVAL},
	} {
		err := sendNotify(tc.addr, "READY=1")
		if err == nil || (tc.want != nil && !errors.Is(err, tc.want)) {
			t.Errorf("sendNotify(%q) = %v, want an error (%v)", tc.addr, err, tc.want)
		}
	}
}

// startClient starts a notify client with its stderr kept, and returns a
// channel that delivers its end.
func startClient(t *testing.T, cmd *exec.Cmd) (*bytes.Buffer, <-chan error) {
	t.Helper()
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	return &stderr, exited
}
