//go:build !unitonly

package main

import (
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

// End-to-end tests of --exec-start-pre and --exec-stop-post: the built
// binary, sh hooks and children. A hook prints to the stdout it shares
// with the child, which is where the tests read it.

// postHook prints the variables systemd gives ExecStopPost=, "unset" for
// one that is not set at all.
const postHook = `--exec-stop-post=sh -c 'echo "post r=$SERVICE_RESULT c=${EXIT_CODE-unset} s=${EXIT_STATUS-unset} p=${RESTART_RUN_PID-unset}"'`

// post reads the stop-post hook's line.
func (r *rr) post() string {
	r.t.Helper()
	return strings.Join(r.line("post"), " ")
}

// TestHookStartPreFile: a start-pre hook writes a file the child reads;
// the hook ran in a process group of its own, before the child started,
// with the child's environment: restart-run's own RESTART_RUN_* variables
// left out, the rest passed on.
func TestHookStartPreFile(t *testing.T) {
	conf := filepath.Join(t.TempDir(), "conf")
	r := startRR(t, []string{"HOOKTEST=seen", "RESTART_RUN_LOG_LEVEL=info"}, "--restart=no",
		"--exec-start-pre=sh -c 'echo $$ $(cut -d\" \" -f5 /proc/$$/stat) $HOOKTEST ${RESTART_RUN_LOG_LEVEL-unset} >"+conf+"'",
		"--", "sh", "-c", "echo child $$ $(cat "+conf+")")
	hook := r.next("hook")
	start := r.next("start")
	got := r.line("child") // the child's pid, the hook's pid and process group, the two variables
	if st := r.wait(); st != 0 {
		t.Fatalf("status %d; log:\n%s", st, r.logText())
	}
	if len(got) != 5 || got[1] != got[2] || got[1] == got[0] || got[0] != strconv.Itoa(int(start.num("pid"))) {
		t.Errorf("child read %q: want its pid, then the hook's pid twice (a group of its own)", got)
	}
	if len(got) == 5 && (got[3] != "seen" || got[4] != "unset") {
		t.Errorf("the hook saw HOOKTEST=%s RESTART_RUN_LOG_LEVEL=%s; want seen, unset (the child's environment)", got[3], got[4])
	}
	if hook.str("hook") != "start-pre" || hook.num("exit_code") != 0 || len(got) < 2 || strconv.Itoa(int(hook.num("pid"))) != got[1] ||
		hook.str("level") != "info" || !slices.Equal(hook.strs("command")[:2], []string{"sh", "-c"}) {
		t.Errorf("hook event %v", hook)
	}
}

// TestHookStartPreFails: a start-pre that fails without "-" fails the
// start: the child never runs, the run is class exit-code with the hook's
// status, and the decision and the start limiter apply; with "-" the
// child starts.
func TestHookStartPreFails(t *testing.T) {
	t.Run("no-restart", func(t *testing.T) {
		marker := filepath.Join(t.TempDir(), "started")
		r := startRR(t, nil, "--restart=no", "--exec-start-pre=sh -c 'exit 7'", "--exec-start-pre=touch "+marker+".2",
			postHook, "--", "touch", marker)
		if p := r.post(); p != "r=exit-code c=unset s=unset p=" {
			t.Errorf("stop-post saw %q", p)
		}
		if st := r.wait(); st != 7 {
			t.Errorf("status %d, want the hook's 7; log:\n%s", st, r.logText())
		}
		for _, m := range []string{marker, marker + ".2"} {
			if _, err := os.Stat(m); err == nil {
				t.Errorf("%s ran", filepath.Base(m))
			}
		}
		hooks := r.named("hook")
		if len(r.named("start")) != 0 || len(hooks) != 2 {
			t.Fatalf("want no start, two hook lines; log:\n%s", r.logText())
		}
		if e := hooks[0]; e.str("level") != "warn" || e.str("class") != "exit-code" || e.num("exit_code") != 7 ||
			e.str("hook") != "start-pre" || e["ignore_failure"] != false || !strings.Contains(e.str("message"), "not started") {
			t.Errorf("hook event %v", e)
		}
	})
	t.Run("limit", func(t *testing.T) {
		r := startRR(t, nil, "--restart=on-failure", "--burst=2", "--restart-sec=0", "--exec-start-pre=sh -c 'kill -KILL $$'",
			"--", "sh", "-c", "echo child")
		limit := r.next("limit")
		if st := r.wait(); st != 137 {
			t.Errorf("status %d, want 137 (the hook's SIGKILL); log:\n%s", st, r.logText())
		}
		if limit.num("starts") != 2 || limit.num("exit_code") != 137 || len(r.named("restart")) != 1 || len(r.named("start")) != 0 {
			t.Errorf("limit %v; want 2 starts counted, one restart, no child; log:\n%s", limit, r.logText())
		}
		if hooks := r.named("hook"); len(hooks) != 2 || hooks[1].str("error") != "killed by SIGKILL" || hooks[1].str("class") != "exit-code" {
			t.Errorf("hook events %v", hooks)
		}
	})
	t.Run("ignored", func(t *testing.T) {
		r := startRR(t, nil, "--restart=no", "--exec-start-pre=-sh -c 'exit 7'", "--", "sh", "-c", "echo child ran")
		r.line("child")
		if st := r.wait(); st != 0 {
			t.Errorf("status %d, want 0; log:\n%s", st, r.logText())
		}
		if e := r.named("hook"); len(e) != 1 || e[0]["ignore_failure"] != true || e[0].num("exit_code") != 7 || e[0].str("level") != "info" {
			t.Errorf("hook events %v, want one ignored failure at info", e)
		}
	})
}

// TestHookStopPostEnv: what the stop-post hook is told for each way a run
// ends: SERVICE_RESULT as systemd's, EXIT_CODE, EXIT_STATUS (the code, or
// the signal without SIG), RESTART_RUN_PID. A health check's kill is class
// watchdog (systemd has no health checks), so it reads watchdog.
func TestHookStopPostEnv(t *testing.T) {
	for _, tc := range []struct {
		name   string
		flags  []string
		script string
		stop   bool // SIGTERM to restart-run once the child is ready
		want   string
		status int
	}{
		{"exit-0", nil, "echo ready $$; exit 0", false, "r=success c=exited s=0", 0},
		{"exit-3", nil, "echo ready $$; exit 3", false, "r=exit-code c=exited s=3", 3},
		{"sigkill", nil, "echo ready $$; kill -KILL $$", false, "r=signal c=killed s=KILL", 137},
		{"watchdog", []string{"--watchdog=300ms"}, "ulimit -c 0; echo ready $$; exec sleep 1000", false, "r=watchdog c=killed s=ABRT", 134},
		{"health", []string{"--health-cmd=false", "--health-interval=100ms", "--health-retries=1"},
			"echo ready $$; exec sleep 1000", false, "r=watchdog c=killed s=TERM", 143},
		{"stop", nil, "echo ready $$; exec sleep 1000", true, "r=success c=killed s=TERM", 143},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// At debug, where a clean exit is logged under --restart=no.
			args := append(append([]string{"--restart=no", "--log-level=debug", postHook}, tc.flags...), "--", "sh", "-c", tc.script)
			r := startRR(t, nil, args...)
			// The pid from the start line: the watchdog or a health check
			// may kill the child before its shell has said it is ready.
			pid := int(r.next("start").num("pid"))
			if tc.stop {
				if ready := r.waitReady(); ready != pid {
					t.Errorf("ready %d, started %d", ready, pid)
				}
				r.signal(syscall.SIGTERM)
			}
			if got, want := r.post(), tc.want+" p="+strconv.Itoa(pid); got != want {
				t.Errorf("stop-post saw %q, want %q", got, want)
			}
			if st := r.wait(); st != tc.status {
				t.Errorf("status %d, want %d; log:\n%s", st, tc.status, r.logText())
			}
			// The hook ran after the exit was logged.
			var order []string
			for _, e := range r.logged() {
				if n := e.str("event"); n == "exit" || n == "hook" {
					order = append(order, n)
				}
			}
			if !slices.Equal(slices.Compact(order), []string{"exit", "hook"}) {
				t.Errorf("events %q, want exit then hook (started, done)", order)
			}
		})
	}
}

