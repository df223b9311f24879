package main

import (
	"bytes"
	"errors"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"golang.org/x/sys/unix"
)

// Unit tests of the hooks (--exec-start-pre, --exec-stop-post): parsing,
// configuration, systemd's variables and the runner with fake processes.
// hooks_e2e_test.go runs them for real.

func TestHookParse(t *testing.T) {
	for _, tc := range []struct {
		in     string
		argv   []string
		ignore bool
	}{
		{"true", []string{"true"}, false},
		{"-false", []string{"false"}, true},
		{"- false", []string{"false"}, true},
		{`sh -c 'echo "a b"; exit 3'`, []string{"sh", "-c", `echo "a b"; exit 3`}, false},
		{`-rm -f a\ b`, []string{"rm", "-f", "a b"}, true},
		{"--x", []string{"-x"}, true},
	} {
		c, err := parseHook(tc.in)
		if err != nil || !slices.Equal(c.argv, tc.argv) || c.ignore != tc.ignore {
			t.Errorf("parseHook(%q) = %q, ignore %v, %v; want %q, %v", tc.in, c.argv, c.ignore, err, tc.argv, tc.ignore)
		}
	}
	for in, want := range map[string]string{
		"":         "is empty; give a command, or leave the flag out",
		"   ":      "is empty",
		"-":        `"-" has no command after the "-"`,
		"-  ":      `"-  " has no command after the "-"`,
		"sh -c 'x": `"sh -c 'x" is not a command line`,
	} {
		if _, err := parseHook(in); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("parseHook(%q): %v, want an error with %q", in, err, want)
		}
	}
}

// TestHookConfig: the flags, repeated and from their variables, the
// default time limit (--timeout-stop's) and the refusals.
func TestHookConfig(t *testing.T) {
	cfg, err := configureArgs("--exec-start-pre=mkdir -p 'a b'", "--exec-start-pre=-false", "--exec-stop-post=echo a,b",
		"--timeout-stop=7s", "--", "true")
	if err != nil {
		t.Fatal(err)
	}
	h := cfg.hooks
	if len(h.pre) != 2 || !slices.Equal(h.pre[0].argv, []string{"mkdir", "-p", "a b"}) || h.pre[0].ignore ||
		!slices.Equal(h.pre[1].argv, []string{"false"}) || !h.pre[1].ignore {
		t.Errorf("start-pre %+v", h.pre)
	}
	if len(h.post) != 1 || !slices.Equal(h.post[0].argv, []string{"echo", "a,b"}) {
		t.Errorf("stop-post %+v: a comma is no separator", h.post)
	}
	if h.timeout != 7*time.Second {
		t.Errorf("timeout %v, want --timeout-stop's 7s", h.timeout)
	}
	for _, tc := range []struct {
		args []string
		want time.Duration
	}{
		{[]string{"--exec-stop-post=true"}, 10 * time.Second},
		{[]string{"--exec-stop-post=true", "--timeout-stop=0"}, maxDuration},
		{[]string{"--exec-stop-post=true", "--timeout-hook=0.5"}, 500 * time.Millisecond},
		{[]string{"--exec-stop-post=true", "--timeout-hook=infinity", "--timeout-stop=1s"}, maxDuration},
		{[]string{"--exec-start-pre=true", "--timeout-hook=0"}, maxDuration},
		{[]string{"--exec-start-pre=true", "--exec-stop-post=true", "--timeout-hook=2s"}, 2 * time.Second},
	} {
		cfg, err := configureArgs(append(slices.Clone(tc.args), "--", "true")...)
		if err != nil || cfg.hooks.timeout != tc.want {
			t.Errorf("%q: %v, timeout %v; want %v", tc.args, err, cfg.hooks.timeout, tc.want)
		}
	}
	if cfg, err := configureArgs("--", "true"); err != nil || len(cfg.hooks.pre)+len(cfg.hooks.post) != 0 {
		t.Errorf("no hooks: %v %+v", err, cfg.hooks)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--timeout-hook=5s"}, "--timeout-hook: 5s does nothing without a hook: add --exec-start-pre or --exec-stop-post, or leave it out"},
		{[]string{"--timeout-hook=0"}, "--timeout-hook: 0s does nothing without a hook"},
		{[]string{"--exec-start-pre="}, "--exec-start-pre: is empty; give a command, or leave the flag out"},
		{[]string{"--exec-stop-post=  "}, "--exec-stop-post: is empty"},
		{[]string{"--exec-start-pre=true", "--exec-start-pre="}, "--exec-start-pre: is empty"},
		{[]string{"--exec-start-pre=-"}, `--exec-start-pre: "-" has no command after the "-" (which only says that its failure is ignored)`},
		{[]string{"--exec-stop-post=-"}, `--exec-stop-post: "-" has no command`},
		{[]string{"--exec-stop-post=sh -c 'x"}, `--exec-stop-post: "sh -c 'x" is not a command line`},
		{[]string{"--exec-stop-post=true", "--timeout-hook=-1s"}, "--timeout-hook"},
	} {
		_, err := configureArgs(append(slices.Clone(tc.args), "--", "true")...)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: %v, want an error with %q", tc.args, err, tc.want)
		}
	}
	t.Setenv("RESTART_RUN_EXEC_STOP_POST", "-sh -c 'echo $SERVICE_RESULT'")
	if cfg, err := configureArgs("--", "true"); err != nil || len(cfg.hooks.post) != 1 || !cfg.hooks.post[0].ignore ||
		!slices.Equal(cfg.hooks.post[0].argv, []string{"sh", "-c", "echo $SERVICE_RESULT"}) {
		t.Errorf("from the variable: %v %+v", err, cfg.hooks.post)
	}
	// An empty variable is an empty hook, and the message names it.
	t.Setenv("RESTART_RUN_EXEC_STOP_POST", "")
	if _, err := configureArgs("--", "true"); err == nil || !strings.Contains(err.Error(), `--exec-stop-post: is empty`) ||
		!strings.Contains(err.Error(), "RESTART_RUN_EXEC_STOP_POST") {
		t.Errorf("an empty variable: %v", err)
	}
}

