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

// flagHelp is the help of each flag of CLI and of its argument, by name
// (an array, not a map: it costs no package initialisation).
// It is kept out of the struct tags because kong does its work on every
// tag at every start, --help or not: it reads each tag rune by rune and
// runs its ${var} interpolation (a regexp) over each help text, which was
// about a third of flag parsing. printHelp puts these into kong's model
// when --help is asked; TestFlagHelp checks that each flag has one.
var flagHelp = [...]struct{ name, help string }{
	{"restart", "When to start COMMAND again, as systemd's Restart=: no, always, on-success, on-failure, on-abnormal, on-abort, on-watchdog."},
	{"restart-sec", "Pause before each restart (Go duration or seconds)."},
	{"restart-steps", "Number of steps in which the pause grows from --restart-sec to --restart-max-delay (0 = no growth)."},
	{"restart-max-delay", "Longest pause when --restart-steps is set."},
	{"restart-reset-after", "A run at least this long resets the growing pause (default: --restart-max-delay, or 10s without backoff)."},
	{"burst", "Starts allowed within --interval before restart-run gives up (0 = no limit)."},
	{"interval", "Window of the start limit (0 = no limit)."},
	{"max-restarts", "Restarts allowed over restart-run's whole life (0 = unlimited)."},
	{"success-exit-status", "Exit codes and signals that also count as a clean end, e.g. \"75 SIGUSR1\"."},
	{"restart-prevent-exit-status", "Exit codes and signals that never restart."},
	{"restart-force-exit-status", "Exit codes and signals that always restart (limits still apply)."},
	{"kill-mode", "What a stop signals and what is cleaned up after the child ends: control-group, mixed, process."},
	{"kill-signal", "Signal restart-run uses to stop the child and its leftovers."},
	{"timeout-stop", "How long a stopped child and its leftovers get before SIGKILL (0 or infinity = no limit)."},
	{"stop-signals", "Signals to restart-run that are a stop request (passed on, no restart); any other is forwarded as it is. E.g. TERM,INT to forward SIGQUIT (a JVM's thread dump)."},
	{"forward-to", "Where forwarded signals go: child (the child alone) or group (its whole process group, as dumb-init and tini -g). Stop signals follow --kill-mode."},
	{"restart-signal", "A signal to restart-run that restarts the child, as systemctl restart: stopped as a stop request stops it (with --kill-signal), then started again at once whatever --restart says; the start limit counts it. None by default."},
	{"type", "simple: the child counts as started once it runs; notify: once it sends READY=1 to NOTIFY_SOCKET."},
	{"notify-access", "Whose notify datagrams count: main (the child's own pid) or all (any process of restart-run's user)."},
	{"timeout-start", "Under --type=notify, how long the child has to send READY=1 (0 or infinity = no limit)."},
	{"runtime-max", "Stop a child that runs longer than this (0 or infinity = no limit)."},
	{"watchdog", "The child must send WATCHDOG=1 at least this often (0 = no watchdog)."},
	{"watchdog-signal", "Signal sent to a child that missed its watchdog."},
	{"notification-fd", "Under --type=notify, s6's readiness protocol as well: the child gets a pipe at descriptor N and is ready once it writes a newline there."},
	{"health-cmd", "Health check command, split into words as a shell would and run without a shell; exit 0 is healthy."},
	{"health-http", "Health check: a GET of this url (http:// only) must answer 2xx or 3xx."},
	{"health-tcp", "Health check: a TCP connect to host:port must succeed."},
	{"health-interval", "Time between health checks."},
	{"health-timeout", "A check running longer fails (and is killed)."},
	{"health-start-period", "Failures in this time after a start do not count; a pass ends it."},
	{"health-retries", "Consecutive failures that make the child unhealthy; it is then stopped (class watchdog)."},
	{"memory-max", "Stop the child (class oom-kill) when the resident memory of its processes together goes above this: bytes, or K, M, G, T with base 1024 (512M, 2G)."},
	{"memory-check-interval", "How often --memory-max reads the child's memory from /proc (10ms or more): a spike shorter than this can be missed; a shorter one costs more CPU."},
	{"exec-start-pre", "Run this before every start of COMMAND, as systemd's ExecStartPre=: split into words as --health-cmd, no shell. If it fails the start fails (class exit-code); a leading - ignores its failure. Repeatable, run in order."},
	{"exec-stop-post", "Run this after every end of COMMAND, once its leftovers are gone, as systemd's ExecStopPost=, with SERVICE_RESULT, EXIT_CODE, EXIT_STATUS and RESTART_RUN_PID set. Repeatable, run in order."},
	{"timeout-hook", "Longest run of a hook: then --kill-signal to its process group, SIGKILL after --timeout-stop (default: --timeout-stop; 0 or infinity = no limit)."},
	{"exit-status-map", "Exit with TO instead of FROM (an exit status, or a signal name for 128+N), as tini -e does: 143:0 or SIGTERM:0. Repeatable; each FROM once."},
	{"log-format", "Log format on stderr: json, console, or auto (console on a terminal, else json)."},
	{"log-level", "Least severe log level shown: debug, info, warn, error."},
	{"version", "Print the version and exit."},
	{"command", "COMMAND [ARG...]: the command and its arguments, run without a shell. Flags after COMMAND are its own."},
}