// TestHookAfterCleanup: stop-post runs only once what the child left is
// gone: the leftover ignores SIGTERM, so the cleanup takes --timeout-stop
// and a SIGKILL, and the hook finds it gone.
func TestHookAfterCleanup(t *testing.T) {
	left := filepath.Join(t.TempDir(), "left")
	r := startRR(t, nil, "--restart=no", "--timeout-stop=300ms",
		"--exec-stop-post=sh -c 'if kill -0 $(cat "+left+"); then echo post alive; else echo post gone; fi'",
		"--", "sh", "-c", "trap '' TERM; sleep 1000 & echo $! >"+left+"; exit 0")
	if p := r.post(); p != "gone" {
		t.Errorf("stop-post found the leftover %s", p)
	}
	if st := r.wait(); st != 0 {
		t.Errorf("status %d; log:\n%s", st, r.logText())
	}
	var order []string
	for _, e := range r.logged() {
		if n := e.str("event"); n == "kill" || n == "hook" {
			order = append(order, n)
		}
	}
	if !slices.Equal(order, []string{"kill", "hook"}) {
		t.Errorf("events %q, want the leftover's SIGKILL before the hook; log:\n%s", order, r.logText())
	}
}

// TestHookTimeout: a hook that runs past --timeout-hook is stopped with
// its whole process group: the kill signal, then SIGKILL after
// --timeout-stop. A start-pre that times out fails the start with class
// timeout; a stop-post that does changes nothing.
func TestHookTimeout(t *testing.T) {
	t.Run("start-pre", func(t *testing.T) {
		marker := filepath.Join(t.TempDir(), "started")
		// Long enough for the hook to say its grandchild's pid first on a
		// loaded machine.
		r := startRR(t, nil, "--restart=no", "--timeout-hook=1s",
			"--exec-start-pre=sh -c 'sleep 1000 & echo grandchild $!; wait'", "--", "touch", marker)
		grandchild, _ := strconv.Atoi(r.line("grandchild")[0])
		waitGone(t, grandchild, deadline)
		if st := r.wait(); st != 143 {
			t.Errorf("status %d, want 143 (the hook, killed by SIGTERM); log:\n%s", st, r.logText())
		}
		hooks := r.named("hook")
		if len(hooks) != 2 || hooks[0].str("signal") != "SIGTERM" || hooks[0].num("timeout_ms") != 1000 ||
			hooks[1].str("class") != "timeout" || hooks[1].num("exit_code") != 143 {
			t.Errorf("hook events %v; want SIGTERM at 1s, then a failure of class timeout", hooks)
		}
		if _, err := os.Stat(marker); err == nil || len(r.named("start")) != 0 {
			t.Error("the child was started")
		}
	})
	t.Run("stop-post", func(t *testing.T) {
		// The hook and its grandchild ignore SIGTERM: SIGKILL ends them.
		r := startRR(t, nil, "--restart=no", "--timeout-hook=1s", "--timeout-stop=300ms",
			`--exec-stop-post=sh -c 'trap "" TERM; sleep 1000 & echo grandchild $!; wait'`, "--", "sh", "-c", "exit 4")
		grandchild, _ := strconv.Atoi(r.line("grandchild")[0])
		waitGone(t, grandchild, deadline)
		if st := r.wait(); st != 4 {
			t.Errorf("status %d, want the child's 4; log:\n%s", st, r.logText())
		}
		var sigs []string
		for _, e := range r.named("hook") {
			if s := e.str("signal"); s != "" {
				sigs = append(sigs, s)
			}
		}
		if !slices.Equal(sigs, []string{"SIGTERM", "SIGKILL"}) {
			t.Errorf("signals %q, want SIGTERM then SIGKILL; log:\n%s", sigs, r.logText())
		}
	})
}

