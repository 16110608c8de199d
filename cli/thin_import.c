/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * thin_import: apply a delta stream (thin_export --format stream / --since) to a
 * plain image or device, or print what a stream holds (--info).
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
#include <libmeta/thin_export.h>

#include "common.h"

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: thin_import [options] -i STREAM -o IMAGE\n"
		"       thin_import --info -i STREAM\n"
		"Write a delta stream (thin_export --format stream, or --since) into a plain\n"
		"image or device, after checking it; or check it and print its header.\n"
		"\n"
		"Options:\n"
		"  -i, --input STREAM      the delta stream, '-' for standard input (required)\n"
		"  -o, --output IMAGE      the image or device the volume's bytes go to\n"
		"      --state FILE        the base guard: FILE names what the target holds; an\n"
		"                          incremental stream must start from it; updated after\n"
		"      --info              check the whole stream and print its header and counts\n"
		"      --zero-write        write ZERO/UNMAP ranges as zeros (default: punch holes)\n"
		"      --force             overwrite an output that holds metadata; apply an\n"
		"                          incremental stream whatever --state says\n"
		"  -q, --quiet             no messages\n"
		"  -h, --help              show this help and exit\n"
		"  -V, --version           print the version and exit\n"
		"\n"
		"Exit status: 0 ok, 2 usage error, 3 operational error (bad or damaged stream,\n"
		"wrong base, I/O).\n");
}

enum { OPT_STATE = 256, OPT_INFO, OPT_ZERO_WRITE, OPT_FORCE };

struct args {
	const char *input, *output, *state;
	bool info, zero_write, force;
};

static void parse_args(int argc, char **argv, struct args *a)
{
	static const struct option opts[] = {
		CLI_ARG("input", 'i'),
		CLI_ARG("output", 'o'),
		CLI_ARG("state", OPT_STATE),
		CLI_FLAG("info", OPT_INFO),
		CLI_FLAG("zero-write", OPT_ZERO_WRITE),
		CLI_FLAG("force", OPT_FORCE),
		CLI_COMMON_LONGOPTS,
	};
	int c;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":i:o:qhV", opts, NULL)) != -1) {
		switch (c) {
		case 'i':
			a->input = optarg;
			break;
		case 'o':
			a->output = optarg;
			break;
		case OPT_STATE:
			a->state = optarg;
			break;
		case OPT_INFO:
			a->info = true;
			break;
		case OPT_ZERO_WRITE:
			a->zero_write = true;
			break;
		case OPT_FORCE:
			a->force = true;
			break;
		default:
			cli_common_or_bad_option(c, argv, usage);
		}
	}
	cli_no_operands(argc, argv);
	if (!a->input)
		cli_usage_error("-i STREAM is required ('-' for standard input)");
	if (a->info && a->output)
		cli_usage_error("--info only reads the stream: -o cannot go with it");
	if (!a->info && !a->output)
		cli_usage_error("-o IMAGE is required (or --info)");
	if (a->output && !strcmp(a->output, "-"))
		cli_usage_error("-o -: the output must be a file or device (it is written at offsets)");
}

/* ---- input ---- */

struct in {
	int fd;
	int err;
	bool seekable;
	char *buf;            /* read buffer */
	size_t have, at;
};

#define INBUF (1u << 20)

static long in_read(void *ctx, void *dst, size_t len)
{
	struct in *in = ctx;
	size_t done = 0;
	while (done < len) {
		if (in->at == in->have) {
			ssize_t k;
			if (len - done >= INBUF) {
				/* large payloads straight into the caller's buffer */
				k = read(in->fd, (char *)dst + done, len - done);
				if (k < 0 && errno == EINTR)
					continue;
				if (k < 0) {
					in->err = errno;
					return -1;
				}
				if (k == 0)
					break;
				done += (size_t)k;
				continue;
			}
			k = read(in->fd, in->buf, INBUF);
			if (k < 0 && errno == EINTR)
				continue;
			if (k < 0) {
				in->err = errno;
				return -1;
			}
			if (k == 0)
				break;
			in->have = (size_t)k;
			in->at = 0;
		}
		size_t n = in->have - in->at < len - done ? in->have - in->at : len - done;
		memcpy((char *)dst + done, in->buf + in->at, n);
		in->at += n;
		done += n;
	}
	return (long)done;
}

