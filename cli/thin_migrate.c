/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * thin_migrate: copy a thin volume to another device or a file.  Options as
 * thin-provisioning-tools 1.x thin_migrate (--source-dev, --dest-dev, --dest-file,
 * --buffer-size-meg, --zero-dest); also offline, from a pool's images
 * (--metadata-dev, --data-dev, --dev-id).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <linux/dm-ioctl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <libmeta/error.h>
#include <libmeta/io.h>
#include <libmeta/thin.h>
#include <libmeta/thin_migrate.h>

#include "common.h"
#include "util_damage.h"

enum {
	OPT_SOURCE_DEV = 0x100,
	OPT_DEST_DEV,
	OPT_DEST_FILE,
	OPT_BUFFER,
	OPT_ZERO_DEST,
	OPT_METADATA_DEV,
	OPT_DATA_DEV,
	OPT_DEV_ID,
	OPT_SIZE,
	OPT_ORIGIN,
	OPT_FORCE,
};

static void usage(FILE *out)
{
	fprintf(out,
		"Usage: %s [options] --source-dev DEV {--dest-dev DEV | --dest-file FILE}\n"
		"       %s [options] --metadata-dev FILE --data-dev FILE --dev-id N\n"
		"              {--dest-dev DEV | --dest-file FILE}\n"
		"Copy a thin volume to a device or a file: its provisioned blocks, and what its\n"
		"unprovisioned ones read (an external origin's bytes, or zeros).\n"
		"\n"
		"Source, live: a read-only thin device of an active pool holding a metadata\n"
		"snapshot (dmsetup message POOL 0 reserve_metadata_snap):\n"
		"      --source-dev DEV       the thin device (/dev/mapper/...)\n"
		"Source, offline (the pool inactive, or its images):\n"
		"      --metadata-dev FILE    the pool's metadata device or image\n"
		"      --data-dev FILE        the pool's data device or image\n"
		"      --dev-id N             the thin device's id\n"
		"  -m, --metadata-snap        read the held metadata snapshot's mappings\n"
		"      --size SECTORS         the volume's length in 512-byte sectors (default:\n"
		"                             the external origin's size, else the end of the\n"
		"                             last mapped block)\n"
		"      --external-origin PATH the volume's external origin\n"
		"Destination:\n"
		"      --dest-dev DEV         a block device of the volume's size; its bytes over\n"
		"                             unprovisioned ranges are left unless --zero-dest\n"
		"      --dest-file FILE       a file, created or truncated to the volume's size;\n"
		"                             unprovisioned ranges become holes (read zero)\n"
		"      --zero-dest            write zeros over a device's unprovisioned ranges\n"
		"      --force                overwrite a destination that holds metadata\n"
		"      --buffer-size-meg MB   copy in pieces of MB MiB (default 64)\n"
		"  -q, --quiet                print nothing; the exit status tells\n"
		"  -h, --help                 show this help and exit\n"
		"  -V, --version              show the version and exit\n"
		"\n"
		"Output: one line, \"copied B bytes in R runs ...\".\n"
		"Exit status: 0 ok, 1 metadata damaged or no metadata snapshot held, 2 usage\n"
		"error, 3 cannot open, I/O error, sizes differ or no such device.\n",
		cli_prog, cli_prog);
}

struct args {
	const char *source, *dest_dev, *dest_file, *meta, *data, *origin;
	uint64_t dev_id, size_sectors, buffer_mb;
	bool have_dev_id, have_size, snap, zero_dest, force;
};

/* ---- device-mapper lookup (live source) ---------------------------------- */

struct dm_target_line {
	char type[DM_MAX_TYPE_NAME];
	char params[1024];
	uint64_t length; /* sectors */
};

