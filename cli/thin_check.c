/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * thin_check — validate thin-pool metadata on a device or image file.
 *
 * stdout: TRANSACTION_ID=<n> and METADATA_FREE_BLOCKS=<n> once the superblock
 * has been read (as thin_check 1.x prints them).  stderr: the phase titles
 * thin_check 1.x prints, then one line per problem.  -q prints nothing.
 * Exit: 0 clean (or only non-fatal damage with --ignore-non-fatal-errors),
 * 1 damage, 2 usage, 3 operational error.
 */
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <libmeta/error.h>
#include <libmeta/family.h>
#include <libmeta/thin.h>
#include <libmeta/thin_check.h>
#include <libmeta/thin_pool.h>

#include "common.h"

static void usage(FILE *f)
{
	fprintf(f, "Usage: %s [OPTIONS] <INPUT>\n"
	       "Validate thin-pool metadata on a device or file.\n"
	       "\n"
	       "Options:\n"
	       "  -q, --quiet                      print nothing, only set the exit status\n"
	       "      --super-block-only           only check the superblock\n"
	       "      --skip-mappings              don't check the bottom-level mapping trees\n"
	       "                                   (nor the space maps)\n"
	       "      --ignore-non-fatal-errors    exit 0 when only non-fatal problems (leaks,\n"
	       "                                   under-full nodes) are found\n"
	       "      --clear-needs-check-flag     if the check passes, clear the superblock's\n"
	       "                                   needs_check flag; space-map leaks are repaired\n"
	       "                                   first, as with --auto-repair\n"
	       "      --auto-repair                repair space-map leaks in place (the only\n"
	       "                                   damage fixed here; use thin_repair for more)\n"
	       "  -m, --metadata-snap              check the metadata snapshot (held root) of a\n"
	       "                                   live pool; space maps are not checked\n"
	       "      --override-mapping-root BLOCK  use BLOCK as the top-level mapping root\n"
	       "      --override-details-root BLOCK  use BLOCK as the device details root\n"
	       "  -h, --help                       print this help and exit\n"
	       "  -V, --version                    print the version and exit\n"
	       "\n"
	       "Exit status: 0 no damage, 1 damage found, 2 usage error, 3 operational error.\n",
	       cli_prog);
}

enum {
	OPT_SB_ONLY = 256,
	OPT_SKIP_MAPPINGS,
	OPT_IGNORE_NONFATAL,
	OPT_CLEAR_NEEDS_CHECK,
	OPT_AUTO_REPAIR,
	OPT_OVERRIDE_MAPPING,
	OPT_OVERRIDE_DETAILS,
};

static const struct option long_opts[] = {
	CLI_FLAG("quiet", 'q'),
	CLI_FLAG("super-block-only", OPT_SB_ONLY),
	CLI_FLAG("skip-mappings", OPT_SKIP_MAPPINGS),
	CLI_FLAG("ignore-non-fatal-errors", OPT_IGNORE_NONFATAL),
	CLI_FLAG("clear-needs-check-flag", OPT_CLEAR_NEEDS_CHECK),
	CLI_FLAG("auto-repair", OPT_AUTO_REPAIR),
	CLI_FLAG("metadata-snap", 'm'),
	CLI_ARG("override-mapping-root", OPT_OVERRIDE_MAPPING),
	CLI_ARG("override-details-root", OPT_OVERRIDE_DETAILS),
	CLI_HELP_VERSION_LONGOPTS,
};

/* ---- progress and output ---- */

static bool show_progress;
/* --clear-needs-check-flag: the flag's report waits for the outcome */
static bool clearing_flag;
static bool progress_drawn;
static struct timespec last_draw;
static int last_phase = -1;

static void clear_progress(void)
{
	if (progress_drawn) {
		fputs("\r\033[K", stderr);
		progress_drawn = false;
	}
}

/* Phase titles as thin_check 1.x prints them. */
static const char *phase_title(enum meta_thin_check_phase p)
{
	switch (p) {
	case META_THIN_CHECK_DETAILS:
		return "device details tree";
	case META_THIN_CHECK_MAPPINGS:
		return "mapping tree";
	case META_THIN_CHECK_DATA_SM:
		return "data space map";
	case META_THIN_CHECK_METADATA_SM:
		return "metadata space map";
	default:
		return NULL;
	}
}