static int open_input(const char *path, struct in *in)
{
	struct stat st;
	in->fd = strcmp(path, "-") ? open(path, O_RDONLY | O_CLOEXEC) : STDIN_FILENO;
	if (in->fd < 0) {
		cli_err("%s: cannot open the stream: %s", path, strerror(errno));
		return EXIT_OPERR;
	}
	in->seekable = !fstat(in->fd, &st) && S_ISREG(st.st_mode);
	in->buf = malloc(INBUF);
	if (!in->buf) {
		cli_err("out of memory");
		return EXIT_OPERR;
	}
	return 0;
}

static int rewind_input(struct in *in)
{
	in->have = in->at = 0;
	return lseek(in->fd, 0, SEEK_SET) == 0 ? 0 : -1;
}

/* One line for a stream error: exit 3. */
static int report_stream_error(const char *path, int r, const struct meta_stream_reader *rd,
			       const struct in *in)
{
	if (r == META_E_STREAM)
		cli_err("%s: bad delta stream at byte %" PRIu64 ": %s; %s", path,
			meta_stream_position(rd), meta_stream_reason(rd),
			in->seekable ? "nothing was written"
				     : "the records before it were written (a sound copy of the "
				       "stream, run again, completes the target)");
	else if (r == META_E_IO && in->err)
		cli_err("%s: error reading the stream: %s", path, strerror(in->err));
	else
		cli_err("%s: %s", path, meta_strerror(r));
	return EXIT_OPERR;
}

/* ---- the base guard ---- */

struct state {
	uint64_t dev, tag, trans;
};

/* 0 read, 1 absent, -1 unreadable */
static int read_state(const char *path, struct state *s)
{
	FILE *f = fopen(path, "r");
	int n;
	if (!f)
		return errno == ENOENT ? 1 : -1;
	n = fscanf(f, "dmmeta-thin-state %" SCNu64 " %" SCNx64 " %" SCNu64, &s->dev, &s->tag,
		   &s->trans);
	fclose(f);
	return n == 3 ? 0 : -1;
}

static int write_state(const char *path, const struct meta_stream_header *h)
{
	size_t n = strlen(path) + 8;
	char *tmp = malloc(n);
	FILE *f;
	int ok;
	if (!tmp)
		return -1;
	snprintf(tmp, n, "%s.new", path);
	f = fopen(tmp, "w");
	if (!f) {
		free(tmp);
		return -1;
	}
	fprintf(f, "dmmeta-thin-state %" PRIu64 " %016" PRIx64 " %" PRIu64 "\n", h->source_dev,
		h->source_tag, h->pool_transaction_id);
	ok = !ferror(f) && !fflush(f) && !fsync(fileno(f));
	ok = !fclose(f) && ok;
	ok = ok && !rename(tmp, path);
	free(tmp);
	return ok ? 0 : -1;
}

/* 0, or the exit status after one line. */
static int check_base(const struct args *a, const struct meta_stream_header *h)
{
	struct state s;
	int r;
	if (!a->state || !(h->flags & META_STREAM_INCREMENTAL) || a->force)
		return 0;
	r = read_state(a->state, &s);
	if (r > 0) {
		cli_err("%s: no such state file: the target has had no full stream; an incremental "
			"stream (since device %" PRIu64 ") needs its base first (or --force)", a->state,
			h->base_dev);
		return EXIT_OPERR;
	}
	if (r < 0) {
		cli_err("%s: cannot read the state file (want 'dmmeta-thin-state DEV TAG TRANS')",
			a->state);
		return EXIT_OPERR;
	}
	if (s.dev != h->base_dev || s.tag != h->base_tag) {
		cli_err("%s: the target holds device %" PRIu64 " (tag %016" PRIx64 "), the stream "
			"starts from device %" PRIu64 " (tag %016" PRIx64 "); apply the missing streams "
			"first (or --force)", a->state, s.dev, s.tag, h->base_dev, h->base_tag);
		return EXIT_OPERR;
	}
	return 0;
}

