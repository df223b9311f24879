//go:build !unitonly

package main

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/creack/pty"
	"golang.org/x/sys/unix"
)

// ptyShell is an interactive bash on a pseudo-terminal: the job control
// that restart-run must cooperate with is bash's own.
type ptyShell struct {
	t    *testing.T
	tty  *os.File
	mu   sync.Mutex
	buf  strings.Builder
	seen int           // bytes of buf already matched
	more chan struct{} // a token whenever the reader has added output
}

func startShell(t *testing.T) *ptyShell {
	t.Helper()
	if _, err := exec.LookPath("bash"); err != nil {
		t.Skip("bash is needed for the terminal tests")
	}
	cmd := exec.Command("bash", "--norc", "--noprofile", "-i")
	cmd.Env = append(os.Environ(), helperEnv+"=1", "PS1=PROMPT> ", "TERM=dumb")
	tty, err := pty.Start(cmd)
	if err != nil {
		t.Fatalf("start bash on a pty: %v", err)
	}
	sh := readTerminal(t, tty)
	t.Cleanup(func() {
		// What the test started from the shell (restart-run, its child,
		// the sentinel) is in the shell's session: it goes with the shell,
		// also when the test failed half-way (before, restart-run and its
		// child outlived a failed test under PID 1).
		killSession(cmd.Process.Pid)
		tty.Write([]byte("\x04exit\n"))
		cmd.Process.Kill()
		cmd.Wait()
		tty.Close()
	})
	sh.expect(`PROMPT> `)
	return sh
}

// killSession sends SIGKILL to every process of session sid but its
// leader.
func killSession(sid int) {
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == sid {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		i := bytes.LastIndexByte(b, ')')
		if err != nil || i < 0 {
			continue
		}
		if f := bytes.Fields(b[i+1:]); len(f) > 3 && string(f[3]) == strconv.Itoa(sid) { // state ppid pgrp session
			_ = unix.Kill(pid, unix.SIGKILL)
		}
	}
}

// onPty starts restart-run with args on a terminal of its own and
// returns the command and what the terminal shows; the terminal is closed
// when the test ends.
func onPty(t *testing.T, args ...string) (*exec.Cmd, *ptyShell) {
	t.Helper()
	cmd := exec.Command(rrBin(t), args...)
	cmd.Env = os.Environ()
	tty, err := pty.Start(cmd)
	if err != nil {
		t.Fatalf("start on a pty: %v", err)
	}
	t.Cleanup(func() { tty.Close() })
	return cmd, readTerminal(t, tty)
}

// readTerminal collects what appears on the terminal's master side.
func readTerminal(t *testing.T, tty *os.File) *ptyShell {
	sh := &ptyShell{t: t, tty: tty, more: make(chan struct{}, 1)}
	go func() {
		b := make([]byte, 4096)
		for {
			n, err := tty.Read(b)
			sh.mu.Lock()
			sh.buf.Write(b[:n])
			sh.mu.Unlock()
			select {
			case sh.more <- struct{}{}:
			default: // a token is already waiting
			}
			if err != nil {
				return
			}
		}
	}()
	return sh
}

func (sh *ptyShell) send(s string) {
	if _, err := sh.tty.Write([]byte(s)); err != nil {
		sh.t.Fatalf("write to the terminal: %v", err)
	}
}

// expect waits for output matching re after what was matched before, and
// returns its submatches.
func (sh *ptyShell) expect(re string) []string {
	sh.t.Helper()
	rx := regexp.MustCompile(re)
	timeout := time.After(deadline)
	for {
		sh.mu.Lock()
		out := sh.buf.String()
		sh.mu.Unlock()
		if loc := rx.FindStringSubmatchIndex(out[sh.seen:]); loc != nil {
			m := rx.FindStringSubmatch(out[sh.seen:])
			sh.seen += loc[1]
			return m
		}
		select {
		case <-sh.more: // new output: look again
		case <-timeout:
			sh.t.Fatalf("no %q on the terminal within %v; it shows:\n%s", re, deadline, out)
		}
	}
}

