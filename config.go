package main

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/kballard/go-shellquote"
	"golang.org/x/sys/unix"
)

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
	logFormat   string
	stopSignals SignalList
	forwardTo   string
	exitMap     ExitStatusMap // --exit-status-map: restart-run's own exit status
	// restartSignal restarts the child on demand (--restart-signal); 0 for none.
	restartSignal unix.Signal

	notifyType     string
	notifyAccess   string
	timeoutStart   time.Duration
	runtimeMax     time.Duration
	watchdog       time.Duration
	watchdogSignal unix.Signal
	readyFD        int   // --notification-fd; 0: none
	passedFDs      []int // with it: the descriptors from 3 up that the child gets as restart-run got them

	health *healthCheck // nil without a health check

	memoryMax   int64         // --memory-max in bytes; 0: no ceiling
	memoryCheck time.Duration // --memory-check-interval

	hooks hookConfig // --exec-start-pre, --exec-stop-post, --timeout-hook
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
	if err := checkBackoff(cli); err != nil {
		return nil, err
	}
	if err := checkNotify(cli); err != nil {
		return nil, err
	}
	var passed []int
	if cli.given("notification-fd") {
		passed = passedFDs()
		if err := checkNotificationFD(cli, passed, openFileLimit()); err != nil {
			return nil, err
		}
	}
	if err := checkRestartSignal(cli); err != nil {
		return nil, err
	}
	health, err := configureHealth(cli)
	if err != nil {
		return nil, err
	}
	if err := checkMemory(cli); err != nil {
		return nil, err
	}
	hooks, err := configureHooks(cli)
	if err != nil {
		return nil, err
	}
	reset := time.Duration(cli.RestartMaxDelay)
	if cli.RestartSteps == 0 || reset == 0 {
		reset = 10 * time.Second
	}
	if cli.RestartResetAfter != nil {
		reset = time.Duration(*cli.RestartResetAfter)
	}
	timeoutStop := time.Duration(cli.TimeoutStop)
	if timeoutStop == 0 {
		timeoutStop = maxDuration // no limit: an alarm that never rings
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
		maxRestarts:   int(cli.MaxRestarts),
		killMode:      string(cli.KillMode),
		killSignal:    unix.Signal(cli.KillSignal),
		timeoutStop:   timeoutStop,
		logFormat:     string(cli.LogFormat),
		stopSignals:   cli.StopSignals,
		forwardTo:     string(cli.ForwardTo),
		restartSignal: unix.Signal(cli.RestartSignal),
		exitMap:       cli.ExitStatusMap,

		notifyType:     string(cli.Type),
		notifyAccess:   string(cli.NotifyAccess),
		timeoutStart:   time.Duration(cli.TimeoutStart),
		runtimeMax:     time.Duration(cli.RuntimeMax),
		watchdog:       time.Duration(cli.Watchdog),
		watchdogSignal: unix.Signal(cli.WatchdogSignal),
		readyFD:        int(cli.NotificationFD),
		passedFDs:      passed,
		health:         health,

		memoryMax:   int64(cli.MemoryMax),
		memoryCheck: time.Duration(cli.MemoryCheckInterval),
		hooks:       hooks,
	}, nil
}

// given reports whether the user set the flag, on the command line or by
// its variable.
func (cli *CLI) given(name string) bool {
	_, ok := cli.from[name]
	return ok
}

// flagError is a bad value found after parsing, in the shape of kong's own
// messages: "--name: what is wrong", then "(from envar VAR="value")" when
// the value came from a variable.
func (cli *CLI) flagError(name, format string, a ...any) error {
	msg := "--" + name + ": " + fmt.Sprintf(format, a...)
	if env := cli.from[name]; env != "" {
		v := os.Getenv(env)
		if name == "health-http" {
			v = redactURL(v)
		}
		msg += fmt.Sprintf(" (from envar %s=%q)", env, v)
	}
	return usageError{errors.New(msg)}
}

// setting names another flag in a message as the user set it:
// --restart-sec=1s, RESTART_RUN_RESTART_SEC=1s, or --restart-sec (100ms by
// default).
func (cli *CLI) setting(name string, value any) string {
	switch env, ok := cli.from[name]; {
	case !ok:
		return fmt.Sprintf("--%s (%v by default)", name, value)
	case env != "":
		return env + "=" + os.Getenv(env)
	default:
		return fmt.Sprintf("--%s=%v", name, value)
	}
}

// healthFlags are the health checks' own settings, which do nothing
// without a check.
var healthFlags = []string{"health-interval", "health-timeout", "health-start-period", "health-retries"}

