#!/usr/bin/env bash
# memsample.sh: the CPU that --memory-max's sampling costs restart-run.
#
#   bench/memsample.sh [SECONDS] [FLAGS...]
#
# Builds restart-run as it ships (CGO_ENABLED=0), runs it with FLAGS
# supervising a shell and its child (sh -c 'sleep 1000 & wait'; TREE=...
# replaces that shell's script, e.g. TREE='for i in $(seq 50); do sleep
# 1000 & done; wait'), waits 2 s for start-up to settle, and then reports
# restart-run's CPU time over SECONDS (default 60), summed over its threads
# from /proc/PID/task/*/schedstat (nanoseconds on a CPU), and its context
# switches. Without --memory-max both are 0: nothing wakes restart-run.
#
#   bench/memsample.sh 20
#   bench/memsample.sh 120 --memory-max=1G
#   bench/memsample.sh 60 --memory-max=1G --memory-check-interval=100ms
set -euo pipefail
cd "$(dirname "$0")/.."

secs=${1:-60}
[ $# -gt 0 ] && shift
tmp=$(mktemp -d -t restart-run-memsample.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
CGO_ENABLED=0 go build -o "$tmp/restart-run" .

"$tmp/restart-run" --log-level=error "$@" -- sh -c "${TREE:-sleep 1000 & wait}" &
pid=$!
sleep 2 # start-up, and the hand-back of its memory one second after the first start

cpu() {
	local t=0 a rest
	for f in /proc/"$pid"/task/*/schedstat; do
		read -r a rest <"$f" || continue
		t=$((t + a))
	done
	echo "$t"
}
switches() {
	cat /proc/"$pid"/task/*/status 2>/dev/null | awk '/ctxt_switches/ { s += $2 } END { print s + 0 }'
}

c0=$(cpu)
s0=$(switches)
sleep "$secs"
c1=$(cpu)
s1=$(switches)
threads=$(ls /proc/"$pid"/task | wc -l)
kill -TERM "$pid"
wait "$pid" || true
cpu_ns=$((c1 - c0))
echo "flags: ${*:-(none)}; ${secs} s; ${threads} threads; CPU ${cpu_ns} ns ($((cpu_ns * 3600 / secs / 1000000)) ms an hour); $((s1 - s0)) context switches"
