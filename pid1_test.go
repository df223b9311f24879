//go:build !unitonly

package main

import (
	"bufio"
	"bytes"
	"context"
	"debug/elf"
	"errors"
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

	"golang.org/x/sys/unix"
)

// busyboxPath is where Debian's busybox-static puts its binary.
const busyboxPath = "/bin/busybox"

// TestPID1EmptyRoot runs the static binary, built here with CGO_ENABLED=0
// (rrBin's may be built with -race, which needs libc), as PID 1 of a new
// PID namespace, chrooted into a root that holds nothing but it, a static
// busybox, and empty /proc and /tmp: a container made of one binary, as a
// runtime would start it, less the other namespaces and the cgroup. Nothing
// of the machine's (a libc, /dev, a shell) is there to help.
func TestPID1EmptyRoot(t *testing.T) {
	e := pid1Env(t)

	// The start limiter as PID 1: a child that fails at once is started
	// --burst times, and restart-run exits with its status.
	t.Run("limit", func(t *testing.T) {
		root := e.root(t, false)
		r := e.enter(t, root, "--burst=3", "--interval=1m", "--", "sh", "-c", "echo parent $PPID; exit 3")
		if st := r.wait(); st != 3 {
			t.Fatalf("status %d, want 3 (the child's); log:\n%s", st, r.logText())
		}
		starts, exits, limits := r.named("start"), r.named("exit"), r.named("limit")
		if len(starts) != 3 || len(exits) != 3 || len(limits) != 1 {
			t.Fatalf("%d starts, %d exits, %d limits; want 3, 3, 1; log:\n%s", len(starts), len(exits), len(limits), r.logText())
		}
		for _, x := range exits {
			if x.num("exit_code") != 3 || x.str("class") != "exit-code" {
				t.Errorf("exit event %v, want exit_code 3, class exit-code", x)
			}
		}
		if l := limits[0]; l.num("burst") != 3 || l.num("exit_code") != 3 {
			t.Errorf("limit event %v, want burst 3, exit_code 3", l)
		}
		// Each child's parent is restart-run: it was PID 1.
		for i := range 3 {
			if p := r.line("parent")[0]; p != "1" {
				t.Errorf("start %d: the child's parent is %s, want 1 (restart-run)", i+1, p)
			}
		}
	})

	// Orphans that end while restart-run runs are reaped by it, the only
	// process left to do it: their parents are gone, and no init outside
	// the namespace can reach them.
	t.Run("orphans", func(t *testing.T) {
		// busybox's sh opens /dev/null for the stdin of a command started
		// with &, and fails that command without it.
		root := e.root(t, true)
		// Each (... &) leaves an orphan: the subshell exits as soon as it
		// has started the command. Half of them end at once (perhaps
		// before their subshell: the zombie is then reparented), half a
		// moment later (their own lifetime, not a wait of the test's),
		// once reparented. The orphans hold the pipe to cat: cat sees EOF,
		// and "gone" is printed, only once all of them have exited.
		script := `i=0
while [ $i -lt 10 ]; do
	(sh -c 'echo orphan $$' &)
	(sh -c 'echo orphan $$; exec sleep 0.1' &)
	i=$((i+1))
done | cat
echo gone
exec sleep 1000`
		r := e.enter(t, root, "--restart=no", "--timeout-stop=1m", "--", "sh", "-c", script)
		child := int(r.next("start").num("pid"))
		var orphans []int
		for {
			l := r.nextLine()
			if l == "gone" {
				break
			}
			if pid, ok := strings.CutPrefix(l, "orphan "); ok {
				n, err := strconv.Atoi(pid)
				if err != nil {
					t.Fatalf("stdout line %q", l)
				}
				orphans = append(orphans, n)
			}
		}
		if len(orphans) != 20 {
			t.Fatalf("%d orphans started, want 20; log:\n%s", len(orphans), r.logText())
		}
		host := e.hostPID1(t, r)
		// An orphan not reaped stays in the namespace's /proc as a zombie
		// (state Z, parent 1) for as long as restart-run runs: it is
		// restart-run's to reap, and only its exit, which tears the
		// namespace down, would clear it. So look while it runs, and wait
		// for the zombies that exist for a moment between an exit and the
		// reap to go. The child, exec'd to sleep, keeps restart-run
		// running throughout.
		stop := time.Now().Add(deadline)
		for {
			ps, err := nsProcs(host)
			if err != nil {
				t.Fatalf("reading the namespace's /proc: %v", err)
			}
			// The listing must see what is there, or it would find no
			// zombie in an empty one.
			if c, ok := ps[child]; ps[1].comm != "restart-run" || !ok || c.state == 'Z' || c.ppid != 1 {
				t.Fatalf("the namespace's /proc shows no restart-run as 1 or not its child %d:\n%s", child, ps)
			}
			left := slices.DeleteFunc(slices.Clone(orphans), func(pid int) bool { _, ok := ps[pid]; return !ok })
			zombies := ps.zombies()
			if len(left) == 0 && len(zombies) == 0 {
				break
			}
			if time.Now().After(stop) {
				t.Fatalf("after %v, zombies %v and orphans %v not reaped, restart-run running; the namespace's processes:\n%s",
					deadline, zombies, left, ps)
			}
			time.Sleep(10 * time.Millisecond) // no event tells of a reap
		}
		if err := syscall.Kill(host, syscall.SIGTERM); err != nil {
			t.Fatal(err)
		}
		if st := r.wait(); st != 143 {
			t.Errorf("status %d, want 143; log:\n%s", st, r.logText())
		}
		if n := len(r.named("start")); n != 1 {
			t.Errorf("%d starts, want 1", n)
		}
	})

	// SIGTERM stops PID 1 and its child at once, with the child's status.
	// The kernel hands a namespace's PID 1 only the signals it has a
	// handler for (SIGKILL and SIGSTOP from outside excepted), from outside
	// the namespace and from inside alike: without its own handler
	// restart-run would go on running.
	for _, from := range []string{"outside", "inside"} {
		t.Run("sigterm-from-"+from, func(t *testing.T) {
			var nsenter string
			if from == "inside" {
				var err error
				if nsenter, err = exec.LookPath("nsenter"); err != nil {
					t.Skip("nsenter (util-linux) is not installed")
				}
			}
			root := e.root(t, false)
			r := e.enter(t, root, "--restart=always", "--timeout-stop=1m", "--", "sleep", "1000")
			r.next("start")
			host := e.hostPID1(t, r)
			sent := time.Now()
			if from == "outside" {
				// As docker stop does: from the parent namespace, to the
				// host's pid of the container's PID 1.
				if err := syscall.Kill(host, syscall.SIGTERM); err != nil {
					t.Fatal(err)
				}
			} else {
				// As docker exec CONTAINER kill 1 does: busybox's kill run
				// in the namespace and the root.
				ctx, cancel := context.WithTimeout(context.Background(), deadline)
				defer cancel()
				cmd := exec.CommandContext(ctx, nsenter, "--target="+strconv.Itoa(host), "--pid", "--mount", "--root", "--wd", "kill", "-TERM", "1")
				cmd.Env = []string{"PATH=/bin"}
				// kill may not get to exit: once restart-run has acted
				// on the signal and exited, the kernel kills what is
				// left of the namespace, and nsenter ends as its child
				// did, by SIGKILL. Nothing else can end the namespace
				// before kill has sent its signal.
				out, err := cmd.CombinedOutput()
				var ee *exec.ExitError
				if errors.As(err, &ee) && ee.Sys().(syscall.WaitStatus).Signal() == syscall.SIGKILL && ctx.Err() == nil {
					err = nil
				}
				if err != nil {
					t.Fatalf("nsenter ... kill -TERM 1: %v: %s", err, out)
				}
			}
			st := r.wait()
			took := time.Since(sent)
			if st != 143 {
				t.Errorf("status %d, want 143 (the child's, killed by SIGTERM); log:\n%s", st, r.logText())
			}
			if took > deadline {
				t.Errorf("restart-run took %v to stop", took)
			}
			exits := r.named("exit")
			if len(exits) != 1 || exits[0].str("signal") != "SIGTERM" || exits[0].str("class") != "clean" {
				t.Errorf("exit events %v, want one, SIGTERM, clean; log:\n%s", exits, r.logText())
			}
			if s := r.named("stop"); len(s) != 1 || s[0].str("signal") != "SIGTERM" {
				t.Errorf("stop events %v, want one for SIGTERM", s)
			}
			if n, k := len(r.named("start")), len(r.named("kill")); n != 1 || k != 0 {
				t.Errorf("%d starts, %d kills; want 1, 0", n, k)
			}
			t.Logf("stopped %v after SIGTERM from %s", took.Round(time.Millisecond), from)
		})
	}
}

