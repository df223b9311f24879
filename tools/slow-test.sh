#!/usr/bin/env bash
# Runs the suite with python3 and systemd-notify slow to start: each is
# replaced, first on PATH, by a wrapper that sleeps SLOW_DELAY seconds (1.5
# by default) and then execs the real program. A test whose periods,
# timeouts or watchdog intervals only hold when those programs start at once
# fails here (issue 19). Extra arguments go to go test:
#
#   tools/slow-test.sh -count=10
#   SLOW_DELAY=0.35 tools/slow-test.sh -run Watchdog
set -euo pipefail
cd "$(dirname "$0")/.."

delay=${SLOW_DELAY:-1.5}
wrappers=$(mktemp -d "${TMPDIR:-/tmp}/restart-run-slowpath.XXXXXX")
trap 'rm -rf "$wrappers"' EXIT
# Open to everyone: TestNotifyOtherUser runs systemd-notify as nobody.
chmod 755 "$wrappers"
sleep=$(command -v sleep)

# real prints the program the wrapper should exec: the first on PATH (the
# wrapper directory is not on it yet), or, for a pyenv shim, the
# interpreter the shim would run, so that the wrapper's sleep is the only
# delay added.
real() {
	local p
	p=$(command -v "$1") || return 1
	case $p in
	*/shims/*)
		if command -v pyenv >/dev/null; then
			p=$(pyenv which "$1")
		fi
		;;
	esac
	printf '%s\n' "$p"
}

for name in python3 systemd-notify; do
	if ! path=$(real "$name"); then
		echo "slow-test: $name is not on PATH; tests that need it will skip" >&2
		continue
	fi
	# The path goes into the script single-quoted, its own quotes escaped.
	q=${path//\'/\'\\\'\'}
	printf '#!/bin/sh\n%s %s\nexec '\''%s'\'' "$@"\n' "$sleep" "$delay" "$q" >"$wrappers/$name"
	chmod 755 "$wrappers/$name"
	echo "slow-test: $name sleeps ${delay}s, then execs $path" >&2
done

PATH="$wrappers:$PATH" go test -race ./... "$@"
