package main

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/rs/zerolog"
	"golang.org/x/sys/unix"
)

const (
	// notifyBufferMax is the largest payload systemd accepts on its notify
	// socket: NOTIFY_BUFFER_MAX, defined as PIPE_BUF (4096 on Linux) in
	// src/basic/constants.h. A longer datagram arrives truncated there and is
	// ignored, so clients keep under it and so do we.
	notifyBufferMax = 4096

	// notifyFDRoom is how many passed descriptors a received datagram can
	// put in our table: the control buffer holds the sender's credentials
	// and this many descriptors, and the kernel closes any others itself
	// (and says so with MSG_CTRUNC). We use none of them: BARRIER=1 passes
	// one, which only has to be closed; on 64-bit systems, where control
	// messages are 8-byte aligned, room for two costs no more bytes than
	// room for one. Room for the most the kernel
	// passes (SCM_MAX_FD, 253) let a child that sent many at once fill a
	// low RLIMIT_NOFILE for as long as we took to close them, and make our
	// own starts fail with EMFILE meanwhile.
	notifyFDRoom = 2

	// notifySendTimeout bounds how long sendNotify waits for room in a
	// receiver's full queue: the relay runs in the supervisor's main loop,
	// which a stalled outer supervisor must not stop for long.
	notifySendTimeout = time.Second
)

// notifyMsg is one parsed sd_notify datagram.
type notifyMsg struct {
	Ready, Stopping, Reloading, Watchdog, WatchdogTrigger, RestartReset, Barrier bool

	Status            *string // STATUS=
	WatchdogUSec      *uint64 // WATCHDOG_USEC=
	ExtendTimeoutUSec *uint64 // EXTEND_TIMEOUT_USEC=
}

// parseNotify parses an sd_notify payload: KEY=VALUE assignments separated
// by newlines, several to a datagram. Flags count only with the value "1"
// (WATCHDOG also takes "trigger"), as in systemd, where READY=0 means
// nothing; unknown keys are ignored, so newer clients still work. When a
// key repeats, the first one counts, as systemd's strv_find_startswith
// finds it.
//
// A payload that is not clean text is refused whole rather than half used:
// empty, over notifyBufferMax bytes, with a NUL byte, invalid UTF-8, a line
// without '=', or a number that does not parse. Like systemd we accept one
// trailing NUL (a C string's terminator sent along) and split on runs of
// '\n' and '\r', so blank lines and CRLF endings are harmless.
func parseNotify(b []byte) (notifyMsg, error) {
	if len(b) > notifyBufferMax {
		return notifyMsg{}, fmt.Errorf("payload of %d bytes is over the %d-byte limit", len(b), notifyBufferMax)
	}
	if len(b) > 0 && b[len(b)-1] == 0 {
		b = b[:len(b)-1]
	}
	for i, c := range b {
		if c == 0 {
			return notifyMsg{}, fmt.Errorf("NUL byte at offset %d", i)
		}
	}
	if !utf8.Valid(b) {
		return notifyMsg{}, errors.New("payload is not valid UTF-8")
	}
	lines := strings.FieldsFunc(string(b), func(r rune) bool { return r == '\n' || r == '\r' })
	if len(lines) == 0 {
		return notifyMsg{}, errors.New("payload is empty")
	}
	var m notifyMsg
	for _, line := range lines {
		key, val, ok := strings.Cut(line, "=")
		if !ok {
			if len(line) > 64 {
				line = line[:64] + "..." // the debug log needs a hint, not 4 KiB
			}
			return notifyMsg{}, fmt.Errorf("line %q has no '='", line)
		}
		switch key {
		case "READY":
			m.Ready = m.Ready || val == "1"
		case "STOPPING":
			m.Stopping = m.Stopping || val == "1"
		case "RELOADING":
			m.Reloading = m.Reloading || val == "1"
		case "RESTART_RESET":
			m.RestartReset = m.RestartReset || val == "1"
		case "BARRIER":
			m.Barrier = m.Barrier || val == "1"
		case "WATCHDOG":
			m.Watchdog = m.Watchdog || val == "1"
			m.WatchdogTrigger = m.WatchdogTrigger || val == "trigger"
		case "STATUS":
			if m.Status == nil {
				m.Status = &val
			}
		case "WATCHDOG_USEC", "EXTEND_TIMEOUT_USEC":
			// Every number must parse, repeated or not: a client that sends
			// garbage here is broken and its datagram is not trusted.
			n, err := strconv.ParseUint(val, 10, 64)
			if err != nil {
				return notifyMsg{}, fmt.Errorf("%s: %w", key, err)
			}
			p := &m.WatchdogUSec
			if key == "EXTEND_TIMEOUT_USEC" {
				p = &m.ExtendTimeoutUSec
			}
			if *p == nil {
				*p = &n
			}
		}
	}
	return m, nil
}

// notifyDatagram is what the socket's reader delivers: a parsed payload and
// the sender's pid and uid from its SCM_CREDENTIALS, which the kernel fills
// in and a sender cannot forge without privilege.
type notifyDatagram struct {
	msg      notifyMsg
	pid, uid int
}

