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
#include <libmeta/thin_io.h>
#include <libmeta/thin_pool.h>

#include "common.h"

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: thin_import [options] -i STREAM -o IMAGE\n"
		"       thin_import [options] -i STREAM --metadata-dev M --data-dev D --dev-id N\n"
		"       thin_import --info -i STREAM\n"
		"Write a delta stream (thin_export --format stream, or --since) into a plain\n"
		"image or device, or into thin device N of a pool (one commit at the end), after\n"
		"checking it; or check it and print its header.\n"
		"\n"
		"Options:\n"
		"  -i, --input STREAM      the delta stream, '-' for standard input (required)\n"
		"  -o, --output IMAGE      the image or device the volume's bytes go to\n"
		"      --metadata-dev PATH the target pool's metadata device or image\n"
		"      --data-dev PATH     the target pool's data device or image\n"
		"      --dev-id N          the target thin device (a full stream creates it)\n"
		"      --commit-every N    commit every N data blocks written (pool target)\n"
		"      --skip-block-zeroing      the pool's skip_block_zeroing feature\n"
		"      --no-discard-passdown     the pool's no_discard_passdown feature\n"
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
		"Exit status: 0 ok, 1 damaged pool metadata, 2 usage error, 3 operational error\n"
		"(bad or damaged stream, wrong base, no space, I/O).\n");
}

enum {
	OPT_STATE = 256,
	OPT_INFO,
	OPT_ZERO_WRITE,
	OPT_FORCE,
	OPT_METADATA_DEV,
	OPT_DATA_DEV,
	OPT_DEV_ID,
	OPT_COMMIT_EVERY,
	OPT_SKIP_ZEROING,
	OPT_NO_PASSDOWN,
};

struct args {
	const char *input, *output, *state, *meta, *data;
	bool info, zero_write, force, have_dev, skip_zeroing, no_passdown;
	uint64_t dev, commit_every;
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
		CLI_ARG("metadata-dev", OPT_METADATA_DEV),
		CLI_ARG("data-dev", OPT_DATA_DEV),
		CLI_ARG("dev-id", OPT_DEV_ID),
		CLI_ARG("commit-every", OPT_COMMIT_EVERY),
		CLI_FLAG("skip-block-zeroing", OPT_SKIP_ZEROING),
		CLI_FLAG("no-discard-passdown", OPT_NO_PASSDOWN),
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
		case OPT_COMMIT_EVERY:
			a->commit_every = cli_u64_arg("--commit-every", optarg);
			if (!a->commit_every)
				cli_usage_error("--commit-every must be at least 1 block");
			break;
		case OPT_SKIP_ZEROING:
			a->skip_zeroing = true;
			break;
		case OPT_NO_PASSDOWN:
			a->no_passdown = true;
			break;
		default:
			cli_common_or_bad_option(c, argv, usage);
		}
	}
	cli_no_operands(argc, argv);
	if (!a->input)
		cli_usage_error("-i STREAM is required ('-' for standard input)");
	bool pool = a->meta || a->data || a->have_dev;
	if (a->info && (a->output || pool))
		cli_usage_error("--info only reads the stream: no target can go with it");
	if (a->output && pool)
		cli_usage_error("-o IMAGE or --metadata-dev/--data-dev/--dev-id: one target");
	if (pool && (!a->meta || !a->data || !a->have_dev))
		cli_usage_error("a pool target needs --metadata-dev, --data-dev and --dev-id");
	if (!a->info && !a->output && !pool)
		cli_usage_error("-o IMAGE or --metadata-dev M --data-dev D --dev-id N is required "
				"(or --info)");
	if (!pool && (a->commit_every || a->skip_zeroing || a->no_passdown))
		cli_usage_error("--commit-every, --skip-block-zeroing and --no-discard-passdown "
				"are for a pool target");
	if (a->have_dev && a->dev > META_THIN_MAX_DEV_ID)
		cli_usage_error("--dev-id %" PRIu64 ": device ids are 24-bit (0 to %llu)", a->dev,
				(unsigned long long)META_THIN_MAX_DEV_ID);
	if (a->commit_every > UINT64_MAX / (1ull << 30))
		cli_usage_error("--commit-every %" PRIu64 " is too large", a->commit_every);
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
	in->buf = meta_io_buf_alloc(INBUF);
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

/* The target is a pool's volume: 0 none, 1 one commit at the end, 2 --commit-every. */
static int pool_target;

