// Command restart-run runs a command and restarts it when it ends, deciding
// exactly as systemd's Restart= does, until a start-rate limiter trips.
package main

import (
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"slices"
	"strings"
	"unsafe"

	"github.com/alecthomas/kong"
	"golang.org/x/sys/unix"
)

func main() { os.Exit(run(os.Args[1:], os.Stderr)) }

// CLI is every flag of restart-run. Each reads RESTART_RUN_<FLAG> too; a flag
// given on the command line beats its variable.
type CLI struct {
	Restart           Policy    `default:"on-failure" group:"restart" env:"RESTART_RUN_RESTART"`
	RestartSec        Duration  `default:"100ms" group:"restart" env:"RESTART_RUN_RESTART_SEC"`
	RestartSteps      Count     `default:"0" group:"restart" env:"RESTART_RUN_RESTART_STEPS"`
	RestartMaxDelay   Duration  `default:"0" group:"restart" env:"RESTART_RUN_RESTART_MAX_DELAY"`
	RestartResetAfter *Duration `group:"restart" placeholder:"duration" env:"RESTART_RUN_RESTART_RESET_AFTER"`
	Burst             Count     `default:"5" group:"limit" env:"RESTART_RUN_BURST"`
	Interval          Duration  `default:"10s" group:"limit" env:"RESTART_RUN_INTERVAL"`
	MaxRestarts       Count     `default:"0" group:"limit" env:"RESTART_RUN_MAX_RESTARTS"`

	SuccessExitStatus        StatusList `group:"restart" env:"RESTART_RUN_SUCCESS_EXIT_STATUS" placeholder:"list"`
	RestartPreventExitStatus StatusList `group:"restart" env:"RESTART_RUN_RESTART_PREVENT_EXIT_STATUS" placeholder:"list"`
	RestartForceExitStatus   StatusList `group:"restart" env:"RESTART_RUN_RESTART_FORCE_EXIT_STATUS" placeholder:"list"`

	KillMode      KillMode      `default:"control-group" group:"stop" env:"RESTART_RUN_KILL_MODE"`
	KillSignal    SignalName    `default:"SIGTERM" group:"stop" env:"RESTART_RUN_KILL_SIGNAL"`
	TimeoutStop   TimeLimit     `default:"10s" group:"stop" env:"RESTART_RUN_TIMEOUT_STOP"`
	StopSignals   SignalList    `default:"TERM,INT,QUIT" group:"stop" env:"RESTART_RUN_STOP_SIGNALS"`
	ForwardTo     ForwardTo     `default:"child" group:"stop" env:"RESTART_RUN_FORWARD_TO"`
	RestartSignal RestartSignal `group:"stop" env:"RESTART_RUN_RESTART_SIGNAL" placeholder:"signal"`

	Type           ServiceType  `default:"simple" group:"notify" env:"RESTART_RUN_TYPE"`
	NotifyAccess   NotifyAccess `default:"main" group:"notify" env:"RESTART_RUN_NOTIFY_ACCESS"`
	TimeoutStart   TimeLimit    `default:"90s" group:"notify" env:"RESTART_RUN_TIMEOUT_START"`
	RuntimeMax     TimeLimit    `default:"0" group:"notify" env:"RESTART_RUN_RUNTIME_MAX"`
	Watchdog       Duration     `default:"0" group:"notify" env:"RESTART_RUN_WATCHDOG"`
	WatchdogSignal SignalName   `default:"SIGABRT" group:"notify" env:"RESTART_RUN_WATCHDOG_SIGNAL"`
	NotificationFD Descriptor   `name:"notification-fd" group:"notify" placeholder:"N" env:"RESTART_RUN_NOTIFICATION_FD"`

	HealthCmd         string   `group:"health" env:"RESTART_RUN_HEALTH_CMD" placeholder:"command"`
	HealthHTTP        string   `name:"health-http" group:"health" env:"RESTART_RUN_HEALTH_HTTP" placeholder:"url"`
	HealthTCP         string   `name:"health-tcp" group:"health" env:"RESTART_RUN_HEALTH_TCP" placeholder:"host:port"`
	HealthInterval    Duration `default:"30s" group:"health" env:"RESTART_RUN_HEALTH_INTERVAL"`
	HealthTimeout     Duration `default:"30s" group:"health" env:"RESTART_RUN_HEALTH_TIMEOUT"`
	HealthStartPeriod Duration `default:"0" group:"health" env:"RESTART_RUN_HEALTH_START_PERIOD"`
	HealthRetries     Count    `default:"3" group:"health" env:"RESTART_RUN_HEALTH_RETRIES"`

	MemoryMax           Size     `group:"memory" env:"RESTART_RUN_MEMORY_MAX" placeholder:"size"`
	MemoryCheckInterval Duration `default:"5s" group:"memory" env:"RESTART_RUN_MEMORY_CHECK_INTERVAL"`

	ExecStartPre []string   `name:"exec-start-pre" sep:"none" group:"hooks" env:"RESTART_RUN_EXEC_START_PRE" placeholder:"command"`
	ExecStopPost []string   `name:"exec-stop-post" sep:"none" group:"hooks" env:"RESTART_RUN_EXEC_STOP_POST" placeholder:"command"`
	TimeoutHook  *TimeLimit `group:"hooks" placeholder:"duration" env:"RESTART_RUN_TIMEOUT_HOOK"`

	ExitStatusMap ExitStatusMap `group:"exit" placeholder:"FROM:TO" env:"RESTART_RUN_EXIT_STATUS_MAP"`

	LogFormat LogFormat `default:"auto" group:"log" env:"RESTART_RUN_LOG_FORMAT"`
	LogLevel  LogLevel  `default:"info" group:"log" env:"RESTART_RUN_LOG_LEVEL"`
	Version   versionFlag

	// from: where each flag the user set got its value ("" for the command
	// line, else its variable); stray: RESTART_RUN_* variables of no flag.
	from  map[string]string
	stray []strayVar

	Command []string `arg:"" optional:"" passthrough:"partial" name:"command"`
}

