//go:build !unitonly

package main

import (
	"os"
	"os/exec"
	"slices"
	"strconv"
	"syscall"
	"testing"
)

// TestScanChildren: the scan of every process's stat, childrenOf's
// fallback where the kernel has no children files, finds the children the
// children files list, with their process groups.
func TestScanChildren(t *testing.T) {
	cmd := exec.Command("sleep", "1000")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	scanned := scanChildren(os.Getpid())
	if !slices.Contains(scanned, proc{pid: cmd.Process.Pid, pgid: cmd.Process.Pid}) {
		t.Errorf("scan found %v, not the child %d in its own group", scanned, cmd.Process.Pid)
	}
	if listed, ok := taskChildren(os.Getpid()); ok {
		for _, pid := range listed {
			if !slices.ContainsFunc(scanned, func(p proc) bool { return p.pid == pid }) {
				// A child that ended between the two looks is no longer
				// there to be found; any other must be.
				if _, err := os.Stat("/proc/" + strconv.Itoa(pid)); err == nil {
					t.Errorf("children file lists %d, the scan does not: %v", pid, scanned)
				}
			}
		}
	}
	if g := groupMembers(os.Getpid(), cmd.Process.Pid); !slices.Equal(g, []proc{{pid: cmd.Process.Pid, pgid: cmd.Process.Pid}}) {
		t.Errorf("groupMembers of the child's group: %v", g)
	}
}
