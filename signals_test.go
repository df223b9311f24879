package main

import (
	"strconv"
	"syscall"
	"testing"
)

// waitReady waits for the child's "ready PID" line and returns the pid.
func (r *rr) waitReady() int {
	r.t.Helper()
	pid, _ := strconv.Atoi(r.line("ready")[0])
	return pid
}

// TestStopSignals: SIGTERM, SIGINT and SIGQUIT to restart-run are passed on
// and stop it without a restart, even under --restart=always; it exits with
// the child's status.
func TestStopSignals(t *testing.T) {
	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGINT, syscall.SIGQUIT} {
		t.Run(signalName(sig), func(t *testing.T) {
			t.Parallel()
			r := startRR(t, nil, "--restart=always", "--", "sh", "-c", "echo ready $$; exec sleep 1000")
			r.waitReady()
			r.signal(sig)
			if st := r.wait(); st != 128+int(sig) {
				t.Errorf("status %d, want %d; log:\n%s", st, 128+int(sig), r.logText())
			}
			if n := len(r.named("start")); n != 1 {
				t.Errorf("%d starts after a stop, want 1", n)
			}
			if s := r.named("stop"); len(s) != 1 || s[0].str("signal") != signalName(sig) {
				t.Errorf("stop events %v", s)
			}
		})
	}
}