// Wait statuses as the kernel makes them.
func exitedWS(code int) unix.WaitStatus        { return unix.WaitStatus(code << 8) }
func killedWS(sig unix.Signal) unix.WaitStatus { return unix.WaitStatus(sig) }
func dumpedWS(sig unix.Signal) unix.WaitStatus { return unix.WaitStatus(sig) | 0x80 }

// TestHookEnv: SERVICE_RESULT for each class (systemd's
// service_result_to_string), EXIT_CODE and EXIT_STATUS as systemd's
// service_spawn sets them, and RESTART_RUN_PID.
func TestHookEnv(t *testing.T) {
	for _, tc := range []struct {
		class Class
		core  bool
		want  string
	}{
		{Clean, false, "success"}, {Clean, true, "success"}, {ExitCode, false, "exit-code"}, {Signal, false, "signal"},
		{Signal, true, "core-dump"}, {Timeout, false, "timeout"}, {Timeout, true, "timeout"}, {Watchdog, false, "watchdog"},
		{Watchdog, true, "watchdog"}, {OOMKill, false, "oom-kill"},
	} {
		if got := serviceResult(tc.class, tc.core); got != tc.want {
			t.Errorf("serviceResult(%s, core %v) = %q, want %q", tc.class, tc.core, got, tc.want)
		}
	}
	for _, tc := range []struct {
		r    Result
		ws   unix.WaitStatus
		want []string
	}{
		{Result{Class: Clean, Code: 0}, exitedWS(0), []string{"SERVICE_RESULT=success", "EXIT_CODE=exited", "EXIT_STATUS=0", "RESTART_RUN_PID=42"}},
		{Result{Class: ExitCode, Code: 3}, exitedWS(3), []string{"SERVICE_RESULT=exit-code", "EXIT_CODE=exited", "EXIT_STATUS=3", "RESTART_RUN_PID=42"}},
		{Result{Class: Signal, Code: -1, Sig: unix.SIGKILL}, killedWS(unix.SIGKILL), []string{"SERVICE_RESULT=signal", "EXIT_CODE=killed", "EXIT_STATUS=KILL", "RESTART_RUN_PID=42"}},
		{Result{Class: Signal, Code: -1, Sig: unix.SIGSEGV}, dumpedWS(unix.SIGSEGV), []string{"SERVICE_RESULT=core-dump", "EXIT_CODE=dumped", "EXIT_STATUS=SEGV", "RESTART_RUN_PID=42"}},
		{Result{Class: Clean, Code: -1, Sig: unix.SIGTERM}, killedWS(unix.SIGTERM), []string{"SERVICE_RESULT=success", "EXIT_CODE=killed", "EXIT_STATUS=TERM", "RESTART_RUN_PID=42"}},
		{Result{Class: Watchdog, Code: -1, Sig: unix.SIGABRT}, dumpedWS(unix.SIGABRT), []string{"SERVICE_RESULT=watchdog", "EXIT_CODE=dumped", "EXIT_STATUS=ABRT", "RESTART_RUN_PID=42"}},
		{Result{Class: Timeout, Code: 0}, exitedWS(0), []string{"SERVICE_RESULT=timeout", "EXIT_CODE=exited", "EXIT_STATUS=0", "RESTART_RUN_PID=42"}},
		{Result{Class: OOMKill, Code: -1, Sig: unix.SIGKILL}, killedWS(unix.SIGKILL), []string{"SERVICE_RESULT=oom-kill", "EXIT_CODE=killed", "EXIT_STATUS=KILL", "RESTART_RUN_PID=42"}},
		{Result{Class: Signal, Code: -1, Sig: 40}, killedWS(40), []string{"SERVICE_RESULT=signal", "EXIT_CODE=killed", "EXIT_STATUS=RTMIN+6", "RESTART_RUN_PID=42"}},
	} {
		if got := childEnd(tc.r, 42, tc.ws).env(); !slices.Equal(got, tc.want) {
			t.Errorf("%+v: env %q, want %q", tc.r, got, tc.want)
		}
	}
	// No child ran (a start-pre failed or was stopped): no EXIT_CODE or
	// EXIT_STATUS, and RESTART_RUN_PID empty.
	if got, want := (hookEnd{result: "exit-code"}).env(), []string{"SERVICE_RESULT=exit-code", "RESTART_RUN_PID="}; !slices.Equal(got, want) {
		t.Errorf("no child: %q, want %q", got, want)
	}
	// The variables replace any of the same name the child's environment has.
	h := &hookRunner{env: []string{"A=1", "SERVICE_RESULT=old", "EXIT_STATUS=9", "B=2"}, extra: []string{"SERVICE_RESULT=success", "RESTART_RUN_PID="}}
	if got, want := h.environ(), []string{"A=1", "B=2", "SERVICE_RESULT=success", "RESTART_RUN_PID="}; !slices.Equal(got, want) {
		t.Errorf("environ %q, want %q", got, want)
	}
	h.extra = nil
	if got := h.environ(); !slices.Equal(got, h.env) {
		t.Errorf("start-pre environ %q, want the child's", got)
	}
}

