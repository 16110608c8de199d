/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * thin_status: the status lines `dmsetup status` prints for a thin pool and its thin
 * devices (Linux 6.1), from the pool's committed metadata.
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
#include <libmeta/thin_status.h>

#include "common.h"

static void usage(FILE *out)
{
	fprintf(out,
		"Usage: %s [options] METADATA\n"
		"Print the status line `dmsetup status` shows for the thin pool whose metadata is\n"
		"METADATA (a device or file), or for its thin devices, as Linux 6.1 prints them:\n"
		"  pool: <transaction id> <used>/<total metadata blocks> <used>/<total data blocks>\n"
		"        <held root|-> <mode> <discard> <no-space policy> <needs_check|-> <metadata\n"
		"        low water> (each field followed by a space)\n"
		"  thin: <nr mapped sectors> <highest mapped sector|->\n"
		"\n"
		"Options:\n"
		"  -t, --thin ID                the line of thin device ID instead of the pool's;\n"
		"                               repeat for several (one line each, in that order)\n"
		"  -a, --all-thins              one line \"ID: <line>\" for every thin device\n"
		"  -m, --metadata-snap[=BLOCK]  thin lines from the metadata snapshot (the held\n"
		"                               root, or the snapshot superblock at BLOCK); opens\n"
		"                               without exclusive access (works on an active pool)\n"
		"The pool's live state, which the metadata does not hold:\n"
		"      --mode MODE              rw, ro or out_of_data_space (default: what an\n"
		"                               activation gives: ro when the metadata needs a check\n"
		"                               or has no block free beyond the kernel's reserve,\n"
		"                               else rw)\n"
		"      --discard HOW            passdown (default), no_passdown or ignore\n"
		"      --error-if-no-space      the table's error_if_no_space feature (default:\n"
		"                               queue_if_no_space)\n"
		"  -h, --help                   show this help and exit\n"
		"  -V, --version                show the version and exit\n"
		"\n"
		"Exit status: 0 ok, 1 metadata damaged, 2 usage error, 3 cannot read the input or\n"
		"no such thin device.\n",
		cli_prog);
}

enum { OPT_MODE = 256, OPT_DISCARD, OPT_ERROR_IF_NO_SPACE };

static enum meta_thin_pool_mode mode_arg(const char *s)
{
	if (!strcmp(s, "rw"))
		return META_THIN_POOL_RW;
	if (!strcmp(s, "ro"))
		return META_THIN_POOL_RO;
	if (!strcmp(s, "out_of_data_space"))
		return META_THIN_POOL_OUT_OF_DATA_SPACE;
	cli_usage_error("--mode must be rw, ro or out_of_data_space, not '%.64s'", s);
}

static enum meta_thin_pool_discard discard_arg(const char *s)
{
	if (!strcmp(s, "passdown"))
		return META_THIN_POOL_DISCARD_PASSDOWN;
	if (!strcmp(s, "no_passdown"))
		return META_THIN_POOL_DISCARD_NO_PASSDOWN;
	if (!strcmp(s, "ignore"))
		return META_THIN_POOL_DISCARD_IGNORE;
	cli_usage_error("--discard must be passdown, no_passdown or ignore, not '%.64s'", s);
}