// TestTerminal drives restart-run from an interactive bash on a
// pseudo-terminal: the child reads the terminal, a kill -INT from outside
// is just the child's own end, Ctrl-Z and fg work, and Ctrl-C stops child
// and restart-run without a restart even under --restart=always.
func TestTerminal(t *testing.T) {
	sh := startShell(t)
	script := `echo ready $$; read line; echo "read:$line"; exit 1`
	sh.send(fmt.Sprintf("%s --restart=always --restart-sec=0 --burst=0 --log-format=json -- sh -c '%s'\n", rrBin(t), script))

	// The child reads the terminal, then exits 1 and is restarted.
	sh.expect(`ready (\d+)`)
	sh.send("hello\n")
	sh.expect(`read:hello`)
	pid, _ := strconv.Atoi(sh.expect(`ready (\d+)`)[1])

	// kill -INT from outside reaches the child alone: a clean end, and
	// --restart=always starts it again.
	syscall.Kill(pid, syscall.SIGINT)
	sh.expect(`"class":"clean"`)
	sh.expect(`ready (\d+)`)

	// Ctrl-Z stops the child and restart-run: bash sees the job stopped;
	// fg gives the terminal back to the child, which reads it.
	sh.send("\x1a")
	sh.expect(`Stopped`)
	sh.expect(`PROMPT> `)
	sh.send("fg\n")
	sh.send("again\n")
	sh.expect(`read:again`)
	sh.expect(`ready (\d+)`)

	// Ctrl-C: the child dies of SIGINT and restart-run stops with it.
	sh.send("\x03")
	sh.expect(`"event":"done","reason":"stop requested"`)
	sh.expect(`PROMPT> `)
	sh.send("echo status=$?\n")
	sh.expect(`status=130`)
	if testing.Verbose() {
		sh.mu.Lock()
		t.Logf("terminal transcript:\n%s", sh.buf.String())
		sh.mu.Unlock()
	}
}

// TestTerminalSetsidChild: in a terminal a child that leaves its process
// group (setsid) is still stopped by SIGTERM to restart-run.
func TestTerminalSetsidChild(t *testing.T) {
	cmd, sh := onPty(t, "--timeout-stop=1s", "--log-format=json", "--", "setsid", "sh", "-c", "echo ready $$; exec sleep 300")
	pid, _ := strconv.Atoi(sh.expect(`ready (\d+)`)[1])
	cmd.Process.Signal(syscall.SIGTERM)
	if !exited(cmd) {
		syscall.Kill(pid, syscall.SIGKILL)
		t.Fatalf("restart-run did not stop; terminal:\n%s", sh.buf.String())
	}
	if alive(pid) {
		t.Errorf("child %d outlived restart-run", pid)
		syscall.Kill(pid, syscall.SIGKILL)
	}
}

// TestTerminalStopSignals: under --stop-signals=TERM,INT, Ctrl-\ in the
// terminal is the child's business (a JVM's thread dump): the child gets
// SIGQUIT and goes on, and Ctrl-C afterwards still stops child and
// restart-run without a restart, though the terminal sent SIGQUIT to the
// sentinel too. The sentinel is started before the child, but the child can
// be ready first: Ctrl-\ is sent once the sentinel (the leader of the
// child's process group) ignores SIGQUIT. Sent before that, it ended the
// sentinel (about one run in ten on a busy machine), and the Ctrl-C after
// it restarted the child instead of stopping it.
func TestTerminalStopSignals(t *testing.T) {
	sh := startShell(t)
	sh.send(fmt.Sprintf("%s --restart=always --stop-signals=TERM,INT --log-format=json -- %s\n", rrBin(t),
		strings.Join(child("signals", "QUIT"), " ")))
	pid := sh.expect(`ready (\d+)`)[1]
	// The terminal's sentinel leads the child's group; it must be up
	// (ignoring SIGQUIT, since QUIT is no stop signal here) before Ctrl-\:
	// a Go program that has not yet set its signals dies of SIGQUIT.
	_, sentinel, ok := procStat(pid)
	if !ok {
		t.Fatalf("no /proc stat for the child %s", pid)
	}
	waitUntil(t, "the sentinel ignores SIGQUIT", func() bool { return ignores(sentinel, unix.SIGQUIT) })
	sh.send("\x1c") // Ctrl-\
	sh.expect(`got SIGQUIT`)
	sh.send("\x03")
	sh.expect(`"event":"done","reason":"stop requested"`)
	sh.expect(`PROMPT> `)
	sh.send("echo status=$?\n")
	sh.expect(`status=130`)
}

