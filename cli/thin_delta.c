/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * thin_delta: print the differences between the mappings of two thin devices
 * as XML, in the format of thin-provisioning-tools 0.9 (`--root1/--root2` as
 * in 1.x).  Output is held back until the comparison has finished, so damaged
 * metadata gives an error and no partial XML (up to a large size).
 */
#include "common.h"

#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdio_ext.h>
#include <stdlib.h>
#include <string.h>

#include <libmeta/error.h>
#include <libmeta/thin.h>
#include <libmeta/thin_delta.h>

#define OUTBUF_SIZE (64u << 20)

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: %s [options] <device or file>\n"
		"Print the differences between the mappings of two thin devices, as XML.\n"
		"Options:\n"
		"  --thin1, --snap1 <dev_id>    the first (left) thin device\n"
		"  --root1 <block>              or the root block of its mapping tree\n"
		"  --thin2, --snap2 <dev_id>    the second (right) thin device\n"
		"  --root2 <block>              or the root block of its mapping tree\n"
		"  -m, --metadata-snap[=block]  read the metadata snapshot (a live pool's)\n"
		"  --verbose                    list the data blocks of every range\n"
		"  -h, --help                   print this help and exit\n"
		"  -V, --version                print the version and exit\n"
		"Exit status: 0 ok, 1 damaged metadata, 2 usage error, 3 other error.\n",
		cli_prog);
}

struct side {
	bool have_dev, have_root;
	uint64_t dev, root;
};

struct out {
	bool verbose;
	bool open;             /* a verbose container is open */
	enum meta_delta_kind kind;
};

static int emit(void *ctx, const struct meta_delta_range *r)
{
	struct out *o = ctx;
	const char *name = meta_delta_kind_name(r->kind);
	if (!o->verbose) {
		printf("    <%s begin=\"%" PRIu64 "\" length=\"%" PRIu64 "\"/>\n", name, r->begin,
		       r->len);
		return 0;
	}
	if (o->open && o->kind != r->kind) {
		printf("    </%s>\n", meta_delta_kind_name(o->kind));
		o->open = false;
	}
	if (!o->open) {
		printf("    <%s>\n", name);
		o->open = true;
		o->kind = r->kind;
	}
	switch (r->kind) {
	case META_DELTA_DIFFERENT:
		printf("      <range begin=\"%" PRIu64 "\" left_data_begin=\"%" PRIu64
		       "\" right_data_begin=\"%" PRIu64 "\" length=\"%" PRIu64 "\"/>\n",
		       r->begin, r->left_data, r->right_data, r->len);
		break;
	case META_DELTA_RIGHT_ONLY:
		printf("      <range begin=\"%" PRIu64 "\" data_begin=\"%" PRIu64 "\" length=\"%" PRIu64
		       "\"/>\n", r->begin, r->right_data, r->len);
		break;
	default:
		printf("      <range begin=\"%" PRIu64 "\" data_begin=\"%" PRIu64 "\" length=\"%" PRIu64
		       "\"/>\n", r->begin, r->left_data, r->len);
		break;
	}
	return 0;
}

static const char *damage_text(int e)
{
	switch (e) {
	case META_E_CHECKSUM:
		return "bad checksum";
	case META_E_BLOCKNR:
		return "block number does not match its location";
	case META_E_RANGE:
		return "block past the end of the metadata device";
	case META_E_CORRUPT:
		return "malformed btree node";
	default:
		return meta_strerror(e);
	}
}

/* Root of a device's mapping tree; exits on failure. */
static uint64_t dev_root(struct meta_thin *t, uint64_t dev, int which)
{
	uint64_t root;
	int r = meta_thin_dev_root(t, dev, &root);
	if (r == META_E_NOTFOUND) {
		cli_err("Unable to find mapping tree for snap%d (%" PRIu64 ")", which, dev);
		meta_thin_close(t);
		exit(EXIT_OPERR);
	}
	if (r) {
		cli_err("damage in the top-level mapping tree (%s), please run thin_check",
			damage_text(r));
		meta_thin_close(t);
		exit(r == META_E_IO || r == META_E_NOMEM ? EXIT_OPERR : EXIT_DAMAGE);
	}
	return root;
}

static uint64_t mapped_of(const struct meta_thin_details *d, uint64_t n, uint64_t dev)
{
	uint64_t lo = 0, hi = n;
	while (lo < hi) {
		uint64_t mid = lo + (hi - lo) / 2;
		if (d[mid].dev_id == dev)
			return d[mid].mapped_blocks;
		if (d[mid].dev_id < dev)
			lo = mid + 1;
		else
			hi = mid;
	}
	return META_DELTA_UNKNOWN;
}