// caughtWriter holds each write (--help, --version) until every signal is
// caught, SIGPIPE among them: until then the Go runtime ends a program
// that writes to a pipe its reader has closed by SIGPIPE, where once it is
// caught the write fails with EPIPE, which parse takes for done. Without
// the wait, restart-run --help | head -1 exited 0 or 141 by a race, and
// always 141 on one processor.
// It keeps the first write error, which kong drops for --version.
type caughtWriter struct {
	w      io.Writer
	caught <-chan struct{}
	err    error
}

func (c *caughtWriter) Write(p []byte) (int, error) {
	<-c.caught
	n, err := c.w.Write(p)
	if err != nil && c.err == nil {
		c.err = err
	}
	return n, err
}

// kongExit carries kong's exit request (after --help or --version) out of
// the parser, so that run alone decides the status.
type kongExit int

// usageError is a bad flag, value or command line: exit status 2.
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }

// parse reads the command line into a CLI. help and version land in stdout;
// done reports that they were printed and nothing should run.
func parse(args []string, stdout io.Writer) (cli *CLI, done bool, err error) {
	cli = &CLI{}
	parser, err := kong.New(cli,
		kong.Name("restart-run"),
		kong.Description("Run COMMAND and restart it when it ends, deciding as systemd's Restart= does, until the start limit trips. Every flag can be set by the environment variable named after it."),
		kong.Writers(stdout, stdout),
		kong.ExplicitGroups(flagGroups),
		kong.Help(printHelp),
		kong.Exit(func(code int) { panic(kongExit(code)) }),
	)
	if err != nil {
		return nil, false, err // a programming error in CLI's tags
	}
	defer func() {
		if r := recover(); r != nil {
			if _, ok := r.(kongExit); !ok {
				panic(r)
			}
			done = true
		}
	}()
	kctx, err := parser.Parse(args)
	if err != nil {
		if errors.Is(err, unix.EPIPE) {
			return nil, true, nil // --help into a pipe its reader closed (| head): not bad input
		}
		return nil, false, usageError{oneDash(err, args, parser.Model.Flags)}
	}
	cli.from = flagSources(kctx)
	cli.stray = strayVariables(os.Environ(), parser.Model.Flags)
	return cli, false, nil
}

