/*
 * sigsend: signal-forwarding latency, interleaved round by round.
 *
 *   sigsend DIR ROUNDS PER_ROUND GAP_US NAME CMD [ARG...] [:: NAME CMD [ARG...]]...
 *
 * For every NAME it makes the FIFO DIR/NAME.fifo, starts CMD with each
 * argument "{fifo}" replaced by that path (CMD is a supervisor whose child is
 * "sigchild {fifo}", or sigchild itself), and waits for sigchild's ready
 * byte. It writes "NAME PID" lines to DIR/sigsend.pids so that a caller can
 * clean up should sigsend itself die.
 *
 * Then it waits 2 s, as the memory measurement does, so that every target
 * has finished starting up (restart-run hands back its start-up memory 1 s
 * after its first start, and until then holds a timer for it), and in
 * ROUNDS rounds (the order of the targets rotates each round),
 * PER_ROUND times per target: take CLOCK_MONOTONIC, kill(PID, SIGUSR1) the
 * started process, read the byte sigchild writes when sigwaitinfo() returns,
 * take the clock again, pause GAP_US so the next signal finds the
 * supervisor idle. One line per sample goes to stdout:
 *
 *   NAME ROUND LATENCY_NS
 *
 * At the end every target gets SIGTERM (SIGKILL after 3 s) and is reaped.
 * A byte that does not come within 2 s, or a target that dies, is fatal:
 * exit 1, after the same cleanup.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

struct target {
	const char *name;
	char **argv;
	char fifo[4096];
	pid_t pid;
	int fd;
};

static struct target tg[16];
static int ntg;

static long long now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static void cleanup(void)
{
	for (int i = 0; i < ntg; i++)
		if (tg[i].pid > 0)
			kill(tg[i].pid, SIGTERM);
	long long deadline = now_ns() + 3000000000LL;
	for (int i = 0; i < ntg; i++) {
		if (tg[i].pid <= 0)
			continue;
		int st;
		for (;;) {
			pid_t r = waitpid(tg[i].pid, &st, WNOHANG);
			if (r == tg[i].pid || (r < 0 && errno != EINTR))
				break;
			if (now_ns() > deadline) {
				kill(tg[i].pid, SIGKILL);
				waitpid(tg[i].pid, &st, 0);
				break;
			}
			usleep(1000);
		}
		tg[i].pid = 0;
	}
}

static void fail(const char *fmt, const char *a, const char *b)
{
	fprintf(stderr, "sigsend: ");
	fprintf(stderr, fmt, a, b);
	fprintf(stderr, "\n");
	cleanup();
	exit(1);
}

/* wait_byte waits up to ms for one byte on t's FIFO and returns it. */
static char wait_byte(struct target *t, int ms)
{
	struct pollfd p = {.fd = t->fd, .events = POLLIN};
	for (;;) {
		int r = poll(&p, 1, ms);
		if (r < 0 && errno == EINTR)
			continue;
		if (r == 0)
			fail("%s: no byte from sigchild within the time limit%s", t->name, "");
		if (r < 0)
			fail("%s: poll: %s", t->name, strerror(errno));
		char c;
		ssize_t n = read(t->fd, &c, 1);
		if (n == 1)
			return c;
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			continue;
		fail("%s: the FIFO closed: did the target die?%s", t->name, "");
	}
}

int main(int argc, char **argv)
{
	if (argc < 7) {
		fprintf(stderr, "usage: sigsend DIR ROUNDS PER_ROUND GAP_US NAME CMD [ARG...] [:: NAME CMD [ARG...]]...\n");
		return 2;
	}
	const char *dir = argv[1];
	int rounds = atoi(argv[2]), per = atoi(argv[3]);
	long gap = atol(argv[4]);
	for (int i = 5; i < argc;) {
		if (ntg == 16 || i + 1 >= argc)
			fail("bad target list%s%s", "", "");
		struct target *t = &tg[ntg++];
		t->name = argv[i];
		t->argv = &argv[i + 1];
		int j = i + 1;
		while (j < argc && strcmp(argv[j], "::") != 0)
			j++;
		if (j < argc)
			argv[j] = NULL;
		snprintf(t->fifo, sizeof t->fifo, "%s/%s.fifo", dir, t->name);
		for (char **a = t->argv; *a; a++)
			if (strcmp(*a, "{fifo}") == 0)
				*a = t->fifo;
		i = j + 1;
	}

	signal(SIGPIPE, SIG_IGN);
	char pidpath[4096];
	snprintf(pidpath, sizeof pidpath, "%s/sigsend.pids", dir);
	FILE *pf = fopen(pidpath, "w");
	if (!pf)
		fail("%s: %s", pidpath, strerror(errno));
	for (int i = 0; i < ntg; i++) {
		struct target *t = &tg[i];
		unlink(t->fifo);
		if (mkfifo(t->fifo, 0600) < 0)
			fail("%s: %s", t->fifo, strerror(errno));
		/* Nonblocking, so that a target that never opens its end
		 * cannot hang us; poll() then waits with a time limit. */
		t->fd = open(t->fifo, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
		if (t->fd < 0)
			fail("%s: %s", t->fifo, strerror(errno));
		int err = posix_spawnp(&t->pid, t->argv[0], NULL, NULL, t->argv, environ);
		if (err)
			fail("%s: %s", t->argv[0], strerror(err));
		fprintf(pf, "%s %d\n", t->name, (int)t->pid);
		fflush(pf);
	}
	fclose(pf);
	for (int i = 0; i < ntg; i++)
		if (wait_byte(&tg[i], 5000) != 'r')
			fail("%s: sigchild did not say it was ready%s", tg[i].name, "");

	struct timespec settle = {.tv_sec = 2};
	nanosleep(&settle, NULL);
	setvbuf(stdout, NULL, _IOFBF, 1 << 16);
	struct timespec pause = {.tv_sec = gap / 1000000, .tv_nsec = (gap % 1000000) * 1000};
	for (int r = 0; r < rounds; r++)
		for (int k = 0; k < ntg; k++) {
			struct target *t = &tg[(k + r) % ntg];
			for (int s = 0; s < per; s++) {
				nanosleep(&pause, NULL);
				long long t0 = now_ns();
				if (kill(t->pid, SIGUSR1) < 0)
					fail("%s: kill: %s", t->name, strerror(errno));
				char c = wait_byte(t, 2000);
				long long t1 = now_ns();
				if (c != 's')
					fail("%s: unexpected byte from sigchild%s", t->name, "");
				printf("%s %d %lld\n", t->name, r, t1 - t0);
			}
		}
	fflush(stdout);
	cleanup();
	return 0;
}