// notifySocket is the child's NOTIFY_SOCKET.
type notifySocket struct {
	log  zerolog.Logger
	dir  string // private directory holding the socket
	path string
	f    *os.File // the socket, in the runtime poller so Close wakes the reader
	uid  int
	c    chan notifyDatagram

	done   chan struct{} // closed by Close: stop waiting to deliver
	exited chan struct{} // closed when the reader goroutine has returned

	closeOnce sync.Once
	closeErr  error
}

// openNotifySocket creates the child's NOTIFY_SOCKET and starts its reader.
//
// The socket lives in a fresh 0700 directory, so only our own user can
// reach it (SPEC 8); the uid check on every datagram is the second line. It
// is a datagram socket, as sd_notify(3) expects, with SO_PASSCRED so each
// datagram carries the sender's pid and uid.
func openNotifySocket(log zerolog.Logger) (*notifySocket, error) {
	dir, err := os.MkdirTemp("", "restart-run-notify-")
	if err != nil {
		return nil, fmt.Errorf("open notify socket: %w", err)
	}
	n, err := bindNotifySocket(log, dir)
	if err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("open notify socket: %w", err)
	}
	go n.read()
	return n, nil
}

func bindNotifySocket(log zerolog.Logger, dir string) (*notifySocket, error) {
	// MkdirTemp asks for 0700, but a umask could take our own bits away.
	if err := os.Chmod(dir, 0o700); err != nil {
		return nil, err
	}
	path := filepath.Join(dir, "notify")
	if len(path) >= len(unix.RawSockaddrUnix{}.Path) {
		return nil, fmt.Errorf("socket path %q is longer than a unix socket address allows (%d bytes); set TMPDIR to a shorter directory",
			path, len(unix.RawSockaddrUnix{}.Path)-1)
	}
	// Close-on-exec: the socket is for the child to find by name, and a
	// descriptor leaked into it would keep our end alive in its tree.
	// Non-blocking, so the runtime poller can wake the reader on Close.
	fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC|unix.SOCK_NONBLOCK, 0)
	if err != nil {
		return nil, fmt.Errorf("socket: %w", err)
	}
	if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_PASSCRED, 1); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("set SO_PASSCRED: %w", err)
	}
	if err := unix.Bind(fd, &unix.SockaddrUnix{Name: path}); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("bind %s: %w", path, err)
	}
	return &notifySocket{
		log:    log,
		dir:    dir,
		path:   path,
		f:      os.NewFile(uintptr(fd), path),
		uid:    os.Getuid(),
		c:      make(chan notifyDatagram, 16),
		done:   make(chan struct{}),
		exited: make(chan struct{}),
	}, nil
}

// Path is the value for the child's NOTIFY_SOCKET.
func (n *notifySocket) Path() string { return n.path }

// C delivers the datagrams that passed every check, in arrival order. It is
// never closed. The owner must keep receiving while the socket is open: the
// reader waits for it, and meanwhile senders queue in the kernel.
func (n *notifySocket) C() <-chan notifyDatagram { return n.c }

// Close closes the socket, waits for the reader goroutine to return and
// removes the directory. It may be called more than once.
func (n *notifySocket) Close() error {
	n.closeOnce.Do(func() {
		close(n.done)
		// Closing through the os.File wakes the reader blocked in the
		// poller, and the descriptor is only released once the reader's
		// Recvmsg is done with it, so it cannot read from a reused number.
		err := n.f.Close()
		<-n.exited
		err = errors.Join(err, os.RemoveAll(n.dir))
		if err != nil {
			n.closeErr = fmt.Errorf("close notify socket: %w", err)
		}
	})
	return n.closeErr
}

// read is the socket's one reader. It returns when the socket is closed.
func (n *notifySocket) read() {
	defer close(n.exited)
	rc, err := n.f.SyscallConn()
	if err != nil {
		n.log.Error().Str("event", "notify").Err(err).Msg("cannot read the notify socket")
		return
	}
	buf := make([]byte, notifyBufferMax)
	oob := make([]byte, unix.CmsgSpace(unix.SizeofUcred)+unix.CmsgSpace(4*notifyFDRoom))
	for {
		var nb, noob, flags int
		var rerr error
		err := rc.Read(func(fd uintptr) bool {
			for {
				// MSG_CMSG_CLOEXEC: a passed descriptor is close-on-exec
				// from the moment it is ours, so a child forked before we
				// close it cannot inherit it.
				nb, noob, flags, _, rerr = unix.Recvmsg(int(fd), buf, oob, unix.MSG_CMSG_CLOEXEC)
				if rerr != unix.EINTR {
					return rerr != unix.EAGAIN
				}
			}
		})
		if err != nil {
			return // closed
		}
		// Descriptors first, whatever else went wrong: a sender such as
		// systemd-notify waits for its barrier pipe to close.
		var cred *unix.Ucred
		var nfds int
		if noob > 0 {
			cred, nfds = takeControl(oob[:noob])
		}
		if rerr != nil {
			n.log.Warn().Str("event", "notify").Int("fds", nfds).Err(rerr).Msg("cannot receive from the notify socket")
			continue
		}
		d, why, perr := n.check(buf[:nb], flags, cred)
		if why != "" {
			ev := n.log.Debug().Str("event", "notify").Str("reason", why).Int("bytes", nb).Int("fds", nfds)
			if cred != nil {
				ev = ev.Int32("pid", cred.Pid).Uint32("uid", cred.Uid)
			}
			ev.Err(perr).Msg("notify datagram dropped")
			continue
		}
		if flags&unix.MSG_CTRUNC != 0 {
			n.log.Debug().Str("event", "notify").Int("fds", nfds).Int("pid", d.pid).
				Msg("notify datagram came with more descriptors than we take; the kernel closed the rest")
		}
		select {
		case n.c <- d:
		case <-n.done:
			return
		}
	}
}