// configureHealth checks the health flags: at most one check, and timing
// that can work.
func configureHealth(cli *CLI) (*healthCheck, error) {
	c := &healthCheck{
		addr:     cli.HealthTCP,
		interval: time.Duration(cli.HealthInterval),
		timeout:  time.Duration(cli.HealthTimeout),
		start:    time.Duration(cli.HealthStartPeriod),
		retries:  int(cli.HealthRetries),
	}
	checks := map[string]string{"health-cmd": cli.HealthCmd, "health-http": cli.HealthHTTP, "health-tcp": cli.HealthTCP}
	var set []string
	for _, name := range []string{"health-cmd", "health-http", "health-tcp"} {
		switch {
		case checks[name] != "":
			set = append(set, "--"+name)
		case cli.given(name):
			return nil, cli.flagError(name, "is empty; give a check, or leave the flag out")
		}
	}
	switch {
	case len(set) == 0:
		for _, name := range healthFlags {
			if cli.given(name) {
				return nil, cli.flagError(name, "does nothing without a health check: add --health-cmd, --health-http or --health-tcp, or leave it out")
			}
		}
		return nil, nil
	case len(set) > 1:
		return nil, usageError{fmt.Errorf("%s: give at most one health check", strings.Join(set, ", "))}
	case c.interval <= 0:
		return nil, cli.flagError("health-interval", "%v is not allowed; it must be more than 0", c.interval)
	case c.timeout <= 0:
		return nil, cli.flagError("health-timeout", "%v is not allowed; it must be more than 0", c.timeout)
	case c.retries < 1:
		return nil, cli.flagError("health-retries", "%d is not allowed; it must be 1 or more", c.retries)
	}
	switch {
	case cli.HealthCmd != "":
		argv, err := shellquote.Split(cli.HealthCmd)
		if err != nil || len(argv) == 0 {
			return nil, cli.flagError("health-cmd", "%q is not a command line (%v)", cli.HealthCmd, err)
		}
		c.argv = argv
	case cli.HealthHTTP != "":
		u, err := url.Parse(cli.HealthHTTP)
		shown := redactURL(cli.HealthHTTP) // the password is not for the log
		switch {
		case err == nil && u.Scheme == "https":
			return nil, cli.flagError("health-http", "%q: https:// is not built in; use an http:// URL, --health-tcp for the port, or --health-cmd with a client such as curl", shown)
		case err != nil || u.Scheme != "http" || u.Host == "" || u.Hostname() == "":
			return nil, cli.flagError("health-http", "%q is not an http:// URL (http://HOST[:PORT]/PATH)", shown)
		}
		if u.Port() != "" && !validPort(u.Port()) {
			return nil, cli.flagError("health-http", "%q: port %q is not a number from 1 to 65535", shown, u.Port())
		}
		c.url = u
	default:
		_, port, err := net.SplitHostPort(c.addr)
		switch {
		case err != nil || port == "":
			return nil, cli.flagError("health-tcp", "%q is not HOST:PORT", c.addr)
		case !validPort(port):
			return nil, cli.flagError("health-tcp", "%q: port %q is not a number from 1 to 65535", c.addr, port)
		}
	}
	return c, nil
}

// validPort: a port a check can connect to.
func validPort(p string) bool {
	n, err := strconv.ParseUint(p, 10, 16)
	return err == nil && n > 0
}

// redactURL is a --health-http value fit for a message: whatever sits
// between the scheme's "://" (or the start, without one) and the last "@"
// becomes "***", user name and password both. It works on the text as
// given, so it also covers a value url.Parse refuses, and the user still
// sees what they typed. It looks for the last "@" in the whole value, not
// only before the first "/": a password with an unescaped "/" ends the
// authority early, so that search would miss it. An "@" in a path is the
// price: it hides a little more of a bad value than it had to.
func redactURL(raw string) string {
	start := 0
	if scheme, _, ok := strings.Cut(raw, "://"); ok && isScheme(scheme) {
		start = len(scheme) + len("://")
	}
	at := strings.LastIndex(raw, "@")
	if at < start {
		return raw
	}
	return raw[:start] + "***" + raw[at:]
}

// isScheme: ALPHA *( ALPHA / DIGIT / "+" / "-" / "." ), RFC 3986 3.1. A
// "://" after anything else is inside a password.
func isScheme(s string) bool {
	for i, c := range s {
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z':
		case i > 0 && ('0' <= c && c <= '9' || c == '+' || c == '-' || c == '.'):
		default:
			return false
		}
	}
	return s != ""
}

// childEnv is restart-run's environment less its own configuration (a child
// that happens to be restart-run again must not inherit our flags) and less
// the notify variables of an outer supervisor, which are restart-run's own.
func childEnv(env []string) []string {
	out := make([]string, 0, len(env))
	for _, kv := range env {
		name, _, _ := strings.Cut(kv, "=")
		switch {
		case strings.HasPrefix(name, "RESTART_RUN_"):
		case name == "NOTIFY_SOCKET", name == "WATCHDOG_USEC", name == "WATCHDOG_PID":
		default:
			out = append(out, kv)
		}
	}
	return out
}
