/* SPDX-License-Identifier: GPL-2.0-only */
/* thin_metadata_unpack: expand a pack file back into thin-pool metadata. */
#include <inttypes.h>
#include <stdio.h>
#include <sys/stat.h>

#include <libmeta/error.h>
#include <libmeta/family.h>
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
		"  -f, --force            overwrite METADATA even if it holds metadata (of any kind)\n"
		"  -q, --quiet            no messages\n"
		"  -h, --help             show this help and exit\n"
		"  -V, --version          print the version and exit\n"
		"\n"
		"Exit status: 0 ok, 1 the pack is damaged, 2 usage error, 3 operational error.\n");
}

int main(int argc, char **argv)
{
	struct cli_io_args args;
	struct meta_pack_stats st;
	struct stat sb;
	bool existed;
	int r;

	cli_init(argv[0]);
	cli_parse_io_writer_args(argc, argv, usage, META_FAMILY_THIN, &args);
	existed = stat(args.output, &sb) == 0;
	r = meta_unpack(args.input, args.output, args.force, &st);
	switch (r) {
	case META_OK:
		return EXIT_OK;
	case META_E_BADMAGIC:
		cli_err("%s: Not a pack file", args.input);
		return EXIT_OPERR;
	case META_E_VERSION:
		cli_err("%s: unsupported pack file version (only version 3 exists)", args.input);
		return EXIT_OPERR;
	case META_E_CORRUPT:
	case META_E_CHECKSUM:
		/* an existing output is written only after the whole pack verified */
		cli_err("%s: the pack is damaged (%s) after %" PRIu64 " blocks; %s %s", args.input,
			r == META_E_CHECKSUM ? "a block fails its checksum" : "malformed data",
			st.nr_packed, args.output, existed ? "was not changed" : "is incomplete");
		return EXIT_DAMAGE;
	case META_E_EXISTS:
		cli_err("%s appears to already contain thin-pool metadata; use --force to overwrite it",
			args.output);
		return EXIT_OPERR;
	case META_E_NOSPC:
		if (stat(args.output, &sb) == 0 && S_ISBLK(sb.st_mode))
			cli_err("%s is smaller than the packed metadata (%" PRIu64 " blocks of 4 KiB)",
				args.output, st.nr_blocks);
		else /* a file is sized (sparse) up front: only its filesystem can be full */
			cli_err("%s: the filesystem holding the output file is full after %" PRIu64
				" blocks (the file is sparse: each metadata block written needs real "
				"space); free space there or unpack onto a device", args.output,
				st.nr_packed);
		return EXIT_OPERR;
	default:
		if (st.nr_blocks == 0)
			cli_report_open_error(args.input, r, 0);
		else
			cli_report_output_error(args.output, r);
		return EXIT_OPERR;
	}
}
