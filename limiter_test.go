package main

import (
	"testing"
	"time"
)

func TestLimiter(t *testing.T) {
	t0 := time.Unix(1000, 0)
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	for _, tc := range []struct {
		name     string
		burst    int
		interval time.Duration
		starts   []int // ms after t0
		want     []bool
	}{
		// systemd's counting: the first start counts, so burst 5 allows 5.
		{"defaults, failing at once", 5, 10 * time.Second, []int{0, 100, 200, 300, 400, 500}, []bool{true, true, true, true, true, false}},
		{"burst 1", 1, time.Second, []int{0, 10}, []bool{true, false}},
		// A start more than the interval after the window opened opens a
		// new window with a count of 1.
		{"new window", 2, time.Second, []int{0, 500, 1001, 1500, 1600}, []bool{true, true, true, true, false}},
		// Exactly the interval after the window opened is still inside it.
		{"boundary is inside", 2, time.Second, []int{0, 500, 1000}, []bool{true, true, false}},
		// A fixed window: it does not slide with each start.
		{"fixed window", 3, time.Second, []int{0, 900, 950, 1001, 1002, 1003, 1004}, []bool{true, true, true, true, true, true, false}},
		{"burst 0 is off", 0, time.Second, []int{0, 1, 2, 3, 4, 5, 6, 7}, []bool{true, true, true, true, true, true, true, true}},
		{"interval 0 is off", 1, 0, []int{0, 1, 2}, []bool{true, true, true}},
		{"interval 0 is off, starts at one instant", 1, 0, []int{0, 0, 0}, []bool{true, true, true}},
	} {
		l := Limiter{Burst: tc.burst, Interval: tc.interval}
		for i, ms := range tc.starts {
			if got := l.Allow(at(ms)); got != tc.want[i] {
				t.Errorf("%s: start %d at %dms: Allow = %v, want %v", tc.name, i+1, ms, got, tc.want[i])
			}
		}
	}
}

func TestBackoffDelay(t *testing.T) {
	ms := time.Millisecond
	// SPEC.md section 4's example, computed as systemd does in microseconds.
	want := []time.Duration{100 * ms, 251189 * time.Microsecond, 630957 * time.Microsecond,
		1584893 * time.Microsecond, 3981072 * time.Microsecond, 10 * time.Second, 10 * time.Second}
	b := Backoff{Base: 100 * ms, Steps: 5, MaxDelay: 10 * time.Second, ResetAfter: 10 * time.Second}
	for i, w := range want {
		if got := b.Next(); got != w {
			t.Errorf("restart %d: delay %v, want %v", i+1, got, w)
		}
	}
	b.Ran(9 * time.Second) // shorter than ResetAfter: no reset
	if got := b.Next(); got != 10*time.Second {
		t.Errorf("after a short run: delay %v, want 10s", got)
	}
	b.Ran(10 * time.Second)
	if got := b.Next(); got != 100*ms {
		t.Errorf("after a long run: delay %v, want 100ms", got)
	}
	b.Next()
	b.Reset()
	if got := b.Next(); got != 100*ms {
		t.Errorf("after Reset: delay %v, want 100ms", got)
	}
	// ResetAfter 0: no run is long enough to reset the count.
	b = Backoff{Base: 100 * ms, Steps: 2, MaxDelay: 400 * ms}
	b.Next()
	b.Ran(time.Hour)
	if got := b.Next(); got != 200*ms {
		t.Errorf("ResetAfter 0, after a run of an hour: delay %v, want 200ms (no reset)", got)
	}

	// Plain S to the nanosecond: the steps, worked in microseconds, would
	// round a sub-microsecond S.
	for _, tc := range []struct {
		s, d  time.Duration
		steps int
	}{{100 * ms, 10 * time.Second, 0}, {0, 10 * time.Second, 5}, {time.Second, time.Second, 5}, {2 * time.Second, time.Second, 5},
		{1500 * time.Nanosecond, 1500 * time.Nanosecond, 5}} {
		for n := 1; n < 8; n++ {
			if got := backoffDelay(tc.s, tc.d, tc.steps, n); got != tc.s {
				t.Errorf("backoffDelay(%v, %v, %d, %d) = %v, want plain %v", tc.s, tc.d, tc.steps, n, got, tc.s)
			}
		}
	}
}
