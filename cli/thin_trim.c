/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * thin_trim: discard every data block an inactive pool does not use (holes
 * punched in a data image, BLKDISCARD on a data device).  Options as
 * thin-provisioning-tools 1.x thin_trim.
 */
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include <libmeta/error.h>
#include <libmeta/io.h>
#include <libmeta/thin.h>
#include <libmeta/thin_check.h>
#include <libmeta/thin_trim.h>

#include "common.h"
#include "util_thin.h"
#include "util_damage.h"

enum { OPT_METADATA_DEV = 0x100, OPT_DATA_DEV };

static void usage(FILE *out)
{
	fprintf(out,
		"Usage: %s [options] --metadata-dev FILE --data-dev FILE\n"
		"Discard the data blocks an inactive pool does not use: punch holes in a data\n"
		"image, or issue BLKDISCARD on a data device.  The metadata is checked first; a\n"
		"pool whose metadata is damaged is refused.\n"
		"\n"
		"Options:\n"
		"      --metadata-dev FILE    the pool's metadata device or image\n"
		"      --data-dev FILE        the pool's data device or image\n"
		"  -q, --quiet                print nothing; the exit status tells\n"
		"  -h, --help                 show this help and exit\n"
		"  -V, --version              show the version and exit\n"
		"\n"
		"Output: one line, \"discarded F of N data blocks (R ranges)\".\n"
		"Exit status: 0 ok, 1 metadata damaged, 2 usage error, 3 cannot open, in use,\n"
		"I/O error or the data device cannot discard.\n",
		cli_prog);
}

static int open_metadata(const char *path, struct meta_thin **t)
{
	struct meta_thin_open_opts oo;
	int r;
	memset(&oo, 0, sizeof(oo));
	oo.flags = META_THIN_OPEN_EXCL;
	r = meta_thin_open(path, &oo, t);
	if (!r)
		return 0;
	if (r == META_E_BUSY)
		cli_err("cannot open %s exclusively: device is in use. thin_trim cannot be run on "
			"live metadata: deactivate the pool first",
			path);
	else
		cli_report_open_error(path, r, 0);
	return cli_exit_for(r);
}

/* The full check, as thin-provisioning-tools runs it first: 0, else the exit status. */
static int check_metadata(const char *path, struct meta_thin *t)
{
	struct cli_first_damage fd;
	struct meta_thin_check_opts co;
	struct meta_thin_check_result cr;
	int r;

	memset(&fd, 0, sizeof(fd));
	memset(&co, 0, sizeof(co));
	co.damage = cli_keep_first_fatal;
	co.damage_ctx = &fd;
	r = meta_thin_check(t, &co, &cr);
	if (r) {
		cli_err("%s: cannot check the metadata: %s", path, meta_strerror(r));
		return cli_exit_for(r);
	}
	if (cr.worst == META_SEV_FATAL) {
		cli_report_first_damage(path, &fd);
		cli_err("refusing to trim: with damaged metadata the data space map may call a used "
			"block free, and discarding it would destroy its data; run thin_repair first");
		return EXIT_DAMAGE;
	}
	if (cr.data_leaked)
		cli_err("%s: note: %" PRIu64 " leaked data block%s (counted used, mapped by nothing) "
			"%s kept; thin_check --auto-repair frees %s",
			path, cr.data_leaked, cr.data_leaked == 1 ? "" : "s",
			cr.data_leaked == 1 ? "is" : "are", cr.data_leaked == 1 ? "it" : "them");
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		CLI_ARG("metadata-dev", OPT_METADATA_DEV),
		CLI_ARG("data-dev", OPT_DATA_DEV),
		CLI_COMMON_LONGOPTS,
	};
	const char *meta_path = NULL, *data_path = NULL;
	struct meta_thin_trim_stats st;
	struct meta_thin *t = NULL;
	struct meta_io *data = NULL;
	int c, r;

	cli_init(argv[0]);
	argv[0] = (char *)cli_prog;
	while ((c = getopt_long(argc, argv, ":qhV", longopts, NULL)) != -1) {
		switch (c) {
		case OPT_METADATA_DEV:
			meta_path = optarg;
			break;
		case OPT_DATA_DEV:
			data_path = optarg;
			break;
		default:
			cli_common_or_bad_option(c, argv, usage);
		}
	}
	cli_no_operands(argc, argv);
	if (!meta_path)
		cli_usage_error("no metadata device given (--metadata-dev FILE)");
	if (!data_path)
		cli_usage_error("no data device given (--data-dev FILE)");
	if (meta_io_same_storage(meta_path, data_path)) {
		cli_err("%s: the data device is the metadata device %s (same file or device); "
			"refusing to discard it",
			data_path, meta_path);
		return EXIT_USAGE;
	}

	r = open_metadata(meta_path, &t);
	if (r)
		return r;
	r = check_metadata(meta_path, t);
	if (r)
		goto out;
	r = cli_thin_open_data_dev(data_path, "it is written: discards", &data);
	if (r)
		goto out;
	r = meta_thin_trim(t, data, &st);
	switch (r) {
	case META_OK:
		break;
	case META_E_DATA_SIZE:
		cli_err("%s: the data device is %" PRIu64 " bytes, smaller than the pool's %" PRIu64
			" data blocks of %" PRIu64 " bytes; is it this pool's data device?",
			data_path, meta_io_size(data), st.nr_blocks, st.block_bytes);
		break;
	case META_E_UNSUPPORTED:
		cli_err("%s: cannot discard: %s (the file system or device does not support "
			"discards); nothing more was discarded",
			data_path, strerror(meta_io_errno(data)));
		break;
	case META_E_CORRUPT:
		cli_err("%s: the data space map is damaged; refusing to trim (run thin_check)",
			meta_path);
		break;
	case META_E_RANGE:
		cli_err("%s: the pool's data size (%" PRIu64 " blocks of %" PRIu64
			" bytes) overflows; run thin_check",
			meta_path, st.nr_blocks, st.block_bytes);
		break;
	default:
		cli_err("%s: discard failed: %s (%s)", data_path, meta_strerror(r),
			strerror(meta_io_errno(data)));
		break;
	}
	if (r) {
		r = cli_exit_for(r);
		goto out;
	}
	if (!cli_quiet)
		printf("discarded %" PRIu64 " of %" PRIu64 " data blocks (%" PRIu64 " range%s)\n",
		       st.nr_free, st.nr_blocks, st.nr_ranges, st.nr_ranges == 1 ? "" : "s");
	r = cli_flush_stdout();
out:
	meta_io_close(data);
	meta_thin_close(t);
	return r;
}
