package main

import (
	"bufio"
	"encoding/binary"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"github.com/rs/zerolog"
	"golang.org/x/sys/unix"
)

// limitThreads runs Go code on one OS thread at a time unless the user set
// GOMAXPROCS: the supervisor is one select loop, and each extra processor
// costs threads, stacks and hand-offs between them. It stops the world to
// rebuild the runtime's list of processors, which took 0.4-2.5 ms (median
// 1.5) on a busy 2-core machine, so restart-run calls it when it hands
// back its start-up memory (settleMemory), not on the way to the first
// start.
func limitThreads() {
	if os.Getenv("GOMAXPROCS") == "" {
		runtime.GOMAXPROCS(1)
	}
}

// settleDelay is how long after the first start restart-run waits before it
// hands back its start-up memory (settleMemory). A command that ends sooner
// never pays for the collection; one that runs longer finds restart-run at
// its resting size from then on.
const settleDelay = time.Second

// handBack hands start-up's memory back once, settleDelay after the first
// start, when the child has been supervised for a moment, not at once: a
// short command (restart-run --restart=no -- true) never pays for the
// collection.
type handBack struct {
	log    zerolog.Logger
	settle alarm
}

func (m *handBack) arm()                { m.settle.set(settleDelay) }
func (m *handBack) C() <-chan time.Time { return m.settle.C() }

// due: the alarm rang. The hand-back is the last thing
// restart-run does before it waits again: each page of its binary touched
// after it comes back with its neighbours (the kernel maps up to 64 KiB
// around a fault), so the resident set is only read, and the event only
// built, when debug logging is on.
func (m *handBack) due() {
	m.settle.on = false
	e := m.log.Debug()
	before := 0
	if e.Enabled() {
		before = residentBytes()
	}
	advised := settleMemory()
	if e.Enabled() {
		e.Str("event", "memory").Int("advised", advised).
			Int("rss_before", before).Int("rss_after", residentBytes()).Msg("start-up memory handed back")
	}
}

// settleMemory brings restart-run down to its resting size, once, after
// start-up: it goes down to one processor (limitThreads), lowers the
// collector's target, collects start-up's garbage and returns the freed
// heap, and hands back the start-up pages of its own binary
// (startupPages), and reports how many bytes of those it handed back.
// Going down to one processor comes before the collection: it flushes the
// dropped processor's cache of heap spans, which the collection then
// returns with the rest.
//
// restart-run's live heap is a few hundred KiB; the collector's default
// floor (4 MiB of heap before the first cycle) would make the idle
// supervisor several times larger than what it uses. A lower GOGC scales
// that floor down; a collection of a heap this small costs microseconds.
// It is set only now so that start-up (flag parsing allocates under 1 MiB)
// runs no collection at all.
//
// The pages are handed back twice: first, so that what settling itself
// touches (the runtime's code for changing processors, the collector's
// code and tables) comes in on top of a resident set already emptied
// instead of raising restart-run's peak (VmHWM), and last, so that it does
// not stay.
func settleMemory() int {
	pages := startupPages()
	releasePages(pages)
	limitThreads()
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(20)
	}
	debug.FreeOSMemory()
	return releasePages(pages)
}

// residentBytes is restart-run's resident set size, from /proc/self/statm,
// or 0 when it cannot be read.
func residentBytes() int {
	b, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		return 0
	}
	f := strings.Fields(string(b))
	if len(f) < 2 {
		return 0
	}
	pages, _ := strconv.Atoi(f[1])
	return pages * os.Getpagesize()
}

