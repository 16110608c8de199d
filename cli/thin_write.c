/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * thin_write: write bytes into a thin volume of an offline pool, or discard a range of
 * it, as the `thin` target does (provisioning, zeroing, breaking sharing, discard
 * passdown), through libmeta's thin I/O engine (include/libmeta/thin_io.h); one
 * metadata commit per call, or one per --commit-every data blocks.
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
#include <libmeta/thin.h>
#include <libmeta/thin_check.h>
#include <libmeta/thin_io.h>
#include <libmeta/thin_pool.h>

#include "common.h"

#define CHUNK (32u << 20) /* bytes of input per engine call */

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: thin_write [options] --metadata-dev META --data-dev DATA --dev-id N\n"
		"                  --offset SECTORS (-i FILE | --discard SECTORS)\n"
		"Write bytes into thin device N of an offline pool at a sector offset, or discard\n"
		"a range of it, as the thin target of Linux 6.1 does: new blocks are provisioned\n"
		"(a partial one zeroed first, or copied from the external origin), a block shared\n"
		"with a snapshot is copied before a partial write, a discard unmaps the whole\n"
		"blocks inside the range and passes the freed ones down to the data device.\n"
		"\n"
		"Options:\n"
		"      --metadata-dev META    the pool's metadata device or image (required)\n"
		"      --data-dev DATA        the pool's data device or image (required)\n"
		"      --dev-id N             the thin device (required)\n"
		"      --offset SECTORS       where to start, in 512-byte sectors (required)\n"
		"  -i, --input FILE           the bytes to write ('-': standard input)\n"
		"      --discard SECTORS      discard SECTORS sectors instead of writing\n"
		"      --size SECTORS         the volume's length (its table line's); nothing is\n"
		"                             written past it (default: the external origin's\n"
		"                             size with --external-origin, else no limit)\n"
		"      --external-origin PATH the volume's external origin (read only)\n"
		"      --skip-block-zeroing   the pool's skip_block_zeroing feature: partial new\n"
		"                             blocks are not zeroed first\n"
		"      --no-discard-passdown  the pool's no_discard_passdown feature: freed blocks\n"
		"                             are not discarded on the data device\n"
		"      --commit-every BLOCKS  commit after every BLOCKS data blocks written\n"
		"                             (default: one commit at the end)\n"
		"  -q, --quiet                no messages\n"
		"  -h, --help                 show this help and exit\n"
		"  -V, --version              print the version and exit\n"
		"\n"
		"A data device larger than the pool grows the pool to it, as the kernel does at\n"
		"activation; a smaller one is refused.  The metadata is checked first.\n"
		"Exit status: 0 ok, 1 the metadata is damaged, 2 usage error, 3 operational error\n"
		"(cannot open, no such device, I/O error, no data or metadata space, past the\n"
		"volume's end); the pool then holds its last commit.\n");
}

enum {
	OPT_META = 256,
	OPT_DATA,
	OPT_DEV,
	OPT_OFFSET,
	OPT_DISCARD,
	OPT_SIZE,
	OPT_ORIGIN,
	OPT_SKIPZERO,
	OPT_NOPASS,
	OPT_EVERY,
};

struct args {
	const char *meta, *data, *input, *origin;
	uint64_t dev, offset, discard, size, every; /* offset, discard, size in bytes */
	bool have_dev, have_offset, have_discard, have_size;
	unsigned flags;
};

/* SECTORS of option opt in bytes, or a usage error when it overflows. */
static uint64_t sectors_arg(const char *opt, const char *arg)
{
	uint64_t n = cli_u64_arg(opt, arg), b;
	if (cli_mul_overflows(n, 512, &b))
		cli_usage_error("%s %s: more than 2^64 bytes", opt, arg);
	return b;
}

