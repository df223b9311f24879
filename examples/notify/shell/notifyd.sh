#!/bin/sh
# notifyd.sh: a small daemon in shell that speaks sd_notify with
# systemd-notify(1), and works unchanged under systemd and under
# restart-run --type=notify:
#
#   restart-run --type=notify --notify-access=all --watchdog=10s -- ./notifyd.sh .
#
# systemd-notify is a process of its own, so its datagrams carry its own pid,
# not the script's: restart-run's default --notify-access=main would refuse
# them (run as root, systemd-notify sends on behalf of its parent, but a
# script cannot count on that), hence --notify-access=all, as
# NotifyAccess=all for systemd.
#
# Start-up: a state file, notifyd.state in DIR (its argument, else
# $RUNTIME_DIRECTORY, which systemd's RuntimeDirectory= sets, else
# $TMPDIR or /tmp), holding its pid. Then READY=1. When its supervisor gave it
# a watchdog (WATCHDOG_USEC, and WATCHDOG_PID naming this shell) it sends
# WATCHDOG=1 at once and then every half period, printing a line for each.
# On SIGTERM or SIGINT it removes its state file and exits 0.
set -eu

dir=${1:-${RUNTIME_DIRECTORY:-${TMPDIR:-/tmp}}}
state=$dir/notifyd.state
sleeper=

stop() {
	# The sleep in the background would otherwise outlive the script.
	[ -z "$sleeper" ] || kill "$sleeper" 2>/dev/null || :
	rm -f "$state"
	echo stopping
	exit 0
}
trap stop TERM INT

echo $$ >"$state"
echo "state $state"
if [ -n "${NOTIFY_SOCKET:-}" ]; then
	systemd-notify --ready --status="state in $state"
fi

# sd_watchdog_enabled(3): WATCHDOG_USEC counts when WATCHDOG_PID is unset
# or names this process.
half=
if [ -n "${WATCHDOG_USEC:-}" ] && [ "${WATCHDOG_PID:-$$}" = "$$" ]; then
	usec=$((WATCHDOG_USEC / 2))
	half=$((usec / 1000000)).$(printf '%06d' $((usec % 1000000)))
fi

pings=0
while :; do
	if [ -n "$half" ]; then
		# Each ping is a process start. In the background, so that the
		# half period runs from when it was started, not from when it
		# was sent: a systemd-notify that takes up to half a period to
		# start does not push the next ping back.
		systemd-notify WATCHDOG=1 &
		pings=$((pings + 1))
		echo "watchdog ping $pings"
		sleep "$half" &
	else
		sleep 3600 &
	fi
	sleeper=$!
	# The sleep in the background and wait, rather than sleep alone, so
	# that SIGTERM runs the trap at once; wait for every job, the ping
	# too, so that none is left unreaped. A signal makes wait return
	# early with a status above 128, which is not an error here.
	wait || :
	sleeper=
done
