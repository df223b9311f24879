package main

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// This file holds the types of the flags' values: each checks its own
// value as kong reads it, so that a bad value is reported with its flag
// (and its variable). config.go checks what the flags mean together.

// Duration accepts Go syntax ("1m30s") or bare seconds ("90", "0.5"), as
// systemd does.
type Duration time.Duration

func (d *Duration) UnmarshalText(b []byte) error {
	v, err := parseDuration(string(b))
	if err != nil {
		return err
	}
	*d = Duration(v)
	return nil
}

// maxDuration is the longest a Go duration holds: about 292 years.
const maxDuration = time.Duration(math.MaxInt64)

func parseDuration(s string) (time.Duration, error) {
	// ParseFloat takes Go's literal syntax, which Count (Atoi), the status
	// lists and systemd do not: hex ("0x10"), inf, NaN and digits with
	// underscores ("1_000", "0_5" for 5).
	if f, err := strconv.ParseFloat(s, 64); err == nil && !strings.ContainsAny(s, "xXnN_") {
		switch {
		case f < 0:
		case f*float64(time.Second) >= float64(maxDuration):
			return 0, tooLong(s)
		default:
			return time.Duration(f * float64(time.Second)), nil
		}
	} else if v, err := time.ParseDuration(s); err == nil && v >= 0 {
		return v, nil
	} else if err != nil && durationSyntax(s) {
		return 0, tooLong(s) // well formed: only its size can be wrong
	}
	return 0, fmt.Errorf("%q is not a duration (1m30s, 100ms) or a number of seconds (0 or more)", s)
}

func tooLong(s string) error {
	return fmt.Errorf("%q is too large (at most %v, that is %d seconds)", s,
		maxDuration.Truncate(time.Second), int64(maxDuration/time.Second))
}

// durationSyntax reports whether s is written as time.ParseDuration reads
// a duration: numbers, each with one unit, and no sign.
func durationSyntax(s string) bool {
	if s == "" {
		return false
	}
	for s != "" {
		digit, dots, i := false, 0, 0
		for ; i < len(s) && (s[i] >= '0' && s[i] <= '9' || s[i] == '.'); i++ {
			if s[i] == '.' {
				dots++
			} else {
				digit = true
			}
		}
		if !digit || dots > 1 {
			return false
		}
		s = s[i:]
		j := 0
		for j < len(s) && (s[j] < '0' || s[j] > '9') && s[j] != '.' {
			j++
		}
		switch s[:j] {
		case "ns", "us", "µs", "μs", "ms", "s", "m", "h":
		default:
			return false
		}
		s = s[j:]
	}
	return true
}

// TimeLimit is a Duration where 0 and "infinity" both mean no limit, as
// systemd's TimeoutStopSec= and TimeoutStartSec= take them. It holds 0 for
// either.
type TimeLimit Duration

func (t *TimeLimit) UnmarshalText(b []byte) error {
	if string(b) == "infinity" {
		*t = 0
		return nil
	}
	v, err := parseDuration(string(b))
	if err != nil {
		return fmt.Errorf("%w, or infinity", err)
	}
	*t = TimeLimit(v)
	return nil
}

func (t TimeLimit) String() string { return time.Duration(t).String() }

func (d Duration) String() string { return time.Duration(d).String() }

// Closed sets of words. They check themselves rather than through kong's
// enum tag so that a bad RESTART_RUN_* value is reported with its variable,
// as kong does for values that fail to parse.
type (
	KillMode     string
	ForwardTo    string
	LogFormat    string
	LogLevel     string
	ServiceType  string
	NotifyAccess string
)

func (p *Policy) UnmarshalText(b []byte) error   { return oneOf((*string)(p), b, policyNames) }
func (k *KillMode) UnmarshalText(b []byte) error { return oneOf((*string)(k), b, killModes) }
func (f *ForwardTo) UnmarshalText(b []byte) error {
	return oneOf((*string)(f), b, []string{"child", "group"})
}
func (f *LogFormat) UnmarshalText(b []byte) error { return oneOf((*string)(f), b, logFormats) }
func (l *LogLevel) UnmarshalText(b []byte) error  { return oneOf((*string)(l), b, logLevels) }
func (t *ServiceType) UnmarshalText(b []byte) error {
	return oneOf((*string)(t), b, []string{"simple", "notify"})
}
func (n *NotifyAccess) UnmarshalText(b []byte) error {
	return oneOf((*string)(n), b, []string{"main", "all"})
}

var (
	policyNames = []string{"no", "always", "on-success", "on-failure", "on-abnormal", "on-abort", "on-watchdog"}
	killModes   = []string{"control-group", "mixed", "process"}
	logFormats  = []string{"auto", "json", "console"}
	logLevels   = []string{"debug", "info", "warn", "error"}
)

func oneOf(dst *string, b []byte, allowed []string) error {
	if !slices.Contains(allowed, string(b)) {
		return fmt.Errorf("%q is not one of %s", b, strings.Join(allowed, ", "))
	}
	*dst = string(b)
	return nil
}

// Count is a whole number, 0 or more.
type Count int

func (c *Count) UnmarshalText(b []byte) error {
	n, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if errors.Is(err, strconv.ErrRange) && !strings.HasPrefix(strings.TrimSpace(string(b)), "-") {
		return fmt.Errorf("%q is too large (at most %d)", b, math.MaxInt)
	}
	if err != nil || n < 0 {
		return fmt.Errorf("%q is not a whole number 0 or more", b)
	}
	*c = Count(n)
	return nil
}

// RestartSignal is --restart-signal's signal, by name or number (HUP,
// SIGUSR2, 12); 0, the default, is none. It must be one that restart-run
// catches and would otherwise forward, and not one of job control:
// SIGCONT comes to restart-run whenever a shell's fg or bg continues it,
// and SIGTSTP, SIGTTIN and SIGTTOU are how a terminal and a shell stop a
// job, so a restart on any of them would come with job control rather
// than on request. Whether it is also a stop signal is config.go's check.
type RestartSignal unix.Signal

func (r *RestartSignal) UnmarshalText(b []byte) error {
	const use = "use one it would forward, such as HUP, USR1, USR2 or SIGRTMIN+N"
	if len(b) == 0 {
		return fmt.Errorf("is empty; give a signal, such as HUP, USR1 or USR2, or leave the flag out")
	}
	sig, err := parseSignal(string(b))
	if err != nil {
		return err
	}
	switch {
	case !forwardable(sig):
		return fmt.Errorf("%s cannot be the restart signal: restart-run cannot catch it or keeps it for itself; %s", signalName(sig), use)
	case jobControl(sig):
		return fmt.Errorf("%s cannot be the restart signal: it is a job control signal (a shell's fg and bg, Ctrl-Z, a terminal's background reads and writes); %s", signalName(sig), use)
	}
	*r = RestartSignal(sig)
	return nil
}

func (r RestartSignal) String() string { return signalName(unix.Signal(r)) }

// jobControl: the signals by which terminals and shells stop and continue
// jobs.
func jobControl(sig unix.Signal) bool {
	switch sig {
	case unix.SIGCONT, unix.SIGTSTP, unix.SIGTTIN, unix.SIGTTOU:
		return true
	}
	return false
}
