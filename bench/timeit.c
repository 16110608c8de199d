/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * timeit — run one command and report its wall time, CPU time and peak RSS precisely.
 *
 *   timeit [-n NICE] [-o OUT] [-e ERR] -- COMMAND [ARGS...]
 *
 * The child gets stdout OUT (default /dev/null), stderr ERR (default: inherited) and, with -n,
 * the nice increment NICE.  The clock starts just before fork() and stops when wait4()
 * returns, so the figures do not include a shell's or /usr/bin/time's own start-up (which is
 * several ms and would blur the short runs of the bench).  Prints one line on stdout:
 *
 *   WALL_MS CPU_MS MAXRSS_KIB STATUS
 *
 * WALL_MS and CPU_MS (user+sys of the child) with three decimals; STATUS is the exit status,
 * or 128+signal.  timeit's own exit status: 0 when it could run the command, 2 usage, 3 when
 * fork/exec/wait failed.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double ms_between(const struct timespec *a, const struct timespec *b)
{
	return (double)(b->tv_sec - a->tv_sec) * 1e3 + (double)(b->tv_nsec - a->tv_nsec) / 1e6;
}

static double tv_ms(const struct timeval *tv)
{
	return (double)tv->tv_sec * 1e3 + (double)tv->tv_usec / 1e3;
}

int main(int argc, char **argv)
{
	const char *out = "/dev/null", *err = NULL;
	int niceval = 0, c;

	while ((c = getopt(argc, argv, "+n:o:e:")) != -1) {
		switch (c) {
		case 'n': niceval = atoi(optarg); break;
		case 'o': out = optarg; break;
		case 'e': err = optarg; break;
		default:
			fprintf(stderr, "usage: timeit [-n NICE] [-o OUT] [-e ERR] -- COMMAND [ARGS...]\n");
			return 2;
		}
	}
	if (optind >= argc) {
		fprintf(stderr, "usage: timeit [-n NICE] [-o OUT] [-e ERR] -- COMMAND [ARGS...]\n");
		return 2;
	}

	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	pid_t pid = fork();
	if (pid < 0) {
		fprintf(stderr, "timeit: fork: %s\n", strerror(errno));
		return 3;
	}
	if (pid == 0) {
		int fd = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		if (fd < 0 || dup2(fd, 1) < 0)
			_exit(126);
		close(fd);
		if (err) {
			fd = open(err, O_WRONLY | O_CREAT | O_TRUNC, 0644);
			if (fd < 0 || dup2(fd, 2) < 0)
				_exit(126);
			close(fd);
		}
		if (niceval) {
			errno = 0;
			if (nice(niceval) == -1 && errno)
				_exit(126);
		}
		execvp(argv[optind], &argv[optind]);
		fprintf(stderr, "timeit: cannot run %s: %s\n", argv[optind], strerror(errno));
		_exit(127);
	}
	int status;
	struct rusage ru;
	while (wait4(pid, &status, 0, &ru) < 0) {
		if (errno != EINTR) {
			fprintf(stderr, "timeit: wait4: %s\n", strerror(errno));
			return 3;
		}
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	int st = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
	printf("%.3f %.3f %ld %d\n", ms_between(&t0, &t1), tv_ms(&ru.ru_utime) + tv_ms(&ru.ru_stime),
	       ru.ru_maxrss, st);
	return 0;
}