// fakeHooks is a hookRunner whose processes are pretend: spawn records
// each command and hands out pids from 100 up, kill records each signal.
type fakeHooks struct {
	*hookRunner
	spawned []string
	envs    [][]string
	kills   []string
	fail    map[string]error // spawn errors by argv[0]
	out     bytes.Buffer     // the log
}

func newFakeHooks(pre, post []string) *fakeHooks {
	f := &fakeHooks{fail: map[string]error{}}
	var hc hookConfig
	for _, l := range pre {
		c, _ := parseHook(l)
		hc.pre = append(hc.pre, c)
	}
	for _, l := range post {
		c, _ := parseHook(l)
		hc.post = append(hc.post, c)
	}
	hc.timeout = time.Hour
	f.hookRunner = newHookRunner(&config{hooks: hc, timeoutStop: 2 * time.Hour, killSignal: unix.SIGTERM}, []string{"E=1"}, zerolog.New(&f.out))
	f.spawn = func(argv, env []string) (int, error) {
		if err := f.fail[argv[0]]; err != nil {
			return 0, err
		}
		f.spawned = append(f.spawned, strings.Join(argv, " "))
		f.envs = append(f.envs, env)
		return 99 + len(f.spawned), nil
	}
	f.kill = func(pgid int, sig unix.Signal) { f.kills = append(f.kills, signalName(sig)+" "+strconv.Itoa(pgid)) }
	return f
}

