/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * thin_dump: dump thin-pool metadata as XML (the flat format of
 * thin-provisioning-tools 0.9.0, byte for byte) or as human-readable text.
 */
#include "common.h"

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
	OPT_TRANSACTION_ID,
	OPT_DATA_BLOCK_SIZE,
	OPT_NR_DATA_BLOCKS,
};

static const struct option long_opts[] = {
	{ "format", required_argument, NULL, 'f' },
	{ "metadata-snap", optional_argument, NULL, 'm' },
	{ "dev-id", required_argument, NULL, OPT_DEV_ID },
	{ "skip-mappings", no_argument, NULL, OPT_SKIP_MAPPINGS },
	{ "shared", no_argument, NULL, OPT_SHARED },
	{ "output", required_argument, NULL, 'o' },
	{ "repair", no_argument, NULL, 'r' },
	{ "transaction-id", required_argument, NULL, OPT_TRANSACTION_ID },
	{ "data-block-size", required_argument, NULL, OPT_DATA_BLOCK_SIZE },
	{ "nr-data-blocks", required_argument, NULL, OPT_NR_DATA_BLOCKS },
	{ "quiet", no_argument, NULL, 'q' },
	{ "help", no_argument, NULL, 'h' },
	{ "version", no_argument, NULL, 'V' },
	{ NULL, 0, NULL, 0 },
};

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