// TestHookStopDuringStartPre: a stop request while a start-pre hook runs
// stops the hook; the child never starts; the stop-post hooks run
// (SERVICE_RESULT=success, as systemd's for a stop, and no child to tell
// of) and restart-run exits as for a stop before the first start. A
// restart signal before it is ignored.
func TestHookStopDuringStartPre(t *testing.T) {
	marker := filepath.Join(t.TempDir(), "started")
	r := startRR(t, nil, "--restart=always", "--restart-signal=HUP", "--log-level=debug",
		"--exec-start-pre=sh -c 'echo pre $$; exec sleep 1000'", postHook, "--", "touch", marker)
	pre, _ := strconv.Atoi(r.line("pre")[0])
	// A restart signal meanwhile is ignored: a start is under way.
	r.signal(syscall.SIGHUP)
	if e := r.next("signal"); e.str("level") != "debug" || !strings.Contains(e.str("message"), "a hook is running") {
		t.Errorf("signal %v, want the restart signal ignored at debug", e)
	}
	if !alive(pre) {
		t.Error("the restart signal ended the start-pre hook")
	}
	r.signal(syscall.SIGTERM)
	if p := r.post(); p != "r=success c=unset s=unset p=" {
		t.Errorf("stop-post saw %q", p)
	}
	if st := r.wait(); st != 143 {
		t.Errorf("status %d, want 143; log:\n%s", st, r.logText())
	}
	if alive(pre) {
		t.Errorf("the start-pre hook %d lives on", pre)
	}
	if _, err := os.Stat(marker); err == nil || len(r.named("start")) != 0 {
		t.Error("the child was started")
	}
	var msgs []string
	for _, e := range r.named("hook") {
		if e.str("level") != "debug" {
			msgs = append(msgs, e.str("message"))
		}
	}
	if len(msgs) != 3 || !strings.Contains(msgs[0], "stopping the start-pre hook") || !strings.Contains(msgs[1], "stopped by a stop request") {
		t.Errorf("hook lines %q", msgs)
	}
}