// TestTerminalInterruptSurvived: after a Ctrl-C that the child survives
// (it handles SIGINT), restart-run will not restart it, but it still
// forwards other signals to it (no stop is under way: restart-run sent
// nothing), and a later SIGTERM is a stop like any other, with SIGKILL
// after --timeout-stop for a child that ignores it.
func TestTerminalInterruptSurvived(t *testing.T) {
	sh := startShell(t)
	sh.send(fmt.Sprintf("%s --restart=always --timeout-stop=1s --log-format=json -- %s\n", rrBin(t),
		strings.Join(child("signals", "INT", "USR1", "TERM"), " ")))
	pid := sh.expect(`ready (\d+)`)[1]
	rr, _, ok := procStat(pid) // restart-run is the child's parent
	if !ok {
		t.Fatalf("no /proc stat for the child %s", pid)
	}
	sh.send("\x03")
	// The child's line and restart-run's come in either order.
	sh.expect(`(?s)got SIGINT.*"event":"stop","source":"terminal"|"event":"stop","source":"terminal".*got SIGINT`)
	syscall.Kill(rr, syscall.SIGUSR1)
	sh.expect(`got SIGUSR1`)
	syscall.Kill(rr, syscall.SIGTERM)
	sh.expect(`got SIGTERM`)
	sh.expect(`"event":"kill"`)
	sh.expect(`PROMPT> `)
	sh.send("echo status=$?\n")
	sh.expect(`status=137`)
}

// TestTerminalSentinelKilled: a sentinel that dies of something other than
// the terminal's Ctrl-C (kill -9 or kill -TERM of its pid) is noticed
// (a sentinel warning) and replaced in the child's process group, so that
// a Ctrl-C afterwards still stops child and restart-run without a restart,
// and restart-run still ends by SIGINT (bash shows 130).
func TestTerminalSentinelKilled(t *testing.T) {
	for _, sig := range []syscall.Signal{syscall.SIGKILL, syscall.SIGTERM} {
		t.Run(signalName(sig), func(t *testing.T) {
			sh := startShell(t)
			sh.send(fmt.Sprintf("%s --restart=always --log-format=json -- %s\n", rrBin(t), strings.Join(child("wait"), " ")))
			pid, _ := strconv.Atoi(sh.expect(`ready (\d+)`)[1])
			rr, group, ok := procStat(strconv.Itoa(pid))
			if !ok {
				t.Fatalf("no /proc stat for the child %d", pid)
			}
			// The sentinel leads the child's group: it was started first.
			if p, _, ok := procStat(strconv.Itoa(group)); !ok || p != rr || group == pid {
				t.Fatalf("child %d in group %d, whose leader is not restart-run %d's sentinel", pid, group, rr)
			}
			syscall.Kill(group, sig)
			m := sh.expect(`"level":"warn","logger":"restart-run","event":"sentinel"[^\n]*"new_pid":(\d+)`)
			next, _ := strconv.Atoi(m[1])
			if _, g, ok := procStat(m[1]); !ok || g != group {
				t.Fatalf("new sentinel %d in group %d, want the child's group %d", next, g, group)
			}
			sh.send("\x03")
			sh.expect(`"event":"done","reason":"stop requested"`)
			sh.expect(`PROMPT> `)
			sh.send("echo status=$?\n")
			sh.expect(`status=130`)
			sh.mu.Lock()
			out := sh.buf.String()
			sh.mu.Unlock()
			if strings.Contains(out, `"event":"restart"`) {
				t.Errorf("Ctrl-C after the sentinel was killed restarted the child:\n%s", out)
			}
		})
	}
}