static void on_progress(void *ctx, enum meta_thin_check_phase p, uint64_t done, uint64_t total)
{
	(void)ctx;
	if (cli_quiet)
		return;
	if ((int)p != last_phase) {
		const char *title = phase_title(p);
		last_phase = (int)p;
		if (title) {
			clear_progress();
			if (p == META_THIN_CHECK_DETAILS)
				fputs("Checking thin metadata\n", stderr);
			fprintf(stderr, "%s\n", title);
		}
	}
	if (!show_progress)
		return;
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	long ms = (now.tv_sec - last_draw.tv_sec) * 1000 + (now.tv_nsec - last_draw.tv_nsec) / 1000000;
	if (progress_drawn && ms < 125)
		return;
	last_draw = now;
	if (total)
		fprintf(stderr, "\r\033[K%s: %" PRIu64 "/%" PRIu64 " (%u%%)",
			meta_thin_check_phase_name(p), done, total,
			(unsigned)(total ? done * 100 / total : 0));
	else
		fprintf(stderr, "\r\033[K%s: %" PRIu64 " nodes", meta_thin_check_phase_name(p), done);
	progress_drawn = true;
}

static void on_damage(void *ctx, const struct meta_damage *d)
{
	(void)ctx;
	if (cli_quiet || (clearing_flag && d->kind == META_DMG_SB_NEEDS_CHECK))
		return;
	clear_progress();
	cli_damage_print(CLI_DAMAGE_CHECK, "", d);
}

/* A superblock that meta_thin_open() refused, reported like damage. */
static int report_open_failure(const char *path, int e, const struct meta_thin_open_failure *why)
{
	struct meta_damage d;
	enum meta_damage_kind k;
	switch (e) {
	case META_E_CHECKSUM:
		k = META_DMG_SB_CHECKSUM;
		break;
	case META_E_BLOCKNR:
		k = META_DMG_SB_BLOCKNR;
		break;
	case META_E_BADMAGIC:
		k = META_DMG_SB_MAGIC;
		break;
	case META_E_VERSION:
		k = META_DMG_SB_VERSION;
		break;
	case META_E_FEATURE:
		k = META_DMG_SB_FEATURE;
		break;
	case META_E_NOSNAP:
		cli_err("%s: no current metadata snap: no metadata snapshot is held; reserve one "
			"with 'dmsetup message <pool> 0 reserve_metadata_snap' or run without "
			"--metadata-snap", path);
		return EXIT_DAMAGE;
	default:
		cli_report_open_error(path, e, 0);
		return cli_exit_for(e);
	}
	if (!why->snap && cli_report_foreign_family(path, META_FAMILY_THIN))
		return EXIT_DAMAGE;
	meta_damage_init(&d, k);
	d.block = 0;
	if (why->snap) { /* the live superblock passed: the snapshot's failed */
		meta_damage_init(&d, META_DMG_HELD_ROOT);
		d.block = why->held_root;
		d.detail = e == META_E_CHECKSUM ? "metadata snap: bad checksum in superblock"
						: meta_strerror(e);
	}
	on_damage(NULL, &d);
	return EXIT_DAMAGE;
}

/* ---- repairs, through the pool engine (libmeta/thin_pool.h) ---- */

/* Leaks that stay, reported as the check reports damage, with why they stay. */
static void report_leaks(const struct meta_thin_leaks *l, const char *why)
{
	struct meta_damage d;
	if (l->nr_metadata) {
		meta_damage_init(&d, META_DMG_META_LEAK);
		d.block = d.begin = l->metadata[0];
		d.end = l->metadata[l->nr_metadata - 1] + 1;
		d.count = l->nr_metadata;
		d.detail = why;
		on_damage(NULL, &d);
	}
	if (l->nr_data) {
		meta_damage_init(&d, META_DMG_DATA_LEAK);
		d.begin = l->data[0];
		d.end = l->data[l->nr_data - 1] + 1;
		d.count = l->nr_data;
		d.detail = why;
		on_damage(NULL, &d);
	}
}

/*
 * Open the checked pool for its repairs (the check's handle is closed by then: a
 * block device opens O_EXCL once); sb_only: only the superblock, to clear the flag
 * (--super-block-only and --skip-mappings check no space map, and need none).  META_E_BUSY when the superblock is no longer
 * the one checked: something wrote the pool in between.
 */
