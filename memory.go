package main

import (
	"bufio"
	"os"
	"runtime"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// limitThreads runs Go code on one OS thread at a time unless the user set
// GOMAXPROCS: the supervisor is one select loop, and each extra processor
// costs threads, stacks and hand-offs between them.
func limitThreads() {
	if os.Getenv("GOMAXPROCS") == "" {
		runtime.GOMAXPROCS(1)
	}
}

// releaseStartupPages hands back the pages of restart-run's own binary that
// only start-up touched (the runtime's type and itab tables, flag parsing,
// package initialisation): most of the binary, against the few pages that
// supervising uses. MADV_DONTNEED on a read-only private file mapping only
// drops this process's mapping of clean pages; they stay in the page cache,
// and any page needed again comes back on first touch (a minor fault).
// Writable mappings (data, bss) are never touched.
func releaseStartupPages() {
	exe, err := os.Readlink("/proc/self/exe")
	if err != nil {
		return
	}
	f, err := os.Open("/proc/self/maps")
	if err != nil {
		return
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		// 00400000-007c8000 r-xp 00000000 fe:00 9978338   /path/to/exe
		fields := strings.Fields(sc.Text())
		if len(fields) < 6 || fields[5] != exe || strings.Contains(fields[1], "w") || !strings.HasSuffix(fields[1], "p") {
			continue
		}
		lo, hi, ok := strings.Cut(fields[0], "-")
		if !ok {
			continue
		}
		start, err1 := strconv.ParseUint(lo, 16, 64)
		end, err2 := strconv.ParseUint(hi, 16, 64)
		if err1 != nil || err2 != nil || end <= start {
			continue
		}
		// The raw call: these addresses are not Go memory, so no slice.
		_, _, _ = unix.Syscall(unix.SYS_MADVISE, uintptr(start), uintptr(end-start), unix.MADV_DONTNEED)
	}
}
