package main

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/kballard/go-shellquote"
	"golang.org/x/sys/unix"
)

// This file is what a hook is: its flags read into commands, and the
// variables systemd gives ExecStopPost=, which the stop-post hooks get.

// hookConfig is the hooks' commands, in order, and their time limit
// (maxDuration for none).
type hookConfig struct {
	pre, post []hookCmd
	timeout   time.Duration
}

// configureHooks reads the hook flags: each command parsed, and a
// --timeout-hook only with a hook to time. Without it a hook gets
// --timeout-stop, as systemd's TimeoutStartSec= and TimeoutStopSec= bound
// ExecStartPre= and ExecStopPost=.
func configureHooks(cli *CLI) (hookConfig, error) {
	var h hookConfig
	for _, f := range []struct {
		name  string
		lines []string
		to    *[]hookCmd
	}{{"exec-start-pre", cli.ExecStartPre, &h.pre}, {"exec-stop-post", cli.ExecStopPost, &h.post}} {
		if cli.given(f.name) && len(f.lines) == 0 {
			return h, cli.flagError(f.name, "is empty; give a command, or leave the flag out")
		}
		for _, line := range f.lines {
			c, err := parseHook(line)
			if err != nil {
				return h, cli.flagError(f.name, "%v", err)
			}
			*f.to = append(*f.to, c)
		}
	}
	h.timeout = time.Duration(cli.TimeoutStop)
	if cli.TimeoutHook != nil {
		if len(h.pre)+len(h.post) == 0 {
			return h, cli.flagError("timeout-hook", "%v does nothing without a hook: add --exec-start-pre or --exec-stop-post, or leave it out", *cli.TimeoutHook)
		}
		h.timeout = time.Duration(*cli.TimeoutHook)
	}
	if h.timeout == 0 {
		h.timeout = maxDuration // no limit: an alarm that never rings
	}
	return h, nil
}

// hookCmd is one hook command: its words, split as --health-cmd's are,
// and whether a "-" before it asked for its failure to be ignored, as
// systemd's prefix does.
type hookCmd struct {
	argv   []string
	ignore bool
}

// parseHook reads a hook flag's value: an optional "-", then a command
// line split into words as a shell splits them.
func parseHook(line string) (hookCmd, error) {
	rest, ignore := strings.CutPrefix(line, "-")
	argv, err := shellquote.Split(rest)
	switch {
	case err != nil:
		return hookCmd{}, fmt.Errorf("%q is not a command line (%v)", line, err)
	case len(argv) == 0 && ignore:
		return hookCmd{}, fmt.Errorf("%q has no command after the \"-\" (which only says that its failure is ignored); give one, such as -rm -f /run/app.pid", line)
	case len(argv) == 0:
		return hookCmd{}, errors.New("is empty; give a command, or leave the flag out")
	}
	return hookCmd{argv: argv, ignore: ignore}, nil
}

// hookEnd is how the run before a batch of stop-post hooks ended, told
// to them as systemd tells ExecStopPost=: SERVICE_RESULT always;
// EXIT_CODE and EXIT_STATUS, and restart-run's RESTART_RUN_PID, only when
// a child ran (pid not 0).
type hookEnd struct {
	result     string // systemd's service result: success, exit-code, signal, core-dump, timeout, watchdog, oom-kill
	pid        int
	code       int         // the exit code, when sig is 0
	sig        unix.Signal // the signal that killed the child, or 0
	coreDumped bool
}

// serviceResult is systemd's SERVICE_RESULT for a run of class c:
// service_result_to_string of the result systemd would have set. systemd
// tells a core dump from a signal (CLD_DUMPED); restart-run's class
// signal covers both, so the wait status decides. A health check's kill is
// class watchdog, so it reads watchdog too: systemd has no health checks.
func serviceResult(c Class, coreDumped bool) string {
	switch c {
	case Clean:
		return "success"
	case Signal:
		if coreDumped {
			return "core-dump"
		}
		return "signal"
	}
	return c.String() // exit-code, timeout, watchdog, oom-kill: systemd's words
}

// env is what the stop-post hooks get on top of the child's environment.
// EXIT_STATUS is the code, or the signal's name without SIG (KILL, TERM),
// as systemd's signal_to_string gives it.
func (e hookEnd) env() []string {
	env := []string{"SERVICE_RESULT=" + e.result}
	if e.pid == 0 {
		return append(env, "RESTART_RUN_PID=")
	}
	code, status := "exited", strconv.Itoa(e.code)
	if e.sig != 0 {
		code, status = "killed", strings.TrimPrefix(signalName(e.sig), "SIG")
		if e.coreDumped {
			code = "dumped"
		}
	}
	return append(env, "EXIT_CODE="+code, "EXIT_STATUS="+status, "RESTART_RUN_PID="+strconv.Itoa(e.pid))
}

// childEnd is the end of the run that just ended, for the stop-post
// hooks.
func childEnd(r Result, pid int, ws unix.WaitStatus) hookEnd {
	return hookEnd{result: serviceResult(r.Class, ws.CoreDump()), pid: pid, code: r.Code, sig: r.Sig, coreDumped: ws.CoreDump()}
}