/* One line for a stream error: exit 3. */
static int report_stream_error(const char *path, int r, const struct meta_stream_reader *rd,
			       const struct in *in)
{
	if (r == META_E_STREAM)
		cli_err("%s: bad delta stream at byte %" PRIu64 ": %s; %s", path,
			meta_stream_position(rd), meta_stream_reason(rd),
			in->seekable ? "nothing was written"
			: pool_target == 1 ? "nothing was committed: the volume is unchanged"
			: pool_target == 2 ? "the volume holds the last commit's state (a sound "
					     "copy of the stream, run again, completes it)"
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

/* ---- the targets ---- */

struct target {
	/* after the header (base checked): 0, or the exit status after one line */
	int (*start)(struct target *t, const struct args *a, const struct meta_stream_header *h);
	int (*data)(struct target *t, uint64_t off, const void *p, size_t len);
	int (*zero)(struct target *t, uint64_t off, uint64_t len);
	/* one line for a failed data/zero at off: the exit status */
	int (*fail)(struct target *t, const struct args *a, uint64_t off, int r);
};

/* An image or device. */
struct image {
	struct target t;
	struct meta_io *io;
	bool is_file, zero_write;
	char *zeros;
};

static int image_start(struct target *t, const struct args *a, const struct meta_stream_header *h)
{
	struct image *im = (struct image *)t;
	uint64_t size = meta_io_size(im->io);
	if (im->is_file &&
	    (size < h->volume_size || (!(h->flags & META_STREAM_INCREMENTAL) && size != h->volume_size))) {
		/* the volume's size: grown (the new part reads zeros), or a full stream's exactly */
		if (truncate(a->output, (off_t)h->volume_size)) {
			cli_err("%s: cannot size the image to %" PRIu64 " bytes: %s", a->output,
				h->volume_size, strerror(errno));
			return EXIT_OPERR;
		}
	} else if (size < h->volume_size) {
		cli_err("%s: the device (%" PRIu64 " bytes) is smaller than the volume (%" PRIu64
			" bytes)", a->output, size, h->volume_size);
		return EXIT_OPERR;
	}
	return 0;
}

static int image_data(struct target *t, uint64_t off, const void *p, size_t len)
{
	struct image *im = (struct image *)t;
	return meta_io_pwrite(im->io, p, len, off);
}

static int image_zero(struct target *t, uint64_t off, uint64_t len)
{
	struct image *im = (struct image *)t;
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

static int image_fail(struct target *t, const struct args *a, uint64_t off, int r)
{
	struct image *im = (struct image *)t;
	cli_err("%s: cannot write the image at byte %" PRIu64 ": %s", a->output, off,
		meta_io_errno(im->io) ? strerror(meta_io_errno(im->io)) : meta_strerror(r));
	return EXIT_OPERR;
}

/*
 * One pass over the stream: apply the records to tg, or with tg NULL only check them.
 * 0, or -1 with *ex the exit status (after one line).
 */
static int pass(const struct args *a, struct in *in, struct target *tg,
		struct meta_stream_header *h, int *ex)
{
	struct meta_stream_reader *rd;
	struct meta_stream_record rec;
	const void *p;
	int r = meta_stream_reader_open(in_read, in, &rd);
	if (!r)
		r = meta_stream_read_header(rd, h);
	if (!r && tg && ((*ex = check_base(a, h)) || (*ex = tg->start(tg, a, h)))) {
		meta_stream_reader_free(rd);
		return -1;
	}
	while (!r) {
		r = meta_stream_next(rd, &rec, &p);
		if (r || rec.type == META_STREAM_END)
			break;
		if (!tg)
			continue;
		if (rec.type == META_STREAM_DATA)
			r = tg->data(tg, rec.offset, p, (size_t)rec.length);
		else
			r = tg->zero(tg, rec.offset, rec.length);
		if (r) {
			*ex = tg->fail(tg, a, rec.offset, r);
			meta_stream_reader_free(rd);
			return -1;
		}
	}
	if (r)
		*ex = report_stream_error(a->input, r, rd, in);
	meta_stream_reader_free(rd);
	return r ? -1 : 0;
}

/* A stream in a file is checked whole (and its base) before the target is touched. */
static int precheck(const struct args *a, struct in *in)
{
	struct meta_stream_header h;
	int ex = 0;
	if (!in->seekable)
		return 0;
	if (pass(a, in, NULL, &h, &ex))
		return ex;
	if ((ex = check_base(a, &h)))
		return ex;
	if (rewind_input(in)) {
		cli_err("%s: cannot read the stream again: %s", a->input, strerror(errno));
		return EXIT_OPERR;
	}
	return 0;
}

static int finish_state(const struct args *a, const struct meta_stream_header *h)
{
	if (a->state && write_state(a->state, h)) {
		cli_err("%s: cannot write the state file: %s", a->state, strerror(errno));
		return EXIT_OPERR;
	}
	return 0;
}

static int import_image(const struct args *a, struct in *in)
{
	struct meta_stream_header h;
	struct image im = {{image_start, image_data, image_zero, image_fail}, NULL, false, false, NULL};
	struct stat st;
	int r, ex = precheck(a, in);
	if (ex)
		return ex;
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
	if (!pass(a, in, &im.t, &h, &ex) && meta_io_flush(im.io)) {
		cli_err("%s: cannot flush the image: %s", a->output, strerror(meta_io_errno(im.io)));
		ex = EXIT_OPERR;
	}
	meta_io_close(im.io);
	free(im.zeros);
	return ex ? ex : finish_state(a, &h);
}

/* ---- apply to a volume of a pool ---- */

/*
 * The volume is snapshotted first (a temporary device, deleted before the commit): every
 * block the import writes then breaks sharing into a new block, so nothing of the volume
 * is overwritten in place and an import that stops before its commit leaves the volume as
 * it was.  --commit-every commits (and takes a new temporary snapshot) every N blocks.
 */
struct pooltgt {
	struct target t;
	struct meta_thin_pool *p;
	struct meta_thin_vol *v;
	struct meta_io *data;
	uint64_t tmp, bs, since_commit;
	char *zeros;
	const struct args *a;
};

static int pool_snap(struct pooltgt *pt)
{
	for (uint64_t id = META_THIN_MAX_DEV_ID; id > 0; id--) {
		int r;
		if (id == pt->a->dev)
			continue;
		r = meta_thin_pool_create_snap(pt->p, id, pt->a->dev);
		if (r != META_E_DEV_EXISTS) {
			pt->tmp = id;
			return r;
		}
	}
	return META_E_DEV_EXISTS;
}

static int pool_commit(struct pooltgt *pt, bool again)
{
	int r = meta_thin_pool_delete(pt->p, pt->tmp);
	if (!r)
		r = meta_thin_pool_commit(pt->p);
	if (!r && again)
		r = pool_snap(pt);
	pt->since_commit = 0;
	return r;
}

static int pool_start(struct target *t, const struct args *a, const struct meta_stream_header *h)
{
	struct pooltgt *pt = (struct pooltgt *)t;
	struct meta_thin_pool_info info;
	int r;
	meta_thin_pool_info(pt->p, &info);
	pt->bs = (uint64_t)info.data_block_size * 512;
	r = meta_thin_pool_create_thin(pt->p, a->dev);
	if (r == 0 && (h->flags & META_STREAM_INCREMENTAL)) {
		cli_err("%s: no thin device %" PRIu64 " in the pool: an incremental stream needs a "
			"copy of its base (apply a full stream first)", a->meta, a->dev);
		return EXIT_OPERR;
	}
	if (r && r != META_E_DEV_EXISTS)
		return pt->t.fail(t, a, 0, r);
	r = pool_snap(pt);
	if (!r)
		r = meta_thin_vol_open(pt->p, a->dev, NULL, h->volume_size, &pt->v);
	return r ? pt->t.fail(t, a, 0, r) : 0;
}

static int pool_step(struct pooltgt *pt, uint64_t len)
{
	pt->since_commit += len;
	if (pt->a->commit_every && pt->since_commit >= pt->a->commit_every * pt->bs)
		return pool_commit(pt, true);
	return 0;
}

static int pool_data(struct target *t, uint64_t off, const void *p, size_t len)
{
	struct pooltgt *pt = (struct pooltgt *)t;
	int r = meta_thin_vol_write(pt->v, off, p, len);
	return r ? r : pool_step(pt, len);
}

static int pool_zeros(struct pooltgt *pt, uint64_t off, uint64_t len)
{
	while (len) {
		size_t n = len < META_STREAM_MAX_DATA ? (size_t)len : META_STREAM_MAX_DATA;
		int r = meta_thin_vol_write(pt->v, off, pt->zeros, n);
		if (r)
			return r;
		off += n;
		len -= n;
	}
	return 0;
}

/* whole blocks unmapped, the parts of blocks at either end written with zeros */
static int pool_zero(struct target *t, uint64_t off, uint64_t len)
{
	struct pooltgt *pt = (struct pooltgt *)t;
	uint64_t end = off + len, a = (off + pt->bs - 1) / pt->bs * pt->bs, b = end / pt->bs * pt->bs;
	int r;
	if (a >= b)
		r = pool_zeros(pt, off, len);
	else if (!(r = pool_zeros(pt, off, a - off)) && !(r = meta_thin_vol_discard(pt->v, a, b - a)))
		r = pool_zeros(pt, b, end - b);
	return r ? r : pool_step(pt, len);
}

static int pool_fail(struct target *t, const struct args *a, uint64_t off, int r)
{
	struct pooltgt *pt = (struct pooltgt *)t;
	const char *tail = a->commit_every ? "the volume holds the last commit's state"
					   : "the volume is unchanged";
	switch (r) {
	case META_E_DATA_NOSPC:
		cli_err("%s: no free data block in the pool (at byte %" PRIu64 " of the volume); %s; "
			"grow the data device first", a->data, off, tail);
		return EXIT_OPERR;
	case META_E_NOSPC:
		cli_err("%s: no free metadata block in the pool; %s; grow the metadata device first",
			a->meta, tail);
		return EXIT_OPERR;
	case META_E_IO:
		cli_err("%s: input/output error%s%s; %s", a->data,
			meta_io_errno(pt->data) ? ": " : "",
			meta_io_errno(pt->data) ? strerror(meta_io_errno(pt->data)) : "", tail);
		return EXIT_OPERR;
	case META_E_CORRUPT:
	case META_E_CHECKSUM:
	case META_E_BLOCKNR:
		cli_err("%s: the metadata is damaged (%s); %s; run thin_check", a->meta,
			meta_strerror(r), tail);
		return EXIT_DAMAGE;
	case META_E_DATA_SIZE:
		cli_err("%s: the data device is smaller than the pool's data blocks (wrong "
			"--data-dev?)", a->data);
		return EXIT_OPERR;
	default:
		cli_err("%s: %s; %s", a->meta, meta_strerror(r), tail);
		return cli_exit_for(r);
	}
}

static int import_pool(const struct args *a, struct in *in)
{
	struct meta_thin_pool_opts o = {0};
	struct meta_stream_header h;
	struct pooltgt pt;
	int r, ex = precheck(a, in);
	if (ex)
		return ex;
	memset(&pt, 0, sizeof(pt));
	pt.t = (struct target){pool_start, pool_data, pool_zero, pool_fail};
	pt.a = a;
	pool_target = a->commit_every ? 2 : 1;
	r = meta_thin_pool_open(a->meta, &o, &pt.p, NULL);
	if (r) {
		if (!cli_report_foreign_family(a->meta, META_FAMILY_THIN)) {
			if (r == META_E_NEEDS_CHECK)
				cli_err("%s: the pool's needs_check flag is set; run thin_check first",
					a->meta);
			else
				cli_report_open_error(a->meta, r, 0);
		}
		return cli_exit_for(r);
	}
	r = meta_io_open(a->data, META_IO_WRITE | META_IO_EXCL, &pt.data);
	if (r) {
		cli_report_open_error(a->data, r, 0);
		meta_thin_pool_close(pt.p);
		return EXIT_OPERR;
	}
	r = meta_thin_pool_attach_data(pt.p, pt.data,
				       (a->skip_zeroing ? META_THIN_IO_SKIP_ZEROING : 0) |
				       (a->no_passdown ? META_THIN_IO_NO_PASSDOWN : 0));
	pt.zeros = calloc(1, META_STREAM_MAX_DATA);
	if (r || !pt.zeros)
		ex = pool_fail(&pt.t, a, 0, r ? r : META_E_NOMEM);
	if (!ex && !pass(a, in, &pt.t, &h, &ex)) {
		meta_thin_vol_close(pt.v);
		pt.v = NULL;
		r = pool_commit(&pt, false);
		if (r)
			ex = pool_fail(&pt.t, a, 0, r);
	}
	if (pt.v)
		meta_thin_vol_close(pt.v);
	meta_thin_pool_close(pt.p); /* without a commit: the transaction is abandoned */
	meta_io_close(pt.data);
	free(pt.zeros);
	return ex ? ex : finish_state(a, &h);
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
	if (a.meta) {
		cli_refuse_input_is_output(a.input, a.meta);
		cli_refuse_input_is_output(a.input, a.data);
		cli_refuse_same_storage(a.meta, a.data);
	}
	ex = open_input(a.input, &in);
	if (!ex)
		ex = a.info ? info(&a, &in) : a.meta ? import_pool(&a, &in) : import_image(&a, &in);
	if (in.fd > STDIN_FILENO)
		close(in.fd);
	free(in.buf);
	return ex;
}
