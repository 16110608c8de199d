/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * thin_dump: dump thin-pool metadata as XML (the flat format of
 * thin-provisioning-tools 0.9.0, byte for byte) or as human-readable text.
 */
#include "common.h"
#include "util_thin.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <libmeta/damage.h>
#include <libmeta/error.h>
#include <libmeta/family.h>
#include <libmeta/thin.h>
#include <libmeta/thin_dump.h>
#include <libmeta/thin_repair.h>
#include <libmeta/thin_xml.h>

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: %s [options] {device|file}\n"
		"Dump thin-pool metadata to stdout as XML (the format of thin_restore).\n"
		"\n"
		"Options:\n"
		"  -f, --format FORMAT       xml (default) or human_readable\n"
		"  -m, --metadata-snap[=BLOCK]\n"
		"                            dump the metadata snapshot (held root, or the\n"
		"                            snapshot superblock at BLOCK) of a live pool;\n"
		"                            opens the device without O_EXCL\n"
		"      --dev-id ID           dump only this device (repeatable)\n"
		"      --skip-mappings       devices only, no mappings\n"
		"      --shared              write subtrees shared between devices once, as\n"
		"                            <def>s that devices <ref> (needs a 1.x-compatible\n"
		"                            thin_restore)\n"
		"  -o, --output FILE         write to FILE instead of stdout\n"
		"  -r, --repair              best effort past damage: skip unreadable subtrees,\n"
		"                            keep every readable mapping\n"
		"      --transaction-id N    override the superblock's transaction id\n"
		"      --data-block-size N   override the data block size (sectors)\n"
		"      --nr-data-blocks N    override the number of data blocks\n"
		"  -q, --quiet               no messages (the dump is still written)\n"
		"  -h, --help                show this help and exit\n"
		"  -V, --version             show the version and exit\n"
		"\n"
		"Exit status: 0 dump written; 1 damaged metadata (or, with --repair, nothing\n"
		"readable); 2 usage error; 3 cannot open, read or write.\n",
		cli_prog);
}

enum {
	OPT_DEV_ID = 256,
	OPT_SKIP_MAPPINGS,
	OPT_SHARED,
};

static const struct option long_opts[] = {
	CLI_ARG("format", 'f'),
	CLI_OPTARG("metadata-snap", 'm'),
	CLI_ARG("dev-id", OPT_DEV_ID),
	CLI_FLAG("skip-mappings", OPT_SKIP_MAPPINGS),
	CLI_FLAG("shared", OPT_SHARED),
	CLI_ARG("output", 'o'),
	CLI_FLAG("repair", 'r'),
	CLI_THIN_OVERRIDE_LONGOPTS,
	CLI_COMMON_LONGOPTS,
};

/* The command line. */
struct args {
	enum meta_thin_text_format fmt;
	struct meta_thin_dump_opts dopts;
	struct meta_thin_open_opts oopts;
	const char *input, *output;
	uint64_t *dev_ids;
	size_t nr_dev_ids;
	bool repair;
};

static void add_dev_id(struct args *a, const char *arg)
{
	uint64_t id = cli_u64_arg("--dev-id", arg);
	uint64_t *n = realloc(a->dev_ids, (a->nr_dev_ids + 1) * sizeof(*n));
	if (!n) {
		cli_err("out of memory");
		exit(EXIT_OPERR);
	}
	a->dev_ids = n;
	a->dev_ids[a->nr_dev_ids++] = id;
}

/* thin_dump's overrides: its own bounds (any 32-bit block size, any block count). */
static void set_override(struct meta_thin_dump_opts *d, int c, const char *arg)
{
	if (c == CLI_OPT_TRANSACTION_ID) {
		d->set_transaction_id = true;
		d->transaction_id = cli_u64_arg("--transaction-id", arg);
	} else if (c == CLI_OPT_DATA_BLOCK_SIZE) {
		uint64_t v = cli_u64_arg("--data-block-size", arg);
		if (v > UINT32_MAX)
			cli_usage_error("--data-block-size %s is too large", arg);
		d->set_data_block_size = true;
		d->data_block_size = (uint32_t)v;
	} else {
		d->set_nr_data_blocks = true;
		d->nr_data_blocks = cli_u64_arg("--nr-data-blocks", arg);
	}
}