static void parse(int argc, char **argv, struct args *a)
{
	static const struct option lopts[] = {
		CLI_ARG("metadata-dev", OPT_META),
		CLI_ARG("data-dev", OPT_DATA),
		CLI_ARG("dev-id", OPT_DEV),
		CLI_ARG("offset", OPT_OFFSET),
		CLI_ARG("input", 'i'),
		CLI_ARG("discard", OPT_DISCARD),
		CLI_ARG("size", OPT_SIZE),
		CLI_ARG("external-origin", OPT_ORIGIN),
		CLI_FLAG("skip-block-zeroing", OPT_SKIPZERO),
		CLI_FLAG("no-discard-passdown", OPT_NOPASS),
		CLI_ARG("commit-every", OPT_EVERY),
		CLI_COMMON_LONGOPTS,
	};
	int c;
	while ((c = getopt_long(argc, argv, ":i:qhV", lopts, NULL)) != -1) {
		switch (c) {
		case OPT_META:
			a->meta = optarg;
			break;
		case OPT_DATA:
			a->data = optarg;
			break;
		case OPT_DEV:
			a->dev = cli_u64_arg("--dev-id", optarg);
			if (a->dev > META_THIN_MAX_DEV_ID)
				cli_usage_error("--dev-id %s: device ids are 24-bit: 0 to %llu", optarg,
						(unsigned long long)META_THIN_MAX_DEV_ID);
			a->have_dev = true;
			break;
		case OPT_OFFSET:
			a->offset = sectors_arg("--offset", optarg);
			a->have_offset = true;
			break;
		case 'i':
			a->input = optarg;
			break;
		case OPT_DISCARD:
			a->discard = sectors_arg("--discard", optarg);
			a->have_discard = true;
			break;
		case OPT_SIZE:
			a->size = sectors_arg("--size", optarg);
			if (!a->size)
				cli_usage_error("--size 0: a volume has at least one sector");
			a->have_size = true;
			break;
		case OPT_ORIGIN:
			a->origin = optarg;
			break;
		case OPT_SKIPZERO:
			a->flags |= META_THIN_IO_SKIP_ZEROING;
			break;
		case OPT_NOPASS:
			a->flags |= META_THIN_IO_NO_PASSDOWN;
			break;
		case OPT_EVERY:
			a->every = cli_u64_arg("--commit-every", optarg);
			if (!a->every)
				cli_usage_error("--commit-every 0: give at least 1 block");
			break;
		default:
			cli_common_or_bad_option(c, argv, usage);
		}
	}
	cli_no_operands(argc, argv);
	if (!a->meta)
		cli_usage_error("--metadata-dev META is required (the pool's metadata device)");
	if (!a->data)
		cli_usage_error("--data-dev DATA is required (the pool's data device)");
	if (!a->have_dev)
		cli_usage_error("--dev-id N is required (the thin device)");
	if (!a->have_offset)
		cli_usage_error("--offset SECTORS is required (where to write or discard)");
	if (!a->input == !a->have_discard)
		cli_usage_error("give one of -i/--input FILE (write) and --discard SECTORS");
	if (a->have_discard && a->every)
		cli_usage_error("--commit-every goes with writes, not with --discard");
	if (a->have_discard && a->discard > UINT64_MAX - a->offset)
		cli_usage_error("--offset plus --discard ends past 2^64 bytes");
	if (a->have_size && a->offset > a->size)
		cli_usage_error("--offset is past the volume's end (--size)");
	if (a->have_discard && a->have_size && a->offset + a->discard > a->size)
		cli_usage_error("--offset plus --discard ends past the volume's end (--size)");
	cli_refuse_same_storage(a->meta, a->data);
	if (a->input) {
		cli_refuse_input_is_output(a->input, a->meta);
		cli_refuse_input_is_output(a->input, a->data);
	}
	if (a->origin) {
		cli_refuse_same_storage(a->origin, a->meta);
		cli_refuse_same_storage(a->origin, a->data);
	}
}

/* The full check of the committed metadata: 0, else the exit status. */
static int check_first(const char *path)
{
	struct meta_thin_open_opts oo;
	struct meta_thin_check_opts co;
	struct meta_thin_check_result cr;
	struct cli_first_damage fd;
	struct meta_thin *t;
	int r;
	memset(&oo, 0, sizeof(oo));
	memset(&co, 0, sizeof(co));
	memset(&fd, 0, sizeof(fd));
	oo.flags = META_THIN_OPEN_EXCL;
	r = meta_thin_open(path, &oo, &t);
	if (r) {
		if (r == META_E_BUSY)
			cli_err("cannot open %s exclusively: device is in use. thin_write cannot be "
				"run on live metadata: deactivate the pool first", path);
		else if ((r == META_E_CHECKSUM || r == META_E_BADMAGIC || r == META_E_BLOCKNR) &&
			 cli_report_foreign_family(path, META_FAMILY_THIN))
			return EXIT_OPERR;
		else
			cli_report_open_error(path, r, 0);
		return cli_exit_for(r);
	}
	co.damage = cli_keep_first_fatal;
	co.damage_ctx = &fd;
	r = meta_thin_check(t, &co, &cr);
	meta_thin_close(t);
	if (r) {
		cli_err("%s: cannot check the metadata: %s", path, meta_strerror(r));
		return cli_exit_for(r);
	}
	if (cr.worst == META_SEV_FATAL) {
		cli_report_first_damage(path, &fd);
		cli_err("refusing to write: the metadata is damaged; run thin_repair first");
		return EXIT_DAMAGE;
	}
	return 0;
}

