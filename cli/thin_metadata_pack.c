/* SPDX-License-Identifier: GPL-2.0-only */
/* thin_metadata_pack: compress thin-pool metadata into a pack file (tpt format v3). */
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <unistd.h>

#include <libmeta/error.h>
#include <libmeta/pack.h>

#include "common.h"

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: thin_metadata_pack [options] -i METADATA -o PACK\n"
		"Store every metadata block of METADATA (recognised by its checksum) in a\n"
		"compressed pack file, in the format of thin-provisioning-tools' thin_metadata_pack,\n"
		"to attach to a bug report or keep as a test fixture.  Typical size: a few percent\n"
		"of the metadata actually in use.\n"
		"\n"
		"Options:\n"
		"  -i, --input METADATA   metadata device or file (read only)\n"
		"  -o, --output PACK      pack file to create (replaced if it exists)\n"
		"  -f, --force            accepted for compatibility (the pack file is always replaced)\n"
		"  -q, --quiet            no messages\n"
		"  -h, --help             show this help and exit\n"
		"  -V, --version          print the version and exit\n"
		"\n"
		"Exit status: 0 ok, 2 usage error, 3 operational error.\n");
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
	(void)force;
	r = meta_pack(input, output, &st);
	if (r) {
		if (r == META_E_TOOSMALL)
			cli_err("%s: Metadata device/file too small.  Is this binary metadata?", input);
		else if (r == META_E_NOTFOUND) {
			cli_err("%s holds no block with a metadata checksum: is it the pool's _tmeta "
				"device? Nothing was written", input);
			return EXIT_DAMAGE;
		} else if (r == META_E_LOOKSXML)
			cli_report_open_error(input, r, 0);
		else if (access(input, R_OK))
			cli_report_open_error(input, r, 0);
		else
			cli_report_output_error(output, r);
		return EXIT_OPERR;
	}
	return EXIT_OK;
}
