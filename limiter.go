package main

import (
	"math"
	"time"
)

// Limiter is systemd's start rate limit (StartLimitBurst=,
// StartLimitIntervalSec=), counted as systemd's ratelimit_below() counts:
// every start counts, the first included; a window opens at a start, and a
// start more than Interval after the window opened opens a new one.
type Limiter struct {
	Burst    int
	Interval time.Duration

	begin time.Time // zero: no window open yet
	count int
}

// Allow reports whether a start at now is within the limit, and counts it.
// A zero Burst or Interval switches the limiter off.
func (l *Limiter) Allow(now time.Time) bool {
	if l.Burst <= 0 || l.Interval <= 0 {
		return true
	}
	if l.begin.IsZero() || now.Sub(l.begin) > l.Interval {
		l.begin, l.count = now, 0
	}
	if l.count >= l.Burst {
		return false
	}
	l.count++
	return true
}

// Starts is the number of starts counted in the current window (0 with
// the limiter off).
func (l *Limiter) Starts() int { return l.count }

// Backoff is the pause before a restart: systemd's RestartSec=,
// RestartSteps= and RestartMaxDelaySec=, plus a reset after a long run that
// systemd lacks.
type Backoff struct {
	Base       time.Duration // S
	Steps      int           // N
	MaxDelay   time.Duration // D
	ResetAfter time.Duration // a run at least this long sets n back to zero

	n int // consecutive restarts so far
}

// Next is the pause before the next restart, and counts that restart.
func (b *Backoff) Next() time.Duration {
	b.n++
	return backoffDelay(b.Base, b.MaxDelay, b.Steps, b.n)
}

// Ran tells the backoff how long the run that just ended lasted.
func (b *Backoff) Ran(d time.Duration) {
	if b.ResetAfter > 0 && d >= b.ResetAfter {
		b.n = 0
	}
}

// Reset sets the count back to zero (RESTART_RESET=1 from the child).
func (b *Backoff) Reset() { b.n = 0 }

// backoffDelay is systemd's service_restart_usec() for the n-th consecutive
// restart (n >= 1): S × (D/S)^((n−1)/N) while n ≤ N, and D after that; plain S
// when N is 0, S is 0 or S ≥ D. Like systemd it works in microseconds, rounded
// to the nearest so that exact steps (50ms, 100ms, 200ms) stay exact.
func backoffDelay(s, d time.Duration, steps, n int) time.Duration {
	if steps <= 0 || s <= 0 || s >= d {
		return s
	}
	if n > steps {
		return d
	}
	us := float64(s.Microseconds()) * math.Pow(float64(d.Microseconds())/float64(s.Microseconds()), float64(n-1)/float64(steps))
	return time.Duration(math.Round(us)) * time.Microsecond
}
