/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * thin_ls: list the thin devices of a pool with their space usage.
 * Output is byte-compatible with thin-provisioning-tools 0.9 thin_ls.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libmeta/error.h>
#include <libmeta/thin.h>
#include <libmeta/thin_ls.h>

#include "common.h"
#include "util_thin.h"

enum field {
	F_DEV,
	F_MAPPED_BLOCKS,
	F_EXCLUSIVE_BLOCKS,
	F_SHARED_BLOCKS,
	F_MAPPED_SECTORS,
	F_EXCLUSIVE_SECTORS,
	F_SHARED_SECTORS,
	F_MAPPED_BYTES,
	F_EXCLUSIVE_BYTES,
	F_SHARED_BYTES,
	F_MAPPED,
	F_EXCLUSIVE,
	F_SHARED,
	F_TRANSACTION,
	F_CREATE_TIME,
	F_SNAP_TIME,
	F_HIGHEST_BLOCK,
	F__COUNT
};

static const char *const field_names[F__COUNT] = {
	"DEV",           "MAPPED_BLOCKS",  "EXCLUSIVE_BLOCKS", "SHARED_BLOCKS",
	"MAPPED_SECTORS", "EXCLUSIVE_SECTORS", "SHARED_SECTORS", "MAPPED_BYTES",
	"EXCLUSIVE_BYTES", "SHARED_BYTES",  "MAPPED",           "EXCLUSIVE",
	"SHARED",        "TRANSACTION",    "CREATE_TIME",      "SNAP_TIME",
	"HIGHEST_BLOCK",
};

#define MAX_FIELDS 256

static void usage(FILE *out)
{
	fprintf(out,
		"Usage: %s [options] METADATA\n"
		"List the thin devices of a thin-pool metadata device or file, with their space use.\n"
		"\n"
		"Options:\n"
		"  -o, --format FIELDS        comma-separated list of columns (default\n"
		"                             DEV,MAPPED,CREATE_TIME,SNAP_TIME)\n"
		"      --no-headers           do not print the header row\n"
		CLI_THIN_READER_SNAP_HELP
		"  -h, --help                 show this help and exit\n"
		"  -V, --version              show the version and exit\n"
		"\n"
		"Fields:\n"
		"  DEV                        thin device id\n"
		"  MAPPED_BLOCKS, MAPPED_SECTORS, MAPPED_BYTES, MAPPED\n"
		"                             mapped data (from the device details)\n"
		"  EXCLUSIVE_BLOCKS, EXCLUSIVE_SECTORS, EXCLUSIVE_BYTES, EXCLUSIVE\n"
		"                             mapped data no other mapping in the pool uses\n"
		"  SHARED_BLOCKS, SHARED_SECTORS, SHARED_BYTES, SHARED\n"
		"                             mapped minus exclusive\n"
		"  TRANSACTION, CREATE_TIME, SNAP_TIME\n"
		"                             device transaction id, creation and snapshot times\n"
		"  HIGHEST_BLOCK\n"
		"                             highest mapped virtual block (0 when none; tpt 1.x)\n"
		"Blocks are data blocks, sectors are 512 bytes; MAPPED, EXCLUSIVE and SHARED are\n"
		"sizes in binary units (KiB, MiB, ...), rounded down.\n"
		"\n"
		"Exit status: 0 ok, 1 metadata damaged, 2 usage error, 3 cannot read the input.\n",
		cli_prog);
}