static int open_for_repair(const char *path, const struct meta_thin_sb *checked, bool sb_only,
			   struct meta_thin_pool **p)
{
	struct meta_thin_pool_opts po = {0};
	struct meta_thin_pool_info in;
	int e;
	po.flags = META_THIN_POOL_NEEDS_CHECK_OK | META_THIN_POOL_KEEP_SIZE;
	if (sb_only)
		po.flags |= META_THIN_POOL_SUPERBLOCK_ONLY;
	e = meta_thin_pool_open(path, &po, p, NULL);
	if (e)
		return e;
	meta_thin_pool_info(*p, &in);
	if (in.trans_id != checked->trans_id || in.held_root != checked->held_root ||
	    in.time != checked->time || in.flags != checked->flags ||
	    in.nr_metadata_blocks != checked->metadata_sm.nr_blocks ||
	    in.nr_data_blocks != checked->data_sm.nr_blocks) {
		meta_thin_pool_close(*p);
		*p = NULL;
		return META_E_BUSY;
	}
	return 0;
}

/* Every leaked block's count to 0, one commit (copy-on-write, the superblock last). */
static int repair_leaks(struct meta_thin_pool *p, const struct meta_thin_leaks *l)
{
	int e = 0;
	for (size_t i = 0; !e && i < l->nr_data; i++)
		e = meta_thin_pool_set_count(p, META_THIN_POOL_DATA_MAP, l->data[i], 0);
	for (size_t i = 0; !e && i < l->nr_metadata; i++)
		e = meta_thin_pool_set_count(p, META_THIN_POOL_METADATA_MAP, l->metadata[i], 0);
	return e ? e : meta_thin_pool_commit(p);
}

static int clear_needs_check(struct meta_thin_pool *p)
{
	int e = meta_thin_pool_set_needs_check(p, false);
	return e ? e : meta_thin_pool_commit(p);
}

