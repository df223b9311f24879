//go:build !unitonly

package main

import (
	"bytes"
	"context"
	"debug/elf"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/kballard/go-shellquote"
)

// The tests of examples/: each runs the example's own files (its script,
// its Dockerfile's lines, its manifest's command), never a copy of them,
// so an example that stops working fails here.

// serveScript is the tinyhttpd example's script; its README shows the
// restart-run line in it.
const serveScript = "examples/tinyhttpd/serve.sh"

// serveCmd runs serve.sh as its README says: restart-run (the one built
// from this tree) on PATH, PORT set, in the directory to serve.
func serveCmd(t *testing.T, dir string, port int) *exec.Cmd {
	t.Helper()
	script, err := filepath.Abs(serveScript)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("sh", script)
	cmd.Dir = dir
	cmd.Env = exampleEnv(rrBin(t), "PORT="+strconv.Itoa(port))
	return cmd
}

// exampleEnv is the environment an example runs in: ours, with the
// directory of the restart-run binary bin first on PATH, less what a
// user's shell or a container would not have and what would change the
// example: PYTHONUNBUFFERED (set on some developers' machines, it would
// hide a missing python3 -u) and restart-run's own RESTART_RUN_*.
func exampleEnv(bin string, extra ...string) []string {
	env := slices.DeleteFunc(os.Environ(), func(kv string) bool {
		return strings.HasPrefix(kv, "PYTHONUNBUFFERED=") || strings.HasPrefix(kv, "RESTART_RUN_")
	})
	env = append(env, "PATH="+filepath.Dir(bin)+string(os.PathListSeparator)+os.Getenv("PATH"))
	return append(env, extra...)
}

// TestExampleTinyhttpdReadme: the README shows the command serve.sh runs,
// word for word.
func TestExampleTinyhttpdReadme(t *testing.T) {
	script, err := os.ReadFile(serveScript)
	if err != nil {
		t.Fatal(err)
	}
	_, line, ok := strings.Cut(string(script), "\nexec ")
	if !ok {
		t.Fatalf("%s has no exec line", serveScript)
	}
	line, _, _ = strings.Cut(line, "\n\n")
	readme, err := os.ReadFile(filepath.Join(filepath.Dir(serveScript), "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(strings.Join(strings.Fields(string(readme)), " "), strings.Join(strings.Fields(line), " ")) {
		t.Errorf("the README does not show the command %s runs:\n%s", serveScript, line)
	}
}

// TestExampleTinyhttpd: the server answers; killed with SIGKILL it is
// started again with a new pid and answers again.
func TestExampleTinyhttpd(t *testing.T) {
	t.Parallel()
	needPython(t)
	dir := t.TempDir()
	const page = "hello from tinyhttpd\n"
	if err := os.WriteFile(filepath.Join(dir, "hello.txt"), []byte(page), 0o644); err != nil {
		t.Fatal(err)
	}
	port := freePort(t)
	url := fmt.Sprintf("http://127.0.0.1:%d/hello.txt", port)
	r := startCmd(t, serveCmd(t, dir, port))

	first := r.next("start")
	r.serving(port)
	if code, body, err := fetch(url); err != nil || code != 200 || body != page {
		t.Fatalf("GET %s: %d %q %v; log:\n%s", url, code, body, err, r.logText())
	}

	pid := int(first.num("pid"))
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatalf("kill -9 %d: %v", pid, err)
	}
	exit := r.next("exit")
	if int(exit.num("pid")) != pid || exit.str("signal") != "SIGKILL" || exit.str("class") != "signal" {
		t.Fatalf("exit %v, want pid %d killed by SIGKILL, class signal; log:\n%s", exit, pid, r.logText())
	}
	second := r.next("start")
	if int(second.num("pid")) == pid {
		t.Fatalf("started again with the same pid %d", pid)
	}
	r.serving(port)
	if code, body, err := fetch(url); err != nil || code != 200 || body != page {
		t.Fatalf("GET %s after the restart: %d %q %v; log:\n%s", url, code, body, err, r.logText())
	}

	r.signal(syscall.SIGTERM)
	if st := r.wait(); st != 128+int(syscall.SIGTERM) {
		t.Errorf("restart-run exited %d after SIGTERM, want 143 (the server died of it); log:\n%s", st, r.logText())
	}
}

