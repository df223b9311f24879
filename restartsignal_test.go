package main

import (
	"errors"
	"io"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// Tests of --restart-signal: a signal to restart-run that restarts the
// child (systemctl restart), stopping it as a stop request would.

// TestRestartSignalFlag: the flag's values, parsed and configured in
// process; TestRestartSignalBadInput checks the refusals through the
// binary.
func TestRestartSignalFlag(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want unix.Signal
	}{
		{nil, 0},
		{[]string{"--restart-signal=HUP"}, unix.SIGHUP},
		{[]string{"--restart-signal=SIGUSR2"}, unix.SIGUSR2},
		{[]string{"--restart-signal=10"}, unix.SIGUSR1},
		{[]string{"--restart-signal=rtmin+3"}, 37},
		{[]string{"--restart-signal=SIGWINCH"}, unix.SIGWINCH},
		// Out of --stop-signals, a stop signal's name is free.
		{[]string{"--stop-signals=INT,QUIT", "--restart-signal=TERM"}, unix.SIGTERM},
	} {
		cfg, err := configureArgs(append(slices.Clone(tc.args), "--", "true")...)
		if err != nil || cfg.restartSignal != tc.want {
			t.Errorf("%q: %v, restart signal %d; want %d", tc.args, err, cfg.restartSignal, tc.want)
		}
	}
	for _, tc := range []struct{ in, want string }{
		{"KILL", "SIGKILL cannot be the restart signal: restart-run cannot catch it or keeps it for itself; use one it would forward, such as HUP, USR1, USR2"},
		{"STOP", "SIGSTOP cannot be the restart signal"},
		{"CHLD", "SIGCHLD cannot be the restart signal"},
		{"PIPE", "SIGPIPE cannot be the restart signal"},
		{"URG", "SIGURG cannot be the restart signal"},
		{"32", "SIG32 cannot be the restart signal"},
		{"33", "SIG33 cannot be the restart signal"},
		{"CONT", "SIGCONT cannot be the restart signal: it is a job control signal"},
		{"TSTP", "SIGTSTP cannot be the restart signal: it is a job control signal"},
		{"TTIN", "SIGTTIN cannot be the restart signal: it is a job control signal"},
		{"TTOU", "SIGTTOU cannot be the restart signal: it is a job control signal"},
		{"", "is empty; give a signal"},
		{"0", `"0" is not a signal number (1-64)`},
		{"BOGUS", `"BOGUS" is not a signal name`},
	} {
		r := RestartSignal(unix.SIGHUP)
		if err := r.UnmarshalText([]byte(tc.in)); err == nil || !strings.Contains(err.Error(), tc.want) || r != RestartSignal(unix.SIGHUP) {
			t.Errorf("RestartSignal(%q): %v, value %v; want an error with %q, and the value left alone", tc.in, err, r, tc.want)
		}
	}
	if s := RestartSignal(unix.SIGUSR2).String(); s != "SIGUSR2" {
		t.Errorf("String() = %q", s)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--restart-signal=TERM"}, "--restart-signal: SIGTERM is a stop signal too, in --stop-signals (SIGTERM,SIGINT,SIGQUIT by default): it cannot both stop restart-run and restart the child"},
		{[]string{"--restart-signal=2"}, "--restart-signal: SIGINT is a stop signal too"},
		{[]string{"--restart-signal=QUIT"}, "--restart-signal: SIGQUIT is a stop signal too"},
		{[]string{"--stop-signals=HUP", "--restart-signal=HUP"}, "--restart-signal: SIGHUP is a stop signal too, in --stop-signals=SIGHUP"},
	} {
		_, err := configureArgs(append(slices.Clone(tc.args), "--", "true")...)
		if !errors.As(err, new(usageError)) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: %v, want a usage error with %q", tc.args, err, tc.want)
		}
	}
}