/* The first target line of the device-mapper device dev, and its flags. */
static int dm_table(dev_t dev, struct dm_target_line *t, uint32_t *flags)
{
	union {
		struct dm_ioctl io;
		char buf[16384];
	} u;
	struct dm_target_spec *spec;
	int fd = open("/dev/mapper/control", O_RDWR | O_CLOEXEC), r;
	if (fd < 0)
		return -errno;
	memset(&u, 0, sizeof(u));
	u.io.version[0] = DM_VERSION_MAJOR;
	u.io.data_size = sizeof(u);
	u.io.data_start = sizeof(u.io);
	u.io.dev = (uint64_t)dev;
	u.io.flags = DM_STATUS_TABLE_FLAG;
	r = ioctl(fd, DM_TABLE_STATUS, &u.io);
	if (r < 0) {
		r = -errno;
		close(fd);
		return r;
	}
	close(fd);
	if (!u.io.target_count || (u.io.flags & DM_BUFFER_FULL_FLAG))
		return -ENODATA;
	spec = (struct dm_target_spec *)(u.buf + u.io.data_start);
	memset(t, 0, sizeof(*t));
	snprintf(t->type, sizeof(t->type), "%.*s", (int)sizeof(spec->target_type) - 1,
		 spec->target_type);
	snprintf(t->params, sizeof(t->params), "%s", (const char *)(spec + 1));
	t->length = spec->length;
	*flags = u.io.flags;
	return 0;
}

static int parse_devno(const char *s, dev_t *d)
{
	unsigned ma, mi;
	char c;
	if (sscanf(s, "%u:%u%c", &ma, &mi, &c) != 2)
		return -1;
	*d = makedev(ma, mi);
	return 0;
}

/* A node of block device d: /dev/block/MAJ:MIN, else a scan of /dev/mapper and /dev. */
static char *dev_path(dev_t d)
{
	static const char *dirs[] = {"/dev/mapper", "/dev"};
	char p[PATH_MAX];
	struct stat st;
	snprintf(p, sizeof(p), "/dev/block/%u:%u", major(d), minor(d));
	if (!stat(p, &st) && S_ISBLK(st.st_mode) && st.st_rdev == d)
		return strdup(p);
	for (size_t i = 0; i < 2; i++) {
		DIR *dir = opendir(dirs[i]);
		struct dirent *e;
		if (!dir)
			continue;
		while ((e = readdir(dir))) {
			snprintf(p, sizeof(p), "%s/%s", dirs[i], e->d_name);
			if (!stat(p, &st) && S_ISBLK(st.st_mode) && st.st_rdev == d) {
				closedir(dir);
				return strdup(p);
			}
		}
		closedir(dir);
	}
	return NULL;
}

/*
 * The live source: the pool's metadata device path and the thin id from the thin
 * device's table.  0, else the exit status (message printed).
 */
static int live_source(const char *path, char **meta_path, uint64_t *dev_id, char **origin_path)
{
	struct dm_target_line thin, pool;
	struct stat st;
	uint32_t flags, pflags;
	char pool_dev[64], meta_dev[64], origin_dev[64];
	dev_t pd, md, od;
	int r, n;

	if (stat(path, &st) < 0) {
		cli_err("%s: Couldn't find the source device (%s)", path, strerror(errno));
		return EXIT_OPERR;
	}
	if (!S_ISBLK(st.st_mode)) {
		cli_err("%s: the source is not a block device; for a pool's images use "
			"--metadata-dev, --data-dev and --dev-id",
			path);
		return EXIT_OPERR;
	}
	r = dm_table(st.st_rdev, &thin, &flags);
	if (r) {
		cli_err("%s: cannot read its device-mapper table (%s); is it a thin device?", path,
			strerror(-r));
		return EXIT_OPERR;
	}
	n = sscanf(thin.params, "%63s %" SCNu64 " %63s", pool_dev, dev_id, origin_dev);
	if (strcmp(thin.type, "thin") || n < 2 || parse_devno(pool_dev, &pd)) {
		cli_err("%s: not a thin device (its table is '%s %s')", path, thin.type,
			thin.params);
		return EXIT_OPERR;
	}
	if (!(flags & DM_READONLY_FLAG)) {
		cli_err("%s: not a read-only device: make it read-only first (lvchange "
			"--permission r, or dmsetup load --readonly and resume) so that it does not "
			"change under the copy",
			path);
		return EXIT_OPERR;
	}
	r = dm_table(pd, &pool, &pflags);
	if (r || strcmp(pool.type, "thin-pool") || sscanf(pool.params, "%63s", meta_dev) != 1 ||
	    parse_devno(meta_dev, &md)) {
		cli_err("%s: cannot read the table of its pool %s", path, pool_dev);
		return EXIT_OPERR;
	}
	*meta_path = dev_path(md);
	if (!*meta_path) {
		cli_err("%s: no device node for its pool's metadata device %s", path, meta_dev);
		return EXIT_OPERR;
	}
	if (n == 3) {
		if (parse_devno(origin_dev, &od) || !(*origin_path = dev_path(od))) {
			cli_err("%s: no device node for its external origin %s", path, origin_dev);
			free(*meta_path);
			*meta_path = NULL;
			return EXIT_OPERR;
		}
	}
	return 0;
}

