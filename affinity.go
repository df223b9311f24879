package main

import (
	"errors"
	"strconv"
	"sync"
	"unsafe"

	"github.com/rs/zerolog"
	"golang.org/x/sys/unix"
)

// This file keeps restart-run's own threads on one CPU once it has settled,
// and gives every process it starts the CPUs restart-run itself was given.
//
// A signal to restart-run crosses several of its threads (the runtime's
// handler, the os/signal goroutine, the loop) before kill(2) passes it on.
// Each hand-off to a thread that sleeps on another CPU costs a wake-up
// there: an inter-processor interrupt, which on a virtual machine whose
// idle CPU has halted can take hundreds of µs. On one CPU the hand-offs
// are wake-ups on the same run queue. With GOMAXPROCS=1 from the settle
// point on (memory.go), only one thread runs Go code at a time anyway, so
// the pin costs restart-run no parallelism it would use.
//
// The child must not pay for this: it gets exactly the mask restart-run
// inherited, whatever restart-run's threads run on. forkExec, the one place
// anything is forked, widens its locked thread back to that mask around the
// fork.

// cpuPin is the state of the pin, shared by the settle point and forkExec
// (which may fork from more than one goroutine): mu serialises a pass over
// the threads and each fork, so that no fork sees a half-pinned state.
var cpuPin struct {
	mu        sync.Mutex
	on        bool        // restart-run's threads are pinned
	inherited unix.CPUSet // the mask restart-run was given; every child gets it
	pinned    unix.CPUSet // the one CPU restart-run's threads run on
}

// pinThreads moves every thread of restart-run to one CPU of the mask it
// inherited: the one the calling thread is on at this moment, so that the
// loop is not moved at all and finds its cache where it left it. It runs
// once, at the settle point (handBack.due), never on the way to the first
// start: a short command never pays for it. Nothing is done when the mask
// has one CPU (taskset -c N, a one-CPU container): there is nothing to
// gain, and nothing for a child to get back.
func pinThreads(log zerolog.Logger) {
	cpuPin.mu.Lock()
	defer cpuPin.mu.Unlock()
	if cpuPin.on {
		return
	}
	var inherited unix.CPUSet
	if err := unix.SchedGetaffinity(0, &inherited); err != nil || inherited.Count() < 2 {
		return
	}
	cpu := currentCPU()
	if cpu < 0 || !inherited.IsSet(cpu) {
		cpu = firstCPU(&inherited)
	}
	var one unix.CPUSet
	one.Set(cpu)
	cpuPin.inherited, cpuPin.pinned = inherited, one
	// From here on every fork restores the inherited mask (forkExec), so a
	// thread pinned below can fork safely; mu holds forks off meanwhile.
	cpuPin.on = true
	pinned, err := setAllThreads(&one)
	if err != nil {
		// Put back what was changed: restart-run runs as it did, and the
		// children get the inherited mask by plain inheritance again.
		_, _ = setAllThreads(&inherited)
		cpuPin.on = false
		log.Debug().Str("event", "affinity").Err(err).Msg("restart-run's threads not pinned to one CPU")
		return
	}
	log.Debug().Str("event", "affinity").Int("cpu", cpu).Int("threads", pinned).
		Str("children", cpuList(&inherited)).Msg("restart-run's threads pinned to one CPU; children get the inherited CPUs")
}

// setAllThreads sets the mask of every thread of restart-run. Threads
// created later inherit the mask of the thread that creates them, which is
// then a pinned one: forkExec's thread, the one whose mask is widened for
// a moment, is locked to its goroutine, and the Go runtime never creates a
// thread from a locked one (it asks its template thread to). A thread
// created during the pass by a thread not yet set would escape it, so the
// task list is read again until a pass finds no thread it has not set.
func setAllThreads(set *unix.CPUSet) (threads int, err error) {
	done := map[int]bool{}
	for pass := 0; pass < 10; pass++ {
		tids, err := taskIDs()
		if err != nil {
			return threads, err
		}
		fresh := 0
		for _, tid := range tids {
			if done[tid] {
				continue
			}
			done[tid] = true
			fresh++
			if err := unix.SchedSetaffinity(tid, set); err != nil && !errors.Is(err, unix.ESRCH) {
				return threads, err // ESRCH: the thread has exited
			}
			threads++
		}
		if fresh == 0 {
			return threads, nil
		}
	}
	return threads, errors.New("threads kept appearing while they were pinned")
}

// taskIDs lists restart-run's threads, from /proc/self/task.
func taskIDs() ([]int, error) {
	dir, err := unix.Open("/proc/self/task", unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	defer unix.Close(dir)
	var tids []int
	buf := make([]byte, 4096)
	for {
		n, err := unix.ReadDirent(dir, buf)
		if err != nil {
			return nil, err
		}
		if n <= 0 {
			return tids, nil
		}
		_, _, names := unix.ParseDirent(buf[:n], -1, nil)
		for _, name := range names {
			if tid, err := strconv.Atoi(name); err == nil {
				tids = append(tids, tid)
			}
		}
	}
}

// childAffinity gives the calling thread, locked to its goroutine, the
// mask every child must get, for a fork; undo puts the pin back. The
// caller holds cpuPin.mu. When the thread's mask is no longer the pin, the
// kernel or someone else has changed it (the pinned CPU left restart-run's
// cpuset or went offline, which makes the kernel give the thread the
// cpuset's CPUs; a taskset -p): the pin is given up for good, and the
// child inherits the thread's mask as it stands, which is then the one
// that holds for restart-run.
func childAffinity() (undo func()) {
	if !cpuPin.on {
		return func() {}
	}
	var now unix.CPUSet
	if unix.SchedGetaffinity(0, &now) != nil || now != cpuPin.pinned {
		cpuPin.on = false
		return func() {}
	}
	if unix.SchedSetaffinity(0, &cpuPin.inherited) != nil {
		// The inherited CPUs are all gone (a cpuset change): the kernel
		// refuses a mask with none it allows. Give the pin up rather than
		// start the child on restart-run's one CPU.
		cpuPin.on = false
		return func() {}
	}
	return func() { _ = unix.SchedSetaffinity(0, &cpuPin.pinned) }
}

// currentCPU is the CPU the calling thread runs on, or -1.
func currentCPU() int {
	var cpu uint32
	if _, _, e := unix.RawSyscall(unix.SYS_GETCPU, uintptr(unsafe.Pointer(&cpu)), 0, 0); e != 0 {
		return -1
	}
	return int(cpu)
}

func firstCPU(set *unix.CPUSet) int {
	for i := 0; i < len(set)*64; i++ {
		if set.IsSet(i) {
			return i
		}
	}
	return 0
}

// cpuList writes set as the kernel's Cpus_allowed_list does: 0-3,6.
func cpuList(set *unix.CPUSet) string {
	var b []byte
	n := len(set) * 64
	for i := 0; i < n; i++ {
		if !set.IsSet(i) {
			continue
		}
		j := i
		for j+1 < n && set.IsSet(j+1) {
			j++
		}
		if len(b) > 0 {
			b = append(b, ',')
		}
		b = strconv.AppendInt(b, int64(i), 10)
		if j > i {
			b = append(append(b, '-'), strconv.AppendInt(nil, int64(j), 10)...)
		}
		i = j
	}
	return string(b)
}
