/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * thin_export: a thin volume's view (raw bytes), or a delta stream of it (whole,
 * or what changed since another device), from a pool's metadata and data device.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <libmeta/error.h>
#include <libmeta/io.h>
#include <libmeta/thin.h>
#include <libmeta/thin_export.h>

#include "common.h"
#include "util_thin.h"

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: thin_export [options] --metadata-dev M --data-dev D --dev-id N -o FILE\n"
		"Write thin device N's view (unmapped blocks read as zeros, or from the external\n"
		"origin) to FILE, or a delta stream of it (whole, or its changes since a snapshot).\n"
		"\n"
		"Options:\n"
		"      --metadata-dev PATH     the pool's metadata device or image (required)\n"
		"      --data-dev PATH         the pool's data device or image (required)\n"
		"      --dev-id N              the thin device to export (required)\n"
		"  -o, --output FILE           output file or device, '-' for standard output\n"
		"      --size SECTORS          the volume's length (512-byte sectors)\n"
		"      --external-origin PATH  the volume's external origin\n"
		"      --since SNAP_ID         only what changed since device SNAP_ID (a stream)\n"
		"      --format raw|stream     raw bytes (default without --since) or a delta stream\n"
		"  -m, --metadata-snap         read the held metadata root (a live pool)\n"
		"      --force                 overwrite an output that holds metadata\n"
		"  -q, --quiet                 no messages\n"
		"  -h, --help                  show this help and exit\n"
		"  -V, --version               print the version and exit\n"
		"\n"
		"Exit status: 0 ok, 1 damaged metadata, 2 usage error, 3 operational error.\n");
}

enum {
	OPT_METADATA_DEV = 256,
	OPT_DATA_DEV,
	OPT_DEV_ID,
	OPT_SIZE,
	OPT_ORIGIN,
	OPT_SINCE,
	OPT_FORMAT,
	OPT_FORCE,
};

struct args {
	const char *meta, *data, *output, *origin;
	bool have_dev, have_size, have_since, stream, have_format, snap, force;
	uint64_t dev, size_sectors, since;
};

static void parse_args(int argc, char **argv, struct args *a)
{
	static const struct option opts[] = {
		CLI_ARG("metadata-dev", OPT_METADATA_DEV),
		CLI_ARG("data-dev", OPT_DATA_DEV),
		CLI_ARG("dev-id", OPT_DEV_ID),
		CLI_ARG("output", 'o'),
		CLI_ARG("size", OPT_SIZE),
		CLI_ARG("external-origin", OPT_ORIGIN),
		CLI_ARG("since", OPT_SINCE),
		CLI_ARG("format", OPT_FORMAT),
		CLI_FLAG("metadata-snap", 'm'),
		CLI_FLAG("force", OPT_FORCE),
		CLI_COMMON_LONGOPTS,
	};
	int c;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":o:mqhV", opts, NULL)) != -1) {
		switch (c) {
		case OPT_METADATA_DEV:
			a->meta = optarg;
			break;
		case OPT_DATA_DEV:
			a->data = optarg;
			break;
		case OPT_DEV_ID:
			a->have_dev = true;
			a->dev = cli_u64_arg("--dev-id", optarg);
			break;
		case 'o':
			a->output = optarg;
			break;
		case OPT_SIZE:
			a->have_size = true;
			a->size_sectors = cli_u64_arg("--size", optarg);
			break;
		case OPT_ORIGIN:
			a->origin = optarg;
			break;
		case OPT_SINCE:
			a->have_since = true;
			a->since = cli_u64_arg("--since", optarg);
			break;
		case OPT_FORMAT:
			a->have_format = true;
			if (!strcmp(optarg, "raw"))
				a->stream = false;
			else if (!strcmp(optarg, "stream"))
				a->stream = true;
			else
				cli_usage_error("bad --format '%s' (raw or stream)", optarg);
			break;
		case 'm':
			a->snap = true;
			break;
		case OPT_FORCE:
			a->force = true;
			break;
		default:
			cli_common_or_bad_option(c, argv, usage);
		}
	}
	cli_no_operands(argc, argv);
	if (!a->meta)
		cli_usage_error("--metadata-dev PATH is required (the pool's metadata)");
	if (!a->data)
		cli_usage_error("--data-dev PATH is required (the pool's data device)");
	if (!a->have_dev)
		cli_usage_error("--dev-id N is required (the thin device to export)");
	if (!a->output)
		cli_usage_error("-o FILE is required ('-' for standard output)");
	if (a->have_since) {
		if (a->have_format && !a->stream)
			cli_usage_error("--since writes a delta stream: --format raw cannot go with it");
		if (a->since == a->dev)
			cli_usage_error("--since %" PRIu64 " is the exported device itself", a->since);
		a->stream = true;
	}
	if (a->have_size && !a->size_sectors)
		cli_usage_error("--size must be at least 1 sector");
	if (a->have_size && a->size_sectors > UINT64_MAX / 512)
		cli_usage_error("--size %" PRIu64 " is too large (bytes overflow 64 bits)",
				a->size_sectors);
}

/* ---- output ---- */

