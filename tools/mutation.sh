#!/usr/bin/env bash
# mutation.sh: mutation testing of restart-run with gremlins
# (github.com/go-gremlins/gremlins): each mutant is the source with one
# operator changed (< for <=, + for -, == for != ...), and the tests must
# fail on it. A mutant they pass on has "lived": a change no test notices.
#
#   tools/mutation.sh core
#       The pure core (policy.go, limiter.go, the notify parser, the HTTP
#       check's parsing, the flag types of flags.go, main.go's parsing and
#       the checks of config.go and checks.go) against its fast unit tests alone. Fails below
#       a kill rate of $MUTATION_FLOOR % (90).
#       gremlins mutates whole files and tests only the mutants some test
#       reaches, so the rest of those files (the notify socket, the fork
#       of a health check command, the supervisor's side of the checks)
#       counts as not covered.
#       CI runs this: some 360 mutants at 3 to 7 s of CPU each (a build
#       and link of the test binary, with the unit tests' files alone:
#       -tags unitonly), 10 to 20 minutes on 2 cores.
#   tools/mutation.sh components
#       The same for the components the loop drives (readiness, the
#       cleaner, the terminal's sentinel reading, the alarm, the OOM watch,
#       the memory ceiling, the hooks) against their unit tests. Not run by CI, which
#       could not fit it beside the core in its time: run it after changing
#       any of those files, and give its figures in the closing note.
#   tools/mutation.sh wide [FILE.go...]
#       Every file of the package, or the FILEs, against the whole suite,
#       end-to-end tests included, which build and run each mutant's
#       binary (and add what it ran to the coverage profile by which
#       gremlins picks the mutants to test: helpers_test.go). About a
#       minute a mutant, and the suite's time three times over for one
#       that hangs: hours for the whole package; not run by CI. gremlins
#       first runs the unmutated suite, which must pass: on a loaded
#       machine a timing-sensitive test can fail it, and the pass with it.
#
# Both print every mutant as it is done, then the survivors, each with its
# source line and the changed operator in [[ ]], marked when
# tools/mutation-equivalent.txt judges it equivalent (a change no test
# could see), and the kill rate: killed / (killed + lived), as gremlins
# counts it. Mutants whose tests ran past gremlins' timeout (an endless
# loop, or a loaded machine) are counted apart, as are those that do not
# compile and those no selected test reaches.
#
# Variables:
#   GREMLINS                  the gremlins binary (default: gremlins on PATH,
#                             else $(go env GOPATH)/bin/gremlins)
#   MUTATION_FLOOR            core: the least kill rate, in % (default 90)
#   MUTATION_WORKERS          mutants tested at once (core: the number of
#                             CPUs; wide: 1, as the end-to-end tests are
#                             timing-sensitive and a loaded machine fails
#                             them, which would count as kills)
#   MUTATION_TIME_LIMIT       wide: stop after this many seconds and report
#                             what is done (the tests in flight finish)
#   MUTATION_LOG              where to keep gremlins' log (default: a
#                             temporary file, removed)
#
# Run it in a checkout no one is editing: gremlins copies the module into a
# temporary directory for each worker and mutates the copies, but a file
# changed meanwhile would be tested in its new form (and the report reads
# the source lines afterwards). In wide mode a mutant that keeps
# restart-run from exiting makes its test run past gremlins' timeout,
# which ends go test but not that restart-run. So wide mode gives the run
# a TMPDIR of its own, where the tests build their binaries, and at the end
# ends any process still running a binary from there.
set -euo pipefail
cd "$(dirname "$0")/.."

mode=${1:-}
[ $# -gt 0 ] && shift
case $mode in
core | components | wide) ;;
*)
  echo "usage: tools/mutation.sh core | components | wide [FILE.go...]" >&2
  exit 2
  ;;
esac

gremlins=${GREMLINS:-$(command -v gremlins || echo "$(go env GOPATH)/bin/gremlins")}
if [ ! -x "$gremlins" ]; then
  echo "gremlins not found; go install github.com/go-gremlins/gremlins/cmd/gremlins@v0.6.0" >&2
  exit 2