// pid1 holds what TestPID1EmptyRoot's runs share.
type pid1 struct {
	bin     string // the static restart-run
	unshare string
	chroot  string
}

// pid1Env skips where the test cannot run, else builds the static binary.
func pid1Env(t *testing.T) *pid1 {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root for unshare --pid --mount and chroot; CI runs as root")
	}
	for _, c := range []struct {
		bit  uint
		name string
	}{{unix.CAP_SYS_ADMIN, "CAP_SYS_ADMIN"}, {unix.CAP_SYS_CHROOT, "CAP_SYS_CHROOT"}} {
		if !hasCap(c.bit) {
			t.Skipf("root without %s: unshare --pid --mount-proc or chroot is not permitted", c.name)
		}
	}
	e := &pid1{}
	var err error
	if e.unshare, err = exec.LookPath("unshare"); err != nil {
		t.Skip("unshare (util-linux) is not installed")
	}
	if e.chroot, err = exec.LookPath("chroot"); err != nil {
		t.Skip("chroot (coreutils) is not installed")
	}
	if _, err := os.Stat(busyboxPath); err != nil {
		t.Skipf("no %s: install busybox-static", busyboxPath)
	}
	if ok, err := isStatic(busyboxPath); err != nil || !ok {
		t.Skipf("%s is not a static binary (%v): install busybox-static, not busybox", busyboxPath, err)
	}

	e.bin = staticBin(t)
	if ok, err := isStatic(e.bin); err != nil || !ok {
		t.Fatalf("the CGO_ENABLED=0 build is not static (%v)", err)
	}

	// Where namespaces or mounts are refused all the same (a seccomp
	// filter, a user namespace without its own /proc), unshare says so.
	root := e.root(t, false)
	ctx, cancel := context.WithTimeout(context.Background(), deadline)
	defer cancel()
	probe := exec.CommandContext(ctx, e.unshare, e.args(root, "/bin/sh", "-c", "exit 0")...)
	probe.Env = []string{"PATH=/bin"}
	if out, err := probe.CombinedOutput(); err != nil {
		if bytes.Contains(out, []byte("Operation not permitted")) || bytes.Contains(out, []byte("Permission denied")) {
			t.Skipf("entering a PID namespace and a root is not permitted here: %s", bytes.TrimSpace(out))
		}
		t.Fatalf("unshare ... chroot %s /bin/sh -c 'exit 0': %v: %s", root, err, out)
	}
	return e
}

