package main

import (
	"bufio"
	"crypto/sha256"
	"debug/elf"
	"encoding/hex"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/debug"
	"strings"
	"testing"
)

func TestFormatVersion(t *testing.T) {
	vcs := []debug.BuildSetting{
		{Key: "vcs", Value: "git"},
		{Key: "vcs.revision", Value: "0123abcd"},
		{Key: "vcs.time", Value: "2026-12-05T04:02:44Z"},
		{Key: "vcs.modified", Value: "false"},
	}
	dirty := append(vcs[:3:3], debug.BuildSetting{Key: "vcs.modified", Value: "true"})
	for _, c := range []struct {
		name     string
		override string
		bi       *debug.BuildInfo
		want     string
	}{
		{"go install pkg@version", "", &debug.BuildInfo{Main: debug.Module{Version: "v1.2.3"}}, "restart-run v1.2.3"},
		{"checkout", "", &debug.BuildInfo{Main: debug.Module{Version: "v0.0.0-20261205040244-0123abcd0000"}, Settings: vcs},
			"restart-run v0.0.0-20261205040244-0123abcd0000 (revision 0123abcd, 2026-12-05T04:02:44Z)"},
		{"checkout with changes", "", &debug.BuildInfo{Main: debug.Module{Version: "v0.0.0-20261205040244-0123abcd0000+dirty"}, Settings: dirty},
			"restart-run v0.0.0-20261205040244-0123abcd0000+dirty (revision 0123abcd, 2026-12-05T04:02:44Z, modified)"},
		{"revision, no version", "", &debug.BuildInfo{Main: debug.Module{Version: "(devel)"}, Settings: vcs},
			"restart-run (devel) (revision 0123abcd, 2026-12-05T04:02:44Z)"},
		{"-X override", "v9.9.9", &debug.BuildInfo{Main: debug.Module{Version: "(devel)"}, Settings: vcs},
			"restart-run v9.9.9 (revision 0123abcd, 2026-12-05T04:02:44Z)"},
		{"-X override, no build info", "v9.9.9", nil, "restart-run v9.9.9"},
		{"nothing recorded", "", &debug.BuildInfo{Main: debug.Module{Version: "(devel)"}},
			"restart-run (devel, built without version control information)"},
		{"no build info", "", nil, "restart-run (devel, built without version control information)"},
	} {
		if got := formatVersion(c.override, c.bi); got != c.want {
			t.Errorf("%s: got %q, want %q", c.name, got, c.want)
		}
	}
}

// checkStatic fails unless path is an ELF executable for machine that
// needs no dynamic loader (no PT_INTERP) and no shared library: one that
// runs in an empty root or a scratch image.
func checkStatic(t *testing.T, path string, machine elf.Machine) {
	t.Helper()
	f, err := elf.Open(path)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	defer f.Close()
	if f.Machine != machine {
		t.Errorf("%s: ELF machine %v, want %v", path, f.Machine, machine)
	}
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP || p.Type == elf.PT_DYNAMIC {
			t.Errorf("%s: has a %v program header: not a static binary", path, p.Type)
		}
	}
	if libs, _ := f.ImportedLibraries(); len(libs) > 0 {
		t.Errorf("%s: needs shared libraries %v", path, libs)
	}
}

// TestStaticBuilds builds restart-run the ways the README documents and
// checks each binary is static and names its version and revision. This
// machine's go env sets GOFLAGS=-buildvcs=false, which a user's does not;
// the builds here get go's default, -buildvcs=auto, back.
func TestStaticBuilds(t *testing.T) {
	if testing.Short() {
		t.Skip("builds restart-run twice")
	}
	dir := t.TempDir()
	env := append(os.Environ(), "CGO_ENABLED=0", "GOFLAGS=-buildvcs=auto", "GOBIN="+dir+"/bin")
	// go stamps the revision where .git is a directory: a clone, not a
	// git worktree (whose .git is a file) nor a copy of the source.
	var rev string
	if fi, err := os.Stat(".git"); err == nil && fi.IsDir() {
		if out, err := exec.Command("git", "rev-parse", "HEAD").Output(); err == nil {
			rev = strings.TrimSpace(string(out))
		}
	}
	for _, b := range []struct{ name, bin string }{
		{"go build", filepath.Join(dir, "restart-run")},
		{"go install", filepath.Join(dir, "bin", "restart-run")},
	} {
		args := []string{"build", "-o", b.bin, "."}
		if b.name == "go install" {
			args = []string{"install", "."}
		}
		cmd := exec.Command("go", args...)
		cmd.Env = env
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("CGO_ENABLED=0 go %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		checkStatic(t, b.bin, elfMachine(t))
		out, err := exec.Command(b.bin, "--version").Output()
		if err != nil {
			t.Fatalf("%s --version: %v", b.name, err)
		}
		v := strings.TrimSpace(string(out))
		switch {
		case rev == "":
			t.Logf("%s: not a git clone (or no git): --version %q", b.name, v)
			if v != "restart-run (devel, built without version control information)" {
				t.Errorf("%s: --version %q outside version control", b.name, v)
			}
		case !strings.HasPrefix(v, "restart-run v") || !strings.Contains(v, "revision "+rev):
			t.Errorf("%s: --version %q, want a version and revision %s", b.name, v, rev)
		}
	}
}

func elfMachine(t *testing.T) elf.Machine {
	f, err := elf.Open("/proc/self/exe")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	return f.Machine
}

// TestReleaseBinaries checks what release/build made, in RR_RELEASE_DIR:
// every platform is there, static, for its machine, and matches
// SHA256SUMS. CI runs it after the script.
func TestReleaseBinaries(t *testing.T) {
	dir := os.Getenv("RR_RELEASE_DIR")
	if dir == "" {
		t.Skip("RR_RELEASE_DIR is not set: run release/build DIR, then RR_RELEASE_DIR=DIR go test -run TestReleaseBinaries")
	}
	want := map[string]elf.Machine{
		"restart-run-linux-amd64":   elf.EM_X86_64,
		"restart-run-linux-arm64":   elf.EM_AARCH64,
		"restart-run-linux-armv7":   elf.EM_ARM,
		"restart-run-linux-386":     elf.EM_386,
		"restart-run-linux-ppc64le": elf.EM_PPC64,
		"restart-run-linux-s390x":   elf.EM_S390,
		"restart-run-linux-riscv64": elf.EM_RISCV,
	}
	sums, err := os.Open(filepath.Join(dir, "SHA256SUMS"))
	if err != nil {
		t.Fatal(err)
	}
	defer sums.Close()
	seen := map[string]bool{}
	sc := bufio.NewScanner(sums)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) != 2 {
			t.Fatalf("SHA256SUMS line %q", sc.Text())
		}
		machine, ok := want[f[1]]
		if !ok {
			t.Errorf("SHA256SUMS names %s, not a platform we ship", f[1])
			continue
		}
		seen[f[1]] = true
		path := filepath.Join(dir, f[1])
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if sum := sha256.Sum256(data); hex.EncodeToString(sum[:]) != f[0] {
			t.Errorf("%s: sha256 %x, SHA256SUMS says %s", f[1], sum, f[0])
		}
		checkStatic(t, path, machine)
		checkStripped(t, path)
		t.Logf("%s: %d bytes", f[1], len(data))
	}
	for name := range want {
		if !seen[name] {
			t.Errorf("%s is missing from SHA256SUMS", name)
		}
	}
}
