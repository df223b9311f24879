package main

import (
	"errors"
	"fmt"
	"math"
	"math/bits"
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

// Size is a number of bytes, written as systemd writes MemoryMax=: a whole
// or decimal number with one of the suffixes K, M, G, T, P, E (base 1024,
// upper case only, as systemd's parse_size takes them) or B (bytes), or
// none: "512M", "1.5G", "1048576". A fraction is rounded down to a whole
// byte. It must be more than 0 and fit an int64. Not taken, although
// systemd's parse_size takes them: sums of several parts ("1G 512M"),
// spaces, and a lower-case or "iB" suffix, which systemd refuses too.
type Size int64

// sizeUnits are the suffixes and their factors, as systemd's table.
var sizeUnits = map[string]uint64{"": 1, "B": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40, "P": 1 << 50, "E": 1 << 60}

func (z *Size) UnmarshalText(b []byte) error {
	s := string(b)
	whole, frac, unit, ok := splitSize(s)
	if !ok {
		if strings.HasPrefix(s, "-") {
			return fmt.Errorf("%q is negative; give a size more than 0", s)
		}
		return fmt.Errorf("%q is not a size: a number of bytes, or a number with K, M, G, T, P or E after it (base 1024, upper case, as systemd's MemoryMax=): 512M, 1.5G", s)
	}
	factor := sizeUnits[unit]
	n, err := strconv.ParseUint(whole, 10, 64)
	hi, lo := bits.Mul64(n, factor)
	if err != nil || hi != 0 || lo > math.MaxInt64 {
		return sizeTooLarge(s)
	}
	if frac != "" {
		// As systemd: the fraction of the unit, rounded down to a byte.
		f, _ := strconv.ParseFloat("0."+frac, 64)
		lo += uint64(f * float64(factor))
		if lo > math.MaxInt64 {
			return sizeTooLarge(s)
		}
	}
	if lo == 0 {
		return fmt.Errorf("%q is not more than 0 bytes; give a size more than 0, or leave the flag out for no ceiling", s)
	}
	*z = Size(lo)
	return nil
}

// splitSize cuts s into its whole number, its fraction's digits and its
// unit; ok is false when s is not digits, an optional "." and digits,
// and one of the units.
func splitSize(s string) (whole, frac, unit string, ok bool) {
	i := 0
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		i++
	}
	whole, s = s[:i], s[i:]
	if rest, dot := strings.CutPrefix(s, "."); dot {
		j := 0
		for j < len(rest) && rest[j] >= '0' && rest[j] <= '9' {
			j++
		}
		if j == 0 {
			return "", "", "", false
		}
		frac, s = rest[:j], rest[j:]
	}
	_, known := sizeUnits[s]
	return whole, frac, s, whole != "" && known
}

func sizeTooLarge(s string) error {
	return fmt.Errorf("%q is too large (at most %d bytes, just under 8E)", s, int64(math.MaxInt64))
}

// String is the size in the largest unit that divides it: 512M, 1536K, 100.
func (z Size) String() string {
	for _, u := range []string{"E", "P", "T", "G", "M", "K"} {
		if f := sizeUnits[u]; z > 0 && uint64(z)%f == 0 {
			return strconv.FormatUint(uint64(z)/f, 10) + u
		}
	}
	return strconv.FormatInt(int64(z), 10)
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

// RestartSignal is --restart-signal's signal, by name or number (HUP,
// SIGUSR2, 12); 0, the default, is none. It must be one that restart-run
// catches and would otherwise forward, and not one of job control:
// SIGCONT comes to restart-run whenever a shell's fg or bg continues it,
// and SIGTSTP, SIGTTIN and SIGTTOU are how a terminal and a shell stop a
// job, so a restart on any of them would come with job control rather
// than on request. Nor SIGWINCH, which a terminal sends on every resize of
// its window. Whether it is also a stop signal is config.go's check.
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
	case sig == unix.SIGWINCH:
		return fmt.Errorf("%s cannot be the restart signal: a terminal sends it on every resize of its window (docker attach, tmux, an xterm); %s", signalName(sig), use)
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
