/* SPDX-License-Identifier: GPL-2.0-only */
/* thin_repair: write a fresh pool from damaged thin-pool metadata. */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include <libmeta/error.h>
#include <libmeta/family.h>
#include <libmeta/thin_repair.h>

#include "common.h"
#include "util_thin.h"

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: thin_repair [options] -i METADATA -o NEW_METADATA\n"
		"Read damaged thin-pool metadata and write a fresh, consistent pool holding every\n"
		"mapping that can still be read.  The input is never written.  When the superblock\n"
		"or its roots are lost, every block is scanned for btree nodes to find the trees.\n"
		"\n"
		"Options:\n"
		"  -i, --input FILE              damaged metadata (device or file; read only)\n"
		"  -o, --output FILE             where the repaired metadata goes (existing contents\n"
		"                                are replaced: lvconvert --repair passes its spare)\n"
		"      --transaction-id N        superblock transaction id (if it is lost: default\n"
		"                                the highest device transaction id + 1)\n"
		"      --data-block-size SECTORS data block size in 512-byte sectors (required if\n"
		"                                the superblock is lost)\n"
		"      --nr-data-blocks N        number of data blocks (if it is lost: default the\n"
		"                                highest mapped data block + 1)\n"
		"  -q, --quiet                   no messages\n"
		"  -h, --help                    show this help and exit\n"
		"  -V, --version                 print the version and exit\n"
		"\n"
		"Exit status: 0 repaired, 1 nothing could be recovered, 2 usage error,\n"
		"3 operational error.\n");
}

static void on_damage(void *ctx, const struct meta_damage *d)
{
	unsigned *n = ctx;
	if (d->severity < META_SEV_FATAL || ++*n > 20)
		return;
	cli_damage_print(CLI_DAMAGE_REPAIR, "skipping damage: ", d);
}

/* A missing or unusable input or output, reported with the key phrases of thin_repair 1.x
 * (the library's own message does not say which of the two it was).  0: carry on. */
static int precheck(const char *path, bool is_output)
{
	struct stat sb;
	int e = 0;
	if (stat(path, &sb) != 0)
		e = errno == ENOENT ? META_E_NOENT : 0;
	else if (!S_ISREG(sb.st_mode) && !S_ISBLK(sb.st_mode))
		e = META_E_ISDIR;
	if (!e)
		return 0;
	if (is_output)
		cli_report_output_error(path, e);
	else
		cli_report_open_error(path, e, 0);
	return EXIT_OPERR;
}

int main(int argc, char **argv)
{
	struct meta_thin_repair_opts ro;
	struct meta_thin_repair_stats st;
	struct cli_thin_writer_args args;
	const char *input, *output;
	unsigned ndamage = 0;
	char err[512];
	int r;

	memset(&ro, 0, sizeof(ro));
	cli_init(argv[0]);
	cli_thin_writer_options(argc, argv, usage, false, &ro.out, &args);
	input = args.input;
	output = args.output;
	/* lvconvert --repair passes one extra positional argument: accepted and ignored */
	if (argc - optind > 1)
		cli_usage_error("unexpected argument '%s'", argv[optind + 1]);
	if (!input)
		cli_usage_error("No input file provided (-i METADATA)");
	if (!output)
		cli_usage_error("No output file provided (-o NEW_METADATA)");
	cli_refuse_same_storage(input, output);
	if ((r = precheck(input, false)) != 0 || (r = precheck(output, true)) != 0)
		return r;
	/* another family's metadata (a classic snapshot's COW store, ...): no pool to find */
	if (cli_report_foreign_family(input, META_FAMILY_THIN))
		return EXIT_DAMAGE;
	ro.out.force = true;
	ro.damage = on_damage;
	ro.damage_ctx = &ndamage;
	r = meta_thin_repair(input, output, &ro, &st, err, sizeof(err));
	size_t olen = strlen(output), ilen = strlen(input);
	if (r == META_E_TOOSMALL && !strncmp(err, output, olen) && err[olen] == ':')
		cli_err("%s: Output file too small (%s)", output, meta_strerror(r));
	else if ((r == META_E_TOOSMALL || r == META_E_LOOKSXML) && !strncmp(err, input, ilen) &&
		 err[ilen] == ':')
		cli_report_open_error(input, r, 0);
	else if (r == META_E_NOTFOUND)
		cli_err("no compatible roots found: %s", err[0] ? err : meta_strerror(r));
	else if (r)
		cli_err("%s", err[0] ? err : meta_strerror(r));
	if (r) {
		if (r == META_E_INVAL && !st.used_superblock)
			return EXIT_USAGE;
		return r == META_E_NOTFOUND || r == META_E_CORRUPT ? EXIT_DAMAGE : EXIT_OPERR;
	}
	if (!cli_quiet && st.rewritten_unshared)
		fprintf(stderr, "%s: the subtrees the input's devices share are malformed (the "
				"output that kept them shared failed its check: %s): every device's "
				"tree was written whole\n", cli_prog,
			st.unshared_reason >= 0 ? meta_damage_name(st.unshared_reason)
						: "it did not open");
	if (!cli_quiet && (st.scanned || st.nr_damage || st.nr_salvaged))
		fprintf(stderr,
			"%s: repaired: %" PRIu64 " devices, %" PRIu64 " mappings (%" PRIu64
			" salvaged from orphaned leaves)%s\n",
			cli_prog, st.nr_devices, st.nr_mappings, st.nr_salvaged,
			st.scanned ? "; roots found by scanning" : "");
	return EXIT_OK;
}