static int open_error(const char *path, int r, const char *what)
{
	if (r == META_E_NOENT)
		cli_err("%s: Couldn't find the %s (no such file or directory)", path, what);
	else if (r == META_E_BUSY)
		cli_err("cannot open %s %s exclusively: device is in use", what, path);
	else
		cli_err("%s: cannot open the %s: %s", path, what, meta_strerror(r));
	return EXIT_OPERR;
}

struct run {
	const struct args *a;
	struct meta_thin_pool *p;
	struct meta_io *data, *origin;
	uint32_t block_sectors;
	uint64_t committed; /* bytes written and committed */
};

/* One line for a failure of the engine, naming the next step; the exit status. */
static int report(const struct run *w, int r)
{
	const struct args *a = w->a;
	char done[96] = "";
	if (w->committed)
		snprintf(done, sizeof(done), " (the first %" PRIu64 " sectors written were committed)",
			 w->committed / 512);
	switch (r) {
	case META_E_DATA_NOSPC:
		cli_err("%s: no free data block left in the pool (the kernel's out-of-data-space "
			"mode); this write was not committed%s; grow the data device and run "
			"thin_message --nr-data-blocks, or discard or delete something", a->meta, done);
		return EXIT_OPERR;
	case META_E_NOSPC:
		cli_err("%s: no space left in the metadata device; this write was not committed%s; "
			"grow the metadata device and run again", a->meta, done);
		return EXIT_OPERR;
	case META_E_VOL_END:
		cli_err("%s: thin device %" PRIu64 ": the write runs past the volume's end "
			"(%" PRIu64 " sectors); this write was not committed%s", a->meta, a->dev,
			a->size / 512, done);
		return EXIT_OPERR;
	case META_E_IO:
		cli_err("%s: input/output error on the data device, the external origin or the "
			"metadata; this write was not committed%s", a->meta, done);
		return EXIT_OPERR;
	case META_E_CORRUPT:
	case META_E_CHECKSUM:
	case META_E_BLOCKNR:
		cli_err("%s: the metadata is damaged (%s); this write was not committed; run "
			"thin_check", a->meta, meta_strerror(r));
		return EXIT_DAMAGE;
	default:
		cli_err("%s: %s; this write was not committed%s", a->meta, meta_strerror(r), done);
		return cli_exit_for(r);
	}
}

/* Read up to n bytes (less only at the end of the input); -1 on a read error. */
static ssize_t read_full(int fd, uint8_t *buf, size_t n)
{
	size_t got = 0;
	while (got < n) {
		ssize_t k = read(fd, buf + got, n - got);
		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0)
			return -1;
		if (!k)
			break;
		got += (size_t)k;
	}
	return (ssize_t)got;
}

static int write_input(struct run *w, struct meta_thin_vol *v)
{
	const struct args *a = w->a;
	uint64_t bs = (uint64_t)w->block_sectors * 512, every = 0, since = 0, off = a->offset;
	bool progress = cli_progress_allowed();
	int fd = strcmp(a->input, "-") ? open(a->input, O_RDONLY) : 0, r = 0;
	uint8_t *buf;
	if (fd < 0) {
		cli_err("%s: cannot open the input: %s", a->input, strerror(errno));
		return EXIT_OPERR;
	}
	/* the input is read ahead one chunk: the next chunk comes in while this one is written */
	(void)posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
	if (a->every && cli_mul_overflows(a->every, bs, &every))
		every = 0; /* more than 2^64 bytes: never reached */
	buf = meta_io_buf_alloc(CHUNK);
	if (!buf) {
		cli_err("out of memory");
		if (fd)
			close(fd);
		return EXIT_OPERR;
	}
	for (;;) {
		size_t want = CHUNK;
		ssize_t got;
		if (every && every - since < want)
			want = (size_t)(every - since);
		got = read_full(fd, buf, want);
		if (got < 0) {
			cli_err("%s: cannot read the input: %s; this write was not committed", a->input,
				strerror(errno));
			r = EXIT_OPERR;
			break;
		}
		if (!got)
			break;
		(void)posix_fadvise(fd, (off_t)(off - a->offset) + got, CHUNK, POSIX_FADV_WILLNEED);
		if ((uint64_t)got > UINT64_MAX - off) {
			cli_err("--offset plus the input's length ends past 2^64 bytes; nothing more "
				"was written");
			r = EXIT_OPERR;
			break;
		}
		r = meta_thin_vol_write(v, off, buf, (size_t)got);
		if (r) {
			r = report(w, r);
			break;
		}
		off += (uint64_t)got;
		since += (uint64_t)got;
		if (every && since == every) {
			r = meta_thin_pool_commit(w->p);
			if (r) {
				r = report(w, r);
				break;
			}
			w->committed = off - a->offset;
			since = 0;
		}
		if (progress)
			fprintf(stderr, "\r%s: %" PRIu64 " MiB written", cli_prog, (off - a->offset) >> 20);
		if ((size_t)got < want)
			break;
	}
	if (progress)
		fprintf(stderr, "\n");
	if (fd)
		close(fd);
	free(buf);
	if (!r && since) {
		r = meta_thin_pool_commit(w->p);
		if (r)
			r = report(w, r);
	}
	return r;
}