struct out {
	int fd;
	bool seekable;     /* a regular file: holes are skipped */
	bool is_file;
	int err;           /* errno of a failed write */
	uint64_t pos;      /* stream: bytes written */
	char *zeros;
	struct meta_stream_writer *w;
};

static int write_all(struct out *o, const void *buf, size_t len)
{
	const char *p = buf;
	while (len) {
		ssize_t k = write(o->fd, p, len);
		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0) {
			o->err = errno;
			return META_E_IO;
		}
		p += k;
		len -= (size_t)k;
		o->pos += (uint64_t)k;
	}
	return 0;
}

static int pwrite_all(struct out *o, const void *buf, size_t len, uint64_t off)
{
	const char *p = buf;
	while (len) {
		ssize_t k = pwrite(o->fd, p, len, (off_t)off);
		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0) {
			o->err = errno;
			return META_E_IO;
		}
		p += k;
		len -= (size_t)k;
		off += (uint64_t)k;
	}
	return 0;
}

static int raw_data(void *ctx, uint64_t off, const void *buf, size_t len)
{
	struct out *o = ctx;
	return o->seekable ? pwrite_all(o, buf, len, off) : write_all(o, buf, len);
}

static int raw_hole(void *ctx, uint64_t off, uint64_t len)
{
	struct out *o = ctx;
	if (o->seekable)
		return 0; /* the file was truncated to 0: the hole reads zeros */
	while (len) {
		size_t n = len < META_EXPORT_CHUNK ? (size_t)len : META_EXPORT_CHUNK;
		int r = write_all(o, o->zeros, n);
		if (r)
			return r;
		len -= n;
		off += n;
	}
	(void)off;
	return 0;
}

static int stream_out(void *ctx, const void *buf, size_t len)
{
	return write_all(ctx, buf, len);
}

static int stream_data(void *ctx, uint64_t off, const void *buf, size_t len)
{
	struct out *o = ctx;
	return meta_stream_put_data(o->w, off, buf, len);
}

static int stream_hole(void *ctx, uint64_t off, uint64_t len)
{
	struct out *o = ctx;
	return meta_stream_put_range(o->w, META_STREAM_UNMAP, off, len);
}

/* Open the output: 0 or the exit status. */
static int open_output(const char *path, bool stream, struct out *o)
{
	struct stat st;
	if (!strcmp(path, "-")) {
		o->fd = STDOUT_FILENO;
	} else if (!stat(path, &st) && S_ISBLK(st.st_mode)) {
		o->fd = open(path, O_WRONLY | O_EXCL | O_CLOEXEC);
	} else {
		o->fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
		o->is_file = o->fd >= 0;
	}
	if (o->fd < 0) {
		cli_err("%s: cannot open the output: %s", path, strerror(errno));
		return EXIT_OPERR;
	}
	if (!fstat(o->fd, &st) && S_ISREG(st.st_mode) && !stream) {
		/* seekable: start empty so that skipped ranges read zeros */
		if (ftruncate(o->fd, 0) == 0)
			o->seekable = true;
	}
	if (!stream && !o->seekable && !(o->zeros = calloc(1, META_EXPORT_CHUNK))) {
		cli_err("out of memory");
		return EXIT_OPERR;
	}
	return 0;
}

/* The details of dev (exit status 3 when it does not exist). */
static int find_details(struct meta_thin *t, const char *path, uint64_t dev,
			struct meta_thin_details *out)
{
	struct meta_thin_details *d = NULL;
	uint64_t n = 0;
	int r = meta_thin_read_details(t, &d, &n, NULL, NULL);
	if (r) {
		cli_err("%s: cannot read the device details: %s; run thin_check", path,
			meta_strerror(r));
		free(d);
		return cli_exit_for(r);
	}
	for (uint64_t i = 0; i < n; i++)
		if (d[i].dev_id == dev) {
			*out = d[i];
			free(d);
			return 0;
		}
	free(d);
	cli_err("%s: no thin device %" PRIu64 " in the pool (thin_ls lists them)", path, dev);
	return EXIT_OPERR;
}

static int report_export_error(const struct args *a, int r, const struct meta_export_stats *st,
			       const struct out *o)
{
	switch (r) {
	case META_E_NOTFOUND:
		cli_err("%s: no mapping tree for thin device %" PRIu64 "; run thin_check", a->meta,
			a->have_since ? a->since : a->dev);
		return EXIT_DAMAGE;
	case META_E_DATA_SIZE:
		cli_err("%s: the data device is smaller than the blocks the pool maps (wrong "
			"--data-dev?)", a->data);
		return EXIT_OPERR;
	case META_E_IO:
		if (o->err)
			cli_err("%s: error writing the output: %s", a->output, strerror(o->err));
		else
			cli_err("input/output error reading the data device or the origin");
		return EXIT_OPERR;
	case META_E_NOMEM:
		cli_err("out of memory");
		return EXIT_OPERR;
	default:
		cli_err("%s: damage in the mapping tree of device %" PRIu64 " (block %" PRIu64
			", %s); run thin_check", a->meta, a->dev, st->bad_block, meta_strerror(r));
		return cli_exit_for(r) == EXIT_OPERR ? EXIT_OPERR : EXIT_DAMAGE;
	}
}