static int parse_fields(const char *arg, enum field *fields)
{
	int n = 0;
	const char *p = arg;
	if (!*arg)
		cli_usage_error("--format needs at least one field");
	for (;;) {
		const char *comma = strchr(p, ',');
		size_t len = comma ? (size_t)(comma - p) : strlen(p);
		int found = -1;
		if (!comma && len == 0 && n > 0)
			break; /* one trailing comma is accepted, as 0.9 does */
		for (int i = 0; i < F__COUNT; i++)
			if (strlen(field_names[i]) == len && !strncmp(field_names[i], p, len))
				found = i;
		if (found < 0)
			cli_usage_error("unknown field '%.*s' in --format; valid fields: DEV, "
					"MAPPED_BLOCKS, EXCLUSIVE_BLOCKS, SHARED_BLOCKS, MAPPED_SECTORS, "
					"EXCLUSIVE_SECTORS, SHARED_SECTORS, MAPPED_BYTES, EXCLUSIVE_BYTES, "
					"SHARED_BYTES, MAPPED, EXCLUSIVE, SHARED, TRANSACTION, CREATE_TIME, "
					"SNAP_TIME, HIGHEST_BLOCK",
					(int)(len > 64 ? 64 : len), p);
		if (n == MAX_FIELDS)
			cli_usage_error("too many fields in --format (at most %d)", MAX_FIELDS);
		fields[n++] = (enum field)found;
		if (!comma)
			break;
		p = comma + 1;
	}
	return n;
}

/*
 * Sizes from the metadata: blocks x data block size x 512 can pass 2^64 (a pool
 * of 2^40 blocks of 1 GiB, or a damaged mapped_blocks), so they are computed in
 * 128 bits and printed exactly, never wrapped.
 */
typedef unsigned __int128 u128;

static void put_u128(char *buf, size_t len, u128 v)
{
	char tmp[48];
	size_t i = sizeof(tmp);
	tmp[--i] = 0;
	do {
		tmp[--i] = (char)('0' + (unsigned)(v % 10));
		v /= 10;
	} while (v);
	snprintf(buf, len, "%s", tmp + i);
}

/* meta_thin_ls_human() past 2^64 bytes: the same rounding, units up to YiB. */
static void human_u128(char *buf, size_t len, u128 bytes)
{
	static const char *const units[] = {"", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB", "ZiB",
					    "YiB"};
	unsigned i = 0;
	if (bytes <= UINT64_MAX) {
		meta_thin_ls_human((uint64_t)bytes, buf, len);
		return;
	}
	while (bytes > 1024u * 1024u && i < 7) {
		bytes /= 1024;
		i++;
	}
	if (bytes > 8u * 1024u) {
		bytes = (bytes + 512) / 1024;
		i++;
	}
	put_u128(buf, len, bytes);
	snprintf(buf + strlen(buf), len - strlen(buf), "%s", units[i]);
}

/*
 * F_MAPPED_BLOCKS..F_SHARED: three counts (mapped, exclusive, shared) in four units
 * (blocks, sectors, bytes, human-readable bytes), in that order; -1 for another field.
 */
static int count_field(enum field f)
{
	return f >= F_MAPPED_BLOCKS && f <= F_SHARED ? (int)(f - F_MAPPED_BLOCKS) : -1;
}

/* Does a field need exclusive/shared counts (reading every mapping leaf)? */
static bool needs_sharing(const enum field *fields, int nf)
{
	for (int i = 0; i < nf; i++)
		if (count_field(fields[i]) % 3 > 0)
			return true;
	return false;
}

static void cell(char *buf, size_t len, enum field f, const struct meta_thin_ls_dev *d,
		 uint64_t bs, uint64_t highest)
{
	int k = count_field(f);
	uint64_t v = 0;
	if (k >= 0) {
		const uint64_t counts[3] = {d->mapped_blocks, d->exclusive_blocks, d->shared_blocks};
		const unsigned unit = (unsigned)k / 3;
		u128 n = counts[k % 3];
		if (unit >= 1)
			n *= bs;
		if (unit >= 2)
			n *= 512u;
		if (unit == 3)
			human_u128(buf, len, n);
		else
			put_u128(buf, len, n);
		return;
	}
	switch (f) {
	case F_DEV:
		v = d->dev_id;
		break;
	case F_TRANSACTION:
		v = d->transaction_id;
		break;
	case F_CREATE_TIME:
		v = d->creation_time;
		break;
	case F_SNAP_TIME:
		v = d->snapshotted_time;
		break;
	case F_HIGHEST_BLOCK:
		v = highest;
		break;
	default:
		break;
	}
	snprintf(buf, len, "%" PRIu64, v);
}