// flagSources tells, for each flag the user set, where its value came from:
// "" for the command line, the variable's name for a RESTART_RUN_*
// variable. A flag left at its default is absent.
func flagSources(kctx *kong.Context) map[string]string {
	from := map[string]string{}
	for _, p := range kctx.Path {
		if p.Flag != nil {
			from[p.Flag.Name] = ""
		}
	}
	for _, f := range kctx.Flags() {
		if _, ok := from[f.Name]; ok {
			continue
		}
		for _, env := range f.Envs {
			if _, ok := os.LookupEnv(env); ok {
				from[f.Name] = env
				break
			}
		}
	}
	return from
}

// oneDash turns kong's answer to a long flag written with one dash
// (-restart=always: "unknown flag -r, did you mean -h?") into the flag
// that was meant. kong stops at the first word with one dash (the only
// short flag, -h, would have ended the parse), so that word is the one it
// refused: a later one may be COMMAND's own (restart-run -x sh -restart).
// A --health-http value is shown as every message shows it, without its
// password.
func oneDash(err error, args []string, flags []*kong.Flag) error {
	if !strings.HasPrefix(err.Error(), "unknown flag -") {
		return err
	}
	for _, a := range args {
		if a == "--" {
			break
		}
		if strings.HasPrefix(a, "--") || !strings.HasPrefix(a, "-") || a == "-" {
			continue
		}
		name, value, hasValue := strings.Cut(strings.TrimPrefix(a, "-"), "=")
		if !slices.ContainsFunc(flags, func(f *kong.Flag) bool { return f.Name == name }) {
			return err
		}
		if hasValue && name == "health-http" {
			a = "-" + name + "=" + redactURL(value)
		}
		return fmt.Errorf("unknown flag %s: long flags take two dashes: -%s", a, a)
	}
	return err
}

// strayVar is a RESTART_RUN_* variable that is no flag's, with the
// closest that is.
type strayVar struct{ name, closest string }

// strayVariables finds the RESTART_RUN_* variables in env that set no
// flag: a typo (RESTART_RUN_RESTRAT) would otherwise be ignored in
// silence. restart-run's own RESTART_RUN_INTERNAL_* are left out.
func strayVariables(env []string, flags []*kong.Flag) []strayVar {
	var known []string
	for _, f := range flags {
		known = append(known, f.Envs...)
	}
	var stray []strayVar
	for _, kv := range env {
		name, _, _ := strings.Cut(kv, "=")
		if !strings.HasPrefix(name, "RESTART_RUN_") || strings.HasPrefix(name, "RESTART_RUN_INTERNAL_") || slices.Contains(known, name) {
			continue
		}
		v := strayVar{name: name}
		best := math.MaxInt
		for _, k := range known { // the first of equally close ones, in --help's order
			if d := editDistance(name, k); d < best {
				best, v.closest = d, k
			}
		}
		stray = append(stray, v)
	}
	return stray
}

// editDistance is the Levenshtein distance between a and b.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// helperNames are what ps, top and pstree call restart-run's helper
// processes. They show a process's comm, the name of the file it was
// executed from: "exe" for /proc/self/exe, from which the helpers are
// (argv[0], which names them in ps -f, is shown as the process's command
// line only). Not "restart-run-…": pgrep and killall match on comm, and
// pkill restart-run must go on meaning restart-run alone. At most 15 bytes.
var helperNames = map[string]string{
	sentinelArgv0: "rr-tty-sentinel",
	guardArgv0:    "rr-guard",
}

