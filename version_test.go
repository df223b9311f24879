//go:build !unitonly

package main

import (
	"bufio"
	"context"
	"crypto/sha256"
	"debug/buildinfo"
	"debug/elf"
	"encoding/hex"
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/debug"
	"strings"
	"testing"
	"time"
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
	// In a copy of the tree with a .git directory of its own: go looks for
	// a .git directory and does not follow the .git file of a linked git
	// worktree (golang/go#58218), so built in one, restart-run named no
	// revision (or an enclosing checkout's) and this test failed there.
	src, rev := ".", ""
	if repo, r, ok := repoCopy(t); ok {
		src, rev = repo, r
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
		cmd.Dir = src
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

// repoCopy makes a fresh git repository of the files of this checkout as
// they stand in the tree (tracked ones, and new ones git does not ignore),
// committed once, and returns it and its revision; ok is false without
// git or outside a checkout.
func repoCopy(t *testing.T) (repo, rev string, ok bool) {
	t.Helper()
	if _, err := exec.LookPath("git"); err != nil {
		return "", "", false
	}
	files, err := exec.Command("git", "ls-files", "-z", "--cached", "--others", "--exclude-standard").Output()
	if err != nil {
		return "", "", false
	}
	repo = t.TempDir()
	for _, name := range strings.Split(strings.TrimSuffix(string(files), "\x00"), "\x00") {
		st, err := os.Stat(name)
		if errors.Is(err, fs.ErrNotExist) {
			continue // a tracked file deleted in the tree
		}
		if err != nil {
			t.Fatal(err)
		}
		data, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		dst := filepath.Join(repo, name)
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(dst, data, st.Mode().Perm()); err != nil {
			t.Fatal(err)
		}
	}
	git := func(args ...string) string {
		t.Helper()
		cmd := exec.Command("git", append([]string{"-c", "user.name=test", "-c", "user.email=test@invalid", "-c", "commit.gpgsign=false"}, args...)...)
		cmd.Dir = repo
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return strings.TrimSpace(string(out))
	}
	git("init", "-q")
	git("add", "-A")
	git("commit", "-q", "-m", "the tree under test")
	return repo, git("rev-parse", "HEAD"), true
}

// TestReleaseBuildClean runs release/build in a fresh repository holding
// this tree's files, into an OUTDIR that git does not ignore: every binary
// names the same revision and none calls itself modified. Before, each was
// written into OUTDIR as it was built, so all but the first saw an
// untracked file in the tree and recorded vcs.modified=true (+dirty).
// The default OUTDIR, dist/, is ignored.
func TestReleaseBuildClean(t *testing.T) {
	if testing.Short() {
		t.Skip("cross-builds restart-run for every platform")
	}
	repo, rev, ok := repoCopy(t)
	if !ok {
		t.Skip("no git, or not a git checkout")
	}
	if err := exec.Command("git", "-C", repo, "check-ignore", "-q", "dist/restart-run-linux-amd64").Run(); err != nil {
		t.Errorf("dist/ is not ignored: release/build's default OUTDIR would dirty the tree")
	}

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	build := exec.CommandContext(ctx, filepath.Join(repo, "release", "build"), "out")
	build.Dir = repo
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("release/build out: %v\n%s", err, out)
	}
	bins, _ := filepath.Glob(filepath.Join(repo, "out", "restart-run-linux-*"))
	if len(bins) != 7 {
		t.Fatalf("release/build made %d binaries: %v", len(bins), bins)
	}
	for _, bin := range bins {
		bi, err := buildinfo.ReadFile(bin)
		if err != nil {
			t.Fatalf("%s: %v", bin, err)
		}
		settings := map[string]string{}
		for _, s := range bi.Settings {
			settings[s.Key] = s.Value
		}
		if settings["vcs.revision"] != rev || settings["vcs.modified"] != "false" || strings.HasSuffix(bi.Main.Version, "+dirty") {
			t.Errorf("%s: version %s, vcs.revision %q, vcs.modified %q; want revision %s, not modified",
				filepath.Base(bin), bi.Main.Version, settings["vcs.revision"], settings["vcs.modified"], rev)
		}
	}
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

// TestLinkedCode reads the symbols of the static build for code that
// restart-run's choices once kept in the binary for nothing. kong looks
// methods up by a name it does not know until run time (MethodByName), so
// the linker keeps every exported method of every type that can be reached
// through an interface value, and of the types in its fields and method
// signatures. Each entry is the start of the names of symbols the binary
// has no use for, and what kept them.
func TestLinkedCode(t *testing.T) {
	f, err := elf.Open(staticBin(t))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	syms, err := f.Symbols()
	if err != nil {
		t.Fatal(err)
	}
	unwanted := []struct{ prefix, why string }{
		{"github.com/rs/zerolog.Context.Ints", "a zerolog.Logger in a type kept for reflection (logBuffer is an io.Writer) keeps all of Logger's and Context's methods: 131 KB"},
		{"log/slog.", "zerolog v1.35 and later link log/slog for their slog.Handler, which restart-run does not use: 131 KB (go.mod)"},
	}
	for _, u := range unwanted {
		for _, s := range syms {
			if strings.HasPrefix(s.Name, u.prefix) {
				t.Errorf("the binary has %s: %s", s.Name, u.why)
				break
			}
		}
	}
}
