package main

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// Class is how one run of the child ended (SPEC.md section 1).
type Class int

const (
	Clean Class = iota
	ExitCode
	Signal
	Timeout
	Watchdog
	OOMKill // systemd's Result=oom-kill: the kernel's OOM killer, or --memory-max
)

var allClasses = []Class{Clean, ExitCode, Signal, Timeout, Watchdog, OOMKill}

func (c Class) String() string {
	return [...]string{"clean", "exit-code", "signal", "timeout", "watchdog", "oom-kill"}[c]
}

// Policy is a --restart value: systemd's Restart= setting.
type Policy string

const (
	No         Policy = "no"
	Always     Policy = "always"
	OnSuccess  Policy = "on-success"
	OnFailure  Policy = "on-failure"
	OnAbnormal Policy = "on-abnormal"
	OnAbort    Policy = "on-abort"
	OnWatchdog Policy = "on-watchdog"
)

var allPolicies = []Policy{No, Always, OnSuccess, OnFailure, OnAbnormal, OnAbort, OnWatchdog}

// restartTable is systemd's table of which class restarts under which policy
// (service.c, service_shall_restart and the Restart= documentation):
// on-failure is any result but success, on-abnormal any but success and
// exit-code, on-abort signal (and core-dump, which is a signal here).
var restartTable = map[Policy][]Class{
	Always:     allClasses,
	OnSuccess:  {Clean},
	OnFailure:  {ExitCode, Signal, Timeout, Watchdog, OOMKill},
	OnAbnormal: {Signal, Timeout, Watchdog, OOMKill},
	OnAbort:    {Signal},
	OnWatchdog: {Watchdog},
}

// Result is one end of the child: the raw status and its class.
type Result struct {
	Class Class
	// Code is the exit code, or -1 when the child was killed by a signal.
	Code int
	// Sig is the signal that killed the child, or 0.
	Sig unix.Signal
}

// Status is the exit status restart-run reports for this result: the code,
// or 128+signal as a shell does.
func (r Result) Status() int {
	if r.Sig != 0 {
		return 128 + int(r.Sig)
	}
	return r.Code
}

// cleanSignals end a run cleanly in systemd's eyes: they are how a service is
// normally asked to stop.
var cleanSignals = []unix.Signal{unix.SIGHUP, unix.SIGINT, unix.SIGTERM, unix.SIGPIPE}

// classify turns a raw end into a result. forced is Timeout, Watchdog or
// OOMKill when restart-run itself killed the child for that reason, or when
// the kernel's OOM killer did; it wins over the status.
func classify(code int, sig unix.Signal, success StatusList, forced *Class) Result {
	r := Result{Code: code, Sig: sig}
	switch {
	case forced != nil:
		r.Class = *forced
	case sig == 0 && code == 0, success.Has(code, sig):
		r.Class = Clean
	case sig != 0 && containsSignal(cleanSignals, sig):
		r.Class = Clean
	case sig != 0:
		r.Class = Signal
	default:
		r.Class = ExitCode
	}
	return r
}

func containsSignal(list []unix.Signal, s unix.Signal) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// Lists are the three status lists that change the decision.
type Lists struct {
	Success, Prevent, Force StatusList
}

// Why names the rule that made a decision, for the log.
type Why string

const (
	WhyStopped     Why = "stop requested"
	WhyPrevent     Why = "status in --restart-prevent-exit-status"
	WhyForce       Why = "status in --restart-force-exit-status"
	WhyPolicy      Why = "restart policy"
	WhyMaxRestarts Why = "--max-restarts used up"
	WhyRequested   Why = "signal" // --restart-signal asked for it
)

// Decision says whether to start the child again, and why.
type Decision struct {
	Restart bool
	Why     Why
}

// decide is the restart decision of SPEC.md section 2, first match wins:
// stop, prevent list, force list, the table; then --max-restarts caps any yes.
// restarts is how many restarts have already happened; maxRestarts 0 means no cap.
// The start limiter is applied by the caller, at the moment of the start.
func decide(p Policy, r Result, l Lists, stopping bool, restarts, maxRestarts int) Decision {
	return decideRun(p, r, l, stopping, false, restarts, maxRestarts)
}

// decideRun is decide for a run that --restart-signal may have ended
// (requested): a stop request still wins, and then the request restarts,
// whatever the policy and the status lists say, as systemctl restart
// starts a unit again whatever its Restart=. --max-restarts caps it as
// any restart; the caller applies the start limiter, which counts it too
// (systemd's start limit counts manual starts).
func decideRun(p Policy, r Result, l Lists, stopping, requested bool, restarts, maxRestarts int) Decision {
	var d Decision
	switch {
	case stopping:
		return Decision{false, WhyStopped}
	case requested:
		d = Decision{true, WhyRequested}
	case l.Prevent.Has(r.Code, r.Sig):
		return Decision{false, WhyPrevent}
	case l.Force.Has(r.Code, r.Sig):
		d = Decision{true, WhyForce}
	default:
		d = Decision{false, WhyPolicy}
		for _, c := range restartTable[p] {
			if c == r.Class {
				d.Restart = true
			}
		}
	}
	if d.Restart && maxRestarts > 0 && restarts >= maxRestarts {
		return Decision{false, WhyMaxRestarts}
	}
	return d
}

