/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * thin_rmap: which thin devices map the given data blocks.
 * Output is byte-compatible with thin-provisioning-tools 0.9 thin_rmap.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libmeta/error.h>
#include <libmeta/thin.h>
#include <libmeta/thin_rmap.h>

#include "common.h"
#include "util_thin.h"

static void usage(FILE *out)
{
	fprintf(out,
		"Usage: %s --region BEGIN..END [--region ...] [options] METADATA\n"
		"Show which thin devices and virtual blocks map the given data blocks.\n"
		"\n"
		"Options:\n"
		"      --region BEGIN..END    data blocks BEGIN to END-1 (half-open range;\n"
		"                             5..45 is blocks 5 to 44); repeat for more ranges\n"
		CLI_THIN_READER_SNAP_HELP
		"  -h, --help                 show this help and exit\n"
		"  -V, --version              show the version and exit\n"
		"\n"
		"Output: one line per run, sorted by data block:\n"
		"  data B..E -> thin(DEV) VB..VE\n"
		"meaning data blocks B..E-1 are mapped by device DEV at virtual blocks VB..VE-1.\n"
		"\n"
		"Exit status: 0 ok, 1 metadata damaged, 2 usage error, 3 cannot read the input.\n",
		cli_prog);
}

/* Strict decimal number of [s, e); 0 on success. */
static int parse_num(const char *s, const char *e, uint64_t *out)
{
	uint64_t v = 0;
	if (s == e)
		return -1;
	for (const char *p = s; p < e; p++) {
		unsigned dgt;
		if (*p < '0' || *p > '9')
			return -1;
		dgt = (unsigned)(*p - '0');
		if (v > (UINT64_MAX - dgt) / 10)
			return -2;
		v = v * 10 + dgt;
	}
	*out = v;
	return 0;
}

static struct meta_thin_region parse_region(const char *arg)
{
	struct meta_thin_region rg;
	const char *dots = strstr(arg, "..");
	const char *end;
	int r;
	if (!dots)
		cli_usage_error("invalid region '%s': expected BEGIN..END, for example 5..45", arg);
	end = arg + strlen(arg);
	r = parse_num(arg, dots, &rg.begin);
	if (!r)
		r = parse_num(dots + 2, end, &rg.end);
	if (r == -2)
		cli_usage_error("invalid region '%s': block number too large", arg);
	if (r)
		cli_usage_error("invalid region '%s': BEGIN and END must be decimal block numbers "
				"(BEGIN..END, for example 5..45)",
				arg);
	if (rg.end <= rg.begin)
		cli_usage_error("invalid region '%s': END must be greater than BEGIN "
				"(the range BEGIN..END excludes END)",
				arg);
	return rg;
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{"region", required_argument, NULL, 'r'},
		CLI_THIN_READER_LONGOPTS,
	};
	struct meta_thin_region *regions = NULL;
	size_t nr_regions = 0, cap = 0, nruns = 0;
	struct meta_thin_open_opts oo;
	struct meta_thin *t = NULL;
	struct meta_thin_rmap_run *runs = NULL;
	struct cli_first_damage fd;
	const char *path;
	int c, r;

	cli_thin_reader_init(argv, &oo, &fd);
	while ((c = getopt_long(argc, argv, "m::hV", longopts, NULL)) != -1) {
		if (c != 'r') {
			cli_thin_reader_option(c, &oo, usage);
			continue;
		}
		if (nr_regions == cap) {
			size_t nc = cap ? cap * 2 : 8;
			void *p = realloc(regions, nc * sizeof(*regions));
			if (!p) {
				cli_err("out of memory");
				return EXIT_OPERR;
			}
			regions = p;
			cap = nc;
		}
		regions[nr_regions++] = parse_region(optarg);
	}
	path = cli_one_operand(argc, argv, "no metadata device or file given");
	if (!nr_regions)
		cli_usage_error("no --region given (for example --region 0..100)");

	r = cli_thin_open(path, &oo, &t);
	if (r) {
		free(regions);
		return r;
	}
	r = meta_thin_rmap(t, regions, nr_regions, &runs, &nruns, cli_keep_first_damage, &fd);
	meta_thin_close(t);
	free(regions);
	if (r)
		return cli_thin_report_walk_error(path, r, &fd);
	for (size_t i = 0; i < nruns; i++)
		printf("data %" PRIu64 "..%" PRIu64 " -> thin(%" PRIu32 ") %" PRIu64 "..%" PRIu64 "\n",
		       runs[i].data_begin, runs[i].data_end, runs[i].dev_id, runs[i].thin_begin,
		       runs[i].thin_begin + (runs[i].data_end - runs[i].data_begin));
	free(runs);
	return cli_flush_stdout();
}