// TestIdleSettingsRestartSignal: under --restart=no, --restart-signal
// restarts, so the limits that count its restarts are not idle; the pause
// and the status lists, which it does not use, still are.
func TestIdleSettingsRestartSignal(t *testing.T) {
	cli, _, err := parse([]string{"--restart=no", "--restart-signal=HUP", "--burst=3", "--interval=1m", "--max-restarts=2",
		"--restart-sec=1", "--restart-prevent-exit-status=3", "true"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, w := range cli.idleSettings() {
		got = append(got, w.flag)
		if want := "--" + w.flag + " has no effect under --restart=no, where only --restart-signal restarts"; !strings.Contains(w.msg, want) {
			t.Errorf("message %q, want %q", w.msg, want)
		}
	}
	if want := []string{"restart-sec", "restart-prevent-exit-status"}; !slices.Equal(got, want) {
		t.Errorf("warned about %q, want %q", got, want)
	}
}

// TestRestartSignalBadInput: each signal --restart-signal refuses ends
// restart-run with status 2 and a message naming the flag, before any
// child starts.
func TestRestartSignalBadInput(t *testing.T) {
	for _, tc := range []struct {
		env  []string
		args []string
		want []string
	}{
		{nil, []string{"--restart-signal=KILL"}, []string{"SIGKILL", "cannot be the restart signal", "HUP, USR1"}},
		{nil, []string{"--restart-signal=SIGSTOP"}, []string{"SIGSTOP", "cannot be the restart signal"}},
		{nil, []string{"--restart-signal=CHLD"}, []string{"SIGCHLD", "cannot be the restart signal"}},
		{nil, []string{"--restart-signal=13"}, []string{"SIGPIPE", "cannot be the restart signal"}},
		{nil, []string{"--restart-signal=URG"}, []string{"SIGURG", "cannot be the restart signal"}},
		{nil, []string{"--restart-signal=32"}, []string{"SIG32", "cannot be the restart signal"}},
		{nil, []string{"--restart-signal=33"}, []string{"SIG33", "cannot be the restart signal"}},
		{nil, []string{"--restart-signal=CONT"}, []string{"SIGCONT", "job control"}},
		{nil, []string{"--restart-signal=TSTP"}, []string{"SIGTSTP", "job control"}},
		{nil, []string{"--restart-signal=TTIN"}, []string{"SIGTTIN", "job control"}},
		{nil, []string{"--restart-signal=TTOU"}, []string{"SIGTTOU", "job control"}},
		{nil, []string{"--restart-signal=TERM"}, []string{"SIGTERM", "stop signal too", "--stop-signals"}},
		{nil, []string{"--restart-signal=INT"}, []string{"SIGINT", "stop signal too"}},
		{nil, []string{"--restart-signal=SIGQUIT"}, []string{"SIGQUIT", "stop signal too"}},
		{nil, []string{"--stop-signals=HUP", "--restart-signal=1"}, []string{"SIGHUP", "stop signal too", "--stop-signals=SIGHUP"}},
		{[]string{"RESTART_RUN_STOP_SIGNALS=TERM,USR1"}, []string{"--restart-signal=USR1"}, []string{"SIGUSR1", "RESTART_RUN_STOP_SIGNALS=TERM,USR1"}},
		{[]string{"RESTART_RUN_RESTART_SIGNAL=KILL"}, nil, []string{"SIGKILL", "RESTART_RUN_RESTART_SIGNAL"}},
		{[]string{"RESTART_RUN_RESTART_SIGNAL=TERM"}, nil, []string{"SIGTERM", "stop signal too", "RESTART_RUN_RESTART_SIGNAL"}},
		{nil, []string{"--restart-signal="}, []string{"is empty"}},
		{nil, []string{"--restart-signal=65"}, []string{`"65"`, "1-64"}},
		{nil, []string{"--restart-signal=NOPE"}, []string{`"NOPE"`, "not a signal name"}},
	} {
		marker := filepath.Join(t.TempDir(), "started")
		args := append(slices.Clone(tc.args), "--restart=no", "--", "sh", "-c", "touch "+marker)
		checkBad(t, tc.env, args, append(tc.want, "--restart-signal"), marker)
	}
}
