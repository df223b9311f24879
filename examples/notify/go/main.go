// Command notifyd is a small daemon that speaks sd_notify through
// go-systemd's daemon package, as any Go service would under systemd, and
// works unchanged under restart-run --type=notify:
//
//	go build -o notifyd ./examples/notify/go
//	restart-run --type=notify --watchdog=10s -- ./notifyd .
//
// It listens on a unix socket, notifyd.sock in DIR (its argument, else
// $RUNTIME_DIRECTORY, which systemd's RuntimeDirectory= sets, else the
// temporary directory), and answers each connection with one line. Once it
// listens it sends READY=1: readiness means it serves. When its supervisor
// gave it a watchdog (WATCHDOG_USEC, and WATCHDOG_PID naming this process)
// it sends WATCHDOG=1 at once and then every half period, as
// sd_watchdog_enabled(3) advises, printing a line for each. On SIGTERM or
// SIGINT it sends STOPPING=1, stops listening and exits 0.
package main

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/coreos/go-systemd/v22/daemon"
)

func main() {
	os.Exit(run())
}

func run() int {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()

	dir := os.TempDir()
	if d := os.Getenv("RUNTIME_DIRECTORY"); d != "" {
		dir = d
	}
	if len(os.Args) > 1 {
		dir = os.Args[1]
	}
	path := filepath.Join(dir, "notifyd.sock")
	// A socket left behind by a run that was killed would make Listen fail.
	_ = os.Remove(path)
	ln, err := net.Listen("unix", path)
	if err != nil {
		fmt.Fprintln(os.Stderr, "notifyd:", err)
		return 1
	}
	defer ln.Close() // removes the socket file too
	go serve(ln)
	fmt.Printf("listening %s\n", path)

	// Only now, with the socket accepting connections, is the daemon ready.
	// (false, nil) means there is no NOTIFY_SOCKET: run by hand, that is fine.
	if _, err := daemon.SdNotify(false, daemon.SdNotifyReady+"\nSTATUS=listening on "+path); err != nil {
		fmt.Fprintln(os.Stderr, "notifyd: READY=1:", err)
	}

	// SdWatchdogEnabled gives the whole period, or 0 when no watchdog was
	// asked for or it is meant for another process (WATCHDOG_PID).
	period, err := daemon.SdWatchdogEnabled(false)
	if err != nil {
		fmt.Fprintln(os.Stderr, "notifyd: watchdog:", err)
	}
	var tick <-chan time.Time
	pings := 0
	ping := func() {
		if _, err := daemon.SdNotify(false, daemon.SdNotifyWatchdog); err != nil {
			fmt.Fprintln(os.Stderr, "notifyd: WATCHDOG=1:", err)
			return
		}
		pings++
		fmt.Printf("watchdog ping %d\n", pings)
	}
	if period > 0 {
		t := time.NewTicker(period / 2)
		defer t.Stop()
		tick = t.C
		ping()
	}

	for {
		select {
		case <-ctx.Done():
			_, _ = daemon.SdNotify(false, daemon.SdNotifyStopping)
			fmt.Println("stopping")
			return 0
		case <-tick:
			ping()
		}
	}
}

// serve answers each connection with one line until the listener closes.
func serve(ln net.Listener) {
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		_, _ = fmt.Fprintf(c, "hello from notifyd %d\n", os.Getpid())
		c.Close()
	}
}