/* ---- --info ---- */

static int info(const struct args *a, struct in *in)
{
	struct meta_stream_reader *rd;
	struct meta_stream_header h;
	struct meta_stream_record rec;
	const void *p;
	uint64_t n[4] = {0}, bytes[4] = {0};
	int r = meta_stream_reader_open(in_read, in, &rd);
	if (r)
		return report_stream_error(a->input, r, NULL, in);
	r = meta_stream_read_header(rd, &h);
	while (!r) {
		r = meta_stream_next(rd, &rec, &p);
		if (r || rec.type == META_STREAM_END)
			break;
		n[rec.type]++;
		bytes[rec.type] += rec.length;
	}
	if (r) {
		r = report_stream_error(a->input, r, rd, in);
		meta_stream_reader_free(rd);
		return r;
	}
	printf("version %" PRIu32 "\n", h.version);
	printf("kind %s\n", h.flags & META_STREAM_INCREMENTAL ? "incremental" : "full");
	printf("block_size %" PRIu32 "\n", h.block_size);
	printf("volume_size %" PRIu64 "\n", h.volume_size);
	printf("source %" PRIu64 " %016" PRIx64 "\n", h.source_dev, h.source_tag);
	if (h.flags & META_STREAM_INCREMENTAL)
		printf("base %" PRIu64 " %016" PRIx64 "\n", h.base_dev, h.base_tag);
	printf("pool_transaction_id %" PRIu64 "\n", h.pool_transaction_id);
	printf("data %" PRIu64 " records %" PRIu64 " bytes\n", n[META_STREAM_DATA],
	       bytes[META_STREAM_DATA]);
	printf("zero %" PRIu64 " records %" PRIu64 " bytes\n", n[META_STREAM_ZERO],
	       bytes[META_STREAM_ZERO]);
	printf("unmap %" PRIu64 " records %" PRIu64 " bytes\n", n[META_STREAM_UNMAP],
	       bytes[META_STREAM_UNMAP]);
	meta_stream_reader_free(rd);
	return cli_flush_stdout();
}

/* ---- apply to an image ---- */

struct image {
	struct meta_io *io;
	bool is_file, zero_write;
	char *zeros;
};

static int image_zero(struct image *im, uint64_t off, uint64_t len)
{
	if (im->is_file && !im->zero_write) {
		int r = meta_io_discard(im->io, off, len);
		if (r != META_E_UNSUPPORTED)
			return r;
	}
	while (len) {
		size_t n = len < META_STREAM_MAX_DATA ? (size_t)len : META_STREAM_MAX_DATA;
		int r = meta_io_pwrite(im->io, im->zeros, n, off);
		if (r)
			return r;
		off += n;
		len -= n;
	}
	return 0;
}

