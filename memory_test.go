package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// TestPIEBuild: restart-run built as a position-independent executable (as
// some distributions build Go programs) must not hand back the pages the
// loader patched: it once crashed right after the first start.
func TestPIEBuild(t *testing.T) {
	if testing.Short() {
		t.Skip("builds restart-run again; skipped with -short")
	}
	for _, cgo := range []string{"0", "1"} { // static PIE, and PIE linked with libc
		bin := filepath.Join(t.TempDir(), "restart-run-pie")
		build := exec.Command("go", "build", "-buildmode=pie", "-o", bin, ".")
		build.Env = append(os.Environ(), "CGO_ENABLED="+cgo)
		if out, err := build.CombinedOutput(); err != nil {
			t.Fatalf("go build -buildmode=pie: %v: %s", err, out)
		}
		out, err := exec.Command(bin, "--restart=always", "--restart-sec=0", "--max-restarts=3", "--", "sh", "-c", "exit 4").CombinedOutput()
		if code := exitCode(err); code != 4 {
			t.Errorf("PIE build, CGO_ENABLED=%s: status %d, want 4; output:\n%s", cgo, code, out)
		}
	}
}

func exitCode(err error) int {
	if err == nil {
		return 0
	}
	if ee, ok := err.(*exec.ExitError); ok {
		return ee.ExitCode()
	}
	return -1
}
