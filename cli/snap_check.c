/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * snap_check: check a dm-snapshot COW device: a classic persistent exception store, or
 * a shared multisnapshot store (mikulas, daniel), told apart by their magic.
 */
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

#include <libmeta/error.h>
#include <libmeta/io.h>
#include <libmeta/multisnap.h>
#include <libmeta/snap.h>

#include "common.h"
#include "util_snap.h"

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: snap_check [options] COW\n"
		"Check a classic dm-snapshot persistent exception store (the COW device of an\n"
		"LVM2 classic snapshot) and print the status line the kernel would show:\n"
		"<sectors_allocated>/<total_sectors> <metadata_sectors>, or Invalid.\n"
		"A shared multisnapshot store (mikulas or daniel) is checked too; its line is the\n"
		"multisnapshot target's: <#args> <errno> <new snapid> <total_sectors>\n"
		"<sectors_allocated> <metadata_sectors> <#ids> <ids>.\n"
		"\n"
		"Options:\n"
		"  -q, --quiet                   print nothing; the exit status tells\n"
		"      --origin-size SECTORS     origin size in 512-byte sectors: exceptions past\n"
		"                                the origin's end are damage\n"
		"      --origin DEV              take the origin size from this device or file\n"
		"      --ignore-non-fatal-errors exit 0 when only harmless problems are found\n"
		"  -v, --verbose                 also print notes (e.g. out-of-order allocation)\n"
		"  -h, --help                    show this help and exit\n"
		"  -V, --version                 print the version and exit\n"
		"\n"
		"Exit status: 0 clean, 1 damage found, 2 usage error, 3 operational error.\n");
}

struct worst {
	int sev;
	int verbose;
};

static void on_damage(void *ctx, const struct meta_damage *d)
{
	struct worst *w = ctx;
	if ((int)d->severity > w->sev)
		w->sev = (int)d->severity;
	snap_cli_print_damage(&w->verbose, d);
}

static int verdict(const struct worst *w, int ignore_nonfatal)
{
	if (w->sev >= META_SEV_FATAL)
		return EXIT_DAMAGE;
	if (w->sev == META_SEV_NONFATAL && !ignore_nonfatal)
		return EXIT_DAMAGE;
	return EXIT_OK;
}

/*
 * A shared multisnapshot store: check it, then its status line.  Returns the exit
 * status, or -1 when path holds no shared store (blank, classic, not openable: the
 * classic path says what it is, as it always has).
 */
static int check_shared(const char *path, uint64_t origin_sectors, struct worst *w,
			int ignore_nonfatal)
{
	struct meta_ms *ms;
	char *line = NULL;
	enum meta_ms_type ms_type = META_MS_NONE;
	int r = meta_ms_open(path, META_MS_OPEN_EXCL, &ms);

	if (r == META_OK && meta_ms_is_new(ms)) {
		meta_ms_close(ms);
		return -1;
	}
	if (r == META_E_UNSUPPORTED)
		return ms_cli_open(path, META_MS_OPEN_EXCL, &ms);
	if (r != META_OK && r != META_E_CORRUPT && r != META_E_VERSION)
		return -1;
	if (r == META_OK) {
		ms_type = meta_ms_get_type(ms);
		r = meta_ms_status_line(ms, &line);
		/* the check opens the device itself (exclusively): let go of it first */
		meta_ms_close(ms);
		if (r) {
			cli_err("%s: cannot read the store's status: %s", path, meta_strerror(r));
			line = NULL;
		}
	}
	if (origin_sectors && ms_type != META_MS_NONE && !meta_ms_type_checks_origin(ms_type))
		cli_err("%s: --origin-size is not checked for %s stores yet", path,
			 meta_ms_type_name(ms_type));
	r = meta_ms_check(path, origin_sectors, on_damage, w);
	if (r > w->sev)
		w->sev = r;
	if (line && !cli_quiet)
		printf("%s\n", line);
	free(line);
	return verdict(w, ignore_nonfatal);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{"quiet", no_argument, NULL, 'q'},
		{"origin-size", required_argument, NULL, 1},
		{"origin", required_argument, NULL, 2},
		{"ignore-non-fatal-errors", no_argument, NULL, 3},
		{"verbose", no_argument, NULL, 'v'},
		CLI_HELP_VERSION_LONGOPTS,
	};
	uint64_t origin_sectors = 0;
	const char *origin = NULL;
	int c, ignore_nonfatal = 0, ex;
	struct worst w = {-1, 0};
	struct meta_snap *s;
	char status[64];

	cli_init(argv[0]);
	while ((c = getopt_long(argc, argv, "qvhV", opts, NULL)) != -1) {
		switch (c) {
		case 1:
			origin_sectors = cli_u64_arg("--origin-size", optarg);
			if (!origin_sectors)
				cli_usage_error("--origin-size must be greater than 0");
			break;
		case 2:
			origin = optarg;
			break;
		case 3:
			ignore_nonfatal = 1;
			break;
		case 'v':
			w.verbose = 1;
			break;
		default:
			cli_common_option(c, usage);
		}
	}
	if (optind != argc - 1)
		cli_usage_error(optind == argc ? "no COW device given" : "too many arguments");
	if (origin && origin_sectors)
		cli_usage_error("--origin and --origin-size are mutually exclusive");
	if (origin) {
		struct meta_io *io;
		int r = meta_io_open(origin, 0, &io);
		if (r) {
			cli_report_open_error(origin, r, 0);
			return EXIT_OPERR;
		}
		origin_sectors = meta_io_size(io) / 512;
		meta_io_close(io);
	}
	ex = check_shared(argv[optind], origin_sectors, &w, ignore_nonfatal);
	if (ex >= 0)
		return ex;
	ex = snap_cli_open(argv[optind], META_SNAP_OPEN_EXCL, &s);
	if (ex)
		return ex;
	if (meta_snap_is_new(s)) {
		if (!cli_quiet)
			printf("new (zeroed header: the kernel initialises the store on activation)\n");
		meta_snap_close(s);
		return EXIT_OK;
	}
	meta_snap_check(s, origin_sectors, on_damage, &w);
	/* a store whose areas run past the device has no status: the kernel refuses it */
	if (!cli_quiet && !meta_snap_truncated(s)) {
		meta_snap_status(s, status, sizeof(status));
		printf("%s\n", status);
	}
	meta_snap_close(s);
	return verdict(&w, ignore_nonfatal);
}