enum { OPT_THIN1 = 256, OPT_THIN2, OPT_ROOT1, OPT_ROOT2, OPT_VERBOSE };

static const struct option longopts[] = {
	CLI_ARG("thin1", OPT_THIN1), CLI_ARG("snap1", OPT_THIN1),
	CLI_ARG("thin2", OPT_THIN2), CLI_ARG("snap2", OPT_THIN2),
	CLI_ARG("root1", OPT_ROOT1), CLI_ARG("root2", OPT_ROOT2),
	CLI_OPTARG("metadata-snap", 'm'),
	CLI_FLAG("verbose", OPT_VERBOSE),
	CLI_HELP_VERSION_LONGOPTS,
};

/* The command line. */
struct args {
	struct side s[2];
	bool use_snap, have_snap_block, verbose;
	uint64_t snap_block;
	const char *path;
};

/* getopt_long's failure c, in 0.9's words (a usage error). */
static void bad_option(int c, char **argv)
{
	if (c == ':')
		cli_usage_error("option '%s' requires an argument", argv[optind - 1]);
	if (strncmp(argv[optind - 1], "--", 2) != 0)
		cli_usage_error("invalid option -- '%c'", optopt);
	if (optopt)
		cli_usage_error("option '%s' doesn't allow an argument", argv[optind - 1]);
	cli_usage_error("unrecognized option '%s'", argv[optind - 1]);
}

static void parse_args(int argc, char **argv, struct args *a)
{
	int c, li;
	opterr = 0;
	while ((li = -1, c = getopt_long(argc, argv, ":hVm::", longopts, &li)) != -1) {
		/* the option's name as typed (for messages) */
		char oname[32];
		snprintf(oname, sizeof(oname), "--%s", li >= 0 ? longopts[li].name : "");
		switch (c) {
		case OPT_THIN1:
		case OPT_THIN2:
			a->s[c - OPT_THIN1].have_dev = true;
			a->s[c - OPT_THIN1].dev = cli_u64_arg(oname, optarg);
			break;
		case OPT_ROOT1:
		case OPT_ROOT2:
			a->s[c - OPT_ROOT1].have_root = true;
			a->s[c - OPT_ROOT1].root = cli_u64_arg(oname, optarg);
			break;
		case 'm':
			a->use_snap = true;
			if (optarg) {
				a->have_snap_block = true;
				a->snap_block = cli_u64_arg(li >= 0 ? "--metadata-snap" : "-m", optarg);
			}
			break;
		case OPT_VERBOSE:
			a->verbose = true;
			break;
		default:
			cli_help_or_version(c, usage);
			bad_option(c, argv);
		}
	}
	if (optind >= argc)
		cli_usage_error("No input device provided.");
	if (argc - optind > 1)
		cli_usage_error("too many arguments: only one input device is read");
	a->path = argv[optind];
	for (int i = 0; i < 2; i++) {
		if (a->s[i].have_dev && a->s[i].have_root)
			cli_usage_error("--thin%d/--snap%d and --root%d are mutually exclusive", i + 1,
					i + 1, i + 1);
		if (!a->s[i].have_dev && !a->s[i].have_root)
			cli_usage_error("--thin%d or --root%d not specified (--snap%d is an alias of "
					"--thin%d).", i + 1, i + 1, i + 1, i + 1);
	}
}

/* Open the pool and check the command line's blocks against it: 0, or the exit status. */
static int open_pool(const struct args *a, struct meta_thin **t)
{
	struct meta_thin_open_opts oo = {0};
	const char *path = a->path;
	int r;
	/* Live metadata is opened exclusively; the metadata snapshot is for live pools. */
	oo.flags = a->use_snap ? META_THIN_OPEN_METADATA_SNAP : META_THIN_OPEN_EXCL;
	r = meta_thin_open(path, &oo, t);
	if (r) {
		if (r == META_E_NOSNAP)
			cli_err("%s: no current metadata snapshot (reserve one with 'dmsetup message "
				"<pool> 0 reserve_metadata_snap')", path);
		else
			cli_report_open_error(path, r, 0);
		return cli_exit_for(r);
	}
	if (a->have_snap_block && a->snap_block != meta_thin_live_sb(*t)->held_root) {
		cli_err("%s: metadata snapshot %" PRIu64 " does not match that in the superblock (%"
			PRIu64 ")", path, a->snap_block, meta_thin_live_sb(*t)->held_root);
		meta_thin_close(*t);
		return EXIT_OPERR;
	}
	for (int i = 0; i < 2; i++) {
		uint64_t nb = meta_thin_nr_metadata_blocks(*t);
		if (a->s[i].have_root && a->s[i].root >= nb) {
			/* a number from the command line, not damage in the metadata */
			cli_err("%s: --root%d %" PRIu64 " is past the end of the metadata device (%"
				PRIu64 " blocks)", path, i + 1, a->s[i].root, nb);
			meta_thin_close(*t);
			return EXIT_USAGE;
		}
	}
	return 0;
}