// TestHookRunner: a batch runs its hooks one at a time in order; a
// start-pre failure without "-" ends it with the start's result, with
// "-" it goes on; a stop-post failure changes nothing; each hook's group
// is killed when it exits.
func TestHookRunner(t *testing.T) {
	f := newFakeHooks([]string{"a", "-b", "c"}, []string{"p", "q"})
	if o := f.begin(startPre); o.done || !f.owns(100) || f.owns(101) || f.owns(0) {
		t.Fatalf("begin: %+v, owns 100 %v", o, f.owns(100))
	}
	if o := f.exited(exitedWS(0)); o.done || !f.owns(101) {
		t.Fatalf("after a: %+v", o)
	}
	if o := f.exited(exitedWS(1)); o.done || !f.owns(102) { // -b fails: ignored
		t.Fatalf("after -b failed: %+v", o)
	}
	if o := f.exited(exitedWS(0)); !o.done || o.failed != nil || o.stopped || o.kind != startPre {
		t.Fatalf("after c: %+v, want the batch done, the child to start", o)
	}
	if f.owns(102) || f.C() != nil {
		t.Error("a hook still owned, or its alarm on, after the batch")
	}
	if want := []string{"a", "b", "c"}; !slices.Equal(f.spawned, want) {
		t.Errorf("spawned %q, want %q", f.spawned, want)
	}
	if want := []string{"SIGKILL 100", "SIGKILL 101", "SIGKILL 102"}; !slices.Equal(f.kills, want) {
		t.Errorf("kills %q, want each group's leftovers SIGKILLed as its leader is reaped", f.kills)
	}
	if !slices.Equal(f.envs[0], []string{"E=1"}) {
		t.Errorf("start-pre env %q, want the child's", f.envs[0])
	}

	// A failure without "-" ends the batch: c is not run.
	f = newFakeHooks([]string{"a", "b", "c"}, nil)
	f.begin(startPre)
	f.exited(exitedWS(0))
	o := f.exited(killedWS(unix.SIGSEGV))
	if !o.done || o.failed == nil || *o.failed != (Result{Class: ExitCode, Code: 128 + int(unix.SIGSEGV)}) {
		t.Fatalf("b killed by SIGSEGV: %+v, want the start failed, exit-code 139", o)
	}
	if !slices.Equal(f.spawned, []string{"a", "b"}) {
		t.Errorf("spawned %q, want a and b only", f.spawned)
	}
	if !strings.Contains(f.out.String(), `"event":"hook","hook":"start-pre","command":["b"],"pid":101,"exit_code":139,"class":"exit-code","ignore_failure":false`) ||
		!strings.Contains(f.out.String(), `"error":"killed by SIGSEGV"`) || !strings.Contains(f.out.String(), `"level":"warn"`) {
		t.Errorf("log:\n%s", f.out.String())
	}

	// A start-pre that cannot be started fails as a shell's 127.
	f = newFakeHooks([]string{"-gone", "nope", "c"}, nil)
	f.fail["gone"] = commandError{127, errors.New("gone: command not found")}
	f.fail["nope"] = commandError{126, errors.New("nope: permission denied")}
	if o := f.begin(startPre); !o.done || o.failed == nil || o.failed.Code != 126 || len(f.spawned) != 0 {
		t.Errorf("unstartable: %+v, spawned %q; want the start failed with 126, c not run", o, f.spawned)
	}

	// Stop-post: failures go on; the batch gets the run's variables.
	f = newFakeHooks(nil, []string{"p", "q"})
	f.end = childEnd(Result{Class: ExitCode, Code: 3}, 7, exitedWS(3))
	f.begin(stopPost)
	if o := f.exited(exitedWS(5)); o.done {
		t.Fatal("a failed stop-post ended the batch")
	}
	if o := f.exited(exitedWS(0)); !o.done || o.failed != nil || o.kind != stopPost {
		t.Errorf("stop-post done: %+v", o)
	}
	if want := []string{"E=1", "SERVICE_RESULT=exit-code", "EXIT_CODE=exited", "EXIT_STATUS=3", "RESTART_RUN_PID=7"}; !slices.Equal(f.envs[1], want) {
		t.Errorf("stop-post env %q, want %q", f.envs[1], want)
	}
	// None at all: done at once.
	f = newFakeHooks(nil, nil)
	if o := f.begin(stopPost); !o.done || o.kind != stopPost {
		t.Errorf("no stop-post hooks: %+v", o)
	}
	if o := f.begin(startPre); !o.done || o.failed != nil || o.stopped {
		t.Errorf("no start-pre hooks: %+v", o)
	}
}

