// Command restart-run runs a command and restarts it when it ends, deciding
// exactly as systemd's Restart= does, until a start-rate limiter trips.
package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/alecthomas/kong"
	"github.com/rs/zerolog"
	"golang.org/x/sys/unix"
)

var version = "dev"

func main() { os.Exit(run(os.Args[1:], os.Stderr)) }

// CLI is every flag of restart-run. Each reads RESTART_RUN_<FLAG> too; a flag
// given on the command line beats its variable.
type CLI struct {
	Restart           Policy    `default:"on-failure" env:"RESTART_RUN_RESTART" help:"When to start COMMAND again, as systemd's Restart=: no, always, on-success, on-failure, on-abnormal, on-abort, on-watchdog."`
	RestartSec        Duration  `default:"100ms" env:"RESTART_RUN_RESTART_SEC" help:"Pause before each restart (Go duration or seconds)."`
	RestartSteps      Count     `default:"0" env:"RESTART_RUN_RESTART_STEPS" help:"Number of steps in which the pause grows from --restart-sec to --restart-max-delay (0 = no growth)."`
	RestartMaxDelay   Duration  `default:"0" env:"RESTART_RUN_RESTART_MAX_DELAY" help:"Longest pause when --restart-steps is set."`
	RestartResetAfter *Duration `env:"RESTART_RUN_RESTART_RESET_AFTER" help:"A run at least this long resets the growing pause (default: --restart-max-delay, or 10s without backoff)."`
	Burst             Count     `default:"5" env:"RESTART_RUN_BURST" help:"Starts allowed within --interval before restart-run gives up (0 = no limit)."`
	Interval          Duration  `default:"10s" env:"RESTART_RUN_INTERVAL" help:"Window of the start limit (0 = no limit)."`
	MaxRestarts       Count     `default:"0" env:"RESTART_RUN_MAX_RESTARTS" help:"Restarts allowed over restart-run's whole life (0 = unlimited)."`

	SuccessExitStatus        StatusList `env:"RESTART_RUN_SUCCESS_EXIT_STATUS" placeholder:"LIST" help:"Exit codes and signals that also count as a clean end, e.g. \"75 SIGUSR1\"."`
	RestartPreventExitStatus StatusList `env:"RESTART_RUN_RESTART_PREVENT_EXIT_STATUS" placeholder:"LIST" help:"Exit codes and signals that never restart."`
	RestartForceExitStatus   StatusList `env:"RESTART_RUN_RESTART_FORCE_EXIT_STATUS" placeholder:"LIST" help:"Exit codes and signals that always restart (limits still apply)."`

	KillMode    KillMode   `default:"control-group" env:"RESTART_RUN_KILL_MODE" help:"What a stop signals and what is cleaned up after the child ends: control-group, mixed, process."`
	KillSignal  SignalName `default:"SIGTERM" env:"RESTART_RUN_KILL_SIGNAL" help:"Signal restart-run uses to stop the child and its leftovers."`
	TimeoutStop Duration   `default:"10s" env:"RESTART_RUN_TIMEOUT_STOP" help:"How long a stopped child and its leftovers get before SIGKILL."`

	LogFormat LogFormat        `default:"auto" env:"RESTART_RUN_LOG_FORMAT" help:"Log format on stderr: json, console, or auto (console on a terminal, else json)."`
	LogLevel  LogLevel         `default:"info" env:"RESTART_RUN_LOG_LEVEL" help:"Least severe log level shown: debug, info, warn, error."`
	Version   kong.VersionFlag `help:"Print the version and exit."`

	Command []string `arg:"" optional:"" passthrough:"partial" name:"command" help:"The command and its arguments, run without a shell."`
}

// Duration accepts Go syntax ("1m30s") or bare seconds ("90", "0.5"), as
// systemd does.
type Duration time.Duration

func (d *Duration) UnmarshalText(b []byte) error {
	if s, err := strconv.ParseFloat(string(b), 64); err == nil && s >= 0 && s < 1e9 {
		*d = Duration(s * float64(time.Second))
		return nil
	}
	v, err := time.ParseDuration(string(b))
	if err != nil || v < 0 {
		return fmt.Errorf("%q is not a duration (1m30s, 100ms) or a number of seconds (0 or more)", b)
	}
	*d = Duration(v)
	return nil
}

func (d Duration) String() string { return time.Duration(d).String() }

// Closed sets of words. They check themselves rather than through kong's
// enum tag so that a bad RESTART_RUN_* value is reported with its variable,
// as kong does for values that fail to parse.
type (
	KillMode  string
	LogFormat string
	LogLevel  string
)

func (p *Policy) UnmarshalText(b []byte) error    { return oneOf((*string)(p), b, policyNames) }
func (k *KillMode) UnmarshalText(b []byte) error  { return oneOf((*string)(k), b, killModes) }
func (f *LogFormat) UnmarshalText(b []byte) error { return oneOf((*string)(f), b, logFormats) }
func (l *LogLevel) UnmarshalText(b []byte) error  { return oneOf((*string)(l), b, logLevels) }

