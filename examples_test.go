package main

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
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

// serving waits for python's own "Serving HTTP on" line: http.server
// prints it once its socket listens, so a GET after it is answered.
func (r *rr) serving(port int) {
	r.t.Helper()
	if f := r.line("Serving"); !slices.Contains(f, strconv.Itoa(port)) {
		r.t.Fatalf("python serves %v, not port %d", f, port)
	}
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
