package main

import (
	"slices"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// TestDecideTable checks every cell of SPEC.md section 2's table.
func TestDecideTable(t *testing.T) {
	restarts := map[Class][]Policy{
		Clean:    {Always, OnSuccess},
		ExitCode: {Always, OnFailure},
		Signal:   {Always, OnFailure, OnAbnormal, OnAbort},
		Timeout:  {Always, OnFailure, OnAbnormal},
		Watchdog: {Always, OnFailure, OnAbnormal, OnWatchdog},
		OOMKill:  {Always, OnFailure, OnAbnormal},
	}
	for _, c := range allClasses {
		for _, p := range allPolicies {
			want := slices.Contains(restarts[c], p)
			if got := decide(p, Result{Class: c, Code: 1}, Lists{}, false, 0, 0).Restart; got != want {
				t.Errorf("decide(%s, %s) = %v, want %v", p, c, got, want)
			}
		}
	}
}

func mustList(t *testing.T, s string) StatusList {
	t.Helper()
	var l StatusList
	if err := l.UnmarshalText([]byte(s)); err != nil {
		t.Fatalf("StatusList(%q): %v", s, err)
	}
	return l
}

// TestDecidePrecedence checks the precedence rows: stop, prevent, force, the
// table, then --max-restarts.
func TestDecidePrecedence(t *testing.T) {
	exit3 := Result{Class: ExitCode, Code: 3}
	usr1 := Result{Class: Signal, Code: -1, Sig: unix.SIGUSR1}
	clean := Result{Class: Clean, Code: 0}
	both := Lists{Prevent: mustList(t, "3 SIGUSR1"), Force: mustList(t, "3,USR1,0")}
	force := Lists{Force: mustList(t, "3 USR1 0")}
	for _, tc := range []struct {
		name     string
		p        Policy
		r        Result
		l        Lists
		stopping bool
		restarts int
		max      int
		want     bool
		why      Why
	}{
		{"stop beats force", Always, exit3, force, true, 0, 0, false, WhyStopped},
		{"stop beats always", Always, clean, Lists{}, true, 0, 0, false, WhyStopped},
		{"prevent beats force (code)", Always, exit3, both, false, 0, 0, false, WhyPrevent},
		{"prevent beats force (signal)", Always, usr1, both, false, 0, 0, false, WhyPrevent},
		{"prevent beats the table", OnFailure, exit3, Lists{Prevent: mustList(t, "3")}, false, 0, 0, false, WhyPrevent},
		{"force beats no (code)", No, exit3, force, false, 0, 0, true, WhyForce},
		{"force beats no (signal)", No, usr1, force, false, 0, 0, true, WhyForce},
		{"force beats on-success", OnSuccess, exit3, force, false, 0, 0, true, WhyForce},
		{"force beats on-failure on a clean end", OnFailure, clean, force, false, 0, 0, true, WhyForce},
		{"force is capped by max-restarts", No, exit3, force, false, 2, 2, false, WhyMaxRestarts},
		{"table, under max", Always, exit3, Lists{}, false, 1, 2, true, WhyPolicy},
		{"table, max reached", Always, exit3, Lists{}, false, 2, 2, false, WhyMaxRestarts},
		{"max 0 is unlimited", Always, exit3, Lists{}, false, 1000, 0, true, WhyPolicy},
		{"table says no", OnSuccess, exit3, Lists{}, false, 0, 0, false, WhyPolicy},
		{"prevent on another code does not apply", OnFailure, exit3, Lists{Prevent: mustList(t, "4 SIGUSR2")}, false, 0, 0, true, WhyPolicy},
	} {
		d := decide(tc.p, tc.r, tc.l, tc.stopping, tc.restarts, tc.max)
		if d.Restart != tc.want || d.Why != tc.why {
			t.Errorf("%s: decide = %+v, want {%v %s}", tc.name, d, tc.want, tc.why)
		}
	}
}

func TestClassify(t *testing.T) {
	success := mustList(t, "75 SIGUSR1")
	timeout, watchdog, oom := Timeout, Watchdog, OOMKill
	for _, tc := range []struct {
		code   int
		sig    unix.Signal
		forced *Class
		want   Class
		status int
	}{
		{0, 0, nil, Clean, 0},
		{3, 0, nil, ExitCode, 3},
		{75, 0, nil, Clean, 75},
		{-1, unix.SIGHUP, nil, Clean, 129},
		{-1, unix.SIGINT, nil, Clean, 130},
		{-1, unix.SIGTERM, nil, Clean, 143},
		{-1, unix.SIGPIPE, nil, Clean, 141},
		{-1, unix.SIGUSR1, nil, Clean, 138},
		{-1, unix.SIGKILL, nil, Signal, 137},
		{-1, unix.SIGSEGV, nil, Signal, 139},
		{-1, unix.SIGABRT, nil, Signal, 134},
		{-1, unix.SIGTERM, &timeout, Timeout, 143},
		{0, 0, &watchdog, Watchdog, 0},
		{-1, unix.SIGKILL, &watchdog, Watchdog, 137},
		{-1, unix.SIGKILL, &oom, OOMKill, 137},
		{-1, unix.SIGTERM, &oom, OOMKill, 143},
		{-1, unix.SIGUSR1, &oom, OOMKill, 138},
	} {
		r := classify(tc.code, tc.sig, success, tc.forced)
		if r.Class != tc.want || r.Status() != tc.status {
			t.Errorf("classify(%d, %v) = %s status %d, want %s status %d", tc.code, tc.sig, r.Class, r.Status(), tc.want, tc.status)
		}
	}
}

func TestStatusList(t *testing.T) {
	l := mustList(t, "0, 75 SIGUSR1,USR2  sigrtmin+2 255")
	for _, in := range []struct {
		code int
		sig  unix.Signal
	}{{0, 0}, {75, 0}, {255, 0}, {-1, unix.SIGUSR1}, {-1, unix.SIGUSR2}, {-1, 36}} {
		if !l.Has(in.code, in.sig) {
			t.Errorf("list lacks code %d sig %d", in.code, in.sig)
		}
	}
	for _, out := range []struct {
		code int
		sig  unix.Signal
	}{{1, 0}, {74, 0}, {-1, unix.SIGTERM}, {-1, 35}, {-1, 0}, {256, 0}, {1000, 0}} { // no code outside 0-255, and no panic
		if l.Has(out.code, out.sig) {
			t.Errorf("list has code %d sig %d", out.code, out.sig)
		}
	}
	for _, bad := range []string{"256", "-1", "SIGFOO", "FOO", "3.5", "RTMIN+40", "RTMAX+1"} {
		var l StatusList
		if err := l.UnmarshalText([]byte(bad)); err == nil {
			t.Errorf("StatusList(%q) = nil error, want one", bad)
		}
	}
}

func TestParseSignal(t *testing.T) {
	for in, want := range map[string]unix.Signal{
		"SIGTERM": unix.SIGTERM, "TERM": unix.SIGTERM, "term": unix.SIGTERM, "SIGKILL": unix.SIGKILL,
		"ABRT": unix.SIGABRT, "RTMIN": 34, "SIGRTMIN+3": 37, "RTMAX": 64, "RTMAX-1": 63, "15": unix.SIGTERM, "64": 64,
		"1": unix.SIGHUP, "RTMIN+0": 34, "SIGRTMIN+30": 64, "RTMAX-30": 34, "rtmax-0": 64,
	} {
		got, err := parseSignal(in)
		if err != nil || got != want {
			t.Errorf("parseSignal(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "SIG", "FOO", "0", "65", "-1", "RTMIN+31", "RTMIN-1", "RTMINX"} {
		if got, err := parseSignal(bad); err == nil {
			t.Errorf("parseSignal(%q) = %d, want an error", bad, got)
		}
	}
	for sig, want := range map[unix.Signal]string{
		unix.SIGTERM: "SIGTERM", 31: "SIGSYS", 32: "SIG32", 33: "SIG33",
		34: "SIGRTMIN+0", 37: "SIGRTMIN+3", 64: "SIGRTMIN+30", 65: "SIG65",
	} {
		if n := signalName(sig); n != want {
			t.Errorf("signalName(%d) = %q, want %q", sig, n, want)
		}
	}
}

// TestSignalTypes: --kill-signal and --watchdog-signal take one signal that
// can end a process; --stop-signals takes a list of signals restart-run
// forwards, each once, in the order given.
func TestSignalTypes(t *testing.T) {
	for in, want := range map[string]unix.Signal{"TERM": unix.SIGTERM, "SIGKILL": unix.SIGKILL, "9": unix.SIGKILL, "RTMIN+1": 35} {
		var s SignalName
		if err := s.UnmarshalText([]byte(in)); err != nil || unix.Signal(s) != want {
			t.Errorf("SignalName(%q) = %d, %v; want %d", in, s, err, want)
		}
		if s.String() != signalName(want) {
			t.Errorf("SignalName(%q).String() = %q, want %q", in, s.String(), signalName(want))
		}
	}
	for in, want := range map[string]string{"STOP": "cannot end a process", "19": "cannot end a process", "NOPE": "not a signal name", "": "not a signal name"} {
		s := SignalName(unix.SIGTERM)
		err := s.UnmarshalText([]byte(in))
		if err == nil || !strings.Contains(err.Error(), want) || s != SignalName(unix.SIGTERM) {
			t.Errorf("SignalName(%q): %v, value %d; want an error with %q and the value left alone", in, err, s, want)
		}
	}

	for in, want := range map[string]string{
		"TERM":                 "SIGTERM",
		"TERM,INT,QUIT":        "SIGTERM,SIGINT,SIGQUIT",
		" INT\tterm, ,SIGINT ": "SIGINT,SIGTERM",
		"10 SIGUSR2 usr1":      "SIGUSR1,SIGUSR2",
		"RTMIN+2":              "SIGRTMIN+2",
		"1,RTMAX":              "SIGHUP,SIGRTMIN+30", // the ends of the range
	} {
		l := SignalList{unix.SIGHUP} // replaced, not added to
		if err := l.UnmarshalText([]byte(in)); err != nil || l.String() != want {
			t.Errorf("SignalList(%q) = %q, %v; want %q", in, l, err, want)
		}
	}
	for in, want := range map[string]string{
		"":          "names no signal",
		" , ":       "names no signal",
		"TERM,KILL": "SIGKILL cannot be a stop signal",
		"STOP":      "SIGSTOP cannot be a stop signal",
		"TERM,NOPE": `"NOPE" is not a signal name`,
		"TERM,0":    "not a signal number",
	} {
		var l SignalList
		if err := l.UnmarshalText([]byte(in)); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("SignalList(%q) = %q, %v; want an error with %q", in, l, err, want)
		}
	}
	l := SignalList{unix.SIGTERM, unix.SIGINT}
	if !l.Has(unix.SIGINT) || l.Has(unix.SIGQUIT) {
		t.Errorf("%s: Has(SIGINT) %v, Has(SIGQUIT) %v; want true, false", l, l.Has(unix.SIGINT), l.Has(unix.SIGQUIT))
	}
}

// TestDecideRequested: a run ended by --restart-signal restarts under
// every policy and class, over both status lists; a stop request still
// wins, and --max-restarts still caps it.
func TestDecideRequested(t *testing.T) {
	exit3 := Result{Class: ExitCode, Code: 3}
	prevent := Lists{Prevent: mustList(t, "3 0 SIGTERM"), Success: mustList(t, "3")}
	for _, c := range allClasses {
		for _, p := range allPolicies {
			for _, l := range []Lists{{}, prevent} {
				r := Result{Class: c, Code: 3}
				if d := decideRun(p, r, l, false, true, 0, 0); !d.Restart || d.Why != WhyRequested {
					t.Errorf("requested, %s, %s, lists %v: %+v, want a restart for %q", p, c, l, d, WhyRequested)
				}
			}
		}
	}
	for _, tc := range []struct {
		name                string
		p                   Policy
		l                   Lists
		stopping, requested bool
		restarts, max       int
		want                bool
		why                 Why
	}{
		{"stop beats the request", Always, Lists{}, true, true, 0, 0, false, WhyStopped},
		{"stop beats the request under no", No, Lists{}, true, true, 0, 0, false, WhyStopped},
		{"the request beats prevent", Always, prevent, false, true, 0, 0, true, WhyRequested},
		{"the request under max", No, Lists{}, false, true, 1, 2, true, WhyRequested},
		{"the request is capped by max-restarts", No, Lists{}, false, true, 2, 2, false, WhyMaxRestarts},
		{"no request: the table", No, Lists{}, false, false, 0, 0, false, WhyPolicy},
		{"no request: prevent", Always, prevent, false, false, 0, 0, false, WhyPrevent},
	} {
		d := decideRun(tc.p, exit3, tc.l, tc.stopping, tc.requested, tc.restarts, tc.max)
		if d.Restart != tc.want || d.Why != tc.why {
			t.Errorf("%s: decideRun = %+v, want {%v %s}", tc.name, d, tc.want, tc.why)
		}
	}
	// decide is decideRun with no request.
	for _, c := range allClasses {
		for _, p := range allPolicies {
			r := Result{Class: c, Code: 1}
			if a, b := decide(p, r, prevent, false, 1, 3), decideRun(p, r, prevent, false, false, 1, 3); a != b {
				t.Errorf("%s, %s: decide %+v, decideRun with no request %+v", p, c, a, b)
			}
		}
	}
}
