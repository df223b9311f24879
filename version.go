package main

import (
	"fmt"
	"runtime/debug"
	"strings"

	"github.com/alecthomas/kong"
)

// version overrides the version the build info gives, for a release build
// that names itself: go build -ldflags "-X main.version=v1.2.3". Left empty,
// --version names what go build or go install recorded.
var version string

// versionFlag is --version. kong's own VersionFlag prints a kong.Vars
// variable, which costs every start, --version or not: kong interpolates
// each variable once for each flag and argument (a regexp over its text),
// and the text itself means reading the build info. This one computes the
// text only when the flag is given.
type versionFlag bool

// BeforeReset prints the version and ends the parse, as kong.VersionFlag.
func (versionFlag) BeforeReset(app *kong.Kong) error {
	fmt.Fprintln(app.Stdout, versionText())
	app.Exit(0)
	return nil
}

// versionText is what --version prints.
func versionText() string {
	bi, _ := debug.ReadBuildInfo()
	return formatVersion(version, bi)
}

// formatVersion names the module version and the VCS revision the build
// info holds: go install pkg@v1.2.3 records v1.2.3 and no revision; go build
// in a git checkout records a version derived from the commit (a tag, or a
// pseudo-version with the commit's time and hash, "+dirty" for local
// changes) and the revision itself. A build with neither (a copy of the
// source outside version control, or -buildvcs=false) says so rather than
// print a bare "dev".
func formatVersion(override string, bi *debug.BuildInfo) string {
	v := override
	if v == "" && bi != nil && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		v = bi.Main.Version
	}
	var rev, when string
	modified := false
	if bi != nil {
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				rev = s.Value
			case "vcs.time":
				when = s.Value
			case "vcs.modified":
				modified = s.Value == "true"
			}
		}
	}
	switch {
	case v == "" && rev == "":
		return "restart-run (devel, built without version control information)"
	case v == "":
		v = "(devel)"
	}
	var about []string
	if rev != "" {
		about = append(about, "revision "+rev)
	}
	if when != "" {
		about = append(about, when)
	}
	if modified {
		about = append(about, "modified")
	}
	if len(about) == 0 {
		return "restart-run " + v
	}
	return "restart-run " + v + " (" + strings.Join(about, ", ") + ")"
}