// TestHookRunnerTimeout: past --timeout-hook the group gets the kill
// signal, past --timeout-stop after that SIGKILL; a start-pre that ends so
// fails the start with class timeout, unless it had "-".
func TestHookRunnerTimeout(t *testing.T) {
	for _, ignore := range []bool{false, true} {
		cmd := "a"
		if ignore {
			cmd = "-a"
		}
		f := newFakeHooks([]string{cmd, "b"}, nil)
		f.begin(startPre)
		if f.C() == nil || time.Until(f.alarm.when) < 59*time.Minute {
			t.Fatalf("alarm %v, want --timeout-hook's hour", time.Until(f.alarm.when))
		}
		f.expired()
		if time.Until(f.alarm.when) < 119*time.Minute || f.C() == nil {
			t.Errorf("after the kill signal, alarm in %v, want --timeout-stop's 2h", time.Until(f.alarm.when))
		}
		f.expired()
		if want := []string{"SIGTERM 100", "SIGKILL 100"}; !slices.Equal(f.kills, want) {
			t.Errorf("kills %q, want %q", f.kills, want)
		}
		o := f.exited(killedWS(unix.SIGKILL))
		if ignore {
			if o.done || len(f.spawned) != 2 {
				t.Errorf("-a timed out: %+v, want b run next", o)
			}
			continue
		}
		if !o.done || o.failed == nil || *o.failed != (Result{Class: Timeout, Code: 137}) {
			t.Errorf("a timed out: %+v, want the start failed, class timeout, 137", o)
		}
	}
}

// TestHookRunnerStop: a stop request stops a start-pre hook (the kill
// signal, then SIGKILL after --timeout-stop) and ends the batch, however
// the hook then ends; stop-post hooks are left to finish.
func TestHookRunnerStop(t *testing.T) {
	for _, ws := range []unix.WaitStatus{exitedWS(0), killedWS(unix.SIGTERM)} {
		f := newFakeHooks([]string{"a", "b"}, []string{"p"})
		f.begin(startPre)
		if !f.stop() || f.stop() {
			t.Fatal("stop: want a signal sent the first time only")
		}
		if time.Until(f.alarm.when) < 119*time.Minute {
			t.Errorf("after the stop, alarm in %v, want --timeout-stop's 2h", time.Until(f.alarm.when))
		}
		f.expired()
		if want := []string{"SIGTERM 100", "SIGKILL 100"}; !slices.Equal(f.kills[:2], want) {
			t.Errorf("kills %q, want %q", f.kills, want)
		}
		o := f.exited(ws)
		if !o.done || !o.stopped || o.failed != nil || len(f.spawned) != 1 {
			t.Errorf("a ended with %v after a stop: %+v, spawned %q; want the batch stopped, b not run", ws, o, f.spawned)
		}
		// The stop-post batch that follows is not stopped.
		if o := f.begin(stopPost); o.done || f.stop() {
			t.Errorf("stop-post: %+v; want it running, and not stopped", o)
		}
		if o := f.exited(exitedWS(0)); !o.done || o.stopped {
			t.Errorf("stop-post done: %+v", o)
		}
	}
	if f := newFakeHooks(nil, nil); f.stop() {
		t.Error("stop with no hook in flight sent a signal")
	}
}

// TestHookHelper: the hook in flight is restart-run's own process, not
// the child's, for --memory-max's count and the cleanup.
func TestHookHelper(t *testing.T) {
	s := &supervisor{guard: &guardKeeper{}, hooks: &hookRunner{}}
	if s.helper(42) {
		t.Error("pid 42 is a helper with no hook in flight")
	}
	s.hooks.run = &hookRun{pid: 42}
	if !s.helper(42) || s.helper(43) || s.helper(0) {
		t.Errorf("helper(42) %v, helper(43) %v, helper(0) %v; want the hook's pid alone", s.helper(42), s.helper(43), s.helper(0))
	}
}
