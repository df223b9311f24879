#!/usr/bin/env python3
"""notifyd.py: a small daemon that speaks sd_notify with the standard library
alone, and works unchanged under systemd (Type=notify) and under
restart-run --type=notify:

    restart-run --type=notify --watchdog=10s -- ./notifyd.py .

It listens on a unix socket, notifyd.sock in DIR (its argument, else
$RUNTIME_DIRECTORY, which systemd's RuntimeDirectory= sets, else the
temporary directory), and answers each connection with one line. Once it
listens it sends READY=1: readiness means it serves. When its supervisor
gave it a watchdog (WATCHDOG_USEC, and WATCHDOG_PID naming this process) it
sends WATCHDOG=1 at once and then every half period, as
sd_watchdog_enabled(3) advises, printing a line for each. On SIGTERM or
SIGINT it sends STOPPING=1, removes its socket and exits 0.
"""

import os
import select
import signal
import socket
import sys
import tempfile
import time


def sd_notify(state):
    """Send state to $NOTIFY_SOCKET as sd_notify(3) does.

    Returns False when there is no socket to tell (run by hand) or the send
    failed. An address that starts with '@' is an abstract socket name: the
    kernel spells it with a leading NUL byte instead.
    """
    addr = os.environ.get("NOTIFY_SOCKET", "")
    if addr.startswith("@"):
        addr = "\0" + addr[1:]
    elif not addr.startswith("/"):
        return False
    # Python's sockets are close-on-exec already; one socket per message,
    # as sd_notify(3), so nothing is held open between messages. A failed
    # send is reported, not fatal: the service itself still works.
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as s:
            s.sendto(state.encode(), addr)
    except OSError as e:
        print("notifyd: sd_notify:", e, file=sys.stderr, flush=True)
        return False
    return True


def watchdog_period():
    """The watchdog period in seconds, or 0, as sd_watchdog_enabled(3):
    WATCHDOG_USEC counts only when WATCHDOG_PID is unset or this process."""
    pid = os.environ.get("WATCHDOG_PID", "")
    if pid and pid != str(os.getpid()):
        return 0
    try:
        usec = int(os.environ.get("WATCHDOG_USEC", "0"))
    except ValueError:
        return 0
    return max(usec, 0) / 1e6


def stop(signum, frame):
    # SystemExit unwinds through the finally below, from wherever the
    # main loop is waiting.
    sys.exit(0)


def main():
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    if len(sys.argv) > 1:
        directory = sys.argv[1]
    else:
        directory = os.environ.get("RUNTIME_DIRECTORY") or tempfile.gettempdir()
    path = os.path.join(directory, "notifyd.sock")

    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        os.unlink(path)  # left behind by a run that was killed
    except FileNotFoundError:
        pass
    server.bind(path)
    server.listen()
    try:
        print(f"listening {path}", flush=True)
        # Only now, with the socket accepting connections, is it ready.
        sd_notify("READY=1\nSTATUS=listening on " + path)

        half = watchdog_period() / 2
        pings = 0
        next_ping = time.monotonic()
        while True:
            timeout = None
            if half:
                if time.monotonic() >= next_ping:
                    sd_notify("WATCHDOG=1")
                    pings += 1
                    print(f"watchdog ping {pings}", flush=True)
                    next_ping = time.monotonic() + half
                timeout = max(next_ping - time.monotonic(), 0)
            readable, _, _ = select.select([server], [], [], timeout)
            if readable:
                conn, _ = server.accept()
                with conn:
                    conn.sendall(b"hello from notifyd %d\n" % os.getpid())
    finally:
        sd_notify("STOPPING=1")
        print("stopping", flush=True)
        server.close()
        os.unlink(path)


if __name__ == "__main__":
    main()
