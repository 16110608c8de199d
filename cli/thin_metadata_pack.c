/* SPDX-License-Identifier: GPL-2.0-only */
/* thin_metadata_pack: compress thin-pool metadata into a pack file (tpt format v3). */
#include <inttypes.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include <libmeta/error.h>
#include <libmeta/family.h>
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
		"  -o, --output PACK      pack file to create (a pack file there is replaced)\n"
		"  -f, --force            replace PACK even if it holds metadata or XML\n"
		"  -q, --quiet            no messages\n"
		"  -h, --help             show this help and exit\n"
		"  -V, --version          print the version and exit\n"
		"\n"
		"Exit status: 0 ok, 2 usage error, 3 operational error.\n");
}

int main(int argc, char **argv)
{
	struct cli_io_args args;
	struct meta_pack_stats st;
	struct stat sb;
	int r;

	cli_init(argv[0]);
	cli_parse_io_writer_args(argc, argv, usage, META_FAMILY_PACK, &args);
	r = meta_pack(args.input, args.output, &st);
	if (r) {
		if (r == META_E_TOOSMALL)
			cli_err("%s: Metadata device/file too small.  Is this binary metadata?", args.input);
		else if (r == META_E_NOTFOUND) {
			cli_err("%s holds no block with a metadata checksum: is it the pool's _tmeta "
				"device? Nothing was written", args.input);
			return EXIT_DAMAGE;
		} else if (r == META_E_LOOKSXML)
			cli_report_open_error(args.input, r, 0);
		else if (r == META_E_NOSPC)
			cli_err("%s: the filesystem holding the pack file is full; nothing usable was "
				"written (free space there, or write the pack elsewhere)", args.output);
		else if (access(args.input, R_OK) || (stat(args.input, &sb) == 0 &&
						       !S_ISREG(sb.st_mode) && !S_ISBLK(sb.st_mode)))
			cli_report_open_error(args.input, r, 0);
		else
			cli_report_output_error(args.output, r);
		return EXIT_OPERR;
	}
	return EXIT_OK;
}