fi

# The core's files, and the unit tests that exercise them without the
# built binary, child processes or waiting on a clock. The loopback HTTP
# tests that wait for a deadline (TestHTTPCheckAnswers, a 2 s stalled body;
# TestHTTPCheckBadServers) stay out: each would add its wait to every
# mutant. TestHTTPGet covers the same parsing on an in-memory connection.
core_files=(policy.go limiter.go notify.go health.go httpcheck.go main.go help.go flags.go config.go checks.go)
component_files=(readiness.go cleanup.go terminal.go alarm.go oom.go memlimit.go hooks.go hookcmd.go)
core_tests=(
  TestDecideTable TestDecidePrecedence TestDecideRequested TestClassify TestStatusList TestParseSignal
  TestSignalTypes
  TestLimiter TestBackoffDelay
  TestParseNotify FuzzParseNotify
  TestHealthState TestHealthCheckerStartPeriod TestHealthCheckerPassEndsStartPeriod
  TestHealthCheckerTimeout TestHealthCheckerProbeTimeout TestHealthCheckerProbe
  TestHealthCheckerStale TestHealthCheckerNotLive TestHealthCheckerSpawnFails
  TestHealthCheckerOutput TestHealthCheckerNone
  TestHTTPGet TestHTTPStatus TestHTTPHost TestHTTPCheck TestHTTPCheckHeadCap
  TestParse TestHelp TestFlagTypes TestConfigure TestRedactURL TestExitStatusMapParse TestExitStatusMapFlag
  TestFlagSources TestOneDash TestStrayVariables TestIdleSettings
  TestRestartSignalFlag TestIdleSettingsRestartSignal
  TestDescriptorFlag TestNotificationFDConfig TestSize
)
component_tests=(
  TestReadinessSimple TestReadinessNotify TestReadinessWatchdogPeriod TestReadinessStopOrders
  TestReadinessExtend TestReadinessWhileStopping TestReadinessAccess TestReadinessNoLimits
  TestReadinessNotificationFD
  TestUsecSaturates TestUsecEdge
  TestCleanerStopDeadline TestCleanerForce TestCleanerSweep TestCleanerSweepGone TestCleanerSweepStopped
  TestSentinelEnded TestTerminalRunsWithout TestChildStoppedBy
  TestOOMParseKills TestOOMParseProcCgroup TestOOMParseMountinfo TestOOMCounterFiles TestOOMWatch
  TestOOMClassifyEnd TestOOMWatchLogs TestOwnSIGKILLRemembered TestNewOOMWatch
  TestMeasureTree TestMemoryCeiling TestMemoryCeilingOff
  TestHookParse TestHookConfig TestHookEnv TestHookRunner TestHookRunnerTimeout TestHookRunnerStop TestHookHelper
)

if [ "$mode" != wide ]; then
  if [ "$mode" = core ]; then
    files=("${core_files[@]}")
  else
    files=("${component_files[@]}")
    core_tests=("${component_tests[@]}")
  fi
  # A renamed test would otherwise drop out of the pass unnoticed.
  # Listed with the tag the pass builds with, so that a unit test moved
  # into a file that only end-to-end tests share (//go:build !unitonly)
  # is caught too.
  have=$(go test -tags unitonly -list . . | grep -E '^(Test|Fuzz)' || true)
  for t in "${core_tests[@]}"; do
    if ! grep -qx "$t" <<<"$have"; then
      echo "tools/mutation.sh: core test $t does not exist" >&2
      exit 2
    fi
  done
  run=$(
    IFS='|'
    echo "^(${core_tests[*]})\$"
  )
  # -count=1: gremlins times the first, unmutated run to set each mutant's
  # timeout, and a cached result would take no time at all. Each mutant's
  # test binary is built afresh, which is most of its time: -vet=off and
  # -ldflags=-w (no debug information to link) take a fifth of it away,
  # and CI runs vet anyway. -tags unitonly leaves out the test files that
  # hold only end-to-end tests (they start with //go:build !unitonly):
  # compiling them was a third of each build, for tests the pass never runs.
  export GOFLAGS="-count=1 -vet=off -ldflags=-w -tags=unitonly -run=$run${GOFLAGS:+ $GOFLAGS}"
  workers=${MUTATION_WORKERS:-$(nproc)}
  # The unmutated run takes about as long as a mutant's; the margin is for
  # a loaded machine. A mutant that loops for ever costs this timeout.
  coefficient=10
