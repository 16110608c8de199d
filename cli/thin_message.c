/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * thin_message: a thin-pool message (`dmsetup message <pool> 0 ...`) run on offline
 * metadata through libmeta's pool engine, and committed as the kernel commits it.
 */
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <libmeta/error.h>
#include <libmeta/io.h>
#include <libmeta/thin_pool.h>

#include "common.h"

#define MAX_WORDS 8
#define SPACES " \t\n\v\f\r" /* the kernel's isspace() */

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: thin_message [options] METADATA MESSAGE [ARGUMENT...]\n"
		"Run a thin-pool message on offline metadata, as `dmsetup message POOL 0 MESSAGE`\n"
		"runs it on a live pool, and commit it as the kernel does.  The message may also\n"
		"be given as one quoted word (\"create_thin 0\").  Messages (Linux 6.1):\n"
		"  create_thin DEV_ID             a new, empty thin device\n"
		"  create_snap DEV_ID ORIGIN_ID   a snapshot of ORIGIN_ID (any thin or snapshot)\n"
		"  delete DEV_ID                  delete a thin device and free what only it held\n"
		"  set_transaction_id OLD NEW     set the pool's transaction id if it is OLD\n"
		"  reserve_metadata_snap          hold a snapshot of the metadata (thin_dump -m)\n"
		"  release_metadata_snap          release it\n"
		"\n"
		"Options:\n"
		"      --format               format METADATA first when it is blank (all zeros),\n"
		"                             as the kernel does at a pool's first activation\n"
		"      --data-block-size N    the pool's block size in sectors (with --format)\n"
		"      --nr-data-blocks N     the data device's size in blocks: the size of a new\n"
		"                             pool, or a larger size to grow an existing pool to\n"
		"      --data-dev PATH        take that size from the data device or file instead\n"
		"  -q, --quiet                no messages\n"
		"  -h, --help                 show this help and exit\n"
		"  -V, --version              print the version and exit\n"
		"\n"
		"METADATA grows to its device's size, as at a pool's activation.  A run without\n"
		"a MESSAGE needs --format or --nr-data-blocks: it does only those.\n"
		"\n"
		"Exit status: 0 ok, 1 the metadata is damaged, 2 usage error, 3 the message failed\n"
		"(the metadata is left as it was) or another operational error.\n");
}

/* Refusals whose line is fixed: "<path>[: <message>]: <text>". */
static const struct {
	int err, exit;
	const char *text;
} fixed[] = {
	{META_E_NOSNAP, EXIT_OPERR, "no metadata snapshot is held: nothing to release (EINVAL)"},
	{META_E_MSG_ARGS, EXIT_USAGE, "wrong arguments (EINVAL); see thin_message --help"},
	{META_E_NOSPC, EXIT_OPERR,
	 "no space left in the metadata device (ENOSPC); grow it, then run the message again"},
	{META_E_NEEDS_CHECK, EXIT_OPERR,
	 "the pool's needs_check flag is set: the kernel keeps such a pool read-only; run "
	 "thin_check (and thin_repair if it finds damage) first"},
	{META_E_BLANK, EXIT_OPERR,
	 "the metadata is blank (its superblock is all zeros); format it with --format "
	 "--data-block-size N --nr-data-blocks N"},
	{META_E_BLOCK_SIZE, EXIT_OPERR,
	 "the pool's data block size differs from --data-block-size (the kernel refuses to "
	 "change it); thin_dump shows the pool's data_block_size"},
	{META_E_SHRINK, EXIT_OPERR,
	 "the data device cannot shrink below the pool's size (the kernel refuses a smaller data "
	 "device)"},
};

/* Why the pool refused, in one line naming the next step. */
static int report(const char *path, int r, int argc, char **argv, struct meta_thin_pool *p)
{
	struct meta_thin_pool_info in;
	const char *m = argc ? argv[0] : "";
	char pre[512];
	/* "path: message" or, before any message ran, "path" */
	snprintf(pre, sizeof(pre), "%s%s%s", path, argc ? ": " : "", m);
	if (p)
		meta_thin_pool_info(p, &in);
	for (size_t i = 0; i < sizeof(fixed) / sizeof(fixed[0]); i++) {
		if (fixed[i].err == r) {
			cli_err("%s: %s", pre, fixed[i].text);
			return fixed[i].exit;
		}
	}
	switch (r) {
	case META_E_DEV_EXISTS:
		cli_err("%s: thin device %s already exists (EEXIST); delete it first or choose "
			"another id", pre, argv[1]);
		return EXIT_OPERR;
	case META_E_NOTFOUND:
		cli_err("%s: no thin device %s (ENODATA); thin_ls lists the pool's devices",
			pre, argc > 2 ? argv[2] : argv[1]);
		return EXIT_OPERR;
	case META_E_RANGE:
		cli_err("%s: device ids are 24-bit: 0 to %llu (EINVAL)", pre,
			(unsigned long long)META_THIN_MAX_DEV_ID);
		return EXIT_OPERR;
	case META_E_TRANS_ID:
		cli_err("%s: the pool's transaction id is %" PRIu64 ", not %s (EINVAL)", pre,
			p ? in.trans_id : 0, argv[1]);
		return EXIT_OPERR;
	case META_E_SNAP_HELD:
		cli_err("%s: a metadata snapshot is already held (block %" PRIu64 "); release it "
			"first with release_metadata_snap (EBUSY)", pre, p ? in.held_root : 0);
		return EXIT_OPERR;
	case META_E_MSG_UNKNOWN:
		if (!strcasecmp(m, "trim"))
			cli_err("%s: the thin-pool target of Linux 6.1 has no trim message (it was "
				"removed from the kernel); discard the blocks through the thin device "
				"instead (EINVAL)", pre);
		else
			cli_err("%s: unknown message '%s' (EINVAL): the thin-pool target takes "
				"create_thin, create_snap, delete, set_transaction_id, "
				"reserve_metadata_snap and release_metadata_snap", path, m);
		return EXIT_USAGE;
	case META_E_CORRUPT:
	case META_E_CHECKSUM:
	case META_E_BLOCKNR:
		cli_err("%s: the metadata is damaged (%s); nothing was changed; run thin_check",
			pre, meta_strerror(r));
		return EXIT_DAMAGE;
	default:
		cli_report_open_error(path, r, 0);
		return cli_exit_for(r);
	}
}

