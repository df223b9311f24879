//go:build !unitonly

package main

import (
	"debug/elf"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
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
		if got, want := plainExecutable(bin), b.mode == "exe"; got != want || got != elfPlain(bin) {
			t.Errorf("-buildmode=%s CGO_ENABLED=%s: plainExecutable = %v, want %v (debug/elf: %v)", b.mode, b.cgo, got, want, elfPlain(bin))
		}
		// The first child waits on stdin until restart-run has settled; the
		// restarts after it read end-of-file and exit at once.
		cmd := exec.Command(bin, "--log-level=debug", "--restart=always", "--restart-sec=0", "--max-restarts=3", "--", "sh", "-c", "read x; exit 4")
		stdin, err := cmd.StdinPipe()
		if err != nil {
			t.Fatal(err)
		}
		r := startCmd(t, cmd)
		mem := r.next("memory")
		stdin.Close()
		// Only the static ET_EXEC build hands its read-only pages back,
		// and its resident set falls by a good part of them.
		advised, before, after := mem.num("advised"), mem.num("rss_before"), mem.num("rss_after")
		if static := b.mode == "exe"; static != (advised > 0) {
			t.Errorf("-buildmode=%s CGO_ENABLED=%s: %.0f bytes of the binary's mappings advised; want %s", b.mode, b.cgo, advised,
				map[bool]string{true: "more than 0", false: "0"}[static])
		}
		if b.mode == "exe" && (before <= 0 || before-after < 1<<20) {
			t.Errorf("static build: resident %.0f bytes before, %.0f after; want it at least 1 MiB less", before, after)
		}
		if code := r.wait(); code != 4 {
			t.Errorf("-buildmode=%s CGO_ENABLED=%s: status %d, want 4; log:\n%s", b.mode, b.cgo, code, r.logText())
		}
		if n := len(r.named("start")); n != 4 {
			t.Errorf("-buildmode=%s CGO_ENABLED=%s: %d starts, want 4; log:\n%s", b.mode, b.cgo, n, r.logText())
		}
	}
}

// TestPlainExecutable checks the hand-read ELF headers against debug/elf
// (which restart-run itself no longer links) on the test binary, the
// binaries of a few system commands and files that are not ELF at all;
// TestSettleBuilds checks the static and PIE builds of restart-run.
func TestPlainExecutable(t *testing.T) {
	dir := t.TempDir()
	short := filepath.Join(dir, "short")
	if err := os.WriteFile(short, []byte("\x7fELF\x02\x01\x01"), 0o644); err != nil {
		t.Fatal(err)
	}
	paths := []string{selfExe, os.Args[0], short, "/proc/self/status", filepath.Join(dir, "missing")}
	for _, name := range []string{"sh", "sleep", "true", "python3"} {
		if p, err := exec.LookPath(name); err == nil {
			paths = append(paths, p)
		}
	}
	for _, p := range paths {
		if got, want := plainExecutable(p), elfPlain(p); got != want {
			t.Errorf("plainExecutable(%s) = %v, debug/elf says %v", p, got, want)
		}
	}
}

// elfPlain is plainExecutable as debug/elf answers it.
func elfPlain(path string) bool {
	f, err := elf.Open(path)
	if err != nil {
		return false
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_GNU_RELRO || p.Type == elf.PT_INTERP || p.Type == elf.PT_DYNAMIC {
			return false
		}
	}
	return f.Type == elf.ET_EXEC
}

// TestSettleKeepsFewPages: once restart-run has settled, little of its
// binary is mapped again, and settling did not raise its peak. The kernel
// maps up to 64 KiB around each page fault on a file, so every page of the
// binary that restart-run touches after handing its pages back brings its
// neighbours back too: reading /proc/self/maps after advising the first
// mapping, or reading the resident set and building a log event after the
// last, put about 1.9 MiB back, where the wait in the loop alone needs
// under 1.2 MiB. And settling (the collection above all), done on top of
// start-up's pages, raised VmHWM by 0.3 to 0.9 MiB; done after the first
// hand-back, it lowers it by 0.1 to 0.3 (the kernel records the peak
// when pages are unmapped, and settling's first hand-back comes before
// it touches anything). Without debug logging, as restart-run usually
// runs.
func TestSettleKeepsFewPages(t *testing.T) {
	if testing.Short() {
		t.Skip("builds restart-run again; skipped with -short")
	}
	cmd := exec.Command(staticBin(t), "--restart=no", "--", "sh", "-c", "read x; exit 0")
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	r := startCmd(t, cmd)
	r.next("start")
	pid := cmd.Process.Pid
	time.Sleep(settleDelay / 2)
	peak := statusKiB(t, pid, "VmHWM")
	const most = 1400
	// Settling hands the pages back twice, a few milliseconds apart: wait
	// for the resident set to fall, then for settling to be over, and
	// judge what stays.
	for end := time.Now().Add(2*settleDelay + 3*time.Second); time.Now().Before(end); time.Sleep(50 * time.Millisecond) {
		if statusKiB(t, pid, "RssFile") <= most {
			break
		}
	}
	time.Sleep(300 * time.Millisecond)
	file := statusKiB(t, pid, "RssFile")
	settled := statusKiB(t, pid, "VmHWM")
	stdin.Close()
	if file > most {
		t.Errorf("after settling, restart-run kept %d KiB of file pages resident; want at most %d KiB", file, most)
	}
	if settled > peak+128 {
		t.Errorf("settling raised restart-run's peak from %d to %d KiB; want at most 128 KiB more", peak, settled)
	}
	if code := r.wait(); code != 0 {
		t.Errorf("status %d, want 0; log:\n%s", code, r.logText())
	}
}

// TestAddRange: adjacent mappings of the binary are handed back in one
// call, and only adjacent ones.
func TestAddRange(t *testing.T) {
	var pages []pageRange
	for _, r := range []pageRange{
		{0x400000, 0x254000}, // text
		{0x654000, 0x2a2000}, // read-only data, right after it
		{0x917000, 0x1000},   // after a gap (the writable data, left out)
		{0x918000, 0x2000},
	} {
		pages = addRange(pages, r)
	}
	want := []pageRange{{0x400000, 0x4f6000}, {0x917000, 0x3000}}
	if !slices.Equal(pages, want) {
		t.Errorf("addRange: %x, want %x", pages, want)
	}
}

// statusKiB is a field of /proc/PID/status, in KiB.
func statusKiB(t *testing.T, pid int, field string) int {
	t.Helper()
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if name, v, ok := strings.Cut(l, ":"); ok && name == field {
			n, err := strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(v), " kB"))
			if err != nil {
				t.Fatalf("%s: %q: %v", field, l, err)
			}
			return n
		}
	}
	t.Fatalf("no %s in /proc/%d/status", field, pid)
	return 0
}