else
  if [ $# -gt 0 ]; then
    files=("$@")
  else
    mapfile -t files < <(ls -- *.go | grep -v '_test\.go$')
  fi
  export GOFLAGS="-count=1 -vet=off${GOFLAGS:+ $GOFLAGS}"
  workers=${MUTATION_WORKERS:-1}
  coefficient=3
  tmp=$(mktemp -d -t restart-run-mutation.XXXXXX)
  # As /tmp lets anyone through: TestNotifyOtherUser has a notify socket
  # in there reached by another user.
  chmod 755 "$tmp"
fi

# gremlins mutates every Go file of the module but those excluded, so
# exclude all the others, and those of other packages (bench/..., whose
# own tests are not the point here).
exclude=(-E '/')
for f in $(ls -- *.go); do
  case " ${files[*]} " in
  *" $f "*) ;;
  *) exclude+=(-E "^${f//./\\.}\$") ;;
  esac
done
for f in "${files[@]}"; do
  if [ ! -f "$f" ]; then
    echo "no such file: $f" >&2
    exit 2
  fi
done

log=${MUTATION_LOG:-}
if [ -z "$log" ]; then
  log=$(mktemp)
  trap 'rm -f "$log"' EXIT
fi

echo "--- mutation ($mode): ${files[*]}, $workers worker(s)"
start=$(date +%s)
# In the background so that a time limit can interrupt gremlins alone: a
# signal to the process group would fail the tests in flight, which would
# count as kills. Interrupted, gremlins lets the tests in flight finish and
# prints no summary of its own; ours reads the per-mutant lines.
TMPDIR=${tmp:-${TMPDIR:-/tmp}} "$gremlins" unleash --workers "$workers" --timeout-coefficient "$coefficient" "${exclude[@]}" >"$log" 2>&1 &
pid=$!
tail -f --pid="$pid" "$log" &
limit=${MUTATION_TIME_LIMIT:-0}
if [ "$mode" = wide ] && [ "$limit" -gt 0 ]; then
  (
    end=$((SECONDS + limit))
    while kill -0 "$pid" 2>/dev/null; do
      if [ "$SECONDS" -ge "$end" ]; then
        kill -INT "$pid"
        break
      fi
      sleep 5
    done
  ) &
fi
status=0
wait "$pid" || status=$?
wait
echo "--- mutation ($mode) took $(($(date +%s) - start)) s"
if [ -n "${tmp:-}" ]; then
  left=()
  for p in /proc/[0-9]*; do
    case $(readlink "$p/exe" 2>/dev/null) in
    "$tmp"/*) left+=("${p#/proc/}") ;;
    esac
  done
  if [ ${#left[@]} -gt 0 ]; then
    echo "left running by mutants that hung their tests, now ended:"
    ps -o pid=,args= -p "$(IFS=,; echo "${left[*]}")" || true
    kill -KILL "${left[@]}" 2>/dev/null || true
  fi
  rm -rf "$tmp"
fi
# gremlins exits 1 when it could not run (coverage failed, a bad flag).
if [ "$status" -ne 0 ]; then
  echo "gremlins failed (exit status $status)" >&2
  exit 1
fi

floor=0
[ "$mode" != wide ] && floor=${MUTATION_FLOOR:-90}
python3 tools/mutation-report.py --floor "$floor" --equivalent tools/mutation-equivalent.txt "$log"
