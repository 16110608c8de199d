/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * snap_export: write a snapshot's view (origin overlaid by its COW) to a file: a classic
 * COW store's, or (--snapshot ID) one snapshot's of a shared multisnapshot store.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <libmeta/error.h>
#include <libmeta/io.h>
#include <libmeta/multisnap.h>
#include <libmeta/snap.h>

#include "common.h"
#include "util_snap.h"

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: snap_export [options] --origin ORIGIN [--cow COW] -o FILE\n"
		"       snap_export [options] --origin ORIGIN --cow STORE --snapshot ID -o FILE\n"
		"Write what the snapshot device would show — origin chunks overlaid by the\n"
		"exceptions of COW — to FILE, without the kernel.  Without --cow, the origin.\n"
		"A shared multisnapshot store (mikulas) holds many snapshots: --snapshot names\n"
		"the one to export (\"3\", \"3.0\").\n"
		"\n"
		"Options:\n"
		"      --origin ORIGIN      origin device or image (required)\n"
		"      --cow COW            the snapshot's COW device or image\n"
		"      --snapshot ID        the snapshot of a shared store given with --cow\n"
		"  -o, --output FILE        output file, '-' for standard output (required)\n"
		"      --range BEGIN..END   only sectors [BEGIN, END) (512-byte sectors)\n"
		"      --force              overwrite a FILE that holds metadata (thin pool,\n"
		"                           snapshot store, pack)\n"
		"  -q, --quiet              no messages\n"
		"  -h, --help               show this help and exit\n"
		"  -V, --version            print the version and exit\n"
		"\n"
		"Exit status: 0 ok, 1 the COW store is damaged or invalid, 2 usage error,\n"
		"3 operational error.\n");
}

struct out {
	int fd, err; /* err: errno of the write that failed */
};

static int write_out(void *ctx, const void *buf, size_t len)
{
	struct out *o = ctx;
	const char *p = buf;
	while (len) {
		ssize_t w = write(o->fd, p, len);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0) {
			o->err = errno;
			return META_E_IO;
		}
		p += w;
		len -= (size_t)w;
	}
	return 0;
}

static bool has_snapshot(struct meta_ms *ms, meta_ms_id id)
{
	meta_ms_id *ids = NULL;
	uint64_t n = 0;
	bool yes = false;
	if (!meta_ms_snapshots(ms, &ids, &n))
		for (uint64_t i = 0; i < n && !yes; i++)
			yes = ids[i] == id;
	free(ids);
	return yes;
}

