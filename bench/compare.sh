#!/usr/bin/env bash
# compare.sh: measure restart-run against its peers and print a markdown report.
#
#   bench/compare.sh [--quick] [--idle SECONDS] [--keep]
#
#   --quick         a smoke run: fewer rounds, 5 s of idle, about a minute
#   --idle SECONDS  length of the idle window (default 20, or $IDLE_SECS)
#   --keep          keep the temporary directory with the raw numbers
#
# It installs the peers from Debian when they are missing (tini, dumb-init,
# supervisor, runit, s6, daemontools, hyperfine; build-essential without a C
# compiler), which needs root, builds restart-run from this repository with
# CGO_ENABLED=0, compiles the small C helpers next to this script, and
# measures, each comparison interleaved round by round so that noise from the
# rest of the machine falls on every tool alike:
#
#   1. one-shot overhead of `X true` (bench/spawntime.c);
#   2. the restart cycle of a child that exits at once, against a shell loop
#      and a C loop doing the same fork+exec, and the rate of the classic
#      supervisors, which throttle restarts to about one a second;
#   3. VmRSS and VmHWM of each supervisor while it supervises `sleep 1000`;
#   4. CPU time and context switches of every thread of each supervisor over
#      an idle window (all supervisors measured at once);
#   5. signal-forwarding latency, SIGUSR1 to the supervisor until the child's
#      sigwaitinfo() returns (bench/sigsend.c, bench/sigchild.c).
#
# Beside the peers runs bench/gofloor, the least a static Go program can do
# in restart-run's place (fork, exec, wait; forward a signal): the floor set
# by the Go runtime alone, measured in the same run.
#
# The report goes to stdout, progress to stderr. A missed target is only
# reported (exit 0); a measurement that fails exits non-zero. Every process
# the script starts is stopped by PID on exit, and a last look at ps checks
# that none is left.
set -euo pipefail

QUICK=0
KEEP=0
IDLE=${IDLE_SECS:-20}
while [ $# -gt 0 ]; do
	case $1 in
	--quick) QUICK=1 ;;
	--keep) KEEP=1 ;;
	--idle) IDLE=${2:?--idle needs a number of seconds}; shift ;;
	--idle=*) IDLE=${1#--idle=} ;;
	-h | --help) sed -n '2,/^set -euo/{/^#/s/^# \{0,1\}//p}' "$0"; exit 0 ;;
	*) echo "compare.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
	esac
	shift
done
if [ "$QUICK" = 1 ]; then
	IDLE=${IDLE_SECS:-5}
	ONESHOT_ROUNDS=6 ONESHOT_RUNS=5
	CYCLE_N=300 CYCLE_ROUNDS=2
	PEER_SECS=3
	SIG_INSTANCES=3 SIG_ROUNDS=2 SIG_PER=40
else
	ONESHOT_ROUNDS=30 ONESHOT_RUNS=20
	CYCLE_N=2000 CYCLE_ROUNDS=7
	PEER_SECS=5
	SIG_INSTANCES=10 SIG_ROUNDS=4 SIG_PER=50
fi
case $IDLE in '' | *[!0-9]*) echo "compare.sh: --idle wants whole seconds" >&2; exit 2 ;; esac

BENCH=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$BENCH/.." && pwd)

say() { printf '==> %s\n' "$*" >&2; }
die() { printf 'compare.sh: %s\n' "$*" >&2; exit 1; }

# --- peers -----------------------------------------------------------------

