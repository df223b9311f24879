package main

import (
	"fmt"
	"slices"
	"time"

	"golang.org/x/sys/unix"
)

// This file holds the checks that configure runs on combinations of flags:
// a setting that cannot work, or one that would silently do nothing, is
// bad input (exit status 2, a message naming the flag); one that systemd
// accepts though it changes nothing is a warning (idleSettings).

// checkBackoff refuses backoff settings that would silently do nothing:
// systemd ignores RestartSteps= without RestartMaxDelaySec= and the other
// way round, and a maximum no longer than RestartSec=.
func checkBackoff(cli *CLI) error {
	steps, base, most := cli.RestartSteps, cli.RestartSec, cli.RestartMaxDelay
	switch {
	case steps > 0 && most == 0:
		return cli.flagError("restart-steps", "%d steps need --restart-max-delay, the longest pause they grow to; give both, or neither", steps)
	case most > 0 && steps == 0:
		return cli.flagError("restart-max-delay", "%v does nothing without --restart-steps, the number of steps from --restart-sec up to it; give both, or neither", most)
	case steps > 0 && most <= base:
		return cli.flagError("restart-max-delay", "%v is not longer than %s, so the pause cannot grow; give a longer one", most, cli.setting("restart-sec", base))
	case steps > 0 && base == 0:
		// systemd's service_restart_usec_next() too: a pause of 0 stays 0.
		return cli.flagError("restart-steps", "%d steps grow the pause from %s, and a pause of 0 cannot grow; give --restart-sec more than 0", steps, cli.setting("restart-sec", base))
	case cli.RestartResetAfter != nil && steps == 0:
		return cli.flagError("restart-reset-after", "%v does nothing without --restart-steps and --restart-max-delay: no pause grows, so none is reset", *cli.RestartResetAfter)
	}
	return nil
}

// checkNotify refuses readiness settings that only work under
// --type=notify or with a watchdog, given without them.
func checkNotify(cli *CLI) error {
	notify := cli.Type == "notify"
	switch {
	case cli.given("timeout-start") && !notify:
		return cli.flagError("timeout-start", "only counts under --type=notify (the time to READY=1); a simple child is started at once")
	case cli.given("notify-access") && !notify && cli.Watchdog == 0:
		return cli.flagError("notify-access", "does nothing without --type=notify or --watchdog: the child gets no NOTIFY_SOCKET")
	case cli.given("notification-fd") && !notify:
		return cli.flagError("notification-fd", "only counts under --type=notify (it is how the child tells it is ready); a simple child is ready at once")
	case cli.given("watchdog-signal") && cli.Watchdog == 0:
		return cli.flagError("watchdog-signal", "does nothing without --watchdog")
	case cli.Watchdog > 0 && time.Duration(cli.Watchdog) < time.Microsecond:
		// WATCHDOG_USEC counts whole microseconds: the child would be told
		// 0 (no watchdog) and killed at once for not pinging.
		return cli.flagError("watchdog", "%v is less than the 1µs that WATCHDOG_USEC can tell the child; give 0 for none, or 1µs or more", cli.Watchdog)
	}
	return nil
}

// memoryCheckMin is the shortest --memory-check-interval. A sample reads
// a few files of /proc for each process of the child's tree and of
// restart-run's own threads; below 10ms the sampling of a large tree
// would become a load of its own (README: Memory ceiling), and no child
// grows by much in that time.
const memoryCheckMin = 10 * time.Millisecond

// checkMemory refuses a --memory-check-interval that cannot work or that
// would do nothing: without --memory-max nothing is sampled.
func checkMemory(cli *CLI) error {
	every := time.Duration(cli.MemoryCheckInterval)
	switch {
	case cli.given("memory-check-interval") && cli.MemoryMax == 0:
		return cli.flagError("memory-check-interval", "%v does nothing without --memory-max: nothing is sampled; add --memory-max, or leave it out", every)
	case cli.MemoryMax > 0 && every < memoryCheckMin:
		return cli.flagError("memory-check-interval", "%v is too short; give %v or more", every, memoryCheckMin)
	}
	return nil
}

// checkNotificationFD refuses a --notification-fd the child could not get
// as asked: a descriptor that restart-run passes through (passed), which
// the child would lose to the pipe, or a table of the child's descriptors
// that reaches too near the open-file limit. Go's fork puts the pipe's
// write end and its own error pipe on the numbers above the highest one
// the table names (N, or a passed descriptor), and a number at or past the
// limit is EBADF there: every start would fail with 126. Three numbers
// above the highest are kept free.
func checkNotificationFD(cli *CLI, passed []int, limit uint64) error {
	n := int(cli.NotificationFD)
	hi := slices.Max(append([]int{n}, passed...))
	const spare = 3
	switch {
	case slices.Contains(passed, n):
		return cli.flagError("notification-fd", "%d is a descriptor restart-run was started with (3>file in a shell), which COMMAND gets as it is; give another number", n)
	case uint64(hi)+spare < limit:
		return nil
	case hi == n && limit > spare+3:
		return cli.flagError("notification-fd", "%d is too near the open-file limit (%d): starting the child needs %d free descriptor numbers above it; give %d or less, or raise the limit (ulimit -n)", n, limit, spare, limit-spare-1)
	case hi == n:
		return cli.flagError("notification-fd", "%d is too near the open-file limit (%d): starting the child needs %d free descriptor numbers above it; raise the limit (ulimit -n)", n, limit, spare)
	}
	return cli.flagError("notification-fd", "restart-run was started with descriptor %d, which COMMAND gets as it is, too near the open-file limit (%d): starting the child with a notification descriptor needs %d free numbers above it; raise the limit (ulimit -n) or close that descriptor", hi, limit, spare)
}

// checkRestartSignal refuses a restart signal that is also a stop signal:
// it cannot both stop restart-run and restart the child.
func checkRestartSignal(cli *CLI) error {
	if sig := unix.Signal(cli.RestartSignal); sig != 0 && cli.StopSignals.Has(sig) {
		return cli.flagError("restart-signal", "%s is a stop signal too, in %s: it cannot both stop restart-run and restart the child; use a signal outside that list, or take it out of --stop-signals",
			signalName(sig), cli.setting("stop-signals", cli.StopSignals))
	}
	return nil
}

// idleSetting is a flag that systemd accepts in the same combination and
// that will not change what happens: a warning, not bad input.
type idleSetting struct{ flag, msg string }

// idleSettings: under --restart=no, with no --restart-force-exit-status,
// nothing is ever restarted, so the pause, backoff and limits never apply
// (systemd takes RestartSec= and StartLimitBurst= with Restart=no too).
// With --restart-signal the limits do: they count its restarts, which
// have no pause and ignore the status lists.
func (cli *CLI) idleSettings() []idleSetting {
	if cli.Restart != "no" || cli.given("restart-force-exit-status") {
		return nil
	}
	onDemand := cli.RestartSignal != 0
	var idle []idleSetting
	for _, name := range []string{"restart-sec", "restart-steps", "restart-max-delay", "restart-reset-after",
		"burst", "interval", "max-restarts", "restart-prevent-exit-status"} {
		limit := name == "burst" || name == "interval" || name == "max-restarts"
		if cli.given(name) && !(onDemand && limit) {
			why := "nothing is restarted"
			if onDemand {
				why = "only --restart-signal restarts, at once and whatever the exit status"
			}
			idle = append(idle, idleSetting{name, fmt.Sprintf("--%s has no effect under --restart=no, where %s", name, why)})
		}
	}
	return idle
}