/* [begin, end) of shared-store snapshot id, read a MiB at a time; *at: where it failed. */
static int export_shared(struct meta_ms *ms, struct meta_io *oio, meta_ms_id id, uint64_t begin,
			 uint64_t end, struct out *o, uint64_t *at)
{
	size_t piece = 1u << 20;
	uint8_t *buf = meta_io_buf_alloc(piece);
	int r = 0;
	if (!buf)
		return META_E_NOMEM;
	for (*at = begin; *at < end && !r;) {
		size_t n = end - *at < piece ? (size_t)(end - *at) : piece;
		r = meta_ms_read(ms, oio, id, *at, n, buf);
		if (!r)
			r = write_out(o, buf, n);
		if (!r)
			*at += n;
	}
	free(buf);
	return r;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{"origin", required_argument, NULL, 1},
		{"cow", required_argument, NULL, 2},
		{"output", required_argument, NULL, 'o'},
		{"range", required_argument, NULL, 3},
		{"force", no_argument, NULL, 4},
		{"snapshot", required_argument, NULL, 5},
		CLI_COMMON_LONGOPTS,
	};
	const char *origin = NULL, *cow = NULL, *output = NULL, *snapshot = NULL;
	enum meta_ms_type shared = META_MS_NONE;
	meta_ms_id id = 0;
	struct meta_ms *ms = NULL;
	uint64_t begin = 0, end = 0, size;
	bool have_range = false, force = false;
	struct meta_snap *s = NULL;
	struct meta_io *oio;
	struct out o = {-1, 0};
	uint64_t at;
	int c, r, ex = EXIT_OK, fd;

	cli_init(argv[0]);
	while ((c = getopt_long(argc, argv, "o:qhV", opts, NULL)) != -1) {
		switch (c) {
		case 1:
			origin = optarg;
			break;
		case 2:
			cow = optarg;
			break;
		case 'o':
			output = optarg;
			break;
		case 3:
			if (snap_cli_parse_range(optarg, &begin, &end))
				cli_usage_error("bad --range '%s' (want BEGIN..END in sectors, BEGIN < END)",
						optarg);
			have_range = true;
			begin = snap_cli_sectors_to_bytes("--range start", begin);
			end = snap_cli_sectors_to_bytes("--range end", end);
			break;
		case 4:
			force = true;
			break;
		case 5:
			snapshot = optarg;
			break;
		default:
			cli_common_option(c, usage);
		}
	}
	if (optind != argc)
		cli_usage_error("unexpected argument '%s'", argv[optind]);
	if (!origin)
		cli_usage_error("--origin ORIGIN is required");
	if (!output)
		cli_usage_error("-o FILE is required ('-' for standard output)");
	if (cow && ms_cli_is_shared(cow, &shared)) {
		if (!snapshot)
			cli_usage_error("%s is a shared multisnapshot store: --snapshot ID names the "
					"snapshot to export", cow);
		if (meta_ms_id_parse(shared, snapshot, &id))
			cli_usage_error("bad --snapshot '%s' (N, or N.M for a sub-snapshot)", snapshot);
	} else if (snapshot) {
		cli_usage_error("--snapshot is for a shared multisnapshot store given with --cow%s",
				cow ? "; this COW is not one (a classic store holds one snapshot)" : "");
	}
	/* before anything is opened: the output must not be an input (open truncates it) */
	if (strcmp(output, "-")) {
		cli_refuse_same_storage(origin, output);
		cli_refuse_same_storage(cow, output);
		snap_cli_refuse_metadata_output(output, force);
	} else {
		snap_cli_refuse_stdout_is("origin", origin);
		snap_cli_refuse_stdout_is("COW", cow);
	}
	r = meta_io_open(origin, META_IO_EXCL, &oio);
	if (r) {
		cli_report_open_error(origin, r, 0);
		return EXIT_OPERR;
	}
	size = meta_io_size(oio);
	if (shared) {
		ex = ms_cli_open_checked(cow, META_MS_OPEN_EXCL, "export its view", &ms);
		if (!ex && !has_snapshot(ms, id)) {
			/* before the output is opened (and truncated) */
			cli_err("%s: no snapshot %s in the store; snap_check %s lists its ids", cow,
				snapshot, cow);
			ex = EXIT_OPERR;
		}
		if (!ex && meta_ms_read(ms, oio, id, 0, 0, NULL) == META_E_UNSUPPORTED) {
			cli_err("%s: reading snapshots of %s stores is not supported yet", cow,
				meta_ms_type_name(meta_ms_get_type(ms)));
			ex = EXIT_OPERR;
		}
		if (ex) {
			meta_ms_close(ms);
			meta_io_close(oio);
			return ex;
		}
	} else if (cow) {
		ex = snap_cli_open(cow, META_SNAP_OPEN_EXCL, &s);
		if (ex) {
			meta_io_close(oio);
			return ex;
		}
		struct snap_cli_damage dmg = {0};
		r = meta_snap_verify(s, size / 512, 0, snap_cli_keep_first, &dmg);
		if (r) {
			if (r == META_E_CORRUPT)
				snap_cli_report_damage(cow, &dmg, "export its view");
			else
				cli_err("%s: %s", cow, meta_strerror(r));
			meta_snap_close(s);
			meta_io_close(oio);
			return r == META_E_CORRUPT ? EXIT_DAMAGE : EXIT_OPERR;
		}
	}
	if (!have_range)
		end = size;
	if (end > size)
		end = size;
	if (begin >= end && !(begin == 0 && end == 0)) {
		cli_err("--range starts past the end of %s (%" PRIu64 " sectors)", origin, size / 512);
		meta_snap_close(s);
		meta_ms_close(ms);
		meta_io_close(oio);
		return EXIT_USAGE;
	}
	fd = strcmp(output, "-") ? open(output, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644)
				 : STDOUT_FILENO;
	if (fd < 0) {
		cli_err("%s: cannot open for writing: %s", output, strerror(errno));
		meta_snap_close(s);
		meta_ms_close(ms);
		meta_io_close(oio);
		return EXIT_OPERR;
	}
	o.fd = fd;
	if (shared)
		r = export_shared(ms, oio, id, begin, end, &o, &at);
	else
		r = meta_snap_export_view(s, oio, begin, end, write_out, &o, &at);
	if (r == META_E_NOTFOUND)
		cli_err("%s: no snapshot %s in the store; snap_check %s lists its ids", cow, snapshot,
			cow);
	else if (o.err)
		cli_err("%s: write failed: %s", output, strerror(o.err));
	else if (r == META_E_NOMEM)
		cli_err("out of memory");
	else if (r)
		cli_err("read failed at byte %" PRIu64 ": %s", at, meta_strerror(r));
	ex = r ? EXIT_OPERR : EXIT_OK;
	if (fd != STDOUT_FILENO && close(fd) && !ex) {
		cli_err("%s: write failed: %s", output, strerror(errno));
		ex = EXIT_OPERR;
	}
	meta_snap_close(s);
	meta_ms_close(ms);
	meta_io_close(oio);
	return ex;
}