/* ---- the copy ---------------------------------------------------------- */

static void show_progress(void *ctx, uint64_t done, uint64_t total)
{
	static int last = -1;
	int pct = total ? (int)(done * 100 / total) : 100;
	(void)ctx;
	if (pct != last) {
		fprintf(stderr, "\rcopying: %3d%%", pct);
		last = pct;
	}
}

static struct meta_io *open_or_die(const char *path, unsigned flags, const char *what)
{
	struct meta_io *io;
	int r = meta_io_open(path, flags, &io);
	if (!r)
		return io;
	if (r == META_E_NOENT)
		cli_err("%s: Couldn't find the %s (no such file or directory)", path, what);
	else if (r == META_E_BUSY)
		cli_err("cannot open %s %s exclusively: device is in use", what, path);
	else
		cli_err("%s: cannot open the %s: %s", path, what, meta_strerror(r));
	exit(EXIT_OPERR);
}

static void refuse_same(const char *dest, const char *other, const char *what)
{
	if (!other || !meta_io_same_storage(dest, other))
		return;
	cli_err("%s: the destination is the %s %s (same file or device); refusing to overwrite it",
		dest, what, other);
	exit(EXIT_USAGE);
}

static void parse(int argc, char **argv, struct args *a)
{
	static const struct option longopts[] = {
		CLI_ARG("source-dev", OPT_SOURCE_DEV),
		CLI_ARG("dest-dev", OPT_DEST_DEV),
		CLI_ARG("dest-file", OPT_DEST_FILE),
		CLI_ARG("buffer-size-meg", OPT_BUFFER),
		CLI_FLAG("zero-dest", OPT_ZERO_DEST),
		CLI_ARG("metadata-dev", OPT_METADATA_DEV),
		CLI_ARG("data-dev", OPT_DATA_DEV),
		CLI_ARG("dev-id", OPT_DEV_ID),
		CLI_FLAG("metadata-snap", 'm'),
		CLI_ARG("size", OPT_SIZE),
		CLI_ARG("external-origin", OPT_ORIGIN),
		CLI_FLAG("force", OPT_FORCE),
		CLI_COMMON_LONGOPTS,
	};
	int c;
	memset(a, 0, sizeof(*a));
	a->buffer_mb = 64;
	while ((c = getopt_long(argc, argv, ":mqhV", longopts, NULL)) != -1) {
		switch (c) {
		case OPT_SOURCE_DEV: a->source = optarg; break;
		case OPT_DEST_DEV: a->dest_dev = optarg; break;
		case OPT_DEST_FILE: a->dest_file = optarg; break;
		case OPT_ZERO_DEST: a->zero_dest = true; break;
		case OPT_METADATA_DEV: a->meta = optarg; break;
		case OPT_DATA_DEV: a->data = optarg; break;
		case OPT_ORIGIN: a->origin = optarg; break;
		case OPT_FORCE: a->force = true; break;
		case 'm': a->snap = true; break;
		case OPT_DEV_ID:
			a->dev_id = cli_u64_arg("--dev-id", optarg);
			a->have_dev_id = true;
			break;
		case OPT_SIZE:
			a->size_sectors = cli_u64_arg("--size", optarg);
			a->have_size = true;
			if (!a->size_sectors || a->size_sectors > (uint64_t)INT64_MAX / 512)
				cli_usage_error("--size %s: must be 1 to %" PRIu64 " sectors", optarg,
						(uint64_t)INT64_MAX / 512);
			break;
		case OPT_BUFFER:
			a->buffer_mb = cli_u64_arg("--buffer-size-meg", optarg);
			if (!a->buffer_mb || a->buffer_mb > 4096)
				cli_usage_error("--buffer-size-meg %s: must be 1 to 4096 (MiB)", optarg);
			break;
		default:
			cli_common_or_bad_option(c, argv, usage);
		}
	}
	cli_no_operands(argc, argv);
	if (!a->dest_dev == !a->dest_file)
		cli_usage_error(a->dest_dev ? "--dest-dev and --dest-file cannot both be given"
					    : "no destination given (--dest-dev DEV or --dest-file FILE)");
	if (a->source) {
		if (a->meta || a->data || a->have_dev_id || a->snap || a->have_size || a->origin)
			cli_usage_error("--source-dev reads a live thin device: --metadata-dev, "
					"--data-dev, --dev-id, -m, --size and --external-origin are "
					"for the offline source");
	} else {
		if (!a->meta && !a->data && !a->have_dev_id)
			cli_usage_error("no source given (--source-dev DEV, or --metadata-dev, "
					"--data-dev and --dev-id)");
		if (!a->meta)
			cli_usage_error("no metadata device given (--metadata-dev FILE)");
		if (!a->data)
			cli_usage_error("no data device given (--data-dev FILE)");
		if (!a->have_dev_id)
			cli_usage_error("no thin device given (--dev-id N)");
	}
}

