//go:build !unitonly

package main

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// The Go example client, built once, next to the restart-run binary (and
// removed with it).
var (
	notifydOnce sync.Once
	notifydPath string
	notifydErr  error
)

func notifydBin(t *testing.T) string {
	t.Helper()
	bin := rrBin(t)
	notifydOnce.Do(func() {
		notifydPath = filepath.Join(filepath.Dir(bin), "notifyd")
		out, err := exec.Command("go", "build", "-o", notifydPath, "./examples/notify/go").CombinedOutput()
		if err != nil {
			notifydErr = fmt.Errorf("%v\n%s", err, out)
		}
	})
	if notifydErr != nil {
		t.Fatalf("building examples/notify/go: %v", notifydErr)
	}
	return notifydPath
}

// TestNotifyClients runs each example client of examples/notify, unchanged,
// under restart-run --type=notify --watchdog: the ready event comes (for
// the Go and Python ones, which listen on a socket, once that socket
// answers), the client's own pings keep it running for more than three
// watchdog periods after it (counted on the lines it prints for each ping,
// with no watchdog event meanwhile), and SIGTERM ends it cleanly (status 0,
// its own exit, no restart). The shell client pings with systemd-notify, a
// process of its own, so it runs with --notify-access=all, as the README
// says. python3 and systemd-notify may each take seconds to start
// (tools/slow-test.sh): the shell client starts each ping in the
// background, and the 4 s period leaves 2 s for such a start.
func TestNotifyClients(t *testing.T) {
	const period = 4 * time.Second
	clients := []struct {
		name   string
		need   func(*testing.T)
		cmd    func(*testing.T) string
		flags  []string
		listen bool // serves on DIR/notifyd.sock
	}{
		{"go", func(*testing.T) {}, notifydBin, nil, true},
		{"python", needPython, func(*testing.T) string { return "examples/notify/python/notifyd.py" }, nil, true},
		{"shell", needSystemdNotify, func(*testing.T) string { return "examples/notify/shell/notifyd.sh" },
			[]string{"--notify-access=all"}, false},
	}
	for _, c := range clients {
		t.Run(c.name, func(t *testing.T) {
			c.need(t)
			t.Parallel()
			dir := t.TempDir()
			// The default --restart=on-failure, as a service would run: a
			// clean exit is then logged at info (under --restart=no, at
			// debug).
			args := append([]string{"--type=notify", "--watchdog=" + period.String(), "--timeout-start=30s"}, c.flags...)
			r := startRR(t, nil, append(args, "--", c.cmd(t), dir)...)
			ready := r.next("ready")
			readyAt := time.Now()
			if c.listen {
				conn, err := net.Dial("unix", filepath.Join(dir, "notifyd.sock"))
				if err != nil {
					t.Fatalf("ready, but its socket does not answer: %v; log:\n%s", err, r.logText())
				}
				_ = conn.SetDeadline(time.Now().Add(deadline))
				hello, err := bufio.NewReader(conn).ReadString('\n')
				conn.Close()
				if want := fmt.Sprintf("hello from notifyd %d\n", int(ready.num("pid"))); err != nil || hello != want {
					t.Errorf("it answered %q (%v), want %q", hello, err, want)
				}
			}

			// Alive for three periods after ready on its own pings: six
			// pings at half the period would do, but the test counts
			// until three periods have passed by its clock as well, in
			// case a client pings faster than it says.
			pings := 0
			fail := time.After(3*period + 3*deadline)
			for pings < 6 || time.Since(readyAt) < 3*period {
				select {
				case l := <-r.out:
					if strings.HasPrefix(l, "watchdog ping ") {
						pings++
					}
				case e := <-r.events:
					if ev := e.str("event"); ev == "watchdog" || ev == "exit" || ev == "timeout" {
						t.Fatalf("%s event after %d pings, %v after ready; log:\n%s", ev, pings, time.Since(readyAt), r.logText())
					}
				case <-fail:
					t.Fatalf("%d pings in %v after ready; log:\n%s", pings, time.Since(readyAt), r.logText())
				}
			}

			r.signal(syscall.SIGTERM)
			if st := r.wait(); st != 0 {
				t.Errorf("status %d after SIGTERM, want 0 (the client's own exit); log:\n%s", st, r.logText())
			}
			if e := r.named("exit"); len(e) != 1 || e[0].str("class") != "clean" {
				t.Errorf("runs %v, want one, clean", e)
			}
			if n := len(r.named("watchdog")); n != 0 {
				t.Errorf("%d watchdog events; log:\n%s", n, r.logText())
			}
		})
	}

	// The Python client's own sd_notify: an abstract socket name (the '@'
	// that restart-run never gives but systemd may) reaches the socket, and
	// WATCHDOG_USEC without WATCHDOG_PID counts, as sd_watchdog_enabled(3)
	// has it.
	t.Run("python-abstract", func(t *testing.T) {
		needPython(t)
		t.Parallel()
		o := openSDSocket(t, fmt.Sprintf("@restart-run-test-%d-%d", os.Getpid(), time.Now().UnixNano()))
		cmd := exec.Command("examples/notify/python/notifyd.py", t.TempDir())
		for _, kv := range os.Environ() {
			name, _, _ := strings.Cut(kv, "=")
			if !slices.Contains([]string{"NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID"}, name) {
				cmd.Env = append(cmd.Env, kv)
			}
		}
		cmd.Env = append(cmd.Env, "NOTIFY_SOCKET="+o.addr, fmt.Sprintf("WATCHDOG_USEC=%d", period.Microseconds()))
		r := startCmd(t, cmd)
		pid := r.cmd.Process.Pid
		if m := o.await(r, "READY=1", time.Now().Add(3*deadline)); m.pid != pid {
			t.Errorf("READY=1 from pid %d, want the client's %d", m.pid, pid)
		}
		o.await(r, "WATCHDOG=1", time.Now().Add(period))
		r.signal(syscall.SIGTERM)
		o.await(r, "STOPPING=1", time.Now().Add(deadline))
		if st := r.wait(); st != 0 {
			t.Errorf("status %d after SIGTERM, want 0; log:\n%s", st, r.logText())
		}
	})
}
