package main

import (
	"fmt"
	"io"

	"github.com/alecthomas/kong"
)

// This file is --help: each flag's help text, the groups they are shown
// in, and the printer that puts them into kong's model only when --help is
// asked, between a usage line and the examples.

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