// hasCap reports whether the effective capability set holds bit.
func hasCap(bit uint) bool {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return false
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "CapEff:"); ok {
			caps, err := strconv.ParseUint(strings.TrimSpace(v), 16, 64)
			return err == nil && caps&(1<<bit) != 0
		}
	}
	return false
}

// isStatic reports whether the ELF file at path names no program
// interpreter: it needs no dynamic loader and no libc in its root.
func isStatic(path string) (bool, error) {
	f, err := elf.Open(path)
	if err != nil {
		return false, err
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			return false, nil
		}
	}
	return true, nil
}

// root makes a new root: /restart-run, /bin/busybox and the links to it
// the tests run, empty /proc and /tmp, and /dev/null when devNull is set.
func (e *pid1) root(t *testing.T, devNull bool) string {
	t.Helper()
	root := t.TempDir()
	for _, d := range []string{"bin", "proc", "tmp"} {
		if err := os.Mkdir(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	copyFile(t, e.bin, filepath.Join(root, "restart-run"))
	copyFile(t, busyboxPath, filepath.Join(root, "bin", "busybox"))
	for _, applet := range []string{"sh", "sleep", "cat", "kill"} {
		if err := os.Symlink("busybox", filepath.Join(root, "bin", applet)); err != nil {
			t.Fatal(err)
		}
	}
	if devNull {
		null := filepath.Join(root, "dev", "null")
		if err := os.Mkdir(filepath.Dir(null), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := unix.Mknod(null, unix.S_IFCHR|0o666, int(unix.Mkdev(1, 3))); err != nil {
			t.Fatalf("mknod %s: %v", null, err)
		}
		f, err := os.OpenFile(null, os.O_WRONLY, 0)
		if errors.Is(err, os.ErrPermission) {
			t.Skipf("the temporary directory is mounted nodev: %v", err)
		}
		if err != nil {
			t.Fatal(err)
		}
		f.Close()
	}
	return root
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	src, err := os.Open(from)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	dst, err := os.OpenFile(to, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o755)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(dst, src); err != nil {
		dst.Close()
		t.Fatal(err)
	}
	if err := dst.Close(); err != nil {
		t.Fatal(err)
	}
}

// args are unshare's arguments to run argv in root as PID 1 of a new PID
// namespace, with /proc that namespace's own. unshare forks: its child is
// PID 1, and chroot and then argv[0] take its place by exec. --kill-child:
// should the test kill unshare, PID 1 gets SIGKILL, and the kernel then
// kills the whole namespace. The proc mount is in a mount namespace of
// unshare's, which goes with it.
func (e *pid1) args(root string, argv ...string) []string {
	return append([]string{"--pid", "--fork", "--kill-child", "--mount-proc=" + filepath.Join(root, "proc"), e.chroot, root}, argv...)
}

// enter starts restart-run with args as PID 1 in root, with PATH=/bin
// alone for an environment.
func (e *pid1) enter(t *testing.T, root string, args ...string) *rr {
	t.Helper()
	cmd := exec.Command(e.unshare, e.args(root, append([]string{"/restart-run"}, args...)...)...)
	cmd.Env = []string{"PATH=/bin"}
	return startCmd(t, cmd)
}

// hostPID1 is restart-run's pid outside its namespace: unshare's one child.
// It fails the test unless that process is restart-run and PID 1 of its
// namespace. Call it once restart-run has logged, so that it is running.
func (e *pid1) hostPID1(t *testing.T, r *rr) int {
	t.Helper()
	kids := childrenOf(r.cmd.Process.Pid)
	if len(kids) != 1 {
		t.Fatalf("unshare (%d) has children %v, want one", r.cmd.Process.Pid, kids)
	}
	pid := kids[0].pid
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	var name, nspid string
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "Name:"); ok {
			name = strings.TrimSpace(v)
		}
		if v, ok := strings.CutPrefix(sc.Text(), "NSpid:"); ok {
			nspid = strings.TrimSpace(v)
		}
	}
	if f := strings.Fields(nspid); name != "restart-run" || len(f) != 2 || f[1] != "1" {
		t.Fatalf("unshare's child %d is %q with NSpid %q, want restart-run, 1 in its namespace", pid, name, nspid)
	}
	return pid
}

// nextLine waits for restart-run's next stdout line (its children's).
func (r *rr) nextLine() string {
	r.t.Helper()
	select {
	case l := <-r.out:
		return l
	case <-time.After(deadline):
		r.t.Fatalf("no line on stdout within %v; log:\n%s", deadline, r.logText())
		return ""
	}
}

// nsProc is one process as its PID namespace's /proc shows it.
type nsProc struct {
	ppid  int
	state byte // R, S, Z …
	comm  string
}

// nsList is a PID namespace's processes by their pids in it.
type nsList map[int]nsProc

// nsProcs reads the /proc that unshare --mount-proc mounted for the PID
// namespace whose PID 1 has host pid host, reached through that process's
// root, which is where it is mounted.
func nsProcs(host int) (nsList, error) {
	dir := fmt.Sprintf("/proc/%d/root/proc", host)
	names, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	ps := nsList{}
	for _, n := range names {
		pid, err := strconv.Atoi(n.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(dir + "/" + n.Name() + "/stat")
		if err != nil {
			continue // reaped since the directory was read
		}
		// "pid (comm) state ppid ...": comm may hold spaces and ')'.
		open, end := bytes.IndexByte(b, '('), bytes.LastIndexByte(b, ')')
		if open < 0 || end < open {
			return nil, fmt.Errorf("%s/stat: %q", n.Name(), b)
		}
		f := bytes.Fields(b[end+1:])
		if len(f) < 2 || len(f[0]) != 1 {
			return nil, fmt.Errorf("%s/stat: %q", n.Name(), b)
		}
		ppid, _ := strconv.Atoi(string(f[1]))
		ps[pid] = nsProc{ppid: ppid, state: f[0][0], comm: string(b[open+1 : end])}
	}
	return ps, nil
}

// zombies lists the pids in state Z.
func (ps nsList) zombies() []int {
	var out []int
	for pid, p := range ps {
		if p.state == 'Z' {
			out = append(out, pid)
		}
	}
	slices.Sort(out)
	return out
}

// String is the list as ps -o pid,ppid,stat,comm shows it.
func (ps nsList) String() string {
	pids := make([]int, 0, len(ps))
	for pid := range ps {
		pids = append(pids, pid)
	}
	slices.Sort(pids)
	var b strings.Builder
	b.WriteString("  PID  PPID S COMMAND\n")
	for _, pid := range pids {
		p := ps[pid]
		fmt.Fprintf(&b, "%5d %5d %c %s\n", pid, p.ppid, p.state, p.comm)
	}
	return b.String()
}
