package main

import (
	"bufio"
	"encoding/base64"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestHealthState(t *testing.T) {
	t0 := time.Unix(1000, 0)
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	type step struct {
		ms   int
		ok   bool
		want string
	}
	for _, tc := range []struct {
		name    string
		retries int
		start   time.Duration
		steps   []step
	}{
		{"three strikes", 3, 0, []step{{10, false, "failing"}, {20, false, "failing"}, {30, false, "unhealthy"}}},
		{"a pass resets the count", 2, 0, []step{{10, false, "failing"}, {20, true, "healthy"}, {30, false, "failing"}, {40, false, "unhealthy"}}},
		{"start period: failures do not count", 1, time.Second, []step{{100, false, "starting"}, {900, false, "starting"}, {1000, false, "unhealthy"}}},
		{"a pass ends the start period", 1, time.Hour, []step{{100, false, "starting"}, {200, true, "healthy"}, {300, false, "unhealthy"}}},
	} {
		h := healthState{retries: tc.retries, startPeriod: tc.start}
		h.reset(t0)
		for i, s := range tc.steps {
			if got := h.record(s.ok, at(s.ms)); got != s.want {
				t.Errorf("%s: step %d: %s, want %s", tc.name, i+1, got, s.want)
			}
		}
	}
}

// freePort finds a port on 127.0.0.1 that nothing listens on.
func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// httpServer is a python3 http.server on 127.0.0.1 serving dir.
func httpServer(t *testing.T, dir string, port int) []string {
	t.Helper()
	needPython(t)
	return []string{"python3", "-m", "http.server", strconv.Itoa(port), "--bind", "127.0.0.1", "--directory", dir}
}

// get fetches a URL once.
func get(url string) (int, error) {
	resp, err := http.Get(url)
	if err != nil {
		return 0, err
	}
	resp.Body.Close()
	return resp.StatusCode, nil
}

// healthy waits for a passing health check, skipping other events, for at
// most the deadline (a check that never passes would otherwise be waited
// for through start period after start period).
func (r *rr) healthy() event {
	r.t.Helper()
	timeout := time.After(deadline)
	for {
		select {
		case e := <-r.events:
			if e.str("event") == "health" && e.str("status") == "healthy" {
				return e
			}
		case <-timeout:
			r.t.Fatalf("no passing health check within %v; log:\n%s", deadline, r.logText())
		}
	}
}

// healthCycle: healthy, then failing (fail() makes the check fail), then
// the child is stopped with class watchdog, restarted with a new pid (after
// fix()), and healthy and serving again.
func healthCycle(t *testing.T, r *rr, url string, fail, fix func()) {
	t.Helper()
	first := r.next("start")
	r.healthy()
	if code, err := get(url); err != nil || code != 200 {
		t.Fatalf("GET %s: %d %v", url, code, err)
	}
	fail()
	exit := r.next("exit")
	if exit.str("class") != "watchdog" || exit.num("pid") != first.num("pid") {
		t.Fatalf("exit %v, want class watchdog for pid %v; log:\n%s", exit, first["pid"], r.logText())
	}
	fix()
	second := r.next("start")
	if second.num("pid") == first.num("pid") {
		t.Errorf("restarted with the same pid")
	}
	r.healthy()
	if code, err := get(url); err != nil || code != 200 {
		t.Errorf("GET %s after the restart: %d %v", url, code, err)
	}
	r.signal(syscall.SIGTERM)
	r.wait()
}

// TestHealthCmd: curl as the check, failing once a marker file exists.
func TestHealthCmd(t *testing.T) {
	if _, err := exec.LookPath("curl"); err != nil {
		t.Skip("curl is needed for this test")
	}
	dir := t.TempDir()
	marker := filepath.Join(dir, "sick")
	port := freePort(t)
	url := fmt.Sprintf("http://127.0.0.1:%d/", port)
	check := fmt.Sprintf(`sh -c 'test ! -e "%s" && curl -fsS -o /dev/null %s'`, marker, url)
	// The start period covers python3's own start on a loaded machine; the
	// first pass ends it.
	r := startRR(t, nil, append([]string{"--restart=on-failure", "--restart-sec=0", "--health-cmd=" + check,
		"--health-interval=200ms", "--health-timeout=2s", "--health-retries=2", "--health-start-period=10s", "--"}, httpServer(t, dir, port)...)...)
	healthCycle(t, r, url,
		func() { os.WriteFile(marker, nil, 0o644) },
		func() { os.Remove(marker) })
}

// TestHealthHTTP: the built-in GET, failing once the served file is gone.
func TestHealthHTTP(t *testing.T) {
	dir := t.TempDir()
	page := filepath.Join(dir, "ok")
	os.WriteFile(page, []byte("ok"), 0o644)
	port := freePort(t)
	url := fmt.Sprintf("http://127.0.0.1:%d/ok", port)
	r := startRR(t, nil, append([]string{"--restart=on-failure", "--restart-sec=0", "--health-http=" + url,
		"--health-interval=200ms", "--health-timeout=2s", "--health-retries=2", "--health-start-period=10s", "--"}, httpServer(t, dir, port)...)...)
	healthCycle(t, r, url,
		func() { os.Remove(page) },
		func() { os.WriteFile(page, []byte("ok"), 0o644) })
}

// TestHealthTCP: the built-in connect. The first run listens (healthy),
// then stops listening on SIGUSR1 and is failed; the next run listens
// again. The start period only has to cover python3's start, which a pass
// ends. (Before, the first run never listened and was failed once a 1 s
// start period ran out; that same period then had to cover the second
// run's start, which a slow python3 did not make.)
func TestHealthTCP(t *testing.T) {
	needPython(t)
	port := freePort(t)
	prog := `import os, signal, socket, sys
class Deaf(Exception): pass
def deaf(*_): raise Deaf()
signal.signal(signal.SIGUSR1, deaf)
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1]))); s.listen()
print("listening", os.getpid(), flush=True)
try:
    while True: s.accept()[0].close()
except Deaf:
    s.close()
while True: signal.pause()`
	r := startRR(t, nil, "--restart=on-failure", "--restart-sec=0", fmt.Sprintf("--health-tcp=127.0.0.1:%d", port),
		"--health-interval=100ms", "--health-timeout=2s", "--health-retries=2", "--health-start-period=1m", "--",
		"python3", "-c", prog, strconv.Itoa(port))
	first := r.next("start")
	pid, _ := strconv.Atoi(r.line("listening")[0])
	r.healthy()
	_ = syscall.Kill(pid, syscall.SIGUSR1)
	exit := r.next("exit")
	if exit.str("class") != "watchdog" || exit.num("pid") != first.num("pid") {
		t.Fatalf("exit %v, want class watchdog for pid %v; log:\n%s", exit, first["pid"], r.logText())
	}
	if second := r.next("start"); second.num("pid") == first.num("pid") {
		t.Errorf("restarted with the same pid")
	}
	r.line("listening")
	r.healthy()
	r.signal(syscall.SIGTERM)
	r.wait()
}

// TestHealthHTTPHidesCredentials: the log of a failing --health-http check
// never shows the URL's password, nor the Basic authorization made of it,
// even when the server echoes our request back and the error quotes it.
func TestHealthHTTPHidesCredentials(t *testing.T) {
	u := oneConn(t, func(c net.Conn) {
		br := bufio.NewReader(c)
		for l := ""; l != "\r\n"; {
			var err error
			if l, err = br.ReadString('\n'); err != nil {
				return
			}
			c.Write([]byte(l))
		}
	})
	basic := base64.StdEncoding.EncodeToString([]byte("admin:hunter2"))
	r := startRR(t, nil, "--restart=no", "--log-level=debug", "--health-http=http://admin:hunter2@"+u.Host+"/",
		"--health-interval=50ms", "--health-retries=1", "--", "sh", "-c", "echo ready $$; exec sleep 1000")
	if st := r.wait(); st != 143 {
		t.Errorf("status %d, want 143 (unhealthy, stopped)", st)
	}
	h := r.named("health")
	if len(h) != 1 || !strings.Contains(h[0].str("error"), "not an HTTP answer") {
		t.Errorf("health events %v, want one failure quoting the echo", h)
	}
	if log := r.logText(); strings.Contains(log, "hunter2") || strings.Contains(log, basic) {
		t.Errorf("the log shows the password:\n%s", log)
	}
}

// TestHealthTimeout: a check that hangs past its timeout fails and is killed
// with what it started; under --restart=no restart-run then exits with the
// child's status.
func TestHealthTimeout(t *testing.T) {
	pidfile := filepath.Join(t.TempDir(), "pids")
	check := fmt.Sprintf(`sh -c 'sleep 100 & echo $! $$ > %s; wait'`, pidfile)
	r := startRR(t, nil, "--restart=no", "--health-cmd="+check, "--health-interval=100ms", "--health-timeout=300ms",
		"--health-retries=1", "--", "sh", "-c", "echo ready $$; exec sleep 1000")
	r.waitReady()
	h := r.next("health")
	if h.str("status") != "unhealthy" || h.str("level") != "warn" {
		t.Errorf("health event %v, want a warn unhealthy", h)
	}
	if st := r.wait(); st != 143 {
		t.Errorf("status %d, want the child's 143", st)
	}
	if e := r.named("exit"); len(e) != 1 || e[0].str("class") != "watchdog" {
		t.Errorf("exits %v, want one of class watchdog", e)
	}
	b, err := os.ReadFile(pidfile)
	if err != nil {
		t.Fatal(err)
	}
	var sleeper, shell int
	fmt.Sscan(string(b), &sleeper, &shell)
	for _, pid := range []int{sleeper, shell} {
		if pid == 0 || alive(pid) {
			t.Errorf("check process %d left alive (pids %q)", pid, b)
		}
	}
}

// TestHealthStartPeriod: failures in the start period do not count; a pass
// ends the period early. The period is 3 s so that the first check, due
// 100 ms after the start, falls in it even on a loaded machine.
func TestHealthStartPeriod(t *testing.T) {
	r := startRR(t, nil, "--restart=no", "--log-level=debug", "--health-cmd=false", "--health-interval=100ms", "--health-start-period=3s",
		"--health-retries=1", "--", "sh", "-c", "echo ready $$; exec sleep 1000")
	// A failure that does not count is not a warning (issue 14).
	if h := r.next("health"); h.str("status") != "starting" || h.str("level") != "debug" {
		t.Errorf("first failing check: %v, want status starting at debug", h)
	}
	r.wait()
	exit := r.named("exit")
	if len(exit) != 1 || exit[0].str("class") != "watchdog" || exit[0].num("runtime_ms") < 3000 {
		t.Errorf("exit %v, want class watchdog after the 3s start period", exit)
	}

	marker := filepath.Join(t.TempDir(), "sick")
	r = startRR(t, nil, "--restart=no", fmt.Sprintf(`--health-cmd=test ! -e %s`, marker), "--health-interval=100ms",
		"--health-start-period=1h", "--health-retries=1", "--", "sh", "-c", "echo ready $$; exec sleep 1000")
	if h := r.next("health"); h.str("status") != "healthy" {
		t.Fatalf("first check: %v, want healthy", h)
	}
	os.WriteFile(marker, nil, 0o644)
	if h := r.next("health"); h.str("status") != "unhealthy" {
		t.Errorf("check after a pass in the start period: %v, want unhealthy", h)
	}
	if st := r.wait(); st != 143 {
		t.Errorf("status %d, want 143", st)
	}
}

// TestHealthOutput: a check's output reaches the debug log, bounded to its
// first 4 KiB as the README says. The size is written out here, not taken
// from healthOutputMax: a test that reads the limit from the code it tests
// passes whatever the limit is.
func TestHealthOutput(t *testing.T) {
	r := startRR(t, nil, "--restart=no", "--log-level=debug", `--health-cmd=sh -c 'echo "checked \"ok\""; head -c 100000 /dev/zero | tr "\0" x; exit 1'`,
		"--health-interval=50ms", "--health-retries=3", "--", "sh", "-c", "echo ready $$; exec sleep 1000")
	r.wait() // the first two results and their output come well before the third stops the child
	var out string
	for _, e := range r.named("health") {
		if o := e.str("output"); o != "" {
			out = o
		}
	}
	if !strings.HasPrefix(out, `checked "ok"`) || len(out) != 4096 {
		t.Errorf("logged output %d bytes starting %.20q; want the first 4096 bytes", len(out), out)
	}
}

// TestHealthCmdMissing: a check command that cannot be run fails the check.
func TestHealthCmdMissing(t *testing.T) {
	r := startRR(t, nil, "--restart=no", "--health-cmd=/nonexistent/check --flag", "--health-interval=50ms",
		"--health-retries=2", "--", "sh", "-c", "echo ready $$; exec sleep 1000")
	if st := r.wait(); st != 143 {
		t.Errorf("status %d, want 143", st)
	}
	h := r.named("health")
	if len(h) != 2 || h[1].str("status") != "unhealthy" || !strings.Contains(h[1].str("error"), "nonexistent") {
		t.Errorf("health events %v", h)
	}
}
