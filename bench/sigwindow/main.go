// Command sigwindow measures how soon after its exec a supervisor survives a
// signal. It is not part of restart-run.
//
//	sigwindow [flags] NAME=PROG [ARG...] ...
//
// Each NAME=PROG ARG... is a supervisor command line to which the child
// (-child, default "sleep 0.05") is appended, e.g.
//
//	sigwindow 'restart-run=./restart-run --restart=no --' 'tini=tini -s --'
//
// For every delay d from 0 to -max in steps of -step, each supervisor is
// started -runs times and sent -signal (default SIGHUP) d after its exec
// returned in this process; the tools take turns delay by delay and round
// by round, so that the load of the rest of the machine falls on all alike.
// A run counts as survived unless the supervisor's own wait status says it
// was killed by that signal: a supervisor that forwards the signal to its
// child exits with 128+signal itself, which is survival. (A Go program
// that has not caught SIGQUIT crashes with status 2 instead of dying of
// it, which this does not count: use SIGHUP, SIGINT or SIGTERM.) The
// delay is measured, not assumed (time.Sleep overshoots on a loaded
// machine), and the report shows its median per step. It prints one table row per step
// and, per tool, the delay from which every later step has at least 50 %,
// 90 % and 100 % of its runs surviving. On a busy machine the 100 % point
// is set by the rare start that waits milliseconds for a CPU, for any
// program (tini included): compare tools measured in the same run.
//
// With -inittrace N it instead runs each supervisor N times with
// GODEBUG=inittrace=1 (Go programs only) and prints the median time at
// which os/signal, the given -pkg and main were initialised, counted from
// the Go runtime's start (not from exec).
package main