static void parse_args(int argc, char **argv, struct args *a)
{
	bool metadata_snap = false;
	int c;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":f:m::o:rqhV", long_opts, NULL)) != -1) {
		switch (c) {
		case 'f':
			if (!strcmp(optarg, "xml"))
				a->fmt = META_THIN_FORMAT_XML;
			else if (!strcmp(optarg, "human_readable") || !strcmp(optarg, "human"))
				a->fmt = META_THIN_FORMAT_HUMAN;
			else
				cli_usage_error("unknown format '%s' (use xml or human_readable)", optarg);
			break;
		case 'm':
			metadata_snap = true;
			if (optarg) {
				const char *v = optarg[0] == '=' ? optarg + 1 : optarg;
				a->oopts.metadata_snap_block = cli_u64_arg("--metadata-snap", v);
				if (!a->oopts.metadata_snap_block)
					cli_usage_error("--metadata-snap: block 0 is the live superblock");
			}
			break;
		case OPT_DEV_ID:
			add_dev_id(a, optarg);
			break;
		case OPT_SKIP_MAPPINGS:
			a->dopts.flags |= META_THIN_DUMP_SKIP_MAPPINGS;
			break;
		case OPT_SHARED:
			a->dopts.flags |= META_THIN_DUMP_SHARED;
			break;
		case 'o':
			a->output = optarg;
			break;
		case 'r':
			a->repair = true;
			break;
		case CLI_OPT_TRANSACTION_ID:
		case CLI_OPT_DATA_BLOCK_SIZE:
		case CLI_OPT_NR_DATA_BLOCKS:
			set_override(&a->dopts, c, optarg);
			break;
		default:
			cli_common_or_bad_option(c, argv, usage);
		}
	}
	a->input = cli_one_operand(argc, argv, "no input device or file given");
	cli_refuse_same_storage(a->input, a->output);
	/* Open the metadata: exclusively, unless reading a live pool's metadata snapshot. */
	a->oopts.flags = metadata_snap ? META_THIN_OPEN_METADATA_SNAP : META_THIN_OPEN_EXCL;
	if (a->repair)
		a->oopts.flags |= META_THIN_OPEN_NO_SB_CHECK;
}

/* --repair over a destroyed superblock: find the trees by scanning every block (as
 * thin_repair) and open them.  0, or the exit status (*t closed). */
static int rebuild_superblock(struct args *a, struct meta_thin **t)
{
	struct meta_thin_found_roots fr;
	int r = meta_thin_find_roots(*t, &fr);
	meta_thin_close(*t);
	*t = NULL;
	if (r == META_E_NOTFOUND) {
		cli_err("%s: no compatible roots found: the superblock is destroyed and no top-level "
			"mapping tree with a device details tree of the same devices was found by "
			"scanning: nothing to dump",
			a->input);
		return EXIT_DAMAGE;
	}
	if (!r) {
		a->oopts.override_mapping_root = fr.mapping_root;
		a->oopts.override_details_root = fr.details_root;
		r = meta_thin_open(a->input, &a->oopts, t);
	}
	if (r) {
		cli_report_open_error(a->input, r, 0);
		return cli_exit_for(r);
	}
	if (!a->dopts.set_transaction_id) {
		a->dopts.set_transaction_id = true;
		a->dopts.transaction_id = fr.transaction_id;
	}
	if (!a->dopts.set_nr_data_blocks) {
		a->dopts.set_nr_data_blocks = true;
		a->dopts.nr_data_blocks = fr.nr_data_blocks;
	}
	a->dopts.rebuilt_sb = true;
	a->dopts.time = fr.time;
	return 0;
}

/* --repair: a superblock failing its checksum is still used if its magic is right.
 * 0, or the exit status (*t closed). */
static int repair_superblock(struct args *a, struct meta_thin **t)
{
	int verdict = meta_thin_live_sb_verdict(*t);
	a->dopts.flags |= META_THIN_DUMP_REPAIR;
	if (verdict == META_OK)
		return 0; /* sound: dumped as it is */
	if (meta_thin_live_sb(*t)->magic == META_THIN_MAGIC) {
		cli_err("warning: %s: superblock fails validation (%s); using its fields and roots "
			"(override with --transaction-id, --data-block-size, --nr-data-blocks)",
			a->input, meta_strerror(verdict));
		return 0;
	}
	if (cli_report_foreign_family(a->input, META_FAMILY_THIN)) {
		meta_thin_close(*t);
		return EXIT_DAMAGE;
	}
	if (!a->dopts.set_data_block_size) {
		cli_err("%s: data block size needs to be provided due to corruption in the "
			"superblock: give --data-block-size (the pool's chunk size in sectors)",
			a->input);
		meta_thin_close(*t);
		return EXIT_USAGE;
	}
	return rebuild_superblock(a, t);
}

/* Open the input (and, with --repair, make do with its superblock): 0, or the exit status. */
static int open_input(struct args *a, struct meta_thin **t)
{
	struct meta_thin_open_failure why;
	const char *input = a->input;
	int r = meta_thin_open_ex(input, &a->oopts, t, &why);
	if (r == META_E_NOSNAP) {
		cli_err("%s: no current metadata snap: no metadata snapshot is held; reserve one with "
			"dmsetup message <pool> 0 reserve_metadata_snap",
			input);
		return EXIT_DAMAGE;
	}
	if (r == META_E_CHECKSUM || r == META_E_BADMAGIC || r == META_E_BLOCKNR ||
	    r == META_E_VERSION || r == META_E_FEATURE) {
		const char *what = r == META_E_CHECKSUM ? "bad checksum in superblock" : meta_strerror(r);
		if (!why.snap && cli_report_foreign_family(input, META_FAMILY_THIN))
			return EXIT_DAMAGE;
		if (why.snap)
			cli_err("%s: damaged metadata snapshot superblock: %s; release the metadata "
				"snapshot and reserve a new one, or dump the live metadata without -m",
				input, what);
		else
			cli_err("%s: damaged superblock: %s; run thin_check for details, or thin_dump "
				"--repair",
				input, what);
		return EXIT_DAMAGE;
	}
	if (r) {
		cli_report_open_error(input, r, 0);
		return cli_exit_for(r);
	}
	return a->repair ? repair_superblock(a, t) : 0;
}

