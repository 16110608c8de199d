/* SPDX-License-Identifier: GPL-2.0-only */
/* thin_restore: write thin-pool metadata from thin_dump's XML. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include <libmeta/error.h>
#include <libmeta/family.h>
#include <libmeta/io.h>
#include <libmeta/thin_restore.h>
#include <libmeta/thin_xml_read.h>

#include "common.h"

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: thin_restore [options] -i XML -o METADATA\n"
		"Write fresh thin-pool metadata holding exactly what XML (as written by thin_dump,\n"
		"flat or with <def>/<ref>) describes.  The superblock is written last: if anything\n"
		"fails, METADATA is left without a valid superblock, never half-written.\n"
		"\n"
		"Options:\n"
		"  -i, --input FILE              XML input ('-' for standard input)\n"
		"  -o, --output FILE             metadata device or file (must exist, >= 40960 bytes)\n"
		"      --transaction-id N        override the superblock's transaction id\n"
		"      --data-block-size SECTORS override the data block size (512-byte sectors)\n"
		"      --nr-data-blocks N        override the number of data blocks\n"
		"      --force                   overwrite an output that holds valid metadata\n"
		"                                (thin-pool, snapshot COW store, pack) or XML\n"
		"  -q, --quiet                   no messages\n"
		"  -h, --help                    show this help and exit\n"
		"  -V, --version                 print the version and exit\n"
		"\n"
		"Exit status: 0 ok, 2 usage error, 3 operational error (bad XML, output too small\n"
		"or holding metadata, I/O error).\n");
}

static void on_note(void *ctx, const struct meta_damage *d)
{
	(void)ctx;
	cli_err("note: %s", d->detail ? d->detail : meta_damage_text(d->kind));
}

static int looks_like_xml(FILE *f)
{
	int c;
	while ((c = getc(f)) == ' ' || c == '\t' || c == '\n' || c == '\r')
		;
	if (c != EOF)
		ungetc(c, f);
	return c == '<';
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{"input", required_argument, NULL, 'i'},
		{"output", required_argument, NULL, 'o'},
		{"transaction-id", required_argument, NULL, 1},
		{"data-block-size", required_argument, NULL, 2},
		{"nr-data-blocks", required_argument, NULL, 3},
		{"force", no_argument, NULL, 4},
		{"quiet", no_argument, NULL, 'q'},
		{"help", no_argument, NULL, 'h'},
		{"version", no_argument, NULL, 'V'},
		{NULL, 0, NULL, 0},
	};
	struct meta_thin_restore_opts ro;
	struct meta_thin_restorer *r;
	struct meta_thin_emitter em;
	const char *input = NULL, *output = NULL;
	char err[512];
	FILE *in;
	int c, e;

	memset(&ro, 0, sizeof(ro));
	cli_init(argv[0]);
	while ((c = getopt_long(argc, argv, "i:o:qhV", opts, NULL)) != -1) {
		switch (c) {
		case 'i':
			input = optarg;
			break;
		case 'o':
			output = optarg;
			break;
		case 1:
			ro.set_transaction_id = true;
			ro.transaction_id = cli_u64_arg("--transaction-id", optarg);
			break;
		case 2:
			ro.set_data_block_size = true;
			ro.data_block_size = cli_data_block_size_arg(optarg);
			break;
		case 3:
			ro.set_nr_data_blocks = true;
			ro.nr_data_blocks = cli_u64_arg("--nr-data-blocks", optarg);
			break;
		case 4:
			ro.force = true;
			break;
		default:
			cli_common_option(c, usage);
		}
	}
	if (optind != argc)
		cli_usage_error("unexpected argument '%s'", argv[optind]);
	if (!input)
		cli_usage_error("No input file provided (-i XML)");
	if (!output)
		cli_usage_error("No output file provided (-o METADATA)");
	/* before anything is opened for writing: never the input, never another family */
	if (!strcmp(input, "-")) {
		if (meta_io_same_storage("/proc/self/fd/0", output)) {
			cli_err("%s: the output is the standard input (same file or device); refusing "
				"to overwrite it", output);
			return EXIT_USAGE;
		}
	} else {
		cli_refuse_same_storage(input, output);
	}
	cli_refuse_foreign_family(output, META_FAMILY_THIN, ro.force);
	in = strcmp(input, "-") ? fopen(input, "r") : stdin;
	if (!in) {
		cli_err("%s: Couldn't find input file (%s)", input, strerror(errno));
		return EXIT_OPERR;
	}
	if (!looks_like_xml(in)) {
		cli_err("%s: this is not XML; thin_restore reads thin_dump's XML (for binary "
			"metadata use thin_repair)", input);
		if (in != stdin)
			fclose(in);
		return EXIT_OPERR;
	}
	ro.note = on_note;
	e = meta_thin_restorer_create(output, &ro, &r);
	if (e) {
		if (e == META_E_EXISTS)
			cli_err("%s already holds valid thin-pool metadata; use --force to overwrite it "
				"(thin_dump it first if it may still be needed)", output);
		else if (e == META_E_TOOSMALL)
			cli_err("%s: Output file too small (at least %u bytes are needed)", output,
				META_THIN_RESTORE_MIN_BYTES);
		else
			cli_report_output_error(output, e);
		if (in != stdin)
			fclose(in);
		return EXIT_OPERR;
	}
	em = meta_thin_restorer_emitter(r);
	e = meta_thin_xml_parse(in, &em, meta_thin_restorer_message, err, sizeof(err));
	if (in != stdin)
		fclose(in);
	if (!e)
		e = meta_thin_restorer_commit(r);
	if (e) {
		if (err[0])
			cli_err("%s: %s", input, err);
		else
			cli_err("%s: %s", output,
				meta_thin_restorer_message(r) ? meta_thin_restorer_message(r)
							       : meta_strerror(e));
		cli_err("nothing usable was written: %s has no valid superblock", output);
		meta_thin_restorer_destroy(r);
		return EXIT_OPERR;
	}
	meta_thin_restorer_destroy(r);
	return EXIT_OK;
}
