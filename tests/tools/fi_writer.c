// SPDX-License-Identifier: GPL-2.0-only
/*
 * fi_writer — a scripted writer for testing the fault-injection shim (tests/preload/faultinj.c).
 *   fi_writer FILE OP...
 * opens FILE read-write (created if absent) and runs the ops in order:
 *   p:OFF:LEN:C   pwrite LEN bytes of character C at OFF
 *   v:OFF:LEN:C   pwritev the same, as two iovecs
 *   w:LEN:C       write LEN bytes of C at the current position
 *   s             fsync        d   fdatasync
 *   o:LEN:C       write LEN bytes of C to stdout (not counted by the shim)
 * Each write or sync prints `ok` or `error: <strerror>` on a line to stdout.  Exit 0, or
 * 2 on a bad op, 3 if FILE cannot be opened.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

static void report(const char *op, long r)
{
	char line[160];
	int n;
	if (r < 0)
		n = snprintf(line, sizeof(line), "%s error: %s\n", op, strerror(errno));
	else
		n = snprintf(line, sizeof(line), "%s ok\n", op);
	(void)!write(1, line, (size_t)n);
}

int main(int argc, char **argv)
{
	static char buf[1 << 20];
	int fd, i;

	if (argc < 2) {
		fprintf(stderr, "usage: fi_writer FILE OP...\n");
		return 2;
	}
	fd = open(argv[1], O_RDWR | O_CREAT, 0644);
	if (fd < 0) {
		fprintf(stderr, "fi_writer: %s: %s\n", argv[1], strerror(errno));
		return 3;
	}
	for (i = 2; i < argc; i++) {
		const char *op = argv[i];
		unsigned long long off = 0, len = 0;
		char c = 0;
		if ((op[0] == 'p' || op[0] == 'v') &&
		    sscanf(op + 1, ":%llu:%llu:%c", &off, &len, &c) == 3 && len <= sizeof(buf)) {
			memset(buf, c, len);
			if (op[0] == 'p') {
				report(op, (long)pwrite(fd, buf, len, (off_t)off));
			} else {
				struct iovec iov[2] = { { buf, len / 2 }, { buf + len / 2, len - len / 2 } };
				report(op, (long)pwritev(fd, iov, 2, (off_t)off));
			}
		} else if ((op[0] == 'w' || op[0] == 'o') &&
			   sscanf(op + 1, ":%llu:%c", &len, &c) == 2 && len <= sizeof(buf)) {
			memset(buf, c, len);
			report(op, (long)write(op[0] == 'w' ? fd : 1, buf, len));
		} else if (!strcmp(op, "s")) {
			report(op, fsync(fd));
		} else if (!strcmp(op, "d")) {
			report(op, fdatasync(fd));
		} else {
			fprintf(stderr, "fi_writer: bad op '%s'\n", op);
			return 2;
		}
	}
	return 0;
}