struct damage_state {
	bool repair;
	struct cli_first_damage first;
};

static void on_damage(void *ctx, const struct meta_damage *d)
{
	struct damage_state *s = ctx;
	if (s->repair)
		cli_damage_print(CLI_DAMAGE_SKIP, "warning: skipped damaged metadata: ", d);
	else
		cli_keep_first_damage(&s->first, d);
}

/* The dump's outcome r, reported: the exit status. */
static int dump_status(const struct args *a, int r, struct meta_thin_writer *w,
		       const struct damage_state *ds, const struct meta_thin_dump_stats *stats)
{
	if (r == META_E_CORRUPT) {
		char buf[512] = "damaged metadata";
		if (ds->first.seen)
			cli_damage_format(buf, sizeof(buf), CLI_DAMAGE_SKIP, &ds->first.d);
		cli_err("%s: %s; the dump is incomplete (run thin_check for details, or thin_dump "
			"--repair to dump what is readable)",
			a->input, buf);
		return EXIT_DAMAGE;
	}
	if (r == META_E_IO && meta_thin_writer_errno(w)) {
		cli_err("%s: write error: %s", a->output ? a->output : "standard output",
			strerror(meta_thin_writer_errno(w)));
		return EXIT_OPERR;
	}
	if (r) {
		cli_err("%s: %s", a->input, meta_strerror(r));
		return cli_exit_for(r) == EXIT_OK ? EXIT_OPERR : cli_exit_for(r);
	}
	if (a->repair && stats->nr_damage && !stats->nr_devices) {
		cli_err("%s: nothing readable was found", a->input);
		return EXIT_DAMAGE;
	}
	return EXIT_OK;
}

int main(int argc, char **argv)
{
	struct args a;
	struct meta_thin_dump_stats stats;
	struct damage_state ds;
	struct meta_thin *t = NULL;
	struct meta_thin_writer *w = NULL;
	struct meta_thin_emitter em;
	bool *dev_found = NULL;
	FILE *out = stdout;
	int r, fr, status;

	cli_init(argv[0]);
	memset(&a, 0, sizeof(a));
	memset(&ds, 0, sizeof(ds));
	a.fmt = META_THIN_FORMAT_XML;
	parse_args(argc, argv, &a);
	status = open_input(&a, &t);
	if (status)
		return status;

	if (a.output) {
		out = fopen(a.output, "w");
		if (!out) {
			cli_err("%s: cannot open output file: %s", a.output, strerror(errno));
			meta_thin_close(t);
			return EXIT_OPERR;
		}
	}
	if (a.nr_dev_ids) {
		dev_found = calloc(a.nr_dev_ids, sizeof(*dev_found));
		if (!dev_found) {
			cli_err("out of memory");
			return EXIT_OPERR;
		}
	}
	a.dopts.dev_ids = a.dev_ids;
	a.dopts.nr_dev_ids = a.nr_dev_ids;
	a.dopts.dev_found = dev_found;
	ds.repair = a.repair;
	a.dopts.damage = on_damage;
	a.dopts.damage_ctx = &ds;

	r = meta_thin_writer_create(out, a.fmt, &w);
	if (r) {
		cli_err("%s", meta_strerror(r));
		return EXIT_OPERR;
	}
	em = meta_thin_writer_emitter(w);
	r = meta_thin_dump(t, &a.dopts, &em, &stats);
	/* whatever was produced goes out, also on damage */
	fr = meta_thin_writer_flush(w);
	if (!r && fr)
		r = fr;

	status = dump_status(&a, r, w, &ds, &stats);
	for (size_t i = 0; i < a.nr_dev_ids; i++) {
		bool dup = false;
		for (size_t j = 0; j < i; j++)
			dup |= a.dev_ids[j] == a.dev_ids[i];
		if (!dev_found[i] && !dup && !r)
			cli_err("warning: no device %" PRIu64 " in %s", a.dev_ids[i], a.input);
	}

	meta_thin_writer_destroy(w);
	if (out != stdout && fclose(out) && status == EXIT_OK) {
		cli_err("%s: write error: %s", a.output, strerror(errno));
		status = EXIT_OPERR;
	}
	meta_thin_close(t);
	free(a.dev_ids);
	free(dev_found);
	return status;
}
