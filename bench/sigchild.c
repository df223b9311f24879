/*
 * sigchild FIFO: the child of the signal-forwarding benchmark.
 *
 * It blocks SIGUSR1, opens FIFO for writing, writes 'r' (ready), then for
 * every SIGUSR1 that sigwaitinfo() takes writes one byte 's'. Any other
 * signal has its default effect (SIGTERM ends it); so does a reader that
 * went away (SIGPIPE).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: sigchild FIFO\n");
		return 2;
	}
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGUSR1);
	if (sigprocmask(SIG_BLOCK, &set, NULL) < 0) {
		perror("sigchild: sigprocmask");
		return 1;
	}
	int fd = open(argv[1], O_WRONLY);
	if (fd < 0) {
		fprintf(stderr, "sigchild: %s: %s\n", argv[1], strerror(errno));
		return 1;
	}
	if (write(fd, "r", 1) != 1)
		return 1;
	for (;;) {
		siginfo_t si;
		if (sigwaitinfo(&set, &si) < 0) {
			if (errno == EINTR)
				continue;
			perror("sigchild: sigwaitinfo");
			return 1;
		}
		if (write(fd, "s", 1) != 1)
			return 1;
	}
}