// TestHookStopDuringStopPost: a stop request while a stop-post hook runs
// lets it finish, then restart-run exits without a restart, under
// --restart=always; a restart signal then is ignored at debug. The hook
// waits on a FIFO that the test writes to once both signals are logged.
// After a child's run restart-run exits with the child's status; after a
// first start that a start-pre failed, with that failure's.
func TestHookStopDuringStopPost(t *testing.T) {
	for _, tc := range []struct {
		name   string
		pre    string
		status int
		starts int
	}{
		{"after-run", "--exec-start-pre=true", 0, 1},
		{"after-failed-start", "--exec-start-pre=sh -c 'exit 5'", 5, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fifo := filepath.Join(t.TempDir(), "fifo")
			if err := unix.Mkfifo(fifo, 0o600); err != nil {
				t.Fatal(err)
			}
			r := startRR(t, nil, "--restart=always", "--restart-signal=HUP", "--log-level=debug", tc.pre,
				"--exec-stop-post=sh -c 'echo post $$; read x <"+fifo+"; echo post-done $x'", "--", "sh", "-c", "exit 0")
			r.line("post")
			r.signal(syscall.SIGHUP)
			if e := r.next("signal"); e.str("level") != "debug" || !strings.Contains(e.str("message"), "a hook is running") {
				t.Errorf("signal %v, want the restart signal ignored at debug", e)
			}
			r.signal(syscall.SIGTERM)
			r.next("stop")
			// Read and write, so the open never waits for a reader: a hook
			// that is gone fails the test at the deadline below, not by a
			// hang here. Held open until the hook has read the line: the
			// FIFO's buffer goes with the last descriptor on it.
			w, err := os.OpenFile(fifo, os.O_RDWR, 0)
			if err != nil {
				t.Fatal(err)
			}
			defer w.Close()
			w.WriteString("go\n")
			if got := r.line("post-done"); !slices.Equal(got, []string{"go"}) {
				t.Errorf("the hook read %q", got)
			}
			if st := r.wait(); st != tc.status {
				t.Errorf("status %d, want %d; log:\n%s", st, tc.status, r.logText())
			}
			if n, m := len(r.named("start")), len(r.named("restart")); n != tc.starts || m != 0 {
				t.Errorf("%d starts, %d restarts; want %d, 0; log:\n%s", n, m, tc.starts, r.logText())
			}
		})
	}
}

