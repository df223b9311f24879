package main

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
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

// ExitStatusMap is --exit-status-map: FROM:TO pairs that change the status
// restart-run itself exits with, as tini's -e does (which maps to 0 only).
// FROM is an exit status (0-255) or a signal name, which stands for
// 128+its number, the status of a child killed by it (SIGTERM or TERM is
// 143); TO is an exit status. Pairs are separated by spaces or commas and
// the flag may be repeated (kong hands each occurrence to the same value);
// a FROM given twice is bad input, whatever its TO, as it could only mean
// that one of the two is a mistake.
type ExitStatusMap struct{ to map[int]int }

// Map is what restart-run exits with instead of status, and whether the
// map names it at all.
func (m ExitStatusMap) Map(status int) (int, bool) {
	to, ok := m.to[status]
	if !ok {
		return status, false
	}
	return to, true
}

// UnmarshalText adds the pairs of b to the map, all of them or, when one
// is bad, none.
func (m *ExitStatusMap) UnmarshalText(b []byte) error {
	fields := strings.FieldsFunc(string(b), func(r rune) bool { return r == ',' || r == ' ' || r == '\t' })
	if len(fields) == 0 {
		return fmt.Errorf("%q is not FROM:TO (such as 143:0)", b)
	}
	add := map[int]int{}
	for _, f := range fields {
		from, to, ok := strings.Cut(f, ":")
		if !ok {
			return fmt.Errorf("%q is not FROM:TO (such as 143:0)", f)
		}
		n, err := exitStatusFrom(from)
		if err != nil {
			return fmt.Errorf("%q: %w", f, err)
		}
		t, err := strconv.Atoi(to)
		if err != nil || t < 0 || t > 255 {
			return fmt.Errorf("%q: TO %q is not an exit status (0-255)", f, to)
		}
		_, before := m.to[n]
		if _, now := add[n]; before || now {
			return fmt.Errorf("%q: %d is mapped twice; give each status once", f, n)
		}
		add[n] = t
	}
	if m.to == nil {
		m.to = map[int]int{}
	}
	for n, t := range add {
		m.to[n] = t
	}
	return nil
}

// exitStatusFrom reads a FROM of --exit-status-map: an exit status, or a
// signal name for the status of a child it killed.
func exitStatusFrom(s string) (int, error) {
	if n, err := strconv.Atoi(s); err == nil {
		if n < 0 || n > 255 {
			return 0, fmt.Errorf("FROM %d is outside 0-255", n)
		}
		return n, nil
	}
	sig, err := parseSignal(s)
	if err != nil {
		return 0, fmt.Errorf("FROM %q is neither an exit status (0-255) nor a signal name (SIGTERM or TERM, for 143)", s)
	}
	return 128 + int(sig), nil
}

// Descriptor is a file descriptor number for the child, 3 or more: 0, 1
// and 2 are its stdin, stdout and stderr, which it shares with restart-run.
type Descriptor int

func (d *Descriptor) UnmarshalText(b []byte) error {
	n, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if errors.Is(err, strconv.ErrRange) || (err == nil && n > math.MaxInt32) {
		return fmt.Errorf("%q is too large for a descriptor number", b)
	}
	if err != nil || n < 3 {
		return fmt.Errorf("%q is not a descriptor number of 3 or more (0, 1 and 2 are stdin, stdout and stderr)", b)
	}
	*d = Descriptor(n)
	return nil
}
