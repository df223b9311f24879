package main

import (
	"bytes"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"golang.org/x/sys/unix"
)

// Unit tests of the readiness component: each drives it with the events the
// loop hands it (a run's start, datagrams, an alarm that rang) and checks
// which alarms it armed, for when, and what it asked of the loop. No process
// and no sleep: the alarms' durations are hours, so where they are due can
// be told from time.Now to well within a minute, however slow the machine.

const (
	hour     = time.Hour
	nearby   = time.Minute // how far an alarm's due time may be from the expected one
	childPid = 4242
)

func newTestReadiness(cfg *config) (*readiness, *bytes.Buffer) {
	var log bytes.Buffer
	if cfg.killSignal == 0 {
		cfg.killSignal = unix.SIGTERM
	}
	if cfg.watchdogSignal == 0 {
		cfg.watchdogSignal = unix.SIGABRT
	}
	return &readiness{cfg: cfg, log: zerolog.New(&log), self: 1000}, &log
}

// dueIn checks that a is armed and rings about d from now.
func dueIn(t *testing.T, name string, a *alarm, d time.Duration) {
	t.Helper()
	if !a.on {
		t.Errorf("%s not armed; want it due in %v", name, d)
		return
	}
	if got := time.Until(a.when); got < d-nearby || got > d+nearby {
		t.Errorf("%s due in %v, want %v", name, got.Round(time.Second), d)
	}
}

func disarmed(t *testing.T, name string, a *alarm) {
	t.Helper()
	if a.on || a.C() != nil {
		t.Errorf("%s armed (due in %v); want it off", name, time.Until(a.when).Round(time.Second))
	}
}

// datagram is a datagram from pid with payload.
func datagram(t *testing.T, pid int, payload string) notifyDatagram {
	t.Helper()
	m, err := parseNotify([]byte(payload))
	if err != nil {
		t.Fatalf("parseNotify(%q): %v", payload, err)
	}
	return notifyDatagram{msg: m, pid: pid}
}

func TestReadinessSimple(t *testing.T) {
	r, log := newTestReadiness(&config{notifyType: "simple", runtimeMax: 3 * hour, watchdog: 2 * hour, timeoutStart: hour})
	r.runStarted(childPid, time.Now())
	if !r.ready {
		t.Fatal("--type=simple: not ready at the start")
	}
	disarmed(t, "start timeout", &r.startTimeout)
	dueIn(t, "runtime max", &r.runtimeMax, 3*hour)
	dueIn(t, "watchdog", &r.watchdog, 2*hour)
	if strings.Contains(log.String(), `"event":"ready"`) {
		t.Errorf("--type=simple logs a ready event: %s", log)
	}
	r.runEnded()
	for name, a := range map[string]*alarm{"start timeout": &r.startTimeout, "runtime max": &r.runtimeMax, "watchdog": &r.watchdog} {
		disarmed(t, name+" after runEnded", a)
	}
}

func TestReadinessNotify(t *testing.T) {
	r, log := newTestReadiness(&config{notifyType: "notify", runtimeMax: 3 * hour, watchdog: 2 * hour, timeoutStart: hour})
	r.runStarted(childPid, time.Now())
	if r.ready {
		t.Fatal("--type=notify: ready before READY=1")
	}
	dueIn(t, "start timeout", &r.startTimeout, hour)
	// Until READY=1 only --timeout-start guards the start.
	disarmed(t, "runtime max before READY=1", &r.runtimeMax)
	disarmed(t, "watchdog before READY=1", &r.watchdog)
	// A keep-alive before READY=1 arms nothing.
	r.onNotify(datagram(t, childPid, "WATCHDOG=1"), true, false)
	disarmed(t, "watchdog after WATCHDOG=1 before READY=1", &r.watchdog)

	if asks := r.onNotify(datagram(t, childPid, "READY=1"), true, false); asks != (notifyAsks{}) {
		t.Errorf("READY=1 asked %+v of the loop", asks)
	}
	if !r.ready {
		t.Fatal("not ready after READY=1")
	}
	disarmed(t, "start timeout after READY=1", &r.startTimeout)
	dueIn(t, "runtime max", &r.runtimeMax, 3*hour)
	dueIn(t, "watchdog", &r.watchdog, 2*hour)
	if !strings.Contains(log.String(), `"event":"ready","pid":4242`) {
		t.Errorf("no ready event for the child; log: %s", log)
	}

	// A new run starts over.
	r.runStarted(childPid+1, time.Now())
	if r.ready {
		t.Error("the next run is ready before its READY=1")
	}
	dueIn(t, "start timeout of the next run", &r.startTimeout, hour)
}