// flagGroups order --help's flags by what they are for.
var flagGroups = []kong.Group{
	{Key: "restart", Title: "Restart policy (Restart=, RestartSec=, RestartSteps=, RestartMaxDelaySec=):"},
	{Key: "limit", Title: "Start limit (StartLimitBurst=, StartLimitIntervalSec=):"},
	{Key: "stop", Title: "Stopping and signals (KillMode=, KillSignal=, TimeoutStopSec=):"},
	{Key: "notify", Title: "Readiness, watchdog and timeouts (Type=, NotifyAccess=, WatchdogSec=):"},
	{Key: "health", Title: "Health checks (a failing child is stopped, class watchdog):"},
	{Key: "memory", Title: "Memory ceiling (MemoryMax=; a child above it is stopped, class oom-kill):"},
	{Key: "hooks", Title: "Hooks (ExecStartPre=, ExecStopPost=):"},
	{Key: "exit", Title: "Exit status mapping (tini -e):"},
	{Key: "log", Title: "Logging (JSON lines or readable lines on stderr):"},
}

// printHelp is kong's help between a usage line that puts the flags before
// the command, as they must come, and a few examples and the exit statuses.
func printHelp(options kong.HelpOptions, ctx *kong.Context) error {
	for _, v := range modelValues(ctx.Model) {
		for _, h := range flagHelp {
			if v.Name == h.name {
				v.Help = h.help
			}
		}
	}
	fmt.Fprintln(ctx.Stdout, "Usage: restart-run [flags] [--] COMMAND [ARG...]")
	options.NoAppSummary = true
	if err := kong.DefaultHelpPrinter(options, ctx); err != nil {
		return err
	}
	_, err := io.WriteString(ctx.Stdout, helpExamples)
	return err
}

// modelValues are the flags and arguments of kong's model.
func modelValues(app *kong.Application) []*kong.Value {
	var vs []*kong.Value
	for _, f := range app.Flags {
		vs = append(vs, f.Value)
	}
	return append(vs, app.Positional...)
}

const helpExamples = `
Examples:
  restart-run -- ./my-server --port 8000
      Restart it when it fails, giving up after 5 starts within 10s.
  restart-run --restart=always --restart-sec=1s -- python3 -m http.server 8000
      Restart it whatever its end, a second after each.
  restart-run --restart-steps=5 --restart-max-delay=1m -- ./flaky-job
      Pauses grow from 100ms to 1m over 5 restarts.
  restart-run --type=notify --watchdog=30s -- ./my-daemon
      It counts as started once it sends READY=1; it must send WATCHDOG=1
      at least every 30s or be stopped and restarted.
  restart-run --health-http=http://127.0.0.1:8000/healthz -- ./my-server
      Three failed checks in a row (one every 30s) stop and restart it.
  restart-run --memory-max=512M -- ./leaky-server
      Stopped and restarted (class oom-kill) once its processes together
      hold more than 512 MiB; their memory is read every 5s.
  restart-run --restart=no -- ./job
      Run once, as tini would: forward signals, reap zombies, exit as it did.
  restart-run --exec-start-pre=./migrate --exec-stop-post=-./alert -- ./my-server
      Runs ./migrate before every start (if it fails, so does the start)
      and ./alert after every end, with SERVICE_RESULT, EXIT_CODE and
      EXIT_STATUS set as systemd sets them; the - ignores its failure.
  restart-run --restart-signal=HUP -- ./my-server
      SIGHUP to restart-run stops the server and starts it again at once,
      as systemctl restart does; any other signal is passed on.

Exit status:
  the child's       its exit code, or 128+N if signal N killed it: when no
                    restart is due, the start limit trips, --max-restarts is
                    used up, or a stop is requested
  128+N             signal N asked for a stop before the first start
  127, 126          COMMAND not found, or not executable, on the first start
  2                 a bad flag, value or command line; nothing started
  TO                instead of any of these but 2, when
                    --exit-status-map=FROM:TO names it as FROM
`

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