// TestTerminalSentinelNotReplaced: a child that left its process group
// (setsid) leaves the sentinel alone in it; killed, the sentinel cannot be
// replaced (the group is empty), which is said, and restart-run supervises
// on and stops on SIGTERM as ever.
func TestTerminalSentinelNotReplaced(t *testing.T) {
	cmd, sh := onPty(t, "--restart=always", "--log-format=json", "--", "setsid", "sh", "-c", "echo ready $$; exec sleep 1000")
	pid, _ := strconv.Atoi(sh.expect(`ready (\d+)`)[1])
	var sentinel int
	for _, p := range childrenOf(cmd.Process.Pid) {
		if b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", p.pid)); string(b) == sentinelArgv0+"\x00" {
			sentinel = p.pid
		}
	}
	if sentinel == 0 {
		t.Fatalf("no sentinel among restart-run's children %v", childrenOf(cmd.Process.Pid))
	}
	syscall.Kill(sentinel, syscall.SIGKILL)
	sh.expect(`"level":"warn","logger":"restart-run","event":"sentinel"[^\n]*"signal":"SIGKILL"[^\n]*"error":[^\n]*cannot be replaced`)
	cmd.Process.Signal(syscall.SIGTERM)
	if !exited(cmd) {
		syscall.Kill(pid, syscall.SIGKILL)
		t.Fatalf("restart-run did not stop; terminal:\n%s", sh.buf.String())
	}
	if st := cmd.ProcessState.ExitCode(); st != 143 {
		t.Errorf("status %d, want 143; terminal:\n%s", st, sh.buf.String())
	}
}

// TestTerminalForwardGroup: under --forward-to=group the signals
// restart-run forwards reach the sentinel too, which leaves them to the
// child: a SIGHUP (a reload) ended it, and a SIGABRT ended it with a Go
// crash dump on the terminal. Ctrl-C afterwards is taken from the same
// sentinel, with no sentinel line.
func TestTerminalForwardGroup(t *testing.T) {
	sh := startShell(t)
	sh.send(fmt.Sprintf("%s --restart=always --forward-to=group --stop-signals=TERM,INT --log-format=json -- %s\n", rrBin(t),
		strings.Join(child("signals", "HUP", "ABRT"), " ")))
	pid := sh.expect(`ready (\d+)`)[1]
	rr, sentinel, ok := procStat(pid)
	if !ok {
		t.Fatalf("no /proc stat for the child %s", pid)
	}
	// A Go program that has not yet set its signals dies of SIGHUP. The
	// sentinel ignores SIGQUIT (no stop signal here) once it has set them.
	waitUntil(t, "the sentinel ignores SIGQUIT", func() bool { return ignores(sentinel, unix.SIGQUIT) })
	syscall.Kill(rr, syscall.SIGHUP)
	sh.expect(`got SIGHUP`)
	syscall.Kill(rr, syscall.SIGABRT)
	sh.expect(`got SIGABRT`)
	sh.send("\x03")
	sh.expect(`"event":"done","reason":"stop requested"`)
	sh.expect(`PROMPT> `)
	sh.send("echo status=$?\n")
	sh.expect(`status=130`)
	sh.mu.Lock()
	out := sh.buf.String()
	sh.mu.Unlock()
	for _, bad := range []string{`"event":"sentinel"`, `"event":"restart"`, "goroutine "} {
		if strings.Contains(out, bad) {
			t.Errorf("%s on the terminal:\n%s", bad, out)
		}
	}
}

// TestTerminalSentinelForced: restart-run's own kill for --runtime-max goes
// to the child's group and ends the sentinel too; it is replaced without a
// warning, so that a Ctrl-C while the child takes its time to stop still
// means no restart (class timeout alone would restart it).
func TestTerminalSentinelForced(t *testing.T) {
	sh := startShell(t)
	sh.send(fmt.Sprintf("%s --restart=always --runtime-max=1s --timeout-stop=1m --log-format=json --log-level=debug -- %s\n", rrBin(t),
		strings.Join(child("signals", "TERM"), " ")))
	sh.expect(`ready (\d+)`)
	// restart-run's lines in their order; the child's "got SIGTERM" may
	// come anywhere among them.
	sh.expect(`(?s)"event":"timeout".*"level":"debug","logger":"restart-run","event":"sentinel"`)
	sh.send("\x03")
	sh.expect(`"event":"done","reason":"stop requested"`)
	sh.expect(`PROMPT> `)
	sh.send("echo status=$?\n")
	sh.expect(`status=130`)
	sh.mu.Lock()
	out := sh.buf.String()
	sh.mu.Unlock()
	if strings.Contains(out, `"event":"restart"`) || strings.Contains(out, `"level":"warn","logger":"restart-run","event":"sentinel"`) {
		t.Errorf("a restart, or a sentinel warning:\n%s", out)
	}
}