func TestReadinessWatchdogPeriod(t *testing.T) {
	r, _ := newTestReadiness(&config{notifyType: "notify", watchdog: 2 * hour})
	r.runStarted(childPid, time.Now())
	// A period set before READY=1 takes effect only at READY=1.
	r.onNotify(datagram(t, childPid, "WATCHDOG_USEC=18000000000"), true, false) // 5 h
	disarmed(t, "watchdog before READY=1", &r.watchdog)
	r.onNotify(datagram(t, childPid, "READY=1"), true, false)
	dueIn(t, "watchdog at the child's period", &r.watchdog, 5*hour)
	// WATCHDOG=1 re-arms it for a whole period from now.
	r.watchdog.set(hour)
	r.onNotify(datagram(t, childPid, "WATCHDOG=1"), true, false)
	dueIn(t, "watchdog after WATCHDOG=1", &r.watchdog, 5*hour)
	// WATCHDOG_USEC=0 turns it off, and a keep-alive then arms nothing.
	r.onNotify(datagram(t, childPid, "WATCHDOG_USEC=0"), true, false)
	disarmed(t, "watchdog after WATCHDOG_USEC=0", &r.watchdog)
	r.onNotify(datagram(t, childPid, "WATCHDOG=1"), true, false)
	disarmed(t, "watchdog after WATCHDOG=1 with no period", &r.watchdog)
	// The next run starts with --watchdog's period again.
	r.runStarted(childPid, time.Now())
	r.onNotify(datagram(t, childPid, "READY=1"), true, false)
	dueIn(t, "watchdog of the next run", &r.watchdog, 2*hour)
}

func TestReadinessStopOrders(t *testing.T) {
	cfg := &config{notifyType: "notify", watchdog: 2 * hour, timeoutStart: hour, runtimeMax: 3 * hour,
		killSignal: unix.SIGINT, watchdogSignal: unix.SIGQUIT}
	r, log := newTestReadiness(cfg)
	r.runStarted(childPid, time.Now())
	if o := r.onStartTimeout(); o == nil || *o != (stopOrder{Timeout, unix.SIGINT}) {
		t.Errorf("start timeout: %+v, want class timeout by --kill-signal", o)
	}
	disarmed(t, "start timeout once rung", &r.startTimeout)
	if o := r.onRuntimeMax(); o == nil || *o != (stopOrder{Timeout, unix.SIGINT}) {
		t.Errorf("runtime max: %+v, want class timeout by --kill-signal", o)
	}
	if o := r.onWatchdog(); o == nil || *o != (stopOrder{Watchdog, unix.SIGQUIT}) {
		t.Errorf("watchdog: %+v, want class watchdog by --watchdog-signal", o)
	}
	asks := r.onNotify(datagram(t, childPid, "WATCHDOG=trigger"), true, false)
	if asks.stop == nil || *asks.stop != (stopOrder{Watchdog, unix.SIGQUIT}) {
		t.Errorf("WATCHDOG=trigger asked %+v, want a stop by class watchdog", asks)
	}
	for _, want := range []string{"--timeout-start", "--runtime-max", "no WATCHDOG=1 within the period", "WATCHDOG=trigger"} {
		if !strings.Contains(log.String(), want) {
			t.Errorf("no log line says %q; log: %s", want, log)
		}
	}
}

func TestReadinessExtend(t *testing.T) {
	r, _ := newTestReadiness(&config{notifyType: "notify", timeoutStart: 2 * hour, runtimeMax: 2 * hour})
	r.runStarted(childPid, time.Now())
	// Before READY=1 it is the start timeout's; it never shortens one.
	r.onNotify(datagram(t, childPid, "EXTEND_TIMEOUT_USEC=3600000000"), true, false) // 1 h
	dueIn(t, "start timeout after a shorter extension", &r.startTimeout, 2*hour)
	r.onNotify(datagram(t, childPid, "EXTEND_TIMEOUT_USEC=18000000000"), true, false) // 5 h
	dueIn(t, "start timeout after a longer extension", &r.startTimeout, 5*hour)
	// After READY=1, the runtime's.
	r.onNotify(datagram(t, childPid, "READY=1"), true, false)
	r.onNotify(datagram(t, childPid, "EXTEND_TIMEOUT_USEC=18000000000"), true, false)
	dueIn(t, "runtime max after an extension", &r.runtimeMax, 5*hour)
	// While the child is being stopped, the stop's: handed to the loop, and
	// the runtime's alarm is left alone.
	r.runtimeMax.set(hour)
	asks := r.onNotify(datagram(t, childPid, "EXTEND_TIMEOUT_USEC=36000000000"), true, true) // 10 h
	if !asks.extendStop || asks.extend != 10*hour {
		t.Errorf("EXTEND_TIMEOUT_USEC while stopping asked %+v, want the stop extended by 10h", asks)
	}
	dueIn(t, "runtime max while stopping", &r.runtimeMax, hour)
}