// TestHookOrder: two start-pre and two stop-post hooks run in order around
// each run, across a restart.
func TestHookOrder(t *testing.T) {
	seq := filepath.Join(t.TempDir(), "seq")
	hook := func(flag, name string) string {
		return "--exec-" + flag + "=sh -c 'echo " + name + " ${SERVICE_RESULT-} >>" + seq + "'"
	}
	r := startRR(t, nil, "--restart=on-failure", "--burst=2", "--restart-sec=0",
		hook("start-pre", "pre1"), hook("stop-post", "post1"), hook("start-pre", "pre2"), hook("stop-post", "post2"),
		"--", "sh", "-c", "echo child >>"+seq+"; exit 1")
	if st := r.wait(); st != 1 {
		t.Errorf("status %d; log:\n%s", st, r.logText())
	}
	b, _ := os.ReadFile(seq)
	run := []string{"pre1", "pre2", "child", "post1 exit-code", "post2 exit-code"}
	if got, want := strings.Split(strings.TrimSpace(string(b)), "\n"), append(slices.Clone(run), run...); !slices.Equal(got, want) {
		t.Errorf("sequence %q, want %q", got, want)
	}
}

// TestHookBadInput: hook flags that cannot work end restart-run with
// status 2 before anything runs, hooks included.
func TestHookBadInput(t *testing.T) {
	dir := t.TempDir()
	marker := filepath.Join(dir, "started")
	pre := "--exec-start-pre=touch " + filepath.Join(dir, "pre")
	for _, tc := range []struct {
		env  []string
		args []string
		want []string
	}{
		{nil, []string{"--timeout-hook=5s"}, []string{"--timeout-hook", "does nothing without a hook", "--exec-start-pre or --exec-stop-post"}},
		{[]string{"RESTART_RUN_TIMEOUT_HOOK=5"}, nil, []string{"--timeout-hook", "RESTART_RUN_TIMEOUT_HOOK"}},
		{nil, []string{pre, "--timeout-hook=soon"}, []string{"--timeout-hook", `"soon"`, "infinity"}},
		{nil, []string{pre, "--exec-start-pre="}, []string{"--exec-start-pre", "is empty"}},
		{nil, []string{pre, "--exec-stop-post=-"}, []string{"--exec-stop-post", `"-" has no command`}},
		{[]string{"RESTART_RUN_EXEC_STOP_POST="}, []string{pre}, []string{"--exec-stop-post", "is empty", "RESTART_RUN_EXEC_STOP_POST"}},
		{nil, []string{pre, "--exec-stop-post=sh -c 'x"}, []string{"--exec-stop-post", "not a command line"}},
	} {
		args := append(slices.Clone(tc.args), "--restart=no", "--", "touch", marker)
		checkBad(t, tc.env, args, tc.want, marker)
		if _, err := os.Stat(filepath.Join(dir, "pre")); err == nil {
			t.Fatalf("%q: the start-pre hook ran", tc.args)
		}
	}
}

// TestHookExecFails: a later start whose COMMAND has gone (here the
// start-pre hook of the second start removes it) ends as exit code 127
// with no child, and the stop-post hooks run for it too.
func TestHookExecFails(t *testing.T) {
	dir := t.TempDir()
	script, mark := filepath.Join(dir, "cmd"), filepath.Join(dir, "mark")
	if err := os.WriteFile(script, []byte("#!/bin/sh\necho child $$\nexit 1\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	r := startRR(t, nil, "--restart=on-failure", "--burst=2", "--restart-sec=0",
		"--exec-start-pre=sh -c 'if [ -e "+mark+" ]; then rm "+script+"; fi; touch "+mark+"'", postHook, "--", script)
	pid, _ := strconv.Atoi(r.line("child")[0])
	if got, want := r.post(), "r=exit-code c=exited s=1 p="+strconv.Itoa(pid); got != want {
		t.Errorf("first stop-post saw %q, want %q", got, want)
	}
	if got, want := r.post(), "r=exit-code c=unset s=unset p="; got != want {
		t.Errorf("stop-post after the failed exec saw %q, want %q", got, want)
	}
	if st := r.wait(); st != 127 {
		t.Errorf("status %d, want 127; log:\n%s", st, r.logText())
	}
}
