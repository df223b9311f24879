/*
 * spawntime: time commands from start to exit, interleaved round by round.
 *
 *   spawntime ROUNDS RUNS NAME CMD [ARG...] [:: NAME CMD [ARG...]]...
 *
 * In every round each command runs RUNS times in a row; the order of the
 * commands rotates from round to round, so that machine noise falls on all
 * of them alike. Each command runs with stdin, stdout and stderr on
 * /dev/null. One line per run goes to stdout:
 *
 *   NAME ROUND WALL_NS SELF_USER_US SELF_SYS_US CHILD_USER_US CHILD_SYS_US
 *
 * WALL_NS is CLOCK_MONOTONIC from just before posix_spawn to the moment
 * waitid() reports the exit. The CPU times are read from /proc/PID/stat of
 * the exited process before it is reaped (waitid with WNOWAIT): SELF is the
 * process itself (all its threads), CHILD what it reaped of its own children.
 * They are in clock ticks (10 ms), so they mean something only for long runs.
 *
 * A CMD of "@loop N PROG [ARG...]" is a forked copy of spawntime that runs
 * PROG N times, one after the other (posix_spawn, then waitpid): the floor
 * of a supervisor's restart cycle.
 *
 * A command that exits with a status other than 0, or is killed, is fatal:
 * spawntime says so on stderr and exits 1.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

struct cmd {
	const char *name;
	char **argv;
};

static posix_spawn_file_actions_t devnull;

static long long now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static void die(const char *what)
{
	fprintf(stderr, "spawntime: %s: %s\n", what, strerror(errno));
	exit(1);
}

/* loop runs argv n times, each to its end; it is the child of a fork. Its
 * stdio goes to /dev/null once, as a shell's would under spawntime, so that
 * each spawn does no more than a supervisor's does. */
static void loop(long n, char **argv)
{
	int null = open("/dev/null", O_RDWR);
	if (null < 0)
		_exit(1);
	for (int fd = 0; fd <= 2; fd++)
		dup2(null, fd);
	if (null > 2)
		close(null);
	for (long i = 0; i < n; i++) {
		pid_t pid;
		int st;
		int err = posix_spawnp(&pid, argv[0], NULL, NULL, argv, environ);
		if (err) {
			fprintf(stderr, "spawntime: @loop %s: %s\n", argv[0], strerror(err));
			_exit(1);
		}
		while (waitpid(pid, &st, 0) < 0)
			if (errno != EINTR)
				_exit(1);
		if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
			_exit(1);
	}
	_exit(0);
}

/* cpu reads utime, stime, cutime, cstime (fields 14-17) of an exited,
 * not yet reaped process, in microseconds. */
static void cpu(pid_t pid, long long out[4])
{
	char path[64], buf[4096];
	snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
	int fd = open(path, O_RDONLY);
	if (fd < 0)
		die(path);
	ssize_t n = read(fd, buf, sizeof buf - 1);
	close(fd);
	if (n <= 0)
		die(path);
	buf[n] = 0;
	char *p = strrchr(buf, ')');
	if (!p)
		die(path);
	/* after ") " come fields 3 (state) onwards */
	long long v[20] = {0};
	int field = 3;
	for (char *tok = strtok(p + 2, " "); tok && field <= 17; tok = strtok(NULL, " "), field++)
		if (field >= 14)
			v[field - 14] = atoll(tok);
	long tck = sysconf(_SC_CLK_TCK);
	for (int i = 0; i < 4; i++)
		out[i] = v[i] * 1000000LL / tck;
}

static void run_once(const struct cmd *c, int round)
{
	pid_t pid;
	long long t0 = now_ns();
	if (strcmp(c->argv[0], "@loop") == 0) {
		pid = fork();
		if (pid < 0)
			die("fork");
		if (pid == 0)
			loop(atol(c->argv[1]), c->argv + 2);
	} else {
		int err = posix_spawnp(&pid, c->argv[0], &devnull, NULL, c->argv, environ);
		if (err) {
			errno = err;
			die(c->argv[0]);
		}
	}
	siginfo_t si;
	memset(&si, 0, sizeof si);
	while (waitid(P_PID, pid, &si, WEXITED | WNOWAIT) < 0)
		if (errno != EINTR)
			die("waitid");
	long long t1 = now_ns();
	long long u[4];
	cpu(pid, u);
	int st;
	while (waitpid(pid, &st, 0) < 0)
		if (errno != EINTR)
			die("waitpid");
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
		fprintf(stderr, "spawntime: %s (%s) failed: %s %d\n", c->name, c->argv[0],
			WIFEXITED(st) ? "exit status" : "signal",
			WIFEXITED(st) ? WEXITSTATUS(st) : WTERMSIG(st));
		exit(1);
	}
	printf("%s %d %lld %lld %lld %lld %lld\n", c->name, round, t1 - t0, u[0], u[1], u[2], u[3]);
}

int main(int argc, char **argv)
{
	if (argc < 5) {
		fprintf(stderr, "usage: spawntime ROUNDS RUNS NAME CMD [ARG...] [:: NAME CMD [ARG...]]...\n");
		return 2;
	}
	int rounds = atoi(argv[1]), runs = atoi(argv[2]);
	struct cmd cmds[64];
	int ncmd = 0;
	for (int i = 3; i < argc;) {
		if (ncmd == 64 || i + 1 >= argc) {
			fprintf(stderr, "spawntime: bad command list\n");
			return 2;
		}
		cmds[ncmd].name = argv[i];
		cmds[ncmd].argv = &argv[i + 1];
		int j = i + 1;
		while (j < argc && strcmp(argv[j], "::") != 0)
			j++;
		if (j < argc)
			argv[j] = NULL; /* ends this command's argv */
		ncmd++;
		i = j + 1;
	}
	posix_spawn_file_actions_init(&devnull);
	for (int fd = 0; fd <= 2; fd++)
		posix_spawn_file_actions_addopen(&devnull, fd, "/dev/null", fd ? O_WRONLY : O_RDONLY, 0);
	setvbuf(stdout, NULL, _IOLBF, 0);
	for (int r = 0; r < rounds; r++)
		for (int k = 0; k < ncmd; k++) {
			const struct cmd *c = &cmds[(k + r) % ncmd];
			for (int i = 0; i < runs; i++)
				run_once(c, r);
		}
	return 0;
}