install_peers() {
	local missing=() c
	for c in tini dumb-init supervisord runsv s6-supervise s6-svc supervise svc hyperfine; do
		command -v "$c" >/dev/null || missing+=("$c")
	done
	local cc=0
	command -v cc >/dev/null || cc=1
	[ ${#missing[@]} -eq 0 ] && [ $cc = 0 ] && return 0
	say "installing peers from Debian (missing: ${missing[*]:-} $([ $cc = 1 ] && echo cc))"
	[ "$(id -u)" = 0 ] || die "peers missing and not root; install: tini dumb-init supervisor runit s6 daemontools hyperfine"
	local pkgs=(tini dumb-init supervisor runit s6 daemontools hyperfine)
	[ $cc = 1 ] && pkgs+=(build-essential)
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq >&2
	apt-get install -y -qq --no-install-recommends "${pkgs[@]}" >&2
}

# --- processes -------------------------------------------------------------

declare -a PIDS=()     # long-running processes started here, by PID
declare -A STOPCMD=()  # PID -> how to stop it gently (default: SIGTERM)
LAST_PID=
T=

alive() { # the PID exists and is not a zombie
	local s
	s=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
	s=${s##*) }
	[ "${s:0:1}" != Z ]
}

descendants() {
	local c
	for c in $(ps -o pid= --ppid "$1" 2>/dev/null); do
		echo "$c"
		descendants "$c"
	done
}

# start NAME LOGFILE STOPCMD CMD...: run CMD in the background, remember it.
start() {
	local log=$2 stop=$3
	shift 3
	"$@" </dev/null >>"$log" 2>&1 &
	LAST_PID=$!
	PIDS+=("$LAST_PID")
	STOPCMD[$LAST_PID]=$stop
}

# supervisord_conf NAME PROGRAM COMMAND SUPERVISORD_LINE [PROGRAM_LINE...]:
# write $T/supervisord-NAME.conf, a foreground supervisord that keeps
# COMMAND running as [program:PROGRAM], with its socket, log and pid file in
# $T; SUPERVISORD_LINE (may be empty) and each PROGRAM_LINE are added to
# their sections.
supervisord_conf() {
	local name=$1 prog=$2 cmd=$3 extra=$4 line
	shift 4
	{
		printf '[unix_http_server]\nfile=%s\nchmod=0700\n\n' "$T/supervisord-$name.sock"
		printf '[supervisord]\nnodaemon=true\nuser=root\nlogfile=%s\n' "$T/supervisord-$name.log"
		if [ -n "$extra" ]; then printf '%s\n' "$extra"; fi
		printf 'pidfile=%s\nchildlogdir=%s\n\n' "$T/supervisord-$name.pid" "$T"
		printf '[rpcinterface:supervisor]\nsupervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface\n\n'
		printf '[program:%s]\ncommand=%s\nautostart=true\nautorestart=true\n' "$prog" "$cmd"
		for line in "$@"; do printf '%s\n' "$line"; done
		printf 'stdout_logfile=NONE\nstderr_logfile=NONE\n'
	} >"$T/supervisord-$name.conf"
}

# stop_all: stop every remembered process gently, then SIGKILL what is left
# of it and of its descendants after 5 s.
stop_all() {
	local pid p all=() deadline
	for pid in "${PIDS[@]}"; do
		alive "$pid" || continue
		local desc
		mapfile -t desc < <(descendants "$pid")
		all+=("$pid" "${desc[@]}")
		if [ -n "${STOPCMD[$pid]:-}" ]; then
			eval "${STOPCMD[$pid]}" >/dev/null 2>&1 || kill -TERM "$pid" 2>/dev/null || true
		else
			kill -TERM "$pid" 2>/dev/null || true
		fi
	done
	deadline=$((SECONDS + 5))
	while [ $SECONDS -lt $deadline ]; do
		local left=0
		for p in "${all[@]}"; do alive "$p" && left=1 && break; done
		[ $left = 0 ] && break
		sleep 0.05
	done
	for p in "${all[@]}"; do
		if alive "$p"; then
			say "SIGKILL to $p ($(ps -o args= -p "$p" 2>/dev/null || true)): it did not stop"
			kill -KILL "$p" 2>/dev/null || true
		fi
	done
	for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
	PIDS=()
}

# bg_wait CMD...: run a harness in the background and wait for it, so that a
# signal to this script reaches the EXIT trap at once.
HARNESS=
bg_wait() {
	"$@" &
	HARNESS=$!
	local rc=0
	wait "$HARNESS" || rc=$?
	HARNESS=
	return $rc
}

cleanup() {
	local rc=$?
	trap - EXIT INT TERM
	if [ -n "$HARNESS" ] && alive "$HARNESS"; then
		kill -TERM "$HARNESS" 2>/dev/null || true
		wait "$HARNESS" 2>/dev/null || true
	fi
	# sigsend's targets, should sigsend have died before its own cleanup
	if [ -n "$T" ] && [ -f "$T/sigsend.pids" ]; then
		local pid
		while read -r _ pid; do
			alive "$pid" && PIDS+=("$pid")
		done <"$T/sigsend.pids"
		rm -f "$T/sigsend.pids"
	fi
	[ ${#PIDS[@]} -gt 0 ] && stop_all
	if [ -n "$T" ] && [ -d "$T" ]; then
		if [ "$KEEP" = 1 ]; then say "raw data kept in $T"; else rm -rf "$T"; fi
	fi
	exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# strays: every process that runs from, or names, the temporary directory.
strays() {
	local p cwd
	ps -eo pid=,args= >"$T/ps.txt"
	grep -F -- "$T" "$T/ps.txt" | awk '{print $1}' || true
	for p in /proc/[0-9]*; do
		cwd=$(readlink "$p/cwd" 2>/dev/null) || continue
		case $cwd in "$T" | "$T"/*) echo "${p#/proc/}" ;; esac
	done
}

# --- /proc readers ---------------------------------------------------------

TCK=$(getconf CLK_TCK)

# procstat PID: "utime stime cutime cstime" in microseconds
procstat() {
	local s f
	s=$(cat "/proc/$1/stat") || return 1
	s=${s##*) }
	read -r -a f <<<"$s"
	echo "$((f[11] * 1000000 / TCK)) $((f[12] * 1000000 / TCK)) $((f[13] * 1000000 / TCK)) $((f[14] * 1000000 / TCK))"
}

# threadsnap PID: "threads cpu_us voluntary nonvoluntary" summed over every thread
threadsnap() {
	local t s f k v th=0 cpu=0 vol=0 inv=0
	for t in /proc/"$1"/task/*; do
		s=$(cat "$t/stat" 2>/dev/null) || continue
		s=${s##*) }
		read -r -a f <<<"$s"
		cpu=$((cpu + f[11] + f[12]))
		while read -r k v; do
			case $k in
			voluntary_ctxt_switches:) vol=$((vol + v)) ;;
			nonvoluntary_ctxt_switches:) inv=$((inv + v)) ;;
			esac
		done <"$t/status"
		th=$((th + 1))
	done
	echo "$th $((cpu * 1000000 / TCK)) $vol $inv"
}

status_kb() { # status_kb PID FIELD
	awk -v f="$2:" '$1 == f {print $2}' "/proc/$1/status"
}

# --- set up ----------------------------------------------------------------

install_peers
command -v go >/dev/null || die "go is not on PATH"
command -v python3 >/dev/null || die "python3 is not on PATH"
for c in tini dumb-init supervisord runsv s6-supervise s6-svc supervise svc cc; do
	command -v "$c" >/dev/null || die "$c is still missing"
done

T=$(mktemp -d -t restart-run-bench.XXXXXX)
RR=$T/restart-run
TRUE=$(type -P true)
say "building restart-run and the helpers in $T"
# Both built as a release is (README: Install): static, stripped, -trimpath.
RELEASE=(-trimpath -ldflags='-s -w')
(cd "$REPO" && CGO_ENABLED=0 go build "${RELEASE[@]}" -o "$RR" .) || die "go build failed"
# The Go floor: the least a static Go program can do in restart-run's place.
(cd "$REPO" && CGO_ENABLED=0 go build "${RELEASE[@]}" -o "$T/gofloor" ./bench/gofloor) || die "go build ./bench/gofloor failed"
for h in spawntime sigsend sigchild; do
	cc -O2 -Wall -o "$T/$h" "$BENCH/$h.c" || die "cc $h.c failed"
done
# A copy of sleep in the temporary directory, so that the final check can
# tell the children started here from anyone else's.
cp "$(type -P sleep)" "$T/sleep"
KV=$T/results.kv
: >"$KV"
echo "bin_rr $(stat -c %s "$RR")" >>"$KV"
echo "bin_gofloor $(stat -c %s "$T/gofloor")" >>"$KV"
REPORT="python3 -B $BENCH/report.py"

# Each command once, with its errors visible, before anything is timed.
for cmd in "$TRUE" "tini -s -- $TRUE" "dumb-init $TRUE" "$T/gofloor $TRUE" "$RR --restart=no --log-level=error -- $TRUE"; do
	$cmd || die "sanity run failed: $cmd"
done

# --- header ----------------------------------------------------------------

dpkgv() { dpkg-query -W -f '${Version}' "$1" 2>/dev/null || echo '?'; }
rev=$(git -C "$REPO" describe --always --dirty 2>/dev/null || echo unknown)
echo "# restart-run against its peers"
echo
echo "- date: $(date -u '+%Y-%m-%d %H:%M:%S UTC')"
echo "- nproc: $(nproc)"
echo "- kernel: $(uname -srm)"
echo "- load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "- mode: $([ "$QUICK" = 1 ] && echo 'quick (smoke run)' || echo full)"
echo "- restart-run: $rev ($($RR --version 2>&1 | head -1)), $(go version | cut -d' ' -f3-), CGO_ENABLED=0"
echo "- binaries (static, \`-trimpath -ldflags='-s -w'\`): restart-run $(stat -c %s "$RR") bytes, gofloor $(stat -c %s "$T/gofloor") bytes"
echo "- tini: $(tini --version | head -1) (Debian $(dpkgv tini))"
echo "- dumb-init: $(dumb-init --version 2>&1 | head -1) (Debian $(dpkgv dumb-init))"
echo "- supervisord: $(supervisord --version) (Debian $(dpkgv supervisor)), $(python3 --version 2>&1)"
echo "- runit (runsv): Debian $(dpkgv runit)"
echo "- s6 (s6-supervise): Debian $(dpkgv s6)"
echo "- daemontools (supervise): Debian $(dpkgv daemontools)"
echo "- hyperfine: $(hyperfine --version 2>/dev/null || echo 'not installed') (not used: bench/spawntime.c times the runs)"
echo "- cc: $(cc --version | head -1)"
echo

# --- 1. one-shot overhead --------------------------------------------------

say "1/5 one-shot overhead: $ONESHOT_ROUNDS rounds x $ONESHOT_RUNS runs per tool"
bg_wait "$T/spawntime" "$ONESHOT_ROUNDS" "$ONESHOT_RUNS" \
	bare "$TRUE" :: \
	tini tini -s -- "$TRUE" :: \
	dumb-init dumb-init "$TRUE" :: \
	gofloor "$T/gofloor" "$TRUE" :: \
	restart-run "$RR" --restart=no -- "$TRUE" :: \
	restart-run-quiet "$RR" --restart=no --log-level=error -- "$TRUE" \
	>"$T/oneshot.dat" || die "one-shot measurement failed"
echo "## 1. One-shot overhead: \`X true\`"
echo
echo "Start to exit of each command, spawned by a C harness with its output on"
echo "/dev/null; $ONESHOT_ROUNDS rounds of $ONESHOT_RUNS runs per command, the commands"
echo "taking turns round by round."
echo
$REPORT oneshot "$T/oneshot.dat" "$KV"

# --- 2. restart cycle ------------------------------------------------------

say "2/5 restart cycle: $CYCLE_ROUNDS rounds x $CYCLE_N starts; then the throttled supervisors for $PEER_SECS s"
bg_wait "$T/spawntime" "$CYCLE_ROUNDS" 1 \
	shell sh -c "i=0; while [ \$i -lt $CYCLE_N ]; do $TRUE; i=\$((i+1)); done" :: \
	cloop @loop "$CYCLE_N" "$TRUE" :: \
	rr-cycle "$RR" --restart=always --restart-sec=0 --burst=0 --log-level=error \
	--max-restarts=$((CYCLE_N - 1)) -- "$TRUE" \
	>"$T/cycle.dat" || die "restart-cycle measurement failed"

# The classic supervisors each run a script that appends a line to a file
# and exits; restart-run runs the same script too, for a like-for-like row.
mkdir -p "$T/count"
mkservice() { # mkservice DIR BODY
	mkdir -p "$1"
	printf '#!/bin/sh\n%s\n' "$2" >"$1/run"
	chmod +x "$1/run"
}
for s in runsv s6-supervise supervise supervisord rr-script; do
	: >"$T/count/$s"
	mkservice "$T/cycle/$s" "echo x >>$T/count/$s"
done
supervisord_conf cycle cycle "$T/cycle/supervisord/run" "loglevel=error" \
	"startsecs=0" "startretries=1000000"
declare -A CYPID=()
start runsv "$T/cycle.log" "svc -dx $T/cycle/runsv" runsv "$T/cycle/runsv"
CYPID[runsv]=$LAST_PID
start s6-supervise "$T/cycle.log" "s6-svc -dx $T/cycle/s6-supervise" s6-supervise "$T/cycle/s6-supervise"
CYPID[s6-supervise]=$LAST_PID
start supervise "$T/cycle.log" "svc -dx $T/cycle/supervise" supervise "$T/cycle/supervise"
CYPID[supervise]=$LAST_PID
start supervisord "$T/cycle.log" "" supervisord -c "$T/supervisord-cycle.conf"
CYPID[supervisord]=$LAST_PID
start rr-script "$T/cycle.log" "" "$RR" --restart=always --restart-sec=0 --burst=0 --log-level=error -- "$T/cycle/rr-script/run"
CYPID[rr-script]=$LAST_PID
bg_wait sleep 1.5
declare -A C0=() S0=()
t0=$(date +%s%N)
for s in "${!CYPID[@]}"; do
	alive "${CYPID[$s]}" || die "$s is not running (see $T/cycle.log; use --keep)"
	C0[$s]=$(wc -l <"$T/count/$s")
	S0[$s]=$(procstat "${CYPID[$s]}")
done
bg_wait sleep "$PEER_SECS"
t1=$(date +%s%N)
: >"$T/peers.dat"
for s in runsv s6-supervise supervise supervisord rr-script; do
	pid=${CYPID[$s]}
	alive "$pid" || die "$s died during the measurement (see $T/cycle.log)"
	c1=$(wc -l <"$T/count/$s")
	read -r u0 s0 cu0 cs0 <<<"${S0[$s]}"
	read -r u1 s1 cu1 cs1 <<<"$(procstat "$pid")"
	echo "$s $((c1 - C0[$s])) $(awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.3f", (b-a)/1e9}') \
$((u1 + s1 - u0 - s0)) $((cu1 + cs1 - cu0 - cs0))" >>"$T/peers.dat"
done
stop_all
echo "## 2. Restart cycle: a child that exits at once"
echo
echo "restart-run with \`--max-restarts=$((CYCLE_N - 1))\` ($CYCLE_N starts of \`true\`) timed from"
echo "start to exit, taking turns with a \`sh\` \`while\` loop and a C loop that each run"
echo "\`true\` $CYCLE_N times ($CYCLE_ROUNDS rounds; median per start). The classic supervisors"
echo "each supervise a run script that appends a line to a file, counted over"
echo "$PEER_SECS s while they run side by side (they throttle restarts to about one a"
echo "second); restart-run runs that script too, in the same window. Those rows"
echo "start a shell per cycle, so their ratio to the \`true\` loop overstates their cost."
echo
$REPORT cycle "$T/cycle.dat" "$CYCLE_N" "$T/peers.dat" "$KV"

# --- 3 and 4. memory and idle cost -----------------------------------------

say "3/5 and 4/5: memory, then $IDLE s idle, all supervisors at once"
for s in runsv s6-supervise supervise; do
	mkservice "$T/idle/$s" "exec $T/sleep 1000"
done
supervisord_conf idle sleep "$T/sleep 1000" ""
declare -A IDPID=()
IDLE_TOOLS=(tini dumb-init gofloor restart-run supervisord runsv s6-supervise supervise)
start tini "$T/idle.log" "" tini -s -- "$T/sleep" 1000
IDPID[tini]=$LAST_PID
start dumb-init "$T/idle.log" "" dumb-init "$T/sleep" 1000
IDPID[dumb-init]=$LAST_PID
start gofloor "$T/idle.log" "" "$T/gofloor" -forward "$T/sleep" 1000
IDPID[gofloor]=$LAST_PID
start restart-run "$T/idle.log" "" "$RR" --restart=always -- "$T/sleep" 1000
IDPID[restart-run]=$LAST_PID
start supervisord "$T/idle.log" "" supervisord -c "$T/supervisord-idle.conf"
IDPID[supervisord]=$LAST_PID
start runsv "$T/idle.log" "svc -dx $T/idle/runsv" runsv "$T/idle/runsv"
IDPID[runsv]=$LAST_PID
start s6-supervise "$T/idle.log" "s6-svc -dx $T/idle/s6-supervise" s6-supervise "$T/idle/s6-supervise"
IDPID[s6-supervise]=$LAST_PID
start supervise "$T/idle.log" "svc -dx $T/idle/supervise" supervise "$T/idle/supervise"
IDPID[supervise]=$LAST_PID
# Let them settle (supervisord and the Go runtime start up; restart-run
# hands back its start-up memory one second after its first start) and
# check that each has its sleep child.
bg_wait sleep 3
declare -A MEM=() SNAP0=()
for s in "${IDLE_TOOLS[@]}"; do
	pid=${IDPID[$s]}
	alive "$pid" || die "$s is not running (see $T/idle.log)"
	grep -qF "$T/sleep 1000" <<<"$(ps -o args= --ppid "$pid")" || die "$s has no sleep child"
	MEM[$s]="$(status_kb "$pid" VmRSS) $(status_kb "$pid" VmHWM) $(status_kb "$pid" RssAnon) $(status_kb "$pid" RssFile)"
	SNAP0[$s]=$(threadsnap "$pid")
done
bg_wait sleep "$IDLE"
: >"$T/idle.dat"
for s in "${IDLE_TOOLS[@]}"; do
	pid=${IDPID[$s]}
	alive "$pid" || die "$s died during the idle window"
	read -r _ cpu0 v0 i0 <<<"${SNAP0[$s]}"
	read -r th1 cpu1 v1 i1 <<<"$(threadsnap "$pid")"
	echo "$s ${MEM[$s]} $th1 $((cpu1 - cpu0)) $((v1 - v0)) $((i1 - i0))" >>"$T/idle.dat"
done
stop_all
echo "## 3. Resident memory while supervising \`sleep 1000\`"
echo
echo "From /proc/PID/status of the supervisor (not its child), 3 s after it started;"
echo "VmRSS = RssAnon + RssFile + RssShmem."
echo
$REPORT memory "$T/idle.dat" "$KV"
echo "## 4. Idle cost over $IDLE s"
echo
echo "utime+stime and voluntary+involuntary context switches, summed over"
echo "/proc/PID/task/*, of each supervisor while its \`sleep\` child runs; all"
echo "supervisors measured in the same window."
echo
$REPORT idle "$T/idle.dat" "$IDLE" "$KV"

# --- 5. signal forwarding --------------------------------------------------

# Each supervisor is started afresh SIG_INSTANCES times: how fast a Go
# program forwards depends on which of its threads the runtime happened to
# put to sleep where, which differs from one start to the next.
say "5/5 signal forwarding: $SIG_INSTANCES starts x $SIG_ROUNDS rounds x $SIG_PER samples per target"
: >"$T/signal.dat"
: >"$T/sigsend.err"
for i in $(seq "$SIG_INSTANCES"); do
	bg_wait "$T/sigsend" "$T" "$SIG_ROUNDS" "$SIG_PER" 1000 \
		direct "$T/sigchild" '{fifo}' :: \
		sd-tini tini -s -- "$T/sigchild" '{fifo}' :: \
		sd-dumb-init dumb-init "$T/sigchild" '{fifo}' :: \
		sd-gofloor "$T/gofloor" -forward "$T/sigchild" '{fifo}' :: \
		sd-restart-run "$RR" --restart=no -- "$T/sigchild" '{fifo}' \
		>>"$T/signal.dat" 2>>"$T/sigsend.err" || { cat "$T/sigsend.err" >&2; die "signal measurement failed"; }
done
rm -f "$T/sigsend.pids"
echo "## 5. Signal-forwarding latency"
echo
echo "CLOCK_MONOTONIC from kill(SIGUSR1) to the byte the child writes when"
echo "sigwaitinfo() returns; the target is the supervisor, or the child itself."
echo "Each target started $SIG_INSTANCES times; each time, from 2 s after it is ready (as for"
echo "memory: start-up is over), $SIG_ROUNDS rounds of $SIG_PER samples, 1 ms apart so that"
echo "each signal finds the supervisor idle."
echo
$REPORT signal "$T/signal.dat" "$KV"

# --- targets and the final check -------------------------------------------

echo "## Targets"
echo
echo "Load average at the end: $(cut -d' ' -f1-3 /proc/loadavg) (on $(nproc) CPUs)."
echo
$REPORT targets "$KV"

stop_all
left=$(strays | sort -un)
if [ -n "$left" ]; then
	echo "ps check: FAILED, processes started here are still running:"
	for p in $left; do
		echo "    $p $(ps -o args= -p "$p" 2>/dev/null || true)"
		kill -KILL "$p" 2>/dev/null || true
	done
	exit 1
fi
echo "ps check: no process started by this run is left (none runs from or names its temporary directory)."