/* Pass over the records: apply them when im is given, else only check them. */
static int pass(const struct args *a, struct in *in, struct image *im,
		struct meta_stream_header *h, int *ex)
{
	struct meta_stream_reader *rd;
	struct meta_stream_record rec;
	const void *p;
	int r = meta_stream_reader_open(in_read, in, &rd);
	if (!r)
		r = meta_stream_read_header(rd, h);
	if (!r && im && (*ex = check_base(a, h))) {
		meta_stream_reader_free(rd);
		return -1;
	}
	if (!r && im && im->is_file &&
	    (meta_io_size(im->io) < h->volume_size ||
	     (!(h->flags & META_STREAM_INCREMENTAL) && meta_io_size(im->io) != h->volume_size))) {
		/* the volume's size: grown (the new part reads zeros), or a full stream's exactly */
		if (truncate(a->output, (off_t)h->volume_size)) {
			cli_err("%s: cannot size the image to %" PRIu64 " bytes: %s", a->output,
				h->volume_size, strerror(errno));
			*ex = EXIT_OPERR;
			meta_stream_reader_free(rd);
			return -1;
		}
	} else if (!r && im && meta_io_size(im->io) < h->volume_size) {
		cli_err("%s: the device (%" PRIu64 " bytes) is smaller than the volume (%" PRIu64
			" bytes)", a->output, meta_io_size(im->io), h->volume_size);
		*ex = EXIT_OPERR;
		meta_stream_reader_free(rd);
		return -1;
	}
	while (!r) {
		r = meta_stream_next(rd, &rec, &p);
		if (r || rec.type == META_STREAM_END)
			break;
		if (!im)
			continue;
		if (rec.type == META_STREAM_DATA)
			r = meta_io_pwrite(im->io, p, (size_t)rec.length, rec.offset);
		else
			r = image_zero(im, rec.offset, rec.length);
		if (r) {
			cli_err("%s: cannot write the image at byte %" PRIu64 ": %s", a->output,
				rec.offset, meta_io_errno(im->io) ? strerror(meta_io_errno(im->io))
								  : meta_strerror(r));
			*ex = EXIT_OPERR;
			meta_stream_reader_free(rd);
			return -1;
		}
	}
	if (r)
		*ex = report_stream_error(a->input, r, rd, in);
	meta_stream_reader_free(rd);
	return r ? -1 : 0;
}

static int import_image(const struct args *a, struct in *in)
{
	struct meta_stream_header h;
	struct image im = {0};
	struct stat st;
	int r, ex = EXIT_OK;
	/* a stream in a file is checked whole before the image is touched */
	if (in->seekable) {
		if (pass(a, in, NULL, &h, &ex))
			return ex;
		if ((ex = check_base(a, &h)))
			return ex;
		if (rewind_input(in)) {
			cli_err("%s: cannot read the stream again: %s", a->input, strerror(errno));
			return EXIT_OPERR;
		}
	}
	if (stat(a->output, &st)) {
		int fd = open(a->output, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
		if (fd < 0) {
			cli_err("%s: cannot create the image: %s", a->output, strerror(errno));
			return EXIT_OPERR;
		}
		close(fd);
	}
	r = meta_io_open(a->output, META_IO_WRITE | META_IO_EXCL, &im.io);
	if (r) {
		cli_report_output_error(a->output, r);
		return EXIT_OPERR;
	}
	im.is_file = !meta_io_is_blockdev(im.io);
	im.zero_write = a->zero_write;
	im.zeros = calloc(1, META_STREAM_MAX_DATA);
	if (!im.zeros) {
		cli_err("out of memory");
		meta_io_close(im.io);
		return EXIT_OPERR;
	}
	if (!pass(a, in, &im, &h, &ex)) {
		if (meta_io_flush(im.io)) {
			cli_err("%s: cannot flush the image: %s", a->output,
				strerror(meta_io_errno(im.io)));
			ex = EXIT_OPERR;
		}
	}
	meta_io_close(im.io);
	free(im.zeros);
	if (!ex && a->state && write_state(a->state, &h)) {
		cli_err("%s: cannot write the state file: %s", a->state, strerror(errno));
		ex = EXIT_OPERR;
	}
	return ex;
}

int main(int argc, char **argv)
{
	struct args a;
	struct in in = {.fd = -1};
	int ex;

	cli_init(argv[0]);
	memset(&a, 0, sizeof(a));
	parse_args(argc, argv, &a);
	if (a.output) {
		cli_refuse_input_is_output(a.input, a.output);
		cli_refuse_foreign_family(a.output, META_FAMILY_NONE, a.force);
	}
	ex = open_input(a.input, &in);
	if (!ex)
		ex = a.info ? info(&a, &in) : import_image(&a, &in);
	if (in.fd > STDIN_FILENO)
		close(in.fd);
	free(in.buf);
	return ex;
}