// TestTerminalPID1: as PID 1 of a PID namespace with a terminal (docker run
// -it), Ctrl-C stops child and restart-run with no warning. As the leader
// of the terminal's session (as runc sets up a container's PID 1)
// restart-run takes the terminal back from the child's group; when the
// session is led from outside the namespace (unshare --pid run from a
// terminal), no number names restart-run's own group there, and that it
// cannot take the terminal back is said at debug, with an event of its own
// (it was a warning, event exit). As PID 1 the SIGINT restart-run re-raises
// on itself does not end it: the status is 130.
func TestTerminalPID1(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("unshare --pid needs root; CI runs this as root")
	}
	for _, tool := range []string{"unshare", "setsid"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s (util-linux) is not installed", tool)
		}
	}
	for _, c := range []struct {
		name   string
		leader []string // what runs restart-run in the namespace
		ctty   bool     // unshare gets the terminal as its own
		debug  string   // the debug line restart-run logs, if any
	}{
		{"session leader", []string{"setsid", "--ctty"}, false, ""},
		{"outer session", nil, true, `"level":"debug","logger":"restart-run","event":"terminal"`},
	} {
		t.Run(c.name, func(t *testing.T) {
			args := append([]string{"--pid", "--fork", "--kill-child", "--mount-proc"}, c.leader...)
			args = append(args, rrBin(t), "--restart=always", "--log-format=json", "--log-level=debug", "--",
				"sh", "-c", "echo ready $PPID; exec sleep 1000")
			cmd := exec.Command("unshare", args...)
			ptmx, tty, err := pty.Open()
			if err != nil {
				t.Fatalf("open a pty: %v", err)
			}
			defer ptmx.Close()
			cmd.Stdin, cmd.Stdout, cmd.Stderr = tty, tty, tty
			cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: c.ctty}
			if err := cmd.Start(); err != nil {
				t.Fatalf("start unshare: %v", err)
			}
			tty.Close()
			sh := readTerminal(t, ptmx)
			if ppid := sh.expect(`ready (\d+)`)[1]; ppid != "1" {
				t.Fatalf("the child's parent is %s in the namespace, want 1 (restart-run)", ppid)
			}
			sh.send("\x03")
			sh.expect(`"event":"done","reason":"stop requested"`)
			if !exited(cmd) {
				t.Fatalf("restart-run did not exit after Ctrl-C; terminal:\n%s", sh.buf.String())
			}
			if st := cmd.ProcessState.ExitCode(); st != 130 {
				t.Errorf("status %d, want 130", st)
			}
			sh.mu.Lock()
			out := sh.buf.String()
			sh.mu.Unlock()
			if strings.Contains(out, `"level":"warn"`) || strings.Contains(out, `"level":"error"`) {
				t.Errorf("a warning after Ctrl-C as PID 1:\n%s", out)
			}
			if c.debug != "" && !strings.Contains(out, c.debug) {
				t.Errorf("no %s line:\n%s", c.debug, out)
			}
		})
	}
}