int main(int argc, char **argv)
{
	enum meta_thin_text_format fmt = META_THIN_FORMAT_XML;
	struct meta_thin_dump_opts dopts;
	struct meta_thin_open_opts oopts;
	struct meta_thin_dump_stats stats;
	struct damage_state ds;
	struct meta_thin *t = NULL;
	struct meta_thin_open_failure why;
	struct meta_thin_writer *w = NULL;
	struct meta_thin_emitter em;
	const char *input, *output = NULL;
	uint64_t *dev_ids = NULL;
	bool *dev_found = NULL;
	size_t nr_dev_ids = 0;
	bool metadata_snap = false, repair = false;
	uint64_t snap_block = 0;
	FILE *out = stdout;
	int c, r, status;

	cli_init(argv[0]);
	memset(&dopts, 0, sizeof(dopts));
	memset(&oopts, 0, sizeof(oopts));
	memset(&ds, 0, sizeof(ds));

	opterr = 0;
	while ((c = getopt_long(argc, argv, ":f:m::o:rqhV", long_opts, NULL)) != -1) {
		switch (c) {
		case 'f':
			if (!strcmp(optarg, "xml"))
				fmt = META_THIN_FORMAT_XML;
			else if (!strcmp(optarg, "human_readable") || !strcmp(optarg, "human"))
				fmt = META_THIN_FORMAT_HUMAN;
			else
				cli_usage_error("unknown format '%s' (use xml or human_readable)", optarg);
			break;
		case 'm':
			metadata_snap = true;
			if (optarg) {
				const char *v = optarg[0] == '=' ? optarg + 1 : optarg;
				snap_block = cli_u64_arg("--metadata-snap", v);
				if (!snap_block)
					cli_usage_error("--metadata-snap: block 0 is the live superblock");
			}
			break;
		case OPT_DEV_ID: {
			uint64_t id = cli_u64_arg("--dev-id", optarg);
			uint64_t *n = realloc(dev_ids, (nr_dev_ids + 1) * sizeof(*n));
			if (!n) {
				cli_err("out of memory");
				return EXIT_OPERR;
			}
			dev_ids = n;
			dev_ids[nr_dev_ids++] = id;
			break;
		}
		case OPT_SKIP_MAPPINGS:
			dopts.flags |= META_THIN_DUMP_SKIP_MAPPINGS;
			break;
		case OPT_SHARED:
			dopts.flags |= META_THIN_DUMP_SHARED;
			break;
		case 'o':
			output = optarg;
			break;
		case 'r':
			repair = true;
			break;
		case OPT_TRANSACTION_ID:
			dopts.set_transaction_id = true;
			dopts.transaction_id = cli_u64_arg("--transaction-id", optarg);
			break;
		case OPT_DATA_BLOCK_SIZE: {
			uint64_t v = cli_u64_arg("--data-block-size", optarg);
			if (v > UINT32_MAX)
				cli_usage_error("--data-block-size %s is too large", optarg);
			dopts.set_data_block_size = true;
			dopts.data_block_size = (uint32_t)v;
			break;
		}
		case OPT_NR_DATA_BLOCKS:
			dopts.set_nr_data_blocks = true;
			dopts.nr_data_blocks = cli_u64_arg("--nr-data-blocks", optarg);
			break;
		case 'q':
			cli_quiet = true;
			break;
		case 'h':
			usage(stdout);
			return EXIT_OK;
		case 'V':
			cli_print_version();
			return EXIT_OK;
		default:
			cli_bad_option(c, argv);
		}
	}
	input = cli_one_operand(argc, argv, "no input device or file given");
	cli_refuse_same_storage(input, output);

	/* Open the metadata: exclusively, unless reading a live pool's metadata snapshot. */
	oopts.flags = metadata_snap ? META_THIN_OPEN_METADATA_SNAP : META_THIN_OPEN_EXCL;
	if (repair)
		oopts.flags |= META_THIN_OPEN_NO_SB_CHECK;
	oopts.metadata_snap_block = snap_block;
	r = meta_thin_open_ex(input, &oopts, &t, &why);
	if (r == META_E_NOSNAP) {
		cli_err("%s: no current metadata snap: no metadata snapshot is held; reserve one with "
			"dmsetup message <pool> 0 reserve_metadata_snap",
			input);
		return EXIT_DAMAGE;
	}
	if (r == META_E_CHECKSUM || r == META_E_BADMAGIC || r == META_E_BLOCKNR ||
	    r == META_E_VERSION || r == META_E_FEATURE) {
		if (!why.snap && cli_report_foreign_family(input, META_FAMILY_THIN))
			return EXIT_DAMAGE;
		if (why.snap)
			cli_err("%s: damaged metadata snapshot superblock: %s; release the metadata "
				"snapshot and reserve a new one, or dump the live metadata without -m",
				input, r == META_E_CHECKSUM ? "bad checksum in superblock"
							    : meta_strerror(r));
		else
			cli_err("%s: damaged superblock: %s; run thin_check for details, or thin_dump "
				"--repair",
				input, r == META_E_CHECKSUM ? "bad checksum in superblock"
							    : meta_strerror(r));
		return EXIT_DAMAGE;
	}
	if (r) {
		cli_report_open_error(input, r, 0);
		return cli_exit_for(r);
	}

	if (repair) {
		/* A superblock failing its checksum is still used if its magic is right. */
		if (meta_thin_live_sb_verdict(t) == META_OK) {
			/* sound: dumped as it is */
		} else if (meta_thin_live_sb(t)->magic != META_THIN_MAGIC &&
			   cli_report_foreign_family(input, META_FAMILY_THIN)) {
			meta_thin_close(t);
			return EXIT_DAMAGE;
		} else if (meta_thin_live_sb(t)->magic != META_THIN_MAGIC && !dopts.set_data_block_size) {
			cli_err("%s: data block size needs to be provided due to corruption in the "
				"superblock: give --data-block-size (the pool's chunk size in sectors)",
				input);
			meta_thin_close(t);
			return EXIT_USAGE;
		} else if (meta_thin_live_sb(t)->magic != META_THIN_MAGIC) {
			/* destroyed: find the trees by scanning every block (as thin_repair) */
			struct meta_thin_found_roots fr;
			int fr_r = meta_thin_find_roots(t, &fr);
			meta_thin_close(t);
			t = NULL;
			if (fr_r == META_E_NOTFOUND) {
				cli_err("%s: no compatible roots found: the superblock is destroyed and "
					"no top-level mapping tree with a device details tree of the same "
					"devices was found by scanning: nothing to dump",
					input);
				return EXIT_DAMAGE;
			}
			if (!fr_r) {
				oopts.override_mapping_root = fr.mapping_root;
				oopts.override_details_root = fr.details_root;
				fr_r = meta_thin_open(input, &oopts, &t);
			}
			if (fr_r) {
				cli_report_open_error(input, fr_r, 0);
				return cli_exit_for(fr_r);
			}
			if (!dopts.set_transaction_id) {
				dopts.set_transaction_id = true;
				dopts.transaction_id = fr.transaction_id;
			}
			if (!dopts.set_nr_data_blocks) {
				dopts.set_nr_data_blocks = true;
				dopts.nr_data_blocks = fr.nr_data_blocks;
			}
			dopts.rebuilt_sb = true;
			dopts.time = fr.time;
		} else {
			cli_err("warning: %s: superblock fails validation (%s); using its fields and "
				"roots (override with --transaction-id, --data-block-size, "
				"--nr-data-blocks)",
				input, meta_strerror(meta_thin_live_sb_verdict(t)));
		}
		dopts.flags |= META_THIN_DUMP_REPAIR;
	}

	if (output) {
		out = fopen(output, "w");
		if (!out) {
			cli_err("%s: cannot open output file: %s", output, strerror(errno));
			meta_thin_close(t);
			return EXIT_OPERR;
		}
	}

	if (nr_dev_ids) {
		dev_found = calloc(nr_dev_ids, sizeof(*dev_found));
		if (!dev_found) {
			cli_err("out of memory");
			return EXIT_OPERR;
		}
	}
	dopts.dev_ids = dev_ids;
	dopts.nr_dev_ids = nr_dev_ids;
	dopts.dev_found = dev_found;
	ds.repair = repair;
	dopts.damage = on_damage;
	dopts.damage_ctx = &ds;

	r = meta_thin_writer_create(out, fmt, &w);
	if (r) {
		cli_err("%s", meta_strerror(r));
		return EXIT_OPERR;
	}
	em = meta_thin_writer_emitter(w);
	r = meta_thin_dump(t, &dopts, &em, &stats);
	/* whatever was produced goes out, also on damage */
	{
		int fr = meta_thin_writer_flush(w);
		if (!r && fr)
			r = fr;
	}

	status = EXIT_OK;
	if (r == META_E_CORRUPT) {
		char buf[512] = "damaged metadata";
		if (ds.first.seen)
			cli_damage_format(buf, sizeof(buf), CLI_DAMAGE_SKIP, &ds.first.d);
		cli_err("%s: %s; the dump is incomplete (run thin_check for details, or thin_dump "
			"--repair to dump what is readable)",
			input, buf);
		status = EXIT_DAMAGE;
	} else if (r == META_E_IO && meta_thin_writer_errno(w)) {
		cli_err("%s: write error: %s", output ? output : "standard output",
			strerror(meta_thin_writer_errno(w)));
		status = EXIT_OPERR;
	} else if (r) {
		cli_err("%s: %s", input, meta_strerror(r));
		status = cli_exit_for(r) == EXIT_OK ? EXIT_OPERR : cli_exit_for(r);
	} else if (repair && stats.nr_damage && !stats.nr_devices) {
		cli_err("%s: nothing readable was found", input);
		status = EXIT_DAMAGE;
	}
	for (size_t i = 0; i < nr_dev_ids; i++) {
		bool dup = false;
		for (size_t j = 0; j < i; j++)
			dup |= dev_ids[j] == dev_ids[i];
		if (!dev_found[i] && !dup && !r)
			cli_err("warning: no device %" PRIu64 " in %s", dev_ids[i], input);
	}

	meta_thin_writer_destroy(w);
	if (out != stdout) {
		if (fclose(out) && status == EXIT_OK) {
			cli_err("%s: write error: %s", output, strerror(errno));
			status = EXIT_OPERR;
		}
	}
	meta_thin_close(t);
	free(dev_ids);
	free(dev_found);
	return status;
}