// startupPages finds the pages of restart-run's own binary that only
// start-up touched (the runtime's type and itab tables, flag parsing,
// package initialisation): most of the binary, against the few pages that
// supervising uses; releasePages hands them back. MADV_DONTNEED on a
// read-only private file mapping drops this process's mapping of clean
// pages; they stay in the page cache, and any page needed again comes back
// on first touch (a minor fault).
//
// It finds them only where every read-only page is exactly the file's
// bytes: a statically placed, statically linked executable (ELF ET_EXEC
// with no interpreter, dynamic section or RELRO segment, as
// CGO_ENABLED=0 go build makes). A PIE or dynamically linked binary has
// pages that the loader patched and then made read-only; dropping those
// would bring back the unpatched bytes and crash. (A debugger's
// breakpoints in the text would be dropped too; restart-run is not meant
// to run under one.) Writable mappings (data, bss) are never among them.
// The mappings are all read first and advised after, together, so that
// reading /proc/self/maps does not fault back in what was just handed
// back.
func startupPages() []pageRange {
	exe, err := os.Readlink(selfExe)
	if err != nil || !plainExecutable(selfExe) {
		return nil
	}
	f, err := os.Open("/proc/self/maps")
	if err != nil {
		return nil
	}
	defer f.Close()
	var pages []pageRange
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
		pages = addRange(pages, pageRange{uintptr(start), uintptr(end - start)})
	}
	return pages
}

// pageRange is a run of restart-run's binary's read-only mappings: its
// address and size.
type pageRange struct{ start, size uintptr }

// addRange adds r to pages, the ranges found so far in address order. A
// range that starts where the last one ends (the text and the read-only
// data of a Go binary) joins it, so that one madvise covers both: between
// two calls, the code that makes the second one would fault pages of the
// first back in, 64 KiB at a time.
func addRange(pages []pageRange, r pageRange) []pageRange {
	if n := len(pages); n > 0 && pages[n-1].start+pages[n-1].size == r.start {
		pages[n-1].size += r.size
		return pages
	}
	return append(pages, r)
}

// releasePages hands back the mappings found by startupPages and returns
// the size of those it advised.
func releasePages(pages []pageRange) (released int) {
	for _, p := range pages {
		// The raw call: these addresses are not Go memory, so no slice.
		if _, _, e := unix.Syscall(unix.SYS_MADVISE, p.start, p.size, unix.MADV_DONTNEED); e == 0 {
			released += int(p.size)
		}
	}
	return released
}

// plainExecutable reports whether the binary at path is an ET_EXEC ELF file
// with nothing patched at load time: no interpreter, no dynamic section, no
// RELRO segment. It reads the ELF header and the program headers itself:
// debug/elf would bring debug/dwarf, compress/flate and internal/zstd into
// the binary, and their package initialisation into every start, for three
// fields. Anything it does not understand counts as not plain.
func plainExecutable(path string) bool {
	f, err := os.Open(path)
	if err != nil {
		return false
	}
	defer f.Close()
	// The ELF header: 52 bytes for 32-bit files, 64 for 64-bit ones.
	var h [64]byte
	n, _ := f.ReadAt(h[:], 0)
	if n < 52 || string(h[:4]) != "\x7fELF" {
		return false
	}
	var bo binary.ByteOrder
	switch h[5] { // EI_DATA
	case 1:
		bo = binary.LittleEndian
	case 2:
		bo = binary.BigEndian
	default:
		return false
	}
	var phoff uint64
	var phentsize, phnum int
	switch h[4] { // EI_CLASS
	case 1:
		phoff = uint64(bo.Uint32(h[28:]))
		phentsize, phnum = int(bo.Uint16(h[42:])), int(bo.Uint16(h[44:]))
	case 2:
		if n < 64 {
			return false
		}
		phoff = bo.Uint64(h[32:])
		phentsize, phnum = int(bo.Uint16(h[54:])), int(bo.Uint16(h[56:]))
	default:
		return false
	}
	const (
		etExec     = 2
		ptDynamic  = 2
		ptInterp   = 3
		ptGNURelro = 0x6474e552
		pnXnum     = 0xffff // the real count is elsewhere; no Go binary has that many
	)
	if bo.Uint16(h[16:]) != etExec || phentsize < 4 || phnum == pnXnum || phoff > 1<<32 {
		return false
	}
	ph := make([]byte, phentsize*phnum)
	if _, err := f.ReadAt(ph, int64(phoff)); err != nil {
		return false
	}
	for i := 0; i < phnum; i++ {
		switch bo.Uint32(ph[i*phentsize:]) { // p_type
		case ptDynamic, ptInterp, ptGNURelro:
			return false
		}
	}
	return true
}