/* The pool, opened and grown to the data device: 0, else the exit status. */
static int open_pool(struct run *w)
{
	const struct args *a = w->a;
	struct meta_thin_pool_info in;
	uint64_t nr;
	int r = meta_thin_pool_open(a->meta, NULL, &w->p, NULL);
	if (r) {
		if (r == META_E_NEEDS_CHECK)
			cli_err("%s: the pool's needs_check flag is set: the kernel keeps such a pool "
				"read-only; run thin_check (and thin_repair if it finds damage) first",
				a->meta);
		else if (r == META_E_NOSPC)
			cli_err("%s: no space left in the metadata device; grow it first", a->meta);
		else
			cli_report_open_error(a->meta, r, 0);
		return r == META_E_NEEDS_CHECK || r == META_E_NOSPC ? EXIT_OPERR : cli_exit_for(r);
	}
	meta_thin_pool_info(w->p, &in);
	w->block_sectors = in.data_block_size;
	nr = meta_io_size(w->data) / ((uint64_t)in.data_block_size * 512);
	if (nr < in.nr_data_blocks) {
		cli_err("%s: the data device holds %" PRIu64 " blocks of %" PRIu32 " sectors, fewer "
			"than the %" PRIu64 " data blocks of the pool in %s; wrong data device?",
			a->data, nr, in.data_block_size, in.nr_data_blocks, a->meta);
		return EXIT_OPERR;
	}
	if (nr > META_THIN_MAX_DATA_BLOCK + 1)
		nr = META_THIN_MAX_DATA_BLOCK + 1;
	if (nr > in.nr_data_blocks) { /* as at activation: committed with the write */
		r = meta_thin_pool_resize_data(w->p, nr);
		if (r)
			return report(w, r);
	}
	r = meta_thin_pool_attach_data(w->p, w->data, a->flags);
	return r ? report(w, r) : 0;
}

int main(int argc, char **argv)
{
	struct args a;
	struct run w;
	struct meta_thin_vol *v = NULL;
	uint64_t size;
	int r;

	cli_init(argv[0]);
	memset(&a, 0, sizeof(a));
	memset(&w, 0, sizeof(w));
	parse(argc, argv, &a);
	w.a = &a;
	r = check_first(a.meta);
	if (r)
		return r;
	r = meta_io_open(a.data, META_IO_WRITE | META_IO_EXCL, &w.data);
	if (r)
		return open_error(a.data, r, "data device");
	if (a.origin) {
		r = meta_io_open(a.origin, 0, &w.origin);
		if (r) {
			meta_io_close(w.data);
			return open_error(a.origin, r, "external origin");
		}
	}
	size = a.size;
	if (!a.have_size && w.origin) {
		size = meta_io_size(w.origin) & ~(uint64_t)511;
		cli_err("note: no --size given: the volume ends with its external origin (%" PRIu64
			" sectors); give --size for a longer volume", size / 512);
		a.size = size;
		if (!size || a.offset > size || (a.have_discard && a.offset + a.discard > size)) {
			cli_err("%s: thin device %" PRIu64 ": the range runs past the volume's end (%" PRIu64
				" sectors); nothing was written", a.meta, a.dev, size / 512);
			r = EXIT_OPERR;
			goto out;
		}
	}
	r = open_pool(&w);
	if (r)
		goto out;
	r = meta_thin_vol_open(w.p, a.dev, w.origin, size, &v);
	if (r == META_E_NOTFOUND) {
		cli_err("%s: no thin device %" PRIu64 " in the pool; thin_ls lists its devices, "
			"thin_message create_thin makes one", a.meta, a.dev);
		r = EXIT_OPERR;
		goto out;
	}
	if (r) {
		r = report(&w, r);
		goto out;
	}
	if (a.have_discard) {
		r = meta_thin_vol_discard(v, a.offset, a.discard);
		if (!r)
			r = meta_thin_pool_commit(w.p);
		if (r)
			r = report(&w, r);
	} else {
		r = write_input(&w, v);
	}
out:
	meta_thin_vol_close(v);
	meta_thin_pool_close(w.p);
	meta_io_close(w.data);
	meta_io_close(w.origin);
	return r;
}