int main(int argc, char **argv)
{
	struct args a;
	struct meta_thin_open_opts oo;
	struct meta_thin_migrate_opts mo;
	struct meta_thin_migrate_stats st;
	struct meta_thin_migrate_scan sc;
	struct cli_first_damage fd;
	struct meta_thin *t = NULL;
	struct meta_io *src = NULL, *data = NULL, *origin = NULL, *dest = NULL;
	const char *dest_path, *meta_path;
	char *live_meta = NULL, *live_origin = NULL;
	uint64_t size;
	bool dest_is_file;
	struct stat st_dest;
	int r;

	cli_init(argv[0]);
	argv[0] = (char *)cli_prog;
	parse(argc, argv, &a);
	dest_path = a.dest_dev ? a.dest_dev : a.dest_file;

	memset(&oo, 0, sizeof(oo));
	if (a.source) {
		r = live_source(a.source, &live_meta, &a.dev_id, &live_origin);
		if (r)
			return r;
		a.origin = live_origin;
		meta_path = live_meta;
		oo.flags = META_THIN_OPEN_METADATA_SNAP; /* the pool is live: its held root */
	} else {
		meta_path = a.meta;
		oo.flags = a.snap ? META_THIN_OPEN_METADATA_SNAP : META_THIN_OPEN_EXCL;
	}
	refuse_same(dest_path, a.source, "source");
	refuse_same(dest_path, meta_path, "metadata device");
	refuse_same(dest_path, a.data, "data device");
	refuse_same(dest_path, a.origin, "external origin");
	cli_refuse_foreign_family(dest_path, META_FAMILY_NONE, a.force);

	r = meta_thin_open(meta_path, &oo, &t);
	if (r) {
		if (r == META_E_NOSNAP && a.source)
			cli_err("%s: no metadata snapshot is held: run 'dmsetup message <pool> 0 "
				"reserve_metadata_snap' first (and release_metadata_snap after)",
				meta_path);
		else
			cli_report_open_error(meta_path, r, 0);
		free(live_meta);
		free(live_origin);
		return cli_exit_for(r);
	}
	memset(&fd, 0, sizeof(fd));
	r = meta_thin_migrate_scan(t, a.dev_id, cli_keep_first_fatal, &fd, &sc);
	if (r == META_E_NOTFOUND) {
		cli_err("%s: no thin device %" PRIu64 " in the pool%s", meta_path, a.dev_id,
			oo.flags & META_THIN_OPEN_METADATA_SNAP ? "'s metadata snapshot" : "");
		r = EXIT_OPERR;
		goto out;
	}
	if (r == META_E_CORRUPT) {
		cli_report_first_damage(meta_path, &fd);
		r = EXIT_DAMAGE;
		goto out;
	}
	if (r) {
		cli_err("%s: %s", meta_path, meta_strerror(r));
		r = cli_exit_for(r);
		goto out;
	}

	if (a.source) {
		src = open_or_die(a.source, 0, "source device");
		size = meta_io_size(src);
		if (a.origin)
			origin = open_or_die(a.origin, 0, "external origin");
	} else {
		data = open_or_die(a.data, oo.flags & META_THIN_OPEN_EXCL ? META_IO_EXCL : 0,
				   "data device");
		if (a.origin)
			origin = open_or_die(a.origin, 0, "external origin");
		if (a.have_size) {
			size = a.size_sectors * 512;
		} else if (origin) {
			size = meta_io_size(origin);
		} else {
			if (cli_mul_overflows(sc.end_block, (uint64_t)sc.block_sectors * 512, &size)) {
				cli_err("%s: the volume's size overflows; give --size", meta_path);
				r = EXIT_OPERR;
				goto out;
			}
			if (!cli_quiet)
				fprintf(stderr,
					"%s: note: no --size given: the volume ends with its last "
					"mapped block (%" PRIu64 " sectors); give --size SECTORS for "
					"its real length\n",
					cli_prog, size / 512);
		}
	}

	/* the destination: a device of the volume's size, or a file made that size */
	if (a.dest_file && stat(a.dest_file, &st_dest) < 0) {
		int nfd = open(a.dest_file, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
		if (nfd < 0) {
			cli_err("%s: cannot create the destination file: %s", a.dest_file,
				strerror(errno));
			r = EXIT_OPERR;
			goto out;
		}
		close(nfd);
	} else if (a.dest_dev && (stat(a.dest_dev, &st_dest) < 0 || !S_ISBLK(st_dest.st_mode))) {
		cli_err("%s: the destination is not a block device%s", a.dest_dev,
			errno == ENOENT ? " (no such file)" : "; use --dest-file for a file");
		r = EXIT_OPERR;
		goto out;
	}
	dest = open_or_die(dest_path, META_IO_WRITE | META_IO_EXCL, "destination");
	dest_is_file = !meta_io_is_blockdev(dest);
	if (dest_is_file) {
		if (truncate(dest_path, (off_t)size) < 0) {
			cli_err("%s: cannot set the destination's size to %" PRIu64 " bytes: %s",
				dest_path, size, strerror(errno));
			r = EXIT_OPERR;
			goto out;
		}
		meta_io_close(dest);
		dest = open_or_die(dest_path, META_IO_WRITE, "destination");
	} else if (meta_io_size(dest) != size) {
		cli_err("%s: lengths differ: the volume is %" PRIu64 " bytes, the destination %" PRIu64
			" bytes; the destination must have the volume's size",
			dest_path, size, meta_io_size(dest));
		r = EXIT_OPERR;
		goto out;
	}

	memset(&mo, 0, sizeof(mo));
	mo.dev_id = a.dev_id;
	mo.src = src;
	mo.data = data;
	mo.origin = origin;
	mo.dest = dest;
	mo.size = size;
	mo.buffer_bytes = (size_t)(a.buffer_mb << 20);
	mo.gaps = dest_is_file ? META_THIN_MIGRATE_GAPS_PUNCH
		  : a.zero_dest ? META_THIN_MIGRATE_GAPS_ZERO
				: META_THIN_MIGRATE_GAPS_LEAVE;
	if (cli_progress_allowed())
		mo.progress = show_progress;
	r = meta_thin_migrate(t, &mo, &st);
	if (mo.progress)
		fputc('\n', stderr);
	switch (r) {
	case META_OK:
		break;
	case META_E_DATA_SIZE:
		cli_err("%s: a mapped data block lies past the end of the data device; is it this "
			"pool's data device?",
			a.data);
		break;
	case META_E_UNSUPPORTED:
		cli_err("%s: cannot punch holes: %s", dest_path, strerror(meta_io_errno(dest)));
		break;
	default:
		cli_err("copy to %s failed: %s; the destination holds a partial copy", dest_path,
			meta_strerror(r));
		break;
	}
	if (r) {
		r = cli_exit_for(r);
		goto out;
	}
	if (!cli_quiet)
		printf("copied %" PRIu64 " bytes in %" PRIu64 " run%s, %" PRIu64
		       " from the external origin, %" PRIu64 " unprovisioned (%s)\n",
		       st.copied_bytes, st.nr_runs, st.nr_runs == 1 ? "" : "s", st.origin_bytes,
		       st.zero_bytes,
		       mo.gaps == META_THIN_MIGRATE_GAPS_PUNCH  ? "holes"
		       : mo.gaps == META_THIN_MIGRATE_GAPS_ZERO ? "zeroed"
								: "left as they were");
	r = cli_flush_stdout();
out:
	meta_io_close(dest);
	meta_io_close(src);
	meta_io_close(data);
	meta_io_close(origin);
	meta_thin_close(t);
	free(live_meta);
	free(live_origin);
	return r;
}
