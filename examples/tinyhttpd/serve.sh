#!/bin/sh
# tinyhttpd: python's http.server, serving the current directory on
# 127.0.0.1:$PORT (8000 unless set), kept running by restart-run.
# TestExampleTinyhttpd and TestExampleTinyhttpdCrashLoop run this file.
set -eu
port=${PORT:-8000}

# --restart=always: any end of the server, kill -9 included, starts it again.
# --burst=5 --interval=60s: but not a sixth time within a minute. The default
#   window (10s) suits a program that fails at once; python3 can take a second
#   or two to start and fail, so five of its starts may not fit in 10 s and
#   the limiter would never trip.
# python3 -u: unbuffered stdout, so "Serving HTTP on ..." shows up as it
#   happens, not when a pipe's buffer fills.
# exec: restart-run takes the shell's place, so signals sent to this
#   script's pid (Ctrl-C, kill, docker stop) reach restart-run itself.
exec restart-run --restart=always --burst=5 --interval=60s -- \
	python3 -u -m http.server "$port" --bind 127.0.0.1