/* One thin device's line; prefix "ID: " with all.  Returns an exit status. */
static int print_thin(struct meta_thin *t, const char *path, uint64_t dev, bool all)
{
	struct meta_thin_dev_status ds;
	char line[64];
	int r = meta_thin_dev_status(t, dev, &ds);

	if (r == META_E_NOTFOUND) {
		cli_err("%s: thin device %" PRIu64 " does not exist in this pool (thin_ls lists "
			"its devices)", path, dev);
		return EXIT_OPERR;
	}
	if (r == META_E_CORRUPT) {
		cli_err("%s: metadata contains errors: the mapping tree of thin device %" PRIu64
			" cannot be read; run thin_check", path, dev);
		return EXIT_DAMAGE;
	}
	if (r) {
		cli_err("%s: thin device %" PRIu64 ": %s", path, dev, meta_strerror(r));
		return cli_exit_for(r);
	}
	meta_thin_dev_status_line(&ds, line, sizeof(line));
	if (all)
		printf("%" PRIu64 ": %s\n", dev, line);
	else
		printf("%s\n", line);
	return EXIT_OK;
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{"thin", required_argument, NULL, 't'},
		{"all-thins", no_argument, NULL, 'a'},
		{"metadata-snap", optional_argument, NULL, 'm'},
		{"mode", required_argument, NULL, OPT_MODE},
		{"discard", required_argument, NULL, OPT_DISCARD},
		{"error-if-no-space", no_argument, NULL, OPT_ERROR_IF_NO_SPACE},
		{"help", no_argument, NULL, 'h'},
		{"version", no_argument, NULL, 'V'},
		{NULL, 0, NULL, 0},
	};
	struct meta_thin_open_opts oo;
	struct meta_thin_pool_features pf = {META_THIN_POOL_RW, META_THIN_POOL_DISCARD_PASSDOWN,
					     false};
	bool mode_given = false, pool_opts = false, all = false;
	uint64_t *ids = NULL;
	size_t nids = 0;
	struct meta_thin_open_failure why;
	struct meta_thin *t = NULL;
	const char *path;
	int c, r, rc = EXIT_OK;

	cli_init(argv[0]);
	argv[0] = (char *)cli_prog; /* getopt's own messages name the tool, not its path */
	memset(&oo, 0, sizeof(oo));
	oo.flags = META_THIN_OPEN_EXCL;
	while ((c = getopt_long(argc, argv, ":t:am::hV", longopts, NULL)) != -1) {
		switch (c) {
		case 't': {
			uint64_t *n = realloc(ids, (nids + 1) * sizeof(*ids));
			if (!n) {
				cli_err("out of memory");
				free(ids);
				return EXIT_OPERR;
			}
			ids = n;
			ids[nids++] = cli_u64_arg("--thin", optarg);
			break;
		}
		case 'a':
			all = true;
			break;
		case 'm':
			oo.flags = META_THIN_OPEN_METADATA_SNAP;
			oo.metadata_snap_block = optarg ? cli_u64_arg("--metadata-snap", optarg) : 0;
			break;
		case OPT_MODE:
			pf.mode = mode_arg(optarg);
			mode_given = pool_opts = true;
			break;
		case OPT_DISCARD:
			pf.discard = discard_arg(optarg);
			pool_opts = true;
			break;
		case OPT_ERROR_IF_NO_SPACE:
			pf.error_if_no_space = true;
			pool_opts = true;
			break;
		case 'h':
			usage(stdout);
			free(ids);
			return EXIT_OK;
		case 'V':
			cli_print_version();
			free(ids);
			return EXIT_OK;
		default:
			cli_bad_option(c, argv);
		}
	}
	if (all && nids)
		cli_usage_error("--thin and --all-thins do not go together");
	if (pool_opts && (all || nids))
		cli_usage_error("--mode, --discard and --error-if-no-space describe the pool's "
				"line; they do not apply to thin lines (--thin, --all-thins)");
	path = cli_one_operand(argc, argv, "no metadata device or file given");

	r = meta_thin_open_ex(path, &oo, &t, &why);
	if (r) {
		bool sb = r == META_E_CHECKSUM || r == META_E_BADMAGIC || r == META_E_BLOCKNR ||
			  r == META_E_VERSION || r == META_E_FEATURE;
		/* another family's metadata (a COW store, a pack) is named as such */
		if (!(sb && !why.snap && cli_report_foreign_family(path, META_FAMILY_THIN)))
			cli_report_open_error(path, r, 0);
		free(ids);
		return cli_exit_for(r);
	}

	if (all) {
		struct meta_thin_details *d = NULL;
		struct cli_first_damage fd;
		uint64_t nd = 0;
		memset(&fd, 0, sizeof(fd));
		r = meta_thin_read_details(t, &d, &nd, cli_keep_first_damage, &fd);
		if (r) {
			if (r == META_E_CORRUPT)
				cli_report_first_damage(path, &fd);
			else
				cli_err("%s: %s", path, meta_strerror(r));
			rc = cli_exit_for(r);
		}
		for (uint64_t i = 0; i < nd && rc == EXIT_OK; i++)
			rc = print_thin(t, path, d[i].dev_id, true);
		free(d);
	} else if (nids) {
		for (size_t i = 0; i < nids && rc == EXIT_OK; i++)
			rc = print_thin(t, path, ids[i], false);
	} else {
		struct meta_thin_pool_status ps;
		char line[256];
		meta_thin_pool_status(t, &ps);
		if (!mode_given)
			pf.mode = meta_thin_pool_default_mode(&ps);
		meta_thin_pool_status_line(&ps, &pf, line, sizeof(line));
		printf("%s\n", line);
	}
	meta_thin_close(t);
	free(ids);
	if (fflush(stdout) || ferror(stdout)) {
		cli_err("error writing output: %s", strerror(errno));
		return EXIT_OPERR;
	}
	return rc;
}