int main(int argc, char **argv)
{
	static const struct option lopts[] = {
		{"format", no_argument, NULL, 'F'},
		{"data-block-size", required_argument, NULL, 'b'},
		{"nr-data-blocks", required_argument, NULL, 'n'},
		{"data-dev", required_argument, NULL, 'd'},
		{"quiet", no_argument, NULL, 'q'},
		{"help", no_argument, NULL, 'h'},
		{"version", no_argument, NULL, 'V'},
		{NULL, 0, NULL, 0},
	};
	struct meta_thin_pool_opts o = {0};
	struct meta_thin_pool *p = NULL;
	const char *path, *data_dev = NULL;
	char *words[MAX_WORDS], *copy = NULL;
	int c, n = 0, r;
	bool formatted;

	cli_init(argv[0]);
	while ((c = getopt_long(argc, argv, ":qhV", lopts, NULL)) != -1) {
		switch (c) {
		case 'F':
			o.flags |= META_THIN_POOL_FORMAT;
			break;
		case 'b':
			o.data_block_size = cli_data_block_size_arg(optarg);
			break;
		case 'n':
			o.nr_data_blocks = cli_nr_data_blocks_arg(optarg);
			break;
		case 'd':
			data_dev = optarg;
			break;
		case ':':
		case '?':
			cli_bad_option(c, argv);
		default:
			cli_common_option(c, usage);
		}
	}
	if (optind >= argc)
		cli_usage_error("no metadata device or file given");
	path = argv[optind++];
	if (meta_thin_pool_is_message(path) && access(path, F_OK) != 0)
		cli_usage_error("no metadata device or file given: '%s' is a message, and the metadata "
				"comes first (thin_message METADATA MESSAGE ...)", path);
	if (data_dev && o.nr_data_blocks)
		cli_usage_error("--data-dev and --nr-data-blocks both give the data size: use one");
	if ((o.flags & META_THIN_POOL_FORMAT) && !o.data_block_size)
		cli_usage_error("--format needs --data-block-size");
	if (!(o.flags & META_THIN_POOL_FORMAT) && o.data_block_size)
		cli_usage_error("--data-block-size only goes with --format (a pool's block size "
				"cannot change)");
	if (data_dev) {
		struct meta_io *dio;
		uint32_t bs = o.data_block_size;
		r = meta_io_open(data_dev, 0, &dio);
		if (r) {
			cli_report_open_error(data_dev, r, 0);
			return cli_exit_for(r);
		}
		if (!bs) {
			cli_usage_error("--data-dev needs --format and --data-block-size (an existing "
					"pool's block size is not read yet: give --nr-data-blocks)");
		}
		o.nr_data_blocks = meta_io_size(dio) / ((uint64_t)bs * 512);
		meta_io_close(dio);
		if (!o.nr_data_blocks) {
			cli_err("%s: the data device is smaller than one %" PRIu32 "-sector block",
				data_dev, bs);
			return EXIT_OPERR;
		}
	}
	if ((o.flags & META_THIN_POOL_FORMAT) && !o.nr_data_blocks)
		cli_usage_error("--format needs the data size: --nr-data-blocks or --data-dev");
	/*
	 * The message: the remaining words joined and split again at white space, as
	 * dmsetup joins them and the kernel splits them ("create_snap 1" 0 is 3 words).
	 */
	{
		size_t len = 1;
		char *e;
		for (int i = optind; i < argc; i++)
			len += strlen(argv[i]) + 1;
		copy = e = malloc(len);
		if (!copy) {
			cli_err("out of memory");
			return EXIT_OPERR;
		}
		for (int i = optind; i < argc; i++) {
			size_t l = strlen(argv[i]);
			memcpy(e, argv[i], l);
			e[l] = ' ';
			e += l + 1;
		}
		*e = '\0';
		for (char *s = strtok(copy, SPACES); s; s = strtok(NULL, SPACES))
			if (n < MAX_WORDS)
				words[n++] = s;
			else
				cli_usage_error("too many words in the message");
	}
	if (!n && !(o.flags & META_THIN_POOL_FORMAT) && !o.nr_data_blocks)
		cli_usage_error("no message given");

	r = meta_thin_pool_open(path, &o, &p, &formatted);
	if (r == META_E_CHECKSUM || r == META_E_BADMAGIC || r == META_E_BLOCKNR) {
		/* another family's metadata is named with the tool that reads it */
		if (cli_report_foreign_family(path, META_FAMILY_THIN)) {
			free(copy);
			return EXIT_OPERR;
		}
	}
	if (r) {
		int e = report(path, r, 0, NULL, NULL);
		free(copy);
		return e;
	}
	if (n) {
		r = meta_thin_pool_message(p, n, (const char *const *)words);
		if (r) {
			int e = report(path, r, n, words, p);
			meta_thin_pool_close(p);
			free(copy);
			return e;
		}
	}
	meta_thin_pool_close(p);
	free(copy);
	return EXIT_OK;
}