int main(int argc, char **argv)
{
	struct args a;
	struct meta_thin_open_opts oo = {0};
	struct meta_thin *t = NULL;
	struct meta_io *data = NULL, *origin = NULL;
	struct meta_thin_details dd, bd;
	struct meta_export_opts eo;
	struct meta_export_stats st;
	struct meta_export_sink sink;
	struct out o;
	int r, ex = EXIT_OK;

	cli_init(argv[0]);
	memset(&a, 0, sizeof(a));
	memset(&o, 0, sizeof(o));
	memset(&bd, 0, sizeof(bd));
	o.fd = -1;
	parse_args(argc, argv, &a);
	if (strcmp(a.output, "-")) {
		cli_refuse_same_storage(a.meta, a.output);
		cli_refuse_same_storage(a.data, a.output);
		if (a.origin)
			cli_refuse_same_storage(a.origin, a.output);
		cli_refuse_foreign_family(a.output, META_FAMILY_NONE, a.force);
	}
	oo.flags = a.snap ? META_THIN_OPEN_METADATA_SNAP : META_THIN_OPEN_EXCL;
	r = cli_thin_open(a.meta, &oo, &t);
	if (r)
		return r;
	r = meta_io_open(a.data, a.snap ? 0 : META_IO_EXCL, &data);
	if (r) {
		cli_report_open_error(a.data, r, 0);
		ex = EXIT_OPERR;
		goto out;
	}
	if (a.origin && (r = meta_io_open(a.origin, 0, &origin))) {
		cli_report_open_error(a.origin, r, 0);
		ex = EXIT_OPERR;
		goto out;
	}
	ex = find_details(t, a.meta, a.dev, &dd);
	if (!ex && a.have_since)
		ex = find_details(t, a.meta, a.since, &bd);
	if (ex)
		goto out;

	memset(&eo, 0, sizeof(eo));
	eo.dev = a.dev;
	eo.since = a.have_since;
	eo.base_dev = a.since;
	eo.origin = origin;
	if (a.have_size) {
		eo.size = a.size_sectors * 512;
	} else if (origin) {
		eo.size = meta_io_size(origin);
		if (!cli_quiet)
			fprintf(stderr, "%s: volume size not given: the external origin's, %" PRIu64
				" sectors (--size SECTORS sets it)\n", cli_prog, eo.size / 512);
	} else {
		r = meta_thin_export_end(t, a.dev, &eo.size);
		if (r) {
			ex = report_export_error(&a, r, &st, &o);
			goto out;
		}
		if (!cli_quiet)
			fprintf(stderr, "%s: volume size not given: up to the end of the last mapped "
				"block, %" PRIu64 " sectors (--size SECTORS sets it)\n", cli_prog,
				eo.size / 512);
	}

	ex = open_output(a.output, a.stream, &o);
	if (ex)
		goto out;
	sink.ctx = &o;
	if (a.stream) {
		struct meta_stream_header h;
		memset(&h, 0, sizeof(h));
		h.version = META_STREAM_VERSION;
		h.flags = a.have_since ? META_STREAM_INCREMENTAL : 0;
		h.block_size = meta_thin_sb(t)->data_block_size * 512u;
		h.volume_size = eo.size;
		h.source_dev = a.dev;
		h.source_tag = meta_thin_dev_tag(&dd);
		if (a.have_since) {
			h.base_dev = a.since;
			h.base_tag = meta_thin_dev_tag(&bd);
		}
		h.pool_transaction_id = meta_thin_sb(t)->trans_id;
		r = meta_stream_writer_open(&h, true, stream_out, &o, &o.w);
		if (r) {
			ex = report_export_error(&a, r, &st, &o);
			goto fail_output;
		}
		sink.data = stream_data;
		sink.hole = stream_hole;
	} else {
		sink.data = raw_data;
		sink.hole = raw_hole;
	}
	r = meta_thin_export(t, data, &eo, &sink, &st);
	if (!r && o.w)
		r = meta_stream_writer_finish(o.w, NULL, NULL);
	if (!r && o.seekable && ftruncate(o.fd, (off_t)eo.size)) {
		o.err = errno;
		r = META_E_IO;
	}
	if (r) {
		ex = report_export_error(&a, r, &st, &o);
		goto fail_output;
	}
	if (o.fd != STDOUT_FILENO && close(o.fd)) {
		o.fd = -1;
		cli_err("%s: error writing the output: %s", a.output, strerror(errno));
		ex = EXIT_OPERR;
		goto out;
	}
	o.fd = -1;
	goto out;

fail_output:
	/* a regular file is left empty: clearly not the volume */
	if (o.is_file && ftruncate(o.fd, 0))
		cli_err("%s: could not empty the output after the failure", a.output);
out:
	meta_stream_writer_free(o.w);
	if (o.fd >= 0 && o.fd != STDOUT_FILENO)
		close(o.fd);
	free(o.zeros);
	if (origin)
		meta_io_close(origin);
	if (data)
		meta_io_close(data);
	if (t)
		meta_thin_close(t);
	return ex;
}
