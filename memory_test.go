package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// TestSettleBuilds: restart-run hands back its start-up memory a moment
// after the first start, then goes on restarting. Built as a
// position-independent executable (as some distributions build Go programs)
// it must not hand back the pages the loader patched: it once crashed right
// after doing so. The static build (what CGO_ENABLED=0 go build makes) does
// hand its pages back, and must go on working after it.
func TestSettleBuilds(t *testing.T) {
	if testing.Short() {
		t.Skip("builds restart-run again; skipped with -short")
	}
	builds := []struct{ mode, cgo string }{
		{"exe", "0"}, // static, pages handed back
		{"pie", "0"}, // static PIE
		{"pie", "1"}, // PIE linked with libc
	}
	for _, b := range builds {
		bin := filepath.Join(t.TempDir(), "restart-run-"+b.mode)
		build := exec.Command("go", "build", "-buildmode="+b.mode, "-o", bin, ".")
		build.Env = append(os.Environ(), "CGO_ENABLED="+b.cgo)
		if out, err := build.CombinedOutput(); err != nil {
			t.Fatalf("go build -buildmode=%s: %v: %s", b.mode, err, out)
		}
		// The first child waits on stdin until restart-run has settled; the
		// restarts after it read end-of-file and exit at once.
		cmd := exec.Command(bin, "--log-level=debug", "--restart=always", "--restart-sec=0", "--max-restarts=3", "--", "sh", "-c", "read x; exit 4")
		stdin, err := cmd.StdinPipe()
		if err != nil {
			t.Fatal(err)
		}
		r := startCmd(t, cmd)
		released := r.next("memory").num("released")
		stdin.Close()
		// Only the static ET_EXEC build hands its read-only pages back.
		if static := b.mode == "exe"; static != (released > 0) {
			t.Errorf("-buildmode=%s CGO_ENABLED=%s: %.0f bytes of the binary handed back; want them %s", b.mode, b.cgo, released,
				map[bool]string{true: "more than 0", false: "0"}[static])
		}
		if code := r.wait(); code != 4 {
			t.Errorf("-buildmode=%s CGO_ENABLED=%s: status %d, want 4; log:\n%s", b.mode, b.cgo, code, r.logText())
		}
		if n := len(r.named("start")); n != 4 {
			t.Errorf("-buildmode=%s CGO_ENABLED=%s: %d starts, want 4; log:\n%s", b.mode, b.cgo, n, r.logText())
		}
	}
}