// TestExampleTinyhttpdCrashLoop: on a port that is taken, python fails at
// once, every time; the limiter stops the loop and restart-run exits with
// python's status.
func TestExampleTinyhttpdCrashLoop(t *testing.T) {
	t.Parallel()
	needPython(t)
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	port := taken.Addr().(*net.TCPAddr).Port
	r := startCmd(t, serveCmd(t, t.TempDir(), port))

	// serve.sh's --burst=5: five starts, each ending in python's exit 1.
	for i := 1; i <= 5; i++ {
		start := r.next("start")
		exit := r.next("exit")
		if exit.num("pid") != start.num("pid") || exit.num("exit_code") != 1 || exit.str("class") != "exit-code" {
			t.Fatalf("start %d: exit %v, want exit code 1 of pid %v; log:\n%s", i, exit, start["pid"], r.logText())
		}
	}
	limit := r.next("limit")
	if limit.num("burst") != 5 || limit.num("exit_code") != 1 {
		t.Errorf("limit %v, want burst 5, exit_code 1", limit)
	}
	if st := r.wait(); st != 1 {
		t.Errorf("restart-run exited %d, want python's 1; log:\n%s", st, r.logText())
	}
	if starts := r.named("start"); len(starts) != 5 {
		t.Errorf("%d starts, want 5", len(starts))
	}
	// The failure was the one the example is about, not some other.
	if n := strings.Count(r.logText(), "Address already in use"); n != 5 {
		t.Errorf(`python said "Address already in use" %d times, want 5; log:\n%s`, n, r.logText())
	}
}

// dockerfile is what the tests use of a Dockerfile: the build stage's
// variables and go build line, the last stage's ENTRYPOINT and CMD.
type dockerfile struct {
	buildEnv   []string // ENV of the build stage
	goBuild    string   // its RUN line that runs go build
	entrypoint []string // exec form
	cmd        []string // exec form
}

// readDockerfile parses the few instructions the tests need: lines joined
// at a trailing backslash, comments skipped, ENTRYPOINT and CMD only in
// exec (JSON) form, which is the form that keeps restart-run PID 1 (the
// shell form would make /bin/sh PID 1).
func readDockerfile(t *testing.T, path string) dockerfile {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var df dockerfile
	var stages []string // stage names, FROM by FROM
	var insns []string
	var cur string
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(strings.TrimSpace(line), "#") {
			continue
		}
		if l, ok := strings.CutSuffix(line, "\\"); ok {
			cur += l
			continue
		}
		if cur += line; strings.TrimSpace(cur) != "" {
			insns = append(insns, strings.TrimSpace(cur))
		}
		cur = ""
	}
	for _, insn := range insns {
		word, rest, _ := strings.Cut(insn, " ")
		rest = strings.TrimSpace(rest)
		last := len(stages) - 1
		switch strings.ToUpper(word) {
		case "FROM":
			f := strings.Fields(rest)
			name := ""
			if len(f) == 3 && strings.EqualFold(f[1], "AS") {
				name = f[2]
			}
			stages = append(stages, name)
			df.entrypoint, df.cmd = nil, nil // not inherited from an earlier stage of this file
		case "ENV":
			if last >= 0 && stages[last] == "build" {
				if !strings.Contains(rest, "=") {
					t.Fatalf("%s: ENV %s: use the NAME=VALUE form", path, rest)
				}
				kv, err := shellquote.Split(rest)
				if err != nil {
					t.Fatalf("%s: ENV %s: %v", path, rest, err)
				}
				df.buildEnv = append(df.buildEnv, kv...)
			}
		case "RUN":
			if last >= 0 && stages[last] == "build" && strings.Contains(rest, "go build") {
				if df.goBuild != "" {
					t.Fatalf("%s: two go build lines in the build stage", path)
				}
				df.goBuild = rest
			}
		case "ENTRYPOINT", "CMD":
			var v []string
			if err := json.Unmarshal([]byte(rest), &v); err != nil || len(v) == 0 {
				t.Fatalf("%s: %s %s: not a JSON array of strings (exec form): %v", path, word, rest, err)
			}
			if strings.ToUpper(word) == "CMD" {
				df.cmd = v
			} else {
				df.entrypoint = v
			}
		}
	}
	if df.goBuild == "" || df.entrypoint == nil {
		t.Fatalf("%s: no go build RUN in a stage named build, or no ENTRYPOINT in the last stage", path)
	}
	return df
}

