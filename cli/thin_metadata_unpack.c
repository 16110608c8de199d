/* SPDX-License-Identifier: GPL-2.0-only */
/* thin_metadata_unpack: expand a pack file back into thin-pool metadata. */
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>

#include <libmeta/error.h>
#include <libmeta/pack.h>

#include "common.h"

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: thin_metadata_unpack [options] -i PACK -o METADATA\n"
		"Write the metadata blocks stored in PACK (made by thin_metadata_pack of dmmeta or\n"
		"thin-provisioning-tools) back to METADATA; blocks not in the pack are zero.\n"
		"Every block's checksum is verified.\n"
		"\n"
		"Options:\n"
		"  -i, --input PACK       pack file\n"
		"  -o, --output METADATA  metadata device or file (a file is created if missing)\n"
		"  -f, --force            overwrite METADATA even if it holds thin-pool metadata\n"
		"  -q, --quiet            no messages\n"
		"  -h, --help             show this help and exit\n"
		"  -V, --version          print the version and exit\n"
		"\n"
		"Exit status: 0 ok, 1 the pack is damaged, 2 usage error, 3 operational error.\n");
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{"input", required_argument, NULL, 'i'},
		{"output", required_argument, NULL, 'o'},
		{"force", no_argument, NULL, 'f'},
		{"quiet", no_argument, NULL, 'q'},
		{"help", no_argument, NULL, 'h'},
		{"version", no_argument, NULL, 'V'},
		{NULL, 0, NULL, 0},
	};
	const char *input = NULL, *output = NULL;
	struct meta_pack_stats st;
	bool force = false;
	int c, r;

	cli_init(argv[0]);
	while ((c = getopt_long(argc, argv, "i:o:fqhV", opts, NULL)) != -1) {
		switch (c) {
		case 'i':
			input = optarg;
			break;
		case 'o':
			output = optarg;
			break;
		case 'f':
			force = true;
			break;
		default:
			cli_common_option(c, usage);
		}
	}
	if (optind != argc)
		cli_usage_error("unexpected argument '%s'", argv[optind]);
	if (!input)
		cli_usage_error("No input file provided (-i)");
	if (!output)
		cli_usage_error("No output file provided (-o)");
	r = meta_unpack(input, output, force, &st);
	switch (r) {
	case META_OK:
		return EXIT_OK;
	case META_E_BADMAGIC:
		cli_err("%s: Not a pack file", input);
		return EXIT_OPERR;
	case META_E_VERSION:
		cli_err("%s: unsupported pack file version (only version 3 exists)", input);
		return EXIT_OPERR;
	case META_E_CORRUPT:
	case META_E_CHECKSUM:
		cli_err("%s: the pack is damaged (%s) after %" PRIu64 " blocks; %s is incomplete", input,
			r == META_E_CHECKSUM ? "a block fails its checksum" : "malformed data",
			st.nr_packed, output);
		return EXIT_DAMAGE;
	case META_E_EXISTS:
		cli_err("%s appears to already contain thin-pool metadata; use --force to overwrite it",
			output);
		return EXIT_OPERR;
	case META_E_NOSPC:
		cli_err("%s is smaller than the packed metadata (%" PRIu64 " blocks)", output,
			st.nr_blocks);
		return EXIT_OPERR;
	default:
		if (st.nr_blocks == 0)
			cli_report_open_error(input, r, 0);
		else
			cli_report_output_error(output, r);
		return EXIT_OPERR;
	}
}
