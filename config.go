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

	notifyType     string
	notifyAccess   string
	timeoutStart   time.Duration
	runtimeMax     time.Duration
	watchdog       time.Duration
	watchdogSignal unix.Signal

	health *healthCheck // nil without a health check
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
	health, err := configureHealth(cli)
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
		logFormat:   string(cli.LogFormat),
		stopSignals: cli.StopSignals,
		forwardTo:   string(cli.ForwardTo),

		notifyType:     string(cli.Type),
		notifyAccess:   string(cli.NotifyAccess),
		timeoutStart:   time.Duration(cli.TimeoutStart),
		runtimeMax:     time.Duration(cli.RuntimeMax),
		watchdog:       time.Duration(cli.Watchdog),
		watchdogSignal: unix.Signal(cli.WatchdogSignal),
		health:         health,
	}, nil
}

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
	n := 0
	for _, v := range []string{cli.HealthCmd, cli.HealthHTTP, cli.HealthTCP} {
		if v != "" {
			n++
		}
	}
	switch {
	case n == 0:
		return nil, nil
	case n > 1:
		return nil, usageError{errors.New("--health-cmd, --health-http and --health-tcp (or their RESTART_RUN_HEALTH_* variables): give at most one")}
	case c.interval <= 0:
		return nil, usageError{fmt.Errorf("--health-interval (RESTART_RUN_HEALTH_INTERVAL): %v is not allowed; it must be more than 0", c.interval)}
	case c.timeout <= 0:
		return nil, usageError{fmt.Errorf("--health-timeout (RESTART_RUN_HEALTH_TIMEOUT): %v is not allowed; it must be more than 0", c.timeout)}
	case c.retries < 1:
		return nil, usageError{fmt.Errorf("--health-retries (RESTART_RUN_HEALTH_RETRIES): %d is not allowed; it must be 1 or more", c.retries)}
	}
	switch {
	case cli.HealthCmd != "":
		argv, err := shellquote.Split(cli.HealthCmd)
		if err != nil || len(argv) == 0 {
			return nil, usageError{fmt.Errorf("--health-cmd (RESTART_RUN_HEALTH_CMD): %q is not a command line (%v)", cli.HealthCmd, err)}
		}
		c.argv = argv
	case cli.HealthHTTP != "":
		u, err := url.Parse(cli.HealthHTTP)
		shown := redactURL(cli.HealthHTTP) // the password is not for the log
		switch {
		case err == nil && u.Scheme == "https":
			return nil, usageError{fmt.Errorf("--health-http (RESTART_RUN_HEALTH_HTTP): %q: https:// is not built in; use an http:// URL, --health-tcp for the port, or --health-cmd with a client such as curl", shown)}
		case err != nil || u.Scheme != "http" || u.Host == "" || u.Hostname() == "":
			return nil, usageError{fmt.Errorf("--health-http (RESTART_RUN_HEALTH_HTTP): %q is not an http:// URL (http://HOST[:PORT]/PATH)", shown)}
		}
		if _, err := strconv.ParseUint(u.Port(), 10, 16); u.Port() != "" && err != nil {
			return nil, usageError{fmt.Errorf("--health-http (RESTART_RUN_HEALTH_HTTP): %q: port %q is not a number from 0 to 65535", shown, u.Port())}
		}
		c.url = u
	default:
		if _, port, err := net.SplitHostPort(c.addr); err != nil || port == "" {
			return nil, usageError{fmt.Errorf("--health-tcp (RESTART_RUN_HEALTH_TCP): %q is not HOST:PORT", c.addr)}
		}
	}
	return c, nil
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