// assignment is a shell word that sets a variable for the command after it.
var assignment = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*=`)

// goBuildLikeDockerfile runs the Dockerfile's go build line on this
// repository, with the variables the build stage sets and those the line
// sets itself, the output moved from the image's / to a temporary
// directory. The variables of the golang image that could change the
// result are unset first, as they are there.
func goBuildLikeDockerfile(t *testing.T, df dockerfile) string {
	t.Helper()
	words, err := shellquote.Split(df.goBuild)
	if err != nil {
		t.Fatalf("go build line %q: %v", df.goBuild, err)
	}
	env := slices.DeleteFunc(os.Environ(), func(kv string) bool {
		name, _, _ := strings.Cut(kv, "=")
		return name == "CGO_ENABLED" || name == "GOFLAGS" || name == "GOOS" || name == "GOARCH"
	})
	env = append(env, df.buildEnv...)
	for len(words) > 0 && assignment.MatchString(words[0]) {
		env = append(env, words[0])
		words = words[1:]
	}
	out := filepath.Join(t.TempDir(), "restart-run")
	i := slices.Index(words, "-o")
	if len(words) < 2 || words[0] != "go" || words[1] != "build" || i < 0 || i+1 >= len(words) {
		t.Fatalf("go build line %q: want go build ... -o PATH ...", df.goBuild)
	}
	words[i+1] = out
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	build := exec.CommandContext(ctx, words[0], words[1:]...)
	build.Env = env
	if b, err := build.CombinedOutput(); err != nil {
		t.Fatalf("%s (env %v): %v\n%s", strings.Join(words, " "), df.buildEnv, err, b)
	}
	return out
}

// checkStripped: a release build's binary has no symbol table
// (-ldflags=-s) and no trace of the directory it was built in (-trimpath).
func checkStripped(t *testing.T, path string) {
	t.Helper()
	f, err := elf.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if f.Section(".symtab") != nil {
		t.Errorf("%s has a symbol table: -ldflags=-s did not take", path)
	}
	wd, _ := os.Getwd()
	if b, err := os.ReadFile(path); err == nil && bytes.Contains(b, []byte(wd)) {
		t.Errorf("%s contains the build directory %s: -trimpath did not take", path, wd)
	}
}

// flagValue is the value of --name in flags (--name=V or --name V).
func flagValue(flags []string, name string) (string, bool) {
	for i, f := range flags {
		if f == "--" {
			break
		}
		if v, ok := strings.CutPrefix(f, name+"="); ok {
			return v, true
		}
		if f == name && i+1 < len(flags) {
			return flags[i+1], true
		}
	}
	return "", false
}

// timeoutStop is --timeout-stop in flags, read as restart-run reads it; an
// example must set it (the default, 10s, is not below Docker's 10 s).
func timeoutStop(t *testing.T, flags []string) time.Duration {
	t.Helper()
	v, ok := flagValue(flags, "--timeout-stop")
	if !ok {
		t.Fatalf("%q: no --timeout-stop", flags)
	}
	var d Duration
	if err := d.UnmarshalText([]byte(v)); err != nil {
		t.Fatalf("--timeout-stop=%s: %v", v, err)
	}
	return time.Duration(d)
}

// checkFlags runs bin with an example's flags (its command line up to and
// including "--"): with --help, which kong answers once it has read every
// flag's value (exit 0; a bad value or unknown flag is 2), and for real
// with true as the command, which also passes restart-run's checks of how
// flags combine (health timing without a check, two checks …) that
// --help skips. true must be started and restart-run exit 0: true's own
// status, once the policy or the limiter ends the runs.
func checkFlags(t *testing.T, bin string, flags []string) {
	t.Helper()
	opts := flags
	if i := slices.Index(flags, "--"); i >= 0 {
		opts = flags[:i]
	}
	ctx, cancel := context.WithTimeout(context.Background(), deadline)
	defer cancel()
	help := exec.CommandContext(ctx, bin, append(slices.Clone(opts), "--help")...)
	help.Env = exampleEnv(bin)
	if out, err := help.CombinedOutput(); err != nil {
		t.Errorf("%s %s --help: %v\n%s", bin, strings.Join(opts, " "), err, out)
	}

	run := exec.Command(bin, append(slices.Clone(flags), "true")...)
	run.Env = exampleEnv(bin)
	r := startCmd(t, run)
	if st := r.wait(); st != 0 {
		t.Errorf("%s %s true: status %d, want 0; log:\n%s", bin, strings.Join(flags, " "), st, r.logText())
	}
	if len(r.named("start")) == 0 {
		t.Errorf("%s %s true: nothing started; log:\n%s", bin, strings.Join(flags, " "), r.logText())
	}
	if t.Failed() {
		t.FailNow() // no use running the example itself
	}
}

// nsLaunch, as PID 1 of new PID and network namespaces, with a private
// mount namespace: mounts a /proc of its own (restart-run's cleanup reads
// /proc), brings the loopback device up (SIOCSIFFLAGS, IFF_UP: a new
// network namespace has it down) and execs its arguments, looked up on
// PATH: a container as Docker or the kubelet starts one, less the image.
const nsLaunch = `import ctypes, fcntl, os, socket, struct, sys
libc = ctypes.CDLL(None, use_errno=True)
if libc.mount(b"proc", b"/proc", b"proc", 0, None) != 0:
    e = ctypes.get_errno()
    raise OSError(e, "mount /proc: " + os.strerror(e))
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
fcntl.ioctl(s, 0x8914, struct.pack("16sH22x", b"lo", 1))
s.close()
os.execvp(sys.argv[1], sys.argv[1:])
`

// runAsContainer runs argv (entrypoint and command, exactly as an example
// gives them, restart-run found on PATH as bin) the way a container runs:
// restart-run is PID 1 of its own PID namespace, with its own /proc, and
// the server listens in a network namespace that has only a loopback
// device, so its 0.0.0.0:8000 is reachable from nowhere else and clashes
// with no other port 8000. It waits for the first passing --health-http
// check (restart-run's own GET of the page, inside the namespace), then
// sends SIGTERM, as docker stop and the kubelet do: a PID 1 gets only the
// signals it has a handler for, so this shows restart-run catches it,
// passes it on and exits with the server's status, 143, within stop (its
// --timeout-stop: no SIGKILL was needed).
func runAsContainer(t *testing.T, bin string, argv []string, stop time.Duration) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("new PID and network namespaces need root; CI runs this as root")
	}
	needPython(t)
	interval := 30 * time.Second // restart-run's default
	if v, ok := flagValue(argv, "--health-interval"); ok {
		var d Duration
		if err := d.UnmarshalText([]byte(v)); err != nil {
			t.Fatalf("--health-interval=%s: %v", v, err)
		}
		interval = time.Duration(d)
	}
	if _, ok := flagValue(argv, "--health-http"); !ok {
		t.Fatalf("%q: no --health-http to wait for", argv)
	}
	cmd := exec.Command("python3", append([]string{"-c", nsLaunch}, argv...)...)
	cmd.Env = exampleEnv(bin)
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Cloneflags:   syscall.CLONE_NEWPID | syscall.CLONE_NEWNET,
		Unshareflags: syscall.CLONE_NEWNS, // Go makes / private in it, so the /proc mount stays inside
	}
	r := startCmd(t, cmd)

	// The first check runs one interval after the start; a slow python
	// may need a second one.
	wait := 3*interval + deadline
	timeout := time.After(wait)
	for healthy := false; !healthy; {
		select {
		case e := <-r.events:
			switch e.str("event") {
			case "health":
				healthy = e.str("status") == "healthy"
			case "exit":
				t.Fatalf("the server ended: %v; log:\n%s", e, r.logText())
			}
		case <-r.done:
			t.Fatalf("restart-run exited (status %d); log:\n%s", r.status, r.logText())
		case <-timeout:
			t.Fatalf("no passing health check within %v; log:\n%s", wait, r.logText())
		}
	}
	// restart-run is PID 1 where it runs, as in a container: the last pid
	// of its NSpid line is the one its own namespace gives it.
	if p := innerPID(r.cmd.Process.Pid); p != "1" {
		t.Errorf("restart-run is pid %q in its own namespace, not 1", p)
	}
	// What ran is the example's command, as written.
	want := argv[slices.Index(argv, "--")+1:]
	for _, e := range r.logged() {
		if e.str("event") == "start" {
			if got := anyStrings(e["command"]); !slices.Equal(got, want) {
				t.Errorf("started %q, want %q", got, want)
			}
			break
		}
	}

	sent := time.Now()
	r.signal(syscall.SIGTERM)
	if st := r.wait(); st != 128+int(syscall.SIGTERM) {
		t.Errorf("status %d after SIGTERM, want 143 (the server died of the SIGTERM passed on); log:\n%s", st, r.logText())
	}
	if took := time.Since(sent); took >= stop {
		t.Errorf("restart-run took %v to stop, not less than --timeout-stop %v", took, stop)
	}
	if k := r.named("kill"); len(k) != 0 {
		t.Errorf("kill events %v: the server had to be killed", k)
	}
}

// innerPID is the pid of process pid in its own PID namespace: the last
// field of the NSpid line of its status.
func innerPID(pid int) string {
	b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "NSpid:"); ok {
			if f := strings.Fields(rest); len(f) > 0 {
				return f[len(f)-1]
			}
		}
	}
	return ""
}

// anyStrings is a JSON list of strings, as a decoded event holds it.
func anyStrings(v any) []string {
	l, _ := v.([]any)
	out := make([]string, 0, len(l))
	for _, s := range l {
		str, _ := s.(string)
		out = append(out, str)
	}
	return out
}

// TestExampleDockerfile: the Dockerfile's build makes a static binary, and
// that binary takes its ENTRYPOINT and runs ENTRYPOINT + CMD as a
// container would (see examples/docker/README.md).
func TestExampleDockerfile(t *testing.T) {
	t.Parallel()
	df := readDockerfile(t, "examples/docker/Dockerfile")
	bin := goBuildLikeDockerfile(t, df)
	checkStatic(t, bin, elfMachine(t)) // FROM scratch has no loader and no libc
	checkStripped(t, bin)

	if df.entrypoint[0] != "restart-run" || df.entrypoint[len(df.entrypoint)-1] != "--" {
		t.Fatalf("ENTRYPOINT %q: want restart-run, its flags, then --, so that CMD is the command", df.entrypoint)
	}
	flags := df.entrypoint[1:]
	// docker stop: SIGTERM, then SIGKILL to PID 1 after 10 s.
	stop := timeoutStop(t, flags)
	if stop >= 10*time.Second {
		t.Errorf("--timeout-stop %v is not below docker stop's 10 s", stop)
	}
	checkFlags(t, bin, flags)
	if len(df.cmd) == 0 {
		t.Fatal("no CMD: the image would run restart-run with no command")
	}
	runAsContainer(t, bin, append(slices.Clone(df.entrypoint), df.cmd...), stop)
}

// manifest is what the test uses of the Deployment.
type manifest struct {
	command, args []string
	gracePeriod   time.Duration
	restartPolicy string
}

// readManifest reads the Deployment with a line parser rather than a YAML
// library (go.mod has none, and one manifest does not call for one):
// command and args are written as flow sequences, YAML that is also JSON,
// possibly over several lines, and are read as JSON; the two scalars are
// read as they stand. Each key must occur once.
func readManifest(t *testing.T, path string) manifest {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(string(b), "\n")
	seen := map[string]int{}
	m := manifest{gracePeriod: 30 * time.Second} // Kubernetes's default
	for i := 0; i < len(lines); i++ {
		key, val, ok := strings.Cut(strings.TrimSpace(lines[i]), ":")
		if !ok || strings.HasPrefix(key, "#") {
			continue
		}
		val = strings.TrimSpace(val)
		switch key {
		case "command", "args":
			for !json.Valid([]byte(val)) && i+1 < len(lines) {
				i++
				val += " " + strings.TrimSpace(lines[i])
			}
			var v []string
			if err := json.Unmarshal([]byte(val), &v); err != nil {
				t.Fatalf("%s: %s: %s is not a JSON-style list of strings: %v", path, key, val, err)
			}
			if key == "command" {
				m.command = v
			} else {
				m.args = v
			}
		case "terminationGracePeriodSeconds":
			n, err := strconv.Atoi(val)
			if err != nil {
				t.Fatalf("%s: %s: %v", path, key, err)
			}
			m.gracePeriod = time.Duration(n) * time.Second
		case "restartPolicy":
			m.restartPolicy = val
		default:
			continue
		}
		if seen[key]++; seen[key] > 1 {
			t.Fatalf("%s: %s twice; the test reads one container", path, key)
		}
	}
	return m
}

// TestExampleKubernetes: the Deployment's command takes restart-run's
// flags, its --timeout-stop is below the grace period, and command + args
// run as a container would (see examples/kubernetes/README.md).
func TestExampleKubernetes(t *testing.T) {
	t.Parallel()
	m := readManifest(t, "examples/kubernetes/deployment.yaml")
	if m.restartPolicy != "Always" {
		t.Errorf("restartPolicy %q, want Always (a Deployment allows no other)", m.restartPolicy)
	}
	if len(m.command) < 2 || m.command[0] != "restart-run" || m.command[len(m.command)-1] != "--" {
		t.Fatalf("command %q: want restart-run, its flags, then --", m.command)
	}
	if len(m.args) == 0 {
		t.Fatal("no args: with command set, the image's CMD is not used either")
	}
	flags := m.command[1:]
	stop := timeoutStop(t, flags)
	if stop >= m.gracePeriod {
		t.Errorf("--timeout-stop %v is not below terminationGracePeriodSeconds (%v)", stop, m.gracePeriod)
	}
	bin := rrBin(t)
	checkFlags(t, bin, flags)
	runAsContainer(t, bin, append(slices.Clone(m.command), m.args...), stop)
}