// TestTerminalHangup: when the terminal hangs up (its master closed: an ssh
// session that dropped) restart-run, its session leader, gets SIGHUP and
// goes on without the terminal: the next start no longer hands it to the
// child (that failed with "inappropriate ioctl for device", 126, on every
// restart until the start limit), and that it cannot take the terminal back
// from a child that died of the SIGHUP is no news: debug, no warning. The
// log goes to a pipe here, as with 2>file. The hangup comes while the child
// runs, and in a pause, when restart-run holds the terminal.
func TestTerminalHangup(t *testing.T) {
	for _, c := range []struct {
		name, pause, script string
		// The SIGHUP and SIGCONT the hangup sends restart-run, the
		// session leader, show when it came: the child dies of SIGHUP
		// passed on ("exit"), or the first of the two, in whichever order
		// they come, is logged as dropped in a pause ("signal"; a pause
		// logs only its first).
		event string
		sigs  []string
	}{
		{"running", "0", "echo ready $$; exec sleep 1000", "exit", []string{"SIGHUP"}},
		// The first run ends, the second runs until stopped; the pause
		// is long enough for the hangup to come in it.
		{"pausing", "2s", `[ -e "$0" ] && { echo ready $$; exec sleep 1000; }; : >"$0"; echo ready $$; exit 1`,
			"signal", []string{"SIGHUP", "SIGCONT"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			cmd := exec.Command(rrBin(t), "--restart=always", "--restart-sec="+c.pause, "--log-format=json", "--log-level=debug", "--",
				"sh", "-c", c.script, filepath.Join(t.TempDir(), "ran"))
			ptmx, tty, err := pty.Open()
			if err != nil {
				t.Fatalf("open a pty: %v", err)
			}
			defer ptmx.Close()
			cmd.Stdin = tty // stdout and stderr: startCmd's pipes
			cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true}
			r := startCmd(t, cmd)
			tty.Close()
			r.next("start")
			r.line("ready")
			if c.name == "pausing" {
				r.next("restart")
			}
			ptmx.Close()
			r.next("start")
			r.line("ready")
			r.signal(syscall.SIGTERM)
			if st := r.wait(); st != 143 {
				t.Errorf("status %d, want 143; log:\n%s", st, r.logText())
			}
			if n := len(r.named("start")); n != 2 {
				t.Errorf("%d starts, want 2; log:\n%s", n, r.logText())
			}
			hup := false
			for _, e := range r.named(c.event) {
				hup = hup || slices.Contains(c.sigs, e.str("signal"))
			}
			if !hup {
				t.Errorf("no %s event with %v; log:\n%s", c.event, c.sigs, r.logText())
			}
			if e := r.named("terminal"); len(e) != 1 || e[0].str("level") != "debug" {
				t.Errorf("terminal events %v, want one at debug", e)
			}
			for _, e := range r.logged() {
				// The first run's exit 1 is a failure, a warning by design.
				if (e.str("level") == "warn" || e.str("level") == "error") && e.str("event") != "exit" {
					t.Errorf("%s line after a hangup: %v", e.str("level"), e)
				}
			}
		})
	}
}

// TestHelperNames: ps, top and pstree name restart-run's helpers by their
// comm, which was "exe" (they are executed from /proc/self/exe); ps -f shows
// their argv[0].
func TestHelperNames(t *testing.T) {
	cmd, sh := onPty(t, "--log-format=json", "--", "sh", "-c", "echo ready $$; exec sleep 1000")
	pid := sh.expect(`ready (\d+)`)[1]
	rr, sentinel, ok := procStat(pid)
	if !ok || rr != cmd.Process.Pid {
		t.Fatalf("child %s: parent %d, want restart-run %d", pid, rr, cmd.Process.Pid)
	}
	guard := 0
	for _, p := range childrenOf(rr) {
		if p.pid != sentinel && strconv.Itoa(p.pid) != pid {
			guard = p.pid
		}
	}
	if guard == 0 {
		t.Fatalf("no guard among restart-run's children %v", childrenOf(rr))
	}
	for _, h := range []struct {
		pid        int
		comm, argv string
	}{
		{sentinel, "rr-tty-sentinel", "restart-run (tty sentinel)"},
		{guard, "rr-guard", "restart-run (guard)"},
	} {
		// Every thread's name, the main thread's first (that is the
		// process's): pstree shows the threads too.
		comms := func() []string {
			out := []string{}
			b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/comm", h.pid))
			out = append(out, strings.TrimSpace(string(b)))
			tasks, _ := os.ReadDir(fmt.Sprintf("/proc/%d/task", h.pid))
			for _, task := range tasks {
				b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/task/%s/comm", h.pid, task.Name()))
				if c := strings.TrimSpace(string(b)); !slices.Contains(out, c) {
					out = append(out, c)
				}
			}
			return out
		}
		// The helper names itself as it starts, maybe after the child is
		// ready: polled, as waitUntil does, to show what it saw last.
		stop := time.Now().Add(deadline)
		for got := comms(); !slices.Equal(got, []string{h.comm}); got = comms() {
			if time.Now().After(stop) {
				t.Fatalf("%s (%d): its threads are named %q, want %q", h.argv, h.pid, got, h.comm)
			}
			time.Sleep(10 * time.Millisecond)
		}
		if b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", h.pid)); string(b) != h.argv+"\x00" {
			t.Errorf("%d: cmdline %q, want %q", h.pid, b, h.argv+"\x00")
		}
	}
	cmd.Process.Signal(syscall.SIGTERM)
	if !exited(cmd) {
		t.Fatalf("restart-run did not stop; terminal:\n%s", sh.buf.String())
	}
}