var (
	policyNames = []string{"no", "always", "on-success", "on-failure", "on-abnormal", "on-abort", "on-watchdog"}
	killModes   = []string{"control-group", "mixed", "process"}
	logFormats  = []string{"auto", "json", "console"}
	logLevels   = []string{"debug", "info", "warn", "error"}
)

func oneOf(dst *string, b []byte, allowed []string) error {
	if !slices.Contains(allowed, string(b)) {
		return fmt.Errorf("%q is not one of %s", b, strings.Join(allowed, ", "))
	}
	*dst = string(b)
	return nil
}

// Count is a whole number, 0 or more.
type Count int

func (c *Count) UnmarshalText(b []byte) error {
	n, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || n < 0 {
		return fmt.Errorf("%q is not a whole number 0 or more", b)
	}
	*c = Count(n)
	return nil
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
		kong.Description("Run COMMAND and restart it when it ends, deciding as systemd's Restart= does, until the start limit trips."),
		kong.Writers(stdout, stdout),
		kong.Vars{"version": "restart-run " + version},
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
	if _, err := parser.Parse(args); err != nil {
		return nil, false, usageError{err}
	}
	return cli, false, nil
}

// run is restart-run's whole life; its result is the exit status.
func run(args []string, stderr io.Writer) int {
	if os.Getenv(sentinelEnv) == "1" {
		return ttySentinel()
	}
	cli, done, err := parse(args, os.Stdout)
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
		return 2
	}
	log := newLogger(stderr, string(cli.LogFormat), string(cli.LogLevel))
	s, err := newSupervisor(cfg, log)
	if err != nil {
		var ce commandError
		if errors.As(err, &ce) {
			fmt.Fprintf(stderr, "restart-run: %v\n", err)
			return ce.status
		}
		fmt.Fprintf(stderr, "restart-run: %v\n", err)
		return 1
	}
	return s.run()
}

// config is what the supervisor needs, checked and derived from the flags.
type config struct {
	argv        []string
	env         []string
	policy      Policy
	lists       Lists
	limiter     Limiter
	backoff     Backoff
	maxRestarts int
	killMode    string
	killSignal  unix.Signal
	timeoutStop time.Duration
}

func configure(cli *CLI) (*config, error) {
	if len(cli.Command) > 0 && cli.Command[0] == "--" {
		cli.Command = cli.Command[1:] // kong passes the separator through
	}
	if len(cli.Command) == 0 {
		return nil, usageError{errors.New("no COMMAND given: restart-run [flags] -- COMMAND [ARG...]")}
	}
	if cli.Command[0] == "" {
		return nil, usageError{errors.New("COMMAND is empty")}
	}
	reset := time.Duration(cli.RestartMaxDelay)
	if cli.RestartSteps == 0 || reset == 0 {
		reset = 10 * time.Second
	}
	if cli.RestartResetAfter != nil {
		reset = time.Duration(*cli.RestartResetAfter)
	}
	return &config{
		argv:    cli.Command,
		env:     childEnv(os.Environ()),
		policy:  cli.Restart,
		lists:   Lists{Success: cli.SuccessExitStatus, Prevent: cli.RestartPreventExitStatus, Force: cli.RestartForceExitStatus},
		limiter: Limiter{Burst: int(cli.Burst), Interval: time.Duration(cli.Interval)},
		backoff: Backoff{
			Base:       time.Duration(cli.RestartSec),
			Steps:      int(cli.RestartSteps),
			MaxDelay:   time.Duration(cli.RestartMaxDelay),
			ResetAfter: reset,
		},
		maxRestarts: int(cli.MaxRestarts),
		killMode:    string(cli.KillMode),
		killSignal:  unix.Signal(cli.KillSignal),
		timeoutStop: time.Duration(cli.TimeoutStop),
	}, nil
}

// childEnv is restart-run's environment less its own configuration: a child
// that happens to be restart-run again must not inherit our flags.
func childEnv(env []string) []string {
	out := make([]string, 0, len(env))
	for _, kv := range env {
		if !strings.HasPrefix(kv, "RESTART_RUN_") {
			out = append(out, kv)
		}
	}
	return out
}

// newLogger writes JSON lines, or readable lines when asked or when stderr is
// a terminal.
func newLogger(w io.Writer, format, level string) zerolog.Logger {
	if format == "auto" {
		format = "json"
		if f, ok := w.(*os.File); ok && isTerminal(int(f.Fd())) {
			format = "console"
		}
	}
	if format == "console" {
		w = zerolog.ConsoleWriter{Out: w, TimeFormat: "15:04:05.000"}
	}
	lvl, _ := zerolog.ParseLevel(level) // LogLevel has checked it
	return zerolog.New(w).Level(lvl).With().Timestamp().Logger()
}

func isTerminal(fd int) bool {
	_, err := unix.IoctlGetTermios(fd, unix.TCGETS)
	return err == nil
}

func init() {
	// Sub-second timestamps: restarts 100ms apart must be told apart.
	zerolog.TimeFieldFormat = time.RFC3339Nano
	zerolog.DurationFieldUnit = time.Millisecond
	zerolog.DurationFieldInteger = false
}