int main(int argc, char **argv)
{
	bool sb_only = false, skip_mappings = false, ignore_nonfatal = false, clear_flag = false,
	     snap = false;
	uint64_t override_mapping = 0, override_details = 0;
	bool have_om = false, have_od = false, auto_repair = false;
	const char *path;
	int c;

	cli_init(argv[0]);
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":qmhV", long_opts, NULL)) != -1) {
		switch (c) {
		case OPT_SB_ONLY:
			sb_only = true;
			break;
		case OPT_SKIP_MAPPINGS:
			skip_mappings = true;
			break;
		case OPT_IGNORE_NONFATAL:
			ignore_nonfatal = true;
			break;
		case OPT_CLEAR_NEEDS_CHECK:
			clear_flag = clearing_flag = true;
			break;
		case OPT_AUTO_REPAIR:
			auto_repair = true;
			break;
		case 'm':
			snap = true;
			break;
		case OPT_OVERRIDE_MAPPING:
			override_mapping = cli_u64_arg("--override-mapping-root", optarg);
			have_om = true;
			break;
		case OPT_OVERRIDE_DETAILS:
			override_details = cli_u64_arg("--override-details-root", optarg);
			have_od = true;
			break;
		default:
			cli_common_or_bad_option(c, argv, usage);
		}
	}
	path = cli_one_operand(argc, argv, "no input file given");
	if (clear_flag && snap)
		cli_usage_error("--clear-needs-check-flag cannot be used with --metadata-snap");
	if (clear_flag && have_om)
		cli_usage_error("--clear-needs-check-flag cannot be used with --override-mapping-root");
	if (clear_flag && have_od)
		cli_usage_error("--clear-needs-check-flag cannot be used with --override-details-root");
	if (auto_repair && snap)
		cli_usage_error("--auto-repair cannot be used with --metadata-snap");
	if (auto_repair && (have_om || have_od))
		cli_usage_error("--auto-repair cannot be used with --override-mapping-root or "
				"--override-details-root");
	if (auto_repair && (sb_only || skip_mappings))
		cli_usage_error("--auto-repair needs the full check: not with --super-block-only or "
				"--skip-mappings");
	if (auto_repair && ignore_nonfatal)
		cli_usage_error("--auto-repair cannot be used with --ignore-non-fatal-errors");
	if ((have_om && override_mapping == 0) || (have_od && override_details == 0))
		cli_usage_error("block 0 is the superblock, not a tree root");

	struct meta_thin_open_opts oo = {0};
	oo.flags = snap ? META_THIN_OPEN_METADATA_SNAP : META_THIN_OPEN_EXCL;
	if (clear_flag || auto_repair)
		oo.flags |= META_THIN_OPEN_WRITE | META_THIN_OPEN_EXCL;
	oo.override_mapping_root = override_mapping;
	oo.override_details_root = override_details;

	struct meta_thin *t;
	struct meta_thin_open_failure why;
	int e = meta_thin_open_ex(path, &oo, &t, &why);
	if (e)
		return report_open_failure(path, e, &why);

	const struct meta_thin_sb *live = meta_thin_live_sb(t);
	if (!cli_quiet) {
		printf("TRANSACTION_ID=%" PRIu64 "\n", live->trans_id);
		printf("METADATA_FREE_BLOCKS=%" PRIu64 "\n",
		       live->metadata_sm.nr_blocks > live->metadata_sm.nr_allocated
			       ? live->metadata_sm.nr_blocks - live->metadata_sm.nr_allocated
			       : 0);
		fflush(stdout);
	}

	show_progress = cli_progress_allowed();
	struct meta_thin_leaks leaks = {0};
	struct meta_thin_check_opts co = {
		.super_block_only = sb_only,
		.skip_mappings = skip_mappings,
		.damage = on_damage,
		.progress = on_progress,
		.leaks = clear_flag || auto_repair ? &leaks : NULL,
	};
	struct meta_thin_check_result r;
	struct meta_thin_sb checked = *live;
	struct meta_thin_pool *pool = NULL;
	e = meta_thin_check(t, &co, &r);
	clear_progress();
	meta_thin_close(t);
	if (!e && (leaks.nr_metadata || leaks.nr_data)) {
		/* nothing is repaired on a damaged pool */
		const char *stays = r.worst >= META_SEV_FATAL ? "not repaired: fatal damage" : NULL;
		if (!stays) {
			e = open_for_repair(path, &checked, false, &pool);
			if (!e)
				e = repair_leaks(pool, &leaks);
			if (e == META_E_NOSPC) { /* nothing was committed */
				e = 0;
				stays = "not repaired: no free metadata blocks for the new space-map blocks";
				meta_thin_pool_close(pool);
				pool = NULL;
			}
		}
		if (!e && stays) { /* report them after all */
			report_leaks(&leaks, stays);
			if (r.worst < (int)META_SEV_NONFATAL)
				r.worst = META_SEV_NONFATAL;
		} else if (!e && !cli_quiet) {
			fprintf(stderr, "%s: repaired space-map leaks: %zu metadata blocks, %zu data blocks\n",
				cli_prog, leaks.nr_metadata, leaks.nr_data);
		}
	}
	meta_thin_leaks_free(&leaks);
	if (e) {
		cli_err("%s: check stopped: %s", path, meta_strerror(e));
		meta_thin_pool_close(pool);
		return EXIT_OPERR;
	}

	int rc = EXIT_OK;
	if (r.worst >= (int)META_SEV_FATAL)
		rc = EXIT_DAMAGE;
	else if (r.worst == (int)META_SEV_NONFATAL && !ignore_nonfatal)
		rc = EXIT_DAMAGE;

	if (rc == EXIT_OK && clear_flag && (checked.flags & META_THIN_FLAG_NEEDS_CHECK)) {
		e = pool ? 0 : open_for_repair(path, &checked, true, &pool);
		if (!e)
			e = clear_needs_check(pool);
		if (e) {
			cli_err("%s: cannot clear the needs_check flag: %s", path, meta_strerror(e));
			rc = EXIT_OPERR;
		} else {
			cli_err("%s: needs_check flag cleared", path);
		}
	} else if (clear_flag && (checked.flags & META_THIN_FLAG_NEEDS_CHECK)) {
		cli_err("%s: needs_check flag is set and was not cleared: the check found damage; "
			"run thin_repair", path);
	}
	meta_thin_pool_close(pool);
	if (fflush(stdout) != 0 && rc == EXIT_OK)
		rc = EXIT_OPERR;
	return rc;
}
