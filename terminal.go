package main

import (
	"os"
	"os/signal"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// sentinelEnv starts restart-run as the terminal sentinel instead. It is
// prefixed RESTART_RUN_ so that no child of a restart-run ever inherits it.
const (
	sentinelEnv   = "RESTART_RUN_INTERNAL_TTY_SENTINEL"
	sentinelArgv0 = "restart-run (tty sentinel)"
)

// ttySentinel is the body of the sentinel process. In a terminal the child's
// process group is the terminal's foreground group, so Ctrl-C reaches the
// child but not restart-run. The sentinel shares the child's group and does
// nothing but end when the terminal sends the group SIGINT or SIGQUIT: its
// end tells restart-run that the user pressed Ctrl-C (or Ctrl-\), which a
// kill(1) sent to the child alone never does. stops is which of the two are
// --stop-signals ("2,3"); the sentinel outlives the others, so that Ctrl-\
// for a JVM's thread dump under --stop-signals=TERM,INT leaves Ctrl-C
// working.
func ttySentinel(stops string) int {
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, unix.SIGTERM, unix.SIGHUP)
	for _, sig := range []unix.Signal{unix.SIGINT, unix.SIGQUIT} {
		if slices.Contains(strings.Split(stops, ","), strconv.Itoa(int(sig))) {
			signal.Notify(ch, sig)
		} else {
			signal.Ignore(sig)
		}
	}
	sig := (<-ch).(unix.Signal)
	if sig == unix.SIGINT || sig == unix.SIGQUIT {
		return 128 + int(sig)
	}
	return 0
}

// terminal is the controlling terminal when restart-run runs in its
// foreground; the child then gets the terminal for each run.
type terminal struct {
	fd   int
	self int    // restart-run's own process group
	exe  string // restart-run's binary, for the sentinel
}

// openTerminal returns the terminal on stdin when restart-run is in its
// foreground process group, or nil.
func openTerminal() *terminal {
	fg, err := unix.IoctlGetInt(0, unix.TIOCGPGRP)
	if err != nil || fg != unix.Getpgrp() {
		return nil
	}
	return &terminal{fd: 0, self: unix.Getpgrp(), exe: selfExe}
}

// startSentinel starts the sentinel as the leader of a new process group,
// which the child then joins.
func (t *terminal) startSentinel(stops SignalList) (int, error) {
	var which []string
	for _, sig := range []unix.Signal{unix.SIGINT, unix.SIGQUIT} {
		if stops.Has(sig) {
			which = append(which, strconv.Itoa(int(sig)))
		}
	}
	return forkExec(t.exe, []string{sentinelArgv0}, &syscall.ProcAttr{
		// Never empty: the variable's presence marks the sentinel.
		Env:   []string{sentinelEnv + "=stops:" + strings.Join(which, ",")},
		Files: []uintptr{0, 1, 2},
		Sys:   &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL},
	})
}

// foreground hands the terminal to process group pgid. A process outside
// the foreground group that calls tcsetpgrp gets SIGTTOU unless it blocks
// it, so the call is made with SIGTTOU blocked on this thread alone.
func (t *terminal) foreground(pgid int) error {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	var set, old unix.Sigset_t
	set.Val[(unix.SIGTTOU-1)/64] |= 1 << ((unix.SIGTTOU - 1) % 64)
	if err := unix.PthreadSigmask(unix.SIG_BLOCK, &set, &old); err != nil {
		return err
	}
	err := unix.IoctlSetPointerInt(t.fd, unix.TIOCSPGRP, pgid)
	_ = unix.PthreadSigmask(unix.SIG_SETMASK, &old, nil)
	return err
}

// isForeground reports whether restart-run's own group holds the terminal
// (false after "bg" in a shell).
func (t *terminal) isForeground() bool {
	fg, err := unix.IoctlGetInt(t.fd, unix.TIOCGPGRP)
	return err == nil && fg == t.self
}