/* The roots of devices given by id, and their mapped counts when the details read. */
static void resolve_sides(struct meta_thin *t, struct side *s, struct meta_delta_opts *dopts)
{
	struct meta_thin_details *d = NULL;
	uint64_t n = 0;
	for (int i = 0; i < 2; i++)
		if (s[i].have_dev)
			s[i].root = dev_root(t, s[i].dev, i + 1);
	if (!s[0].have_dev && !s[1].have_dev)
		return;
	/* Counts let shared subtrees go unread; without them the result is the same. */
	if (!meta_thin_read_details(t, &d, &n, NULL, NULL)) {
		if (s[0].have_dev)
			dopts->left_mapped = mapped_of(d, n, s[0].dev);
		if (s[1].have_dev)
			dopts->right_mapped = mapped_of(d, n, s[1].dev);
	}
	free(d);
}

static void print_header(struct meta_thin *t, const struct args *a)
{
	const struct meta_thin_sb *sb = meta_thin_sb(t);
	printf("<superblock uuid=\"\" time=\"%" PRIu32 "\" transaction=\"%" PRIu64
	       "\" data_block_size=\"%" PRIu32 "\" nr_data_blocks=\"%" PRIu64 "\"",
	       sb->time, sb->trans_id, sb->data_block_size,
	       a->use_snap ? 0 : meta_thin_nr_data_blocks(t)); /* 0.9 prints 0 with -m */
	if (sb->held_root)
		printf(" metadata_snap=\"%" PRIu64 "\"", sb->held_root);
	printf(">\n  <diff");
	for (int i = 0; i < 2; i++) {
		const char *side = i ? "right" : "left";
		if (a->s[i].have_dev)
			printf(" %s=\"%" PRIu64 "\"", side, a->s[i].dev);
		else
			printf(" %s_root=\"%" PRIu64 "\"", side, a->s[i].root);
	}
	printf(">\n");
}

int main(int argc, char **argv)
{
	struct args a;
	struct meta_delta_opts dopts = {0, META_DELTA_UNKNOWN, META_DELTA_UNKNOWN};
	struct meta_delta_stats st;
	struct out out = {0};
	struct meta_thin *t;
	char *obuf;
	int r;

	cli_init(argv[0]);
	memset(&a, 0, sizeof(a));
	parse_args(argc, argv, &a);
	r = open_pool(&a, &t);
	if (r)
		return r;
	resolve_sides(t, a.s, &dopts);
	out.verbose = a.verbose;
	if (out.verbose)
		dopts.flags |= META_DELTA_DATA;

	obuf = malloc(OUTBUF_SIZE);
	if (obuf)
		setvbuf(stdout, obuf, _IOFBF, OUTBUF_SIZE);
	print_header(t, &a);
	r = meta_delta_compare(meta_thin_bm(t), a.s[0].root, a.s[1].root, &dopts, emit, &out, &st);
	if (r) {
		__fpurge(stdout);
		if (r == META_E_NOMEM || r == META_E_IO)
			cli_err("%s: %s", a.path, meta_strerror(r));
		else
			cli_err("damage in mapping tree at block %" PRIu64 " (%s), please run thin_check",
				st.bad_block, damage_text(r));
		meta_thin_close(t);
		return r == META_E_NOMEM || r == META_E_IO ? EXIT_OPERR : EXIT_DAMAGE;
	}
	if (out.open)
		printf("    </%s>\n", meta_delta_kind_name(out.kind));
	printf("  </diff>\n</superblock>\n");
	meta_thin_close(t);
	if (fflush(stdout) || ferror(stdout)) {
		cli_err("error writing the output");
		return EXIT_OPERR;
	}
	return EXIT_OK;
}