// StatusList is a set of exit codes and signals, as systemd's
// SuccessExitStatus= takes them: "75 SIGUSR1", "1,2,USR2".
type StatusList struct {
	codes [256]bool
	sigs  map[unix.Signal]bool
}

// Has reports whether the end (code, or sig when non-zero) is in the list.
func (l StatusList) Has(code int, sig unix.Signal) bool {
	if sig != 0 {
		return l.sigs[sig]
	}
	return code >= 0 && code < 256 && l.codes[code]
}

func (l *StatusList) UnmarshalText(b []byte) error {
	fields := strings.FieldsFunc(string(b), func(r rune) bool { return r == ',' || r == ' ' || r == '\t' })
	for _, f := range fields {
		if n, err := strconv.Atoi(f); err == nil {
			if n < 0 || n > 255 {
				return fmt.Errorf("exit code %d is outside 0-255", n)
			}
			l.codes[n] = true
			continue
		}
		sig, err := parseSignal(f)
		if err != nil {
			return fmt.Errorf("%q is neither an exit code (0-255) nor a signal name (SIGUSR1 or USR1)", f)
		}
		if l.sigs == nil {
			l.sigs = map[unix.Signal]bool{}
		}
		l.sigs[sig] = true
	}
	return nil
}

// SignalName is a signal given by name on the command line: SIGTERM or TERM.
type SignalName unix.Signal

func (s *SignalName) UnmarshalText(b []byte) error {
	sig, err := parseSignal(string(b))
	if err != nil {
		return err
	}
	if sig == unix.SIGSTOP {
		return fmt.Errorf("%q cannot end a process; use a signal such as SIGTERM or SIGKILL", b)
	}
	*s = SignalName(sig)
	return nil
}

func (s SignalName) String() string { return signalName(unix.Signal(s)) }

// SignalList is a set of signals by name or number: "TERM,INT", "15 2".
type SignalList []unix.Signal

// Has reports whether sig is in the list.
func (l SignalList) Has(sig unix.Signal) bool { return slices.Contains(l, sig) }

func (l *SignalList) UnmarshalText(b []byte) error {
	*l = nil
	for _, f := range strings.FieldsFunc(string(b), func(r rune) bool { return r == ',' || r == ' ' || r == '\t' }) {
		sig, err := parseSignal(f)
		if err != nil {
			return err
		}
		if !forwardable(sig) {
			return fmt.Errorf("%s cannot be a stop signal: restart-run cannot catch it or keeps it for itself; use signals it forwards, such as TERM, INT, QUIT, HUP, USR1", signalName(sig))
		}
		if !l.Has(sig) {
			*l = append(*l, sig)
		}
	}
	if len(*l) == 0 {
		return fmt.Errorf("%q names no signal; give at least one, such as TERM", b)
	}
	return nil
}

func (l SignalList) String() string {
	names := make([]string, len(l))
	for i, sig := range l {
		names[i] = signalName(sig)
	}
	return strings.Join(names, ",")
}

// parseSignal accepts SIGTERM, TERM, sigterm, a number from 1 to 64 and the
// real-time forms SIGRTMIN+3 and RTMAX-1, as systemd and kill(1) do.
func parseSignal(s string) (unix.Signal, error) {
	if n, err := strconv.Atoi(s); err == nil {
		if n < 1 || n > 64 {
			return 0, fmt.Errorf("%q is not a signal number (1-64)", s)
		}
		return unix.Signal(n), nil
	}
	name := strings.TrimPrefix(strings.ToUpper(s), "SIG")
	if sig := unix.SignalNum("SIG" + name); sig != 0 {
		return sig, nil
	}
	const rtmin, rtmax = 34, 64 // as glibc presents them to programs
	for base, val := range map[string]int{"RTMIN": rtmin, "RTMAX": rtmax} {
		if name == base {
			return unix.Signal(val), nil
		}
		rest, ok := strings.CutPrefix(name, base)
		if !ok || len(rest) < 2 || (rest[0] != '+' && rest[0] != '-') {
			continue
		}
		n, err := strconv.Atoi(rest[1:])
		if err != nil {
			break
		}
		if rest[0] == '-' {
			n = -n
		}
		if v := val + n; v >= rtmin && v <= rtmax {
			return unix.Signal(v), nil
		}
	}
	return 0, fmt.Errorf("%q is not a signal name (SIGTERM, TERM, SIGRTMIN+3)", s)
}

// signalName is the SIG-prefixed name of a signal, as logged.
func signalName(s unix.Signal) string {
	if n := unix.SignalName(s); n != "" {
		return n
	}
	if s >= 34 && s <= 64 {
		return fmt.Sprintf("SIGRTMIN+%d", s-34)
	}
	return fmt.Sprintf("SIG%d", int(s))
}