// init names a helper process. comm belongs to each thread, and the
// process's is its main thread's, which is where package initialisation
// runs (the Go runtime keeps it there until main.main): prctl names it. The
// threads the runtime has started already (pstree shows them) are renamed
// through /proc; threads started later take the name of the thread that
// starts them. Plain system calls, not package os: an os.File would start
// the runtime's poller, whose descriptor the guard's close of every
// inherited descriptor would then take away from it.
func init() {
	name, ok := helperNames[os.Args[0]]
	if !ok {
		return
	}
	b := append([]byte(name), 0)
	_, _, _ = unix.RawSyscall(unix.SYS_PRCTL, unix.PR_SET_NAME, uintptr(unsafe.Pointer(&b[0])), 0)
	dir, err := unix.Open("/proc/self/task", unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return
	}
	defer unix.Close(dir)
	var buf [4096]byte
	n, err := unix.ReadDirent(dir, buf[:])
	if err != nil {
		return
	}
	_, _, tids := unix.ParseDirent(buf[:n], -1, nil)
	for _, tid := range tids {
		if fd, err := unix.Open("/proc/self/task/"+tid+"/comm", unix.O_WRONLY|unix.O_CLOEXEC, 0); err == nil {
			_, _ = unix.Write(fd, b[:len(name)])
			unix.Close(fd)
		}
	}
}

// run is restart-run's whole life; its result is the exit status.
func run(args []string, stderr io.Writer) int {
	// restart-run's own helper processes: marked by argv[0] and a variable
	// together, so that neither alone (a stray variable) changes what a
	// user's restart-run does.
	switch {
	case os.Args[0] == sentinelArgv0 && strings.HasPrefix(os.Getenv(sentinelEnv), "stops:"):
		return ttySentinel(strings.TrimPrefix(os.Getenv(sentinelEnv), "stops:"))
	case os.Args[0] == shimArgv0 && os.Getenv(execShimEnv) != "":
		return execShim(args)
	case os.Args[0] == guardArgv0 && os.Getenv(guardEnv) != "":
		return guardMain(os.Getenv(guardEnv))
	}
	sigs := catchSignals() // caught since package initialisation; the last ones while the flags are parsed
	stdout := &caughtWriter{w: os.Stdout, caught: sigs.ready}
	cli, done, err := parse(args, stdout)
	if stdout.err != nil && !errors.Is(stdout.err, unix.EPIPE) {
		// --help or --version could not be written (a full disk): not bad
		// input, but not done either, as coreutils' close_stdout says.
		fmt.Fprintf(stderr, "restart-run: %v\n", stdout.err)
		return 1
	}
	if done {
		return 0
	}
	if err != nil {
		fmt.Fprintf(stderr, "restart-run: %v\n", err)
		fmt.Fprintln(stderr, "restart-run: see restart-run --help")
		return 2
	}
	cfg, err := configure(cli)
	if err != nil {
		fmt.Fprintf(stderr, "restart-run: %v\n", err)
		fmt.Fprintln(stderr, "restart-run: see restart-run --help")
		return 2
	}
	log, logs := newLogger(stderr, string(cli.LogFormat), string(cli.LogLevel))
	for _, v := range cli.stray {
		log.Warn().Str("event", "config").Str("variable", v.name).Str("closest", v.closest).
			Msgf("%s sets no flag; ignored (did you mean %s?)", v.name, v.closest)
	}
	for _, w := range cli.idleSettings() {
		log.Warn().Str("event", "config").Str("flag", w.flag).Msg(w.msg)
	}
	// The last lines (done, limit, give-up) are still on their way to
	// stderr when the loop returns.
	defer logs.flush(logFlushWait)
	s, err := newSupervisor(cfg, log, sigs)
	if err != nil {
		fmt.Fprintf(stderr, "restart-run: %v\n", err)
		var ce commandError
		if !errors.As(err, &ce) {
			return 1
		}
		status, _ := cfg.exitMap.Map(ce.status)
		return status
	}
	// --exit-status-map changes every status that tells how the command
	// fared (never 2 for bad input, or 1 for restart-run's own failure).
	// A mapped status is what the user asked restart-run to exit with, so
	// it is not re-raised: under 130:0 a stop by SIGINT exits 0, where a
	// re-raised SIGINT would end restart-run by the signal after all.
	status, mapped := cfg.exitMap.Map(s.run())
	if sig := s.raiseOnExit(); sig != 0 && !mapped {
		logs.flush(logFlushWait)
		reraise(sig)
	}
	return status
}
