/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Baseline for bench/snap_merge.sh: copy the listed COW chunks to their origin
 * places (stdin: "old new" per line, chunk numbers), in the given order, with
 * pread/pwrite, then one fdatasync.  The least work a merge can do.
 * Usage: copychunks COW ORIGIN CHUNK_SECTORS < list
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	unsigned long long o, n;
	size_t cb;
	char *buf;
	int cow, org;
	if (argc != 4) {
		fprintf(stderr, "usage: copychunks COW ORIGIN CHUNK_SECTORS < list\n");
		return 2;
	}
	cb = (size_t)strtoul(argv[3], NULL, 10) * 512;
	cow = open(argv[1], O_RDONLY);
	org = open(argv[2], O_WRONLY);
	buf = malloc(cb);
	if (cow < 0 || org < 0 || !buf || !cb) {
		perror("copychunks");
		return 3;
	}
	while (scanf("%llu %llu", &o, &n) == 2)
		if (pread(cow, buf, cb, (off_t)(n * cb)) != (ssize_t)cb ||
		    pwrite(org, buf, cb, (off_t)(o * cb)) != (ssize_t)cb) {
			perror("copychunks");
			return 3;
		}
	if (fdatasync(org)) {
		perror("fdatasync");
		return 3;
	}
	return 0;
}