import (
	"bufio"
	"cmp"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

type tool struct {
	name string
	argv []string
}

type sample struct {
	delay   time.Duration // measured from the return of StartProcess to kill(2)
	killed  bool
	invalid bool // the process had already exited, or kill failed
}

func main() {
	maxDelay := flag.Duration("max", 6*time.Millisecond, "largest delay")
	step := flag.Duration("step", 250*time.Microsecond, "delay step")
	runs := flag.Int("runs", 20, "runs per tool and delay")
	child := flag.String("child", "sleep 0.05", "the child command, appended to each tool's command line")
	sigName := flag.String("signal", "HUP", "signal to send: HUP, USR1, USR2, TERM, INT, ALRM, or a number")
	inittrace := flag.Int("inittrace", 0, "instead of the sweep, run each tool this many times with GODEBUG=inittrace=1")
	pkg := flag.String("pkg", "", "with -inittrace, a package whose init time to report too")
	flag.Parse()
	if flag.NArg() == 0 {
		fmt.Fprintln(os.Stderr, "usage: sigwindow [flags] NAME=PROG [ARG...] ... (see the source)")
		os.Exit(2)
	}
	var tools []tool
	for _, a := range flag.Args() {
		name, cmd, ok := strings.Cut(a, "=")
		argv := strings.Fields(cmd)
		if !ok || len(argv) == 0 {
			fmt.Fprintf(os.Stderr, "sigwindow: %q is not NAME=PROG [ARG...]\n", a)
			os.Exit(2)
		}
		path, err := exec.LookPath(argv[0])
		if err != nil {
			fmt.Fprintf(os.Stderr, "sigwindow: %v\n", err)
			os.Exit(2)
		}
		argv[0] = path
		tools = append(tools, tool{name, append(argv, strings.Fields(*child)...)})
	}
	if *inittrace > 0 {
		initTimes(tools, *inittrace, *pkg)
		return
	}
	sig, err := parseSignal(*sigName)
	if err != nil {
		fmt.Fprintf(os.Stderr, "sigwindow: %v\n", err)
		os.Exit(2)
	}
	sweep(tools, sig, *maxDelay, *step, *runs)
}

func parseSignal(s string) (syscall.Signal, error) {
	if n, err := strconv.Atoi(s); err == nil && n > 0 && n < 65 {
		return syscall.Signal(n), nil
	}
	m := map[string]syscall.Signal{"HUP": syscall.SIGHUP, "USR1": syscall.SIGUSR1, "USR2": syscall.SIGUSR2,
		"TERM": syscall.SIGTERM, "INT": syscall.SIGINT, "ALRM": syscall.SIGALRM, "QUIT": syscall.SIGQUIT}
	if sig, ok := m[strings.TrimPrefix(strings.ToUpper(s), "SIG")]; ok {
		return sig, nil
	}
	return 0, fmt.Errorf("unknown signal %q", s)
}

func sweep(tools []tool, sig syscall.Signal, maxDelay, step time.Duration, runs int) {
	var delays []time.Duration
	for d := time.Duration(0); d <= maxDelay; d += step {
		delays = append(delays, d)
	}
	// results[tool][delay step]
	results := make([][][]sample, len(tools))
	for i := range results {
		results[i] = make([][]sample, len(delays))
	}
	null, err := os.OpenFile(os.DevNull, os.O_RDWR, 0)
	if err != nil {
		panic(err)
	}
	start := time.Now()
	for r := 0; r < runs; r++ {
		for j, d := range delays {
			for k := range tools {
				// Alternate which tool goes first.
				i := (k + r + j) % len(tools)
				results[i][j] = append(results[i][j], trial(tools[i].argv, null, sig, d))
			}
		}
		fmt.Fprintf(os.Stderr, "sigwindow: round %d of %d done (%s)\n", r+1, runs, time.Since(start).Round(time.Second))
	}

	fmt.Printf("signal %d (%s) sent d after exec; %d runs per tool and delay; survived / valid runs (median measured delay)\n\n", int(sig), sig, runs)
	fmt.Print("| d |")
	for _, t := range tools {
		fmt.Printf(" %s |", t.name)
	}
	fmt.Print("\n|---|")
	for range tools {
		fmt.Print("---|")
	}
	fmt.Println()
	for j, d := range delays {
		fmt.Printf("| %.2f ms |", ms(d))
		for i := range tools {
			s, n := tally(results[i][j])
			fmt.Printf(" %d/%d (%.2f) |", s, n, ms(medianDelay(results[i][j])))
		}
		fmt.Println()
	}
	levels := []float64{0.5, 0.9, 0.99}
	fmt.Println()
	fmt.Println("delay after exec from which this share of runs survives (monotone fit over every run's measured delay),")
	fmt.Println("and the longest delay at which a run was still killed:")
	fmt.Println()
	fmt.Print("| tool |")
	for _, l := range levels {
		fmt.Printf(" %g %% |", 100*l)
	}
	fmt.Print(" last death |\n|---|")
	for range levels {
		fmt.Print("---|")
	}
	fmt.Println("---|")
	for i, t := range tools {
		var all []sample
		for _, ss := range results[i] {
			all = append(all, ss...)
		}
		fmt.Printf("| %s |", t.name)
		for _, l := range levels {
			if d, ok := quantile(all, l); ok {
				fmt.Printf(" %.2f ms |", ms(d))
			} else {
				fmt.Printf(" > %.2f ms |", ms(maxDelay))
			}
		}
		if d, ok := lastDeath(all); ok {
			fmt.Printf(" %.2f ms |\n", ms(d))
		} else {
			fmt.Print(" none |\n")
		}
	}
}

// quantile estimates the delay from which the share q of starts survives.
// Each run only says whether the supervisor had caught the signal by its
// delay (current status data); the survival curve's estimate is the
// nondecreasing least-squares fit of the outcomes in the order of their
// measured delays (pool adjacent violators), and the answer the first
// delay at which the fit reaches q.
func quantile(ss []sample, q float64) (time.Duration, bool) {
	var valid []sample
	for _, s := range ss {
		if !s.invalid {
			valid = append(valid, s)
		}
	}
	slices.SortFunc(valid, func(a, b sample) int { return cmp.Compare(a.delay, b.delay) })
	type block struct {
		sum float64
		n   int
	}
	var bs []block
	for _, s := range valid {
		y := 1.0
		if s.killed {
			y = 0
		}
		bs = append(bs, block{y, 1})
		for len(bs) > 1 {
			a, b := bs[len(bs)-2], bs[len(bs)-1]
			if a.sum*float64(b.n) <= b.sum*float64(a.n) {
				break
			}
			bs = append(bs[:len(bs)-2], block{a.sum + b.sum, a.n + b.n})
		}
	}
	i := 0
	for _, b := range bs {
		if b.sum >= q*float64(b.n) {
			return valid[i].delay, true
		}
		i += b.n
	}
	return 0, false
}

// lastDeath is the longest measured delay at which a run was killed.
func lastDeath(ss []sample) (time.Duration, bool) {
	var d time.Duration
	found := false
	for _, s := range ss {
		if !s.invalid && s.killed && s.delay >= d {
			d, found = s.delay, true
		}
	}
	return d, found
}

// trial starts argv, sends sig d after exec, and waits for it.
func trial(argv []string, null *os.File, sig syscall.Signal, d time.Duration) sample {
	p, err := os.StartProcess(argv[0], argv, &os.ProcAttr{Files: []*os.File{null, null, null}})
	if err != nil {
		panic(err)
	}
	// StartProcess returns once the exec has happened (its close-on-exec
	// pipe closes), so this is close to the supervisor's first instruction.
	t0 := time.Now()
	if d > 0 {
		// nanosleep(2) itself: time.Sleep rounds a wait under a
		// millisecond up to one when the runtime parks in epoll_wait.
		ts := syscall.NsecToTimespec(int64(d))
		for syscall.Nanosleep(&ts, &ts) == syscall.EINTR {
		}
	}
	at := time.Since(t0)
	kerr := p.Signal(sig)
	st, err := p.Wait()
	if err != nil {
		panic(err)
	}
	ws := st.Sys().(syscall.WaitStatus)
	if debug && ws.Signaled() {
		fmt.Fprintf(os.Stderr, "%s: %v at %v\n", argv[0], ws, at)
	}
	return sample{
		delay:   at,
		killed:  ws.Signaled() && ws.Signal() == sig,
		invalid: kerr != nil,
	}
}

func tally(ss []sample) (survived, valid int) {
	for _, s := range ss {
		if s.invalid {
			continue
		}
		valid++
		if !s.killed {
			survived++
		}
	}
	return survived, valid
}

func medianDelay(ss []sample) time.Duration {
	var ds []time.Duration
	for _, s := range ss {
		ds = append(ds, s.delay)
	}
	return median(ds)
}

func median(ds []time.Duration) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	slices.Sort(ds)
	return ds[len(ds)/2]
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

var debug = os.Getenv("SIGWINDOW_DEBUG") != ""

var initLine = regexp.MustCompile(`^init (\S+) @([0-9.]+) ms`)

// initTimes runs each tool n times, turn by turn, with GODEBUG=inittrace=1
// and reports the median init times of os/signal, pkg and main.
func initTimes(tools []tool, n int, pkg string) {
	pkgs := []string{"os/signal"}
	if pkg != "" {
		pkgs = append(pkgs, pkg)
	}
	pkgs = append(pkgs, "main")
	times := make([]map[string][]time.Duration, len(tools))
	for i := range times {
		times[i] = map[string][]time.Duration{}
	}
	for r := 0; r < n; r++ {
		for i, t := range tools {
			cmd := exec.Command(t.argv[0], t.argv[1:]...)
			cmd.Env = append(os.Environ(), "GODEBUG=inittrace=1")
			out, _ := cmd.StderrPipe()
			if err := cmd.Start(); err != nil {
				panic(err)
			}
			sc := bufio.NewScanner(out)
			for sc.Scan() {
				m := initLine.FindStringSubmatch(sc.Text())
				if m == nil || !slices.Contains(pkgs, m[1]) {
					continue
				}
				v, _ := strconv.ParseFloat(m[2], 64)
				times[i][m[1]] = append(times[i][m[1]], time.Duration(v*float64(time.Millisecond)))
			}
			_ = cmd.Wait()
		}
	}
	fmt.Printf("median init time, ms after the Go runtime's start, %d runs each\n\n| tool |", n)
	for _, p := range pkgs {
		fmt.Printf(" %s |", p)
	}
	fmt.Print("\n|---|")
	for range pkgs {
		fmt.Print("---|")
	}
	fmt.Println()
	for i, t := range tools {
		fmt.Printf("| %s |", t.name)
		for _, p := range pkgs {
			if len(times[i][p]) == 0 {
				fmt.Print(" - |")
				continue
			}
			fmt.Printf(" %.2f |", ms(median(times[i][p])))
		}
		fmt.Println()
	}
}
