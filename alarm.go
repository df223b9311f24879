package main

import "time"

// alarm is a timer that is either armed or not; its channel is nil when it
// is not, so a select on it waits for nothing.
type alarm struct {
	t    *time.Timer
	on   bool
	when time.Time
}

func (a *alarm) set(d time.Duration) {
	a.when = time.Now().Add(d)
	if a.t == nil {
		a.t = time.NewTimer(d)
	} else {
		a.t.Reset(d) // since Go 1.23 Reset drops a value not yet received
	}
	a.on = true
}

func (a *alarm) stop() {
	if a.t != nil {
		a.t.Stop()
	}
	a.on = false
}

// extend pushes an armed alarm to no sooner than d from now; it never
// brings one forward. It reports whether it moved the alarm.
func (a *alarm) extend(d time.Duration) bool {
	if !a.on || time.Until(a.when) >= d {
		return false
	}
	a.set(d)
	return true
}

func (a *alarm) C() <-chan time.Time {
	if !a.on {
		return nil
	}
	return a.t.C
}