// check decides whether a received datagram counts. A non-empty reason
// means it is dropped.
//
// MSG_CTRUNC (control data truncated) does not drop it. Our control buffer
// is small on purpose (notifyFDRoom), so the flag means a sender passed
// more descriptors than we take, and the kernel has closed the rest. The
// kernel writes SCM_CREDENTIALS before any descriptors, and the buffer
// always has room for them, so credentials that arrived are whole and
// only descriptors were lost, which we would have closed anyway. A
// truncation that lost the credentials is dropped below as "no
// credentials". systemd ignores every MSG_CTRUNC datagram, but its buffer
// holds 768 descriptors, more than the kernel's 253 per datagram, so it
// sees the flag only when it has run out of descriptors itself. A client's
// READY=1 sent with descriptors still counts there, and so it does here.
func (n *notifySocket) check(payload []byte, flags int, cred *unix.Ucred) (notifyDatagram, string, error) {
	switch {
	case flags&unix.MSG_TRUNC != 0:
		return notifyDatagram{}, "payload truncated", nil
	case cred == nil || cred.Pid <= 0:
		// pid 0: a sender in a pid namespace we cannot see. systemd drops
		// those too; nothing could be attributed to it.
		return notifyDatagram{}, "no credentials", nil
	case int(cred.Uid) != n.uid:
		return notifyDatagram{}, "sent by another user", nil
	}
	m, err := parseNotify(payload)
	if err != nil {
		return notifyDatagram{}, "malformed", err
	}
	return notifyDatagram{msg: m, pid: int(cred.Pid), uid: int(cred.Uid)}, "", nil
}

// takeControl closes every descriptor passed in the control data and
// returns the sender's credentials, if any, and how many it closed. It walks
// the messages one at a time so that one it cannot parse does not hide the
// descriptors in those before it.
func takeControl(oob []byte) (*unix.Ucred, int) {
	var cred *unix.Ucred
	nfds := 0
	for len(oob) > 0 {
		h, data, rest, err := unix.ParseOneSocketControlMessage(oob)
		if err != nil {
			break
		}
		oob = rest
		if h.Level != unix.SOL_SOCKET {
			continue
		}
		switch h.Type {
		case unix.SCM_RIGHTS:
			for ; len(data) >= 4; data = data[4:] {
				unix.Close(int(int32(binary.NativeEndian.Uint32(data))))
				nfds++
			}
		case unix.SCM_CREDENTIALS:
			m := unix.SocketControlMessage{Header: h, Data: data}
			if c, err := unix.ParseUnixCredentials(&m); err == nil {
				cred = c
			}
		}
	}
	return cred, nfds
}

// sendNotify sends one datagram to an sd_notify socket address as
// sd_notify(3) does: a path, or an abstract name when it starts with '@'.
// It relays READY=1, STOPPING=1, STATUS= and WATCHDOG=1 to an outer
// supervisor's NOTIFY_SOCKET. The kernel attaches our credentials, which is
// how the outer supervisor knows the datagram is from its main process.
func sendNotify(addr, payload string) error {
	if addr == "" || (addr[0] != '/' && addr[0] != '@') {
		return fmt.Errorf("send to NOTIFY_SOCKET %q: not an absolute path or an @abstract name", addr)
	}
	fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("send to NOTIFY_SOCKET %q: %w", addr, err)
	}
	defer unix.Close(fd)
	tv := unix.NsecToTimeval(notifySendTimeout.Nanoseconds())
	if err := unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_SNDTIMEO, &tv); err != nil {
		return fmt.Errorf("send to NOTIFY_SOCKET %q: %w", addr, err)
	}
	// MSG_NOSIGNAL, as sd_notify: a vanished receiver must not raise SIGPIPE.
	err = unix.Sendmsg(fd, []byte(payload), nil, &unix.SockaddrUnix{Name: addr}, unix.MSG_NOSIGNAL)
	if err != nil {
		return fmt.Errorf("send to NOTIFY_SOCKET %q: %w", addr, err)
	}
	return nil
}