func TestReadinessWhileStopping(t *testing.T) {
	r, log := newTestReadiness(&config{notifyType: "notify", watchdog: hour, timeoutStart: hour})
	r.runStarted(childPid, time.Now())
	r.runEnded() // the loop's stop request disarms the run
	asks := r.onNotify(datagram(t, childPid, "READY=1\nWATCHDOG=trigger\nSTATUS=going\nRESTART_RESET=1"), true, true)
	if r.ready || asks.stop != nil {
		t.Errorf("a child being stopped became ready (%v) or asked for a watchdog kill (%+v)", r.ready, asks)
	}
	// What is news still is: the status, the backoff reset.
	if !asks.resetBackoff || !strings.Contains(log.String(), `"status":"going"`) {
		t.Errorf("while stopping: asks %+v; log: %s", asks, log)
	}
	disarmed(t, "watchdog", &r.watchdog)
	disarmed(t, "start timeout", &r.startTimeout)
}

func TestReadinessAccess(t *testing.T) {
	r, log := newTestReadiness(&config{notifyType: "notify", notifyAccess: "main", timeoutStart: hour})
	r.runStarted(childPid, time.Now())
	r.onNotify(datagram(t, childPid+1, "READY=1"), true, false)
	if r.ready {
		t.Error("--notify-access=main: another process's READY=1 counted")
	}
	if !strings.Contains(log.String(), `"sender":4243,"pid":4242`) {
		t.Errorf("refusal not logged with sender and child; log: %s", log)
	}
	// After the child ended, nothing counts: not even its own.
	r.onNotify(datagram(t, childPid, "READY=1"), false, false)
	if r.ready {
		t.Error("a datagram after the child's end counted")
	}
	if !strings.Contains(log.String(), `"sender":4242,"pid":0`) {
		t.Errorf("refusal after the end not logged with pid 0; log: %s", log)
	}
	// --notify-access=all takes any sender while the child runs, none after.
	r.cfg.notifyAccess = "all"
	r.onNotify(datagram(t, childPid, "READY=1"), false, false)
	if r.ready {
		t.Error("--notify-access=all: a datagram after the child's end counted")
	}
	r.onNotify(datagram(t, childPid+1, "READY=1"), true, false)
	if !r.ready {
		t.Error("--notify-access=all: another process's READY=1 did not count")
	}
	if got := r.onNotify(datagram(t, childPid, "RESTART_RESET=1"), true, false); !got.resetBackoff {
		t.Errorf("RESTART_RESET=1 asked %+v, want a backoff reset", got)
	}
}

// TestReadinessNoLimits: 0 for --timeout-start, --runtime-max and
// --watchdog means none: no alarm is armed, at the start or at READY=1.
func TestReadinessNoLimits(t *testing.T) {
	r, _ := newTestReadiness(&config{notifyType: "notify"})
	r.runStarted(childPid, time.Now())
	disarmed(t, "start timeout with --timeout-start=0", &r.startTimeout)
	r.onNotify(datagram(t, childPid, "READY=1"), true, false)
	disarmed(t, "runtime max with --runtime-max=0", &r.runtimeMax)
	disarmed(t, "watchdog with --watchdog=0", &r.watchdog)
}

// TestUsecEdge: the largest value that fits is taken as it is; one more
// saturates.
func TestUsecEdge(t *testing.T) {
	edge := uint64(math.MaxInt64 / int64(time.Microsecond))
	if got, want := usec(edge), time.Duration(edge)*time.Microsecond; got != want {
		t.Errorf("usec(%d) = %d, want %d", edge, got, want)
	}
	if got := usec(edge + 1); got != math.MaxInt64 {
		t.Errorf("usec(%d) = %d, want it saturated to %d", edge+1, got, int64(math.MaxInt64))
	}
}