#define CELL 32

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{"format", required_argument, NULL, 'o'},
		{"no-headers", no_argument, NULL, 'H'},
		CLI_THIN_READER_LONGOPTS,
	};
	enum field fields[MAX_FIELDS] = {F_DEV, F_MAPPED, F_CREATE_TIME, F_SNAP_TIME};
	int nf = 4, headers = 1, c, r;
	struct meta_thin_open_opts oo;
	struct meta_thin *t = NULL;
	struct meta_thin_ls_dev *devs = NULL;
	uint64_t *highest = NULL;
	struct cli_first_damage fd;
	uint64_t nd = 0, bs;
	size_t widths[MAX_FIELDS];
	char *cells;
	const char *path;

	cli_thin_reader_init(argv, &oo, &fd);
	while ((c = getopt_long(argc, argv, "o:m::hV", longopts, NULL)) != -1) {
		if (c == 'o')
			nf = parse_fields(optarg, fields);
		else if (c == 'H')
			headers = 0;
		else
			cli_thin_reader_option(c, &oo, usage);
	}
	path = cli_one_operand(argc, argv, "no metadata device or file given");

	r = cli_thin_open(path, &oo, &t);
	if (r)
		return r;
	/* read mapping leaves only when a field needs exclusive/shared counts (as 0.9) */
	r = needs_sharing(fields, nf) ? meta_thin_ls(t, &devs, &nd, cli_keep_first_damage, &fd)
				       : meta_thin_ls_details(t, &devs, &nd, cli_keep_first_damage, &fd);
	if (r) {
		meta_thin_close(t);
		return cli_thin_report_walk_error(path, r, &fd);
	}
	bs = meta_thin_sb(t)->data_block_size;
	for (int i = 0; i < nf && !highest; i++)
		if (fields[i] == F_HIGHEST_BLOCK) {
			/* tpt 1.x's field: down each device's rightmost path, only when asked */
			highest = calloc(nd ? nd : 1, sizeof(*highest));
			if (!highest) {
				r = META_E_NOMEM;
				break;
			}
			for (uint64_t d = 0; d < nd && !r; d++)
				r = meta_thin_highest_block(t, devs[d].dev_id, &highest[d]);
		}
	meta_thin_close(t);
	if (r) {
		cli_err("%s: metadata contains errors: the highest mapped block of a device cannot be read (%s); run thin_check",
			path, meta_strerror(r));
		free(highest);
		free(devs);
		return cli_exit_for(r);
	}

	/* Grid: every cell right-aligned to its column's widest entry, then one space. */
	cells = malloc((size_t)(nd + 1) * (size_t)nf * CELL);
	if (!cells) {
		cli_err("out of memory");
		free(highest);
		free(devs);
		return EXIT_OPERR;
	}
	for (int i = 0; i < nf; i++)
		widths[i] = headers ? strlen(field_names[fields[i]]) : 0;
	for (uint64_t d = 0; d < nd; d++)
		for (int i = 0; i < nf; i++) {
			char *s = cells + ((size_t)d * (size_t)nf + (size_t)i) * CELL;
			size_t l;
			cell(s, CELL, fields[i], &devs[d], bs, highest ? highest[d] : 0);
			l = strlen(s);
			if (l > widths[i])
				widths[i] = l;
		}
	if (nf > 0) {
		if (headers) {
			for (int i = 0; i < nf; i++)
				printf("%*s ", (int)widths[i], field_names[fields[i]]);
			putchar('\n');
		}
		for (uint64_t d = 0; d < nd; d++) {
			for (int i = 0; i < nf; i++)
				printf("%*s ", (int)widths[i],
				       cells + ((size_t)d * (size_t)nf + (size_t)i) * CELL);
			putchar('\n');
		}
	}
	free(cells);
	free(devs);
	free(highest);
	return cli_flush_stdout();
}
