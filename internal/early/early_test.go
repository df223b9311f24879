package early

import "testing"

func TestSkips(t *testing.T) {
	for argv0, want := range map[string]bool{
		"restart-run":                false,
		"bin/restart-run":            false,
		"restart-run (guard)":        true,
		"restart-run (exec)":         true,
		"restart-run (tty sentinel)": true,
		"b001/restart-run.test":      true,
		"restart-run.testing":        false,
		"":                           false,
		"restart-run(":               false,
		"bin/restart-run (copy)":     false,
	} {
		if got := Skips(argv0); got != want {
			t.Errorf("Skips(%q) = %v, want %v", argv0, got, want)
		}
	}
}
