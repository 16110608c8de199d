/* SPDX-License-Identifier: GPL-2.0-only */
/* I/O engine: image files and block devices (see include/libmeta/io.h). */
#include <libmeta/io.h>
#include <libmeta/error.h>

#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <dirent.h>
#include <stdio.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

struct meta_io {
	int fd;
	unsigned flags;
	int blockdev;
	int last_errno;
	uint64_t size;
	uint64_t nr_writes;
	uint64_t fail_after; /* UINT64_MAX = never */
	char *path;
	size_t align;    /* O_DIRECT alignment (logical block size); 0 = buffered */
	uint8_t *bounce; /* aligned buffer for unaligned requests, bounce_cap bytes */
	size_t bounce_cap;
};

/* Largest piece an unaligned request is split into when it goes through the bounce buffer. */
#define BOUNCE_MAX (1u << 20)

static int errno_to_meta(int e)
{
	switch (e) {
	case ENOENT:
	case ENOTDIR:
		return META_E_NOENT;
	case EACCES:
	case EPERM:
	case EROFS:
		return META_E_PERM;
	case EBUSY:
		return META_E_BUSY;
	case ENOMEM:
		return META_E_NOMEM;
	case EISDIR:
		return META_E_ISDIR;
	case ENOSPC:
		return META_E_NOSPC;
	default:
		return META_E_IO;
	}
}

int meta_io_open(const char *path, unsigned flags, struct meta_io **out)
{
	struct stat st;
	struct meta_io *io;
	int oflags, fd, lbs = 512;

	*out = NULL;
	if (!path)
		return META_E_INVAL;
	if (stat(path, &st) < 0)
		return errno_to_meta(errno);
	if (!S_ISREG(st.st_mode) && !S_ISBLK(st.st_mode))
		return META_E_ISDIR;
	oflags = ((flags & META_IO_WRITE) ? O_RDWR : O_RDONLY) | O_CLOEXEC;
	if (S_ISBLK(st.st_mode)) {
		if (flags & META_IO_EXCL)
			oflags |= O_EXCL;
		/* always: a live kernel writes beneath this device's page cache */
		oflags |= O_DIRECT;
	}
	fd = open(path, oflags);
	if (fd < 0)
		return errno_to_meta(errno);
	io = calloc(1, sizeof(*io));
	if (!io || !(io->path = strdup(path))) {
		free(io);
		close(fd);
		return META_E_NOMEM;
	}
	io->fd = fd;
	io->flags = flags;
	io->fail_after = UINT64_MAX;
	io->blockdev = S_ISBLK(st.st_mode);
	if (io->blockdev) {
		uint64_t sz = 0;
		if (ioctl(fd, BLKGETSIZE64, &sz) < 0) {
			int e = errno;
			meta_io_close(io);
			return errno_to_meta(e);
		}
		io->size = sz;
		if (ioctl(fd, BLKSSZGET, &lbs) < 0 || lbs < 512 || (lbs & (lbs - 1)))
			lbs = 512;
		io->align = (size_t)lbs;
	} else {
		io->size = (uint64_t)st.st_size;
	}
	*out = io;
	return META_OK;
}

int meta_io_open_input(const char *path, unsigned flags, uint64_t min_bytes, struct meta_io **out)
{
	struct meta_io *io;
	int r = meta_io_open(path, flags, &io);
	if (r)
		return r;
	if (meta_io_sniff_xml(io))
		r = META_E_LOOKSXML;
	else if (meta_io_size(io) < min_bytes)
		r = META_E_TOOSMALL;
	if (r) {
		meta_io_close(io);
		return r;
	}
	*out = io;
	return META_OK;
}

void meta_io_close(struct meta_io *io)
{
	if (!io)
		return;
	close(io->fd);
	free(io->path);
	free(io->bounce);
	free(io);
}

uint64_t meta_io_size(const struct meta_io *io) { return io->size; }
int meta_io_is_blockdev(const struct meta_io *io) { return io->blockdev; }
int meta_io_is_direct(const struct meta_io *io) { return io->align != 0; }
size_t meta_io_align(const struct meta_io *io) { return io->align; }

void *meta_io_buf_alloc(size_t len)
{
	if (len > SIZE_MAX - 4095)
		return NULL;
	return aligned_alloc(4096, len ? (len + 4095) & ~(size_t)4095 : 4096);
}
const char *meta_io_path(const struct meta_io *io) { return io->path; }
int meta_io_errno(const struct meta_io *io) { return io->last_errno; }
uint64_t meta_io_nr_writes(const struct meta_io *io) { return io->nr_writes; }

void meta_io_fail_writes_after(struct meta_io *io, uint64_t n)
{
	io->fail_after = n;
}

/* Plain positional loops: a short read (end of the device or file) is an error. */
static int raw_pread(struct meta_io *io, void *buf, size_t len, uint64_t off)
{
	uint8_t *p = buf;
	while (len) {
		ssize_t r = pread(io->fd, p, len, (off_t)off);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			io->last_errno = errno;
			return META_E_IO;
		}
		if (r == 0) {
			io->last_errno = EIO;
			return META_E_IO;
		}
		p += r;
		len -= (size_t)r;
		off += (uint64_t)r;
	}
	return META_OK;
}

static int raw_pwrite(struct meta_io *io, const void *buf, size_t len, uint64_t off)
{
	const uint8_t *p = buf;
	while (len) {
		ssize_t r = pwrite(io->fd, p, len, (off_t)off);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			io->last_errno = errno;
			return errno == ENOSPC ? META_E_NOSPC : META_E_IO;
		}
		if (r == 0) {
			io->last_errno = ENOSPC;
			return META_E_NOSPC;
		}
		p += r;
		len -= (size_t)r;
		off += (uint64_t)r;
	}
	return META_OK;
}

static int is_aligned(const struct meta_io *io, const void *buf, size_t len, uint64_t off)
{
	size_t m = io->align - 1;
	return !((uintptr_t)buf & m) && !(len & m) && !(off & m);
}

/* A bounce buffer of at least need bytes (sized to the requests seen: a sniff needs one sector). */
static int get_bounce(struct meta_io *io, size_t need)
{
	size_t cap = io->bounce_cap ? io->bounce_cap : 4096;
	uint8_t *nb;
	if (io->bounce && need <= io->bounce_cap)
		return META_OK;
	while (cap < need)
		cap *= 2;
	if (cap > BOUNCE_MAX)
		cap = BOUNCE_MAX;
	if (cap < io->align)
		cap = io->align;
	if (!(nb = aligned_alloc(io->align, cap))) {
		io->last_errno = ENOMEM;
		return META_E_NOMEM;
	}
	free(io->bounce);
	io->bounce = nb;
	io->bounce_cap = cap;
	return META_OK;
}

/*
 * One piece of an O_DIRECT request through the bounce buffer: the aligned
 * window [a, a + wlen) around [off, off + *n) with wlen <= BOUNCE_MAX.  Past
 * the end of the device the window is cut at the (aligned) device size.
 */
static void bounce_window(const struct meta_io *io, uint64_t off, size_t len, uint64_t *a,
			  size_t *wlen, size_t *n)
{
	uint64_t m = io->align - 1, end, cap;
	*a = off & ~m;
	*n = len;
	if (*n > BOUNCE_MAX - (size_t)(off - *a))
		*n = BOUNCE_MAX - (size_t)(off - *a);
	end = (off + *n + m) & ~m;
	cap = (io->size + m) & ~m;
	if (end > cap && cap > *a)
		end = cap;
	*wlen = (size_t)(end - *a);
}

/*
 * Reads share nothing in io but the descriptor: an unaligned O_DIRECT read bounces through
 * its own buffer, so several threads may read one io at once (meta_io_pread in io.h).
 */
int meta_io_pread(struct meta_io *io, void *buf, size_t len, uint64_t off)
{
	uint8_t *p = buf, *bounce = NULL;
	size_t cap = 0;
	int r = META_OK;
	if (!io->align || is_aligned(io, buf, len, off))
		return raw_pread(io, buf, len, off);
	while (len) {
		uint64_t a;
		size_t wlen, n;
		bounce_window(io, off, len, &a, &wlen, &n);
		if (a + wlen < off + n) {
			/* the request runs past the end of the device */
			io->last_errno = EIO;
			r = META_E_IO;
			break;
		}
		if (wlen > cap) { /* the first window; only a longer request needs more */
			free(bounce);
			cap = len > wlen ? BOUNCE_MAX : wlen;
			if (!(bounce = meta_io_buf_alloc(cap))) {
				io->last_errno = ENOMEM;
				r = META_E_NOMEM;
				break;
			}
		}
		r = raw_pread(io, bounce, wlen, a);
		if (r)
			break;
		memcpy(p, bounce + (off - a), n);
		p += n;
		len -= n;
		off += n;
	}
	free(bounce);
	return r;
}

/* Unaligned O_DIRECT write: read-modify-write of the partial logical blocks at both ends. */
static int bounce_pwrite(struct meta_io *io, const uint8_t *p, size_t len, uint64_t off)
{
	while (len) {
		uint64_t a, last;
		size_t wlen, n;
		int r;
		bounce_window(io, off, len, &a, &wlen, &n);
		if (a + wlen < off + n) {
			io->last_errno = ENOSPC;
			return META_E_NOSPC;
		}
		if (get_bounce(io, wlen))
			return META_E_NOMEM;
		if (a < off) {
			r = raw_pread(io, io->bounce, io->align, a);
			if (r)
				return r;
		}
		last = a + wlen - io->align;
		if (off + n < a + wlen && !(last == a && a < off)) {
			r = raw_pread(io, io->bounce + (last - a), io->align, last);
			if (r)
				return r;
		}
		memcpy(io->bounce + (off - a), p, n);
		r = raw_pwrite(io, io->bounce, wlen, a);
		if (r)
			return r;
		p += n;
		len -= n;
		off += n;
	}
	return META_OK;
}

int meta_io_discard(struct meta_io *io, uint64_t off, uint64_t len)
{
	int r;
	if (!(io->flags & META_IO_WRITE)) {
		io->last_errno = EBADF;
		return META_E_PERM;
	}
	if (!len)
		return META_OK;
	if (off > (uint64_t)INT64_MAX || len > (uint64_t)INT64_MAX - off) {
		io->last_errno = EINVAL;
		return META_E_INVAL;
	}
	if (io->nr_writes >= io->fail_after) {
		io->last_errno = EIO;
		return META_E_IO;
	}
	if (io->blockdev) {
		uint64_t m = io->align - 1, a = (off + m) & ~m, b = (off + len) & ~m, range[2];
		if (b > io->size)
			b = io->size & ~m;
		if (b <= a)
			goto done;
		range[0] = a;
		range[1] = b - a;
		r = ioctl(io->fd, BLKDISCARD, range);
	} else {
		r = fallocate(io->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t)off,
			      (off_t)len);
	}
	if (r < 0) {
		io->last_errno = errno;
		if (errno == EOPNOTSUPP || errno == ENOTTY || errno == ENOSYS)
			return META_E_UNSUPPORTED;
		return errno == EPERM || errno == EACCES || errno == EROFS || errno == EBADF
			       ? META_E_PERM
			       : META_E_IO;
	}
done:
	io->nr_writes++;
	return META_OK;
}

int meta_io_pwrite(struct meta_io *io, const void *buf, size_t len, uint64_t off)
{
	int r;
	if (!(io->flags & META_IO_WRITE)) {
		io->last_errno = EBADF;
		return META_E_PERM;
	}
	if (io->nr_writes >= io->fail_after) {
		io->last_errno = EIO;
		return META_E_IO;
	}
	if (!io->align || is_aligned(io, buf, len, off))
		r = raw_pwrite(io, buf, len, off);
	else
		r = bounce_pwrite(io, buf, len, off);
	if (r)
		return r;
	io->nr_writes++;
	if (!io->blockdev && off + len > io->size)
		io->size = off + len;
	return META_OK;
}

int meta_io_flush(struct meta_io *io)
{
	if (!(io->flags & META_IO_WRITE))
		return META_OK;
	if (io->nr_writes >= io->fail_after) {
		io->last_errno = EIO;
		return META_E_IO;
	}
	if (fdatasync(io->fd) < 0 && errno != EINVAL && errno != EROFS) {
		io->last_errno = errno;
		return META_E_IO;
	}
	return META_OK;
}

void meta_io_writeback(struct meta_io *io, uint64_t off, uint64_t len)
{
	if (io->align || !(io->flags & META_IO_WRITE) || !len)
		return; /* O_DIRECT: nothing waits in the page cache */
	(void)sync_file_range(io->fd, (off_t)off, (off_t)len, SYNC_FILE_RANGE_WRITE);
}

void meta_io_willneed(struct meta_io *io, uint64_t off, uint64_t len)
{
	if (io->align)
		return; /* no page cache to fill under O_DIRECT */
	(void)posix_fadvise(io->fd, (off_t)off, (off_t)len, POSIX_FADV_WILLNEED);
}

int meta_io_sniff_xml(struct meta_io *io)
{
	char buf[64];
	size_t n = io->size < sizeof(buf) ? (size_t)io->size : sizeof(buf);
	size_t i = 0;
	if (n == 0 || meta_io_pread(io, buf, n, 0))
		return META_OK;
	while (i < n && (buf[i] == ' ' || buf[i] == '\t' || buf[i] == '\n' || buf[i] == '\r'))
		i++;
	if (i < n && buf[i] == '<') {
		const char *p = buf + i + 1;
		size_t rest = n - i - 1;
		if ((rest >= 10 && !memcmp(p, "superblock", 10)) || (rest >= 4 && !memcmp(p, "?xml", 4)) ||
		    (rest >= 8 && !memcmp(p, "!DOCTYPE", 8)) ||
		    (rest >= 14 && !memcmp(p, "snapshot_store", 14)) ||
		    (rest >= 15 && !memcmp(p, "multisnap_store", 15)))
			return META_E_LOOKSXML;
	}
	return META_OK;
}

/* ------------------------------------------------ identity of storage */

/*
 * Block devices below dev (itself included), following sysfs: a partition's
 * parent disk and every device in a holder's slaves/ directory, to any depth.
 * Loop devices are followed to their backing file through loop/backing_file.
 */
struct storage_set {
	dev_t devs[64];
	size_t ndevs;
	dev_t file_dev[16];
	ino_t file_ino[16];
	size_t nfiles;
};

static int read_devnum(const char *sysdir, dev_t *out)
{
	char p[4096 + 8], buf[64];
	unsigned ma, mi;
	int fd, n;
	snprintf(p, sizeof(p), "%s/dev", sysdir);
	fd = open(p, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	n = (int)read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return -1;
	buf[n] = 0;
	if (sscanf(buf, "%u:%u", &ma, &mi) != 2)
		return -1;
	*out = makedev(ma, mi);
	return 0;
}

static void storage_add_dev(struct storage_set *s, dev_t d, int depth);

static void storage_add_sysdir(struct storage_set *s, const char *sysdir, int depth)
{
	char p[4096 + 64], buf[4096];
	struct stat st;
	dev_t d;
	DIR *dir;
	struct dirent *de;
	int fd, n;

	/* a partition: its parent directory is the disk */
	snprintf(p, sizeof(p), "%s/partition", sysdir);
	if (access(p, F_OK) == 0) {
		snprintf(p, sizeof(p), "%s/..", sysdir);
		if (read_devnum(p, &d) == 0)
			storage_add_dev(s, d, depth + 1);
	}
	/* a loop device: its backing file */
	snprintf(p, sizeof(p), "%s/loop/backing_file", sysdir);
	fd = open(p, O_RDONLY | O_CLOEXEC);
	if (fd >= 0) {
		n = (int)read(fd, buf, sizeof(buf) - 1);
		close(fd);
		if (n > 0) {
			buf[n] = 0;
			if (buf[n - 1] == '\n')
				buf[n - 1] = 0;
			if (stat(buf, &st) == 0 && s->nfiles < 16) {
				s->file_dev[s->nfiles] = st.st_dev;
				s->file_ino[s->nfiles++] = st.st_ino;
			}
		}
	}
	/* a stacked device (dm, md, ...): every device it is built on */
	snprintf(p, sizeof(p), "%s/slaves", sysdir);
	dir = opendir(p);
	if (!dir)
		return;
	while ((de = readdir(dir))) {
		char sp[4096 + 512];
		if (de->d_name[0] == '.')
			continue;
		snprintf(sp, sizeof(sp), "%s/slaves/%s", sysdir, de->d_name);
		if (read_devnum(sp, &d) == 0)
			storage_add_dev(s, d, depth + 1);
	}
	closedir(dir);
}

static void storage_add_dev(struct storage_set *s, dev_t d, int depth)
{
	char p[64], real[4096];
	for (size_t i = 0; i < s->ndevs; i++)
		if (s->devs[i] == d)
			return;
	if (s->ndevs == sizeof(s->devs) / sizeof(s->devs[0]) || depth > 16)
		return;
	s->devs[s->ndevs++] = d;
	snprintf(p, sizeof(p), "/sys/dev/block/%u:%u", major(d), minor(d));
	if (!realpath(p, real))
		return;
	storage_add_sysdir(s, real, depth);
}

static int storage_has_dev(const struct storage_set *s, dev_t d)
{
	for (size_t i = 0; i < s->ndevs; i++)
		if (s->devs[i] == d)
			return 1;
	return 0;
}

static int storage_has_file(const struct storage_set *s, const struct stat *st)
{
	for (size_t i = 0; i < s->nfiles; i++)
		if (s->file_dev[i] == st->st_dev && s->file_ino[i] == st->st_ino)
			return 1;
	return 0;
}

int meta_io_same_storage(const char *a, const char *b)
{
	struct stat sa, sb;
	struct storage_set *la, *lb;
	int r = 0;

	if (!a || !b || stat(a, &sa) || stat(b, &sb))
		return 0;
	if (sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino)
		return 1;
	if (!S_ISBLK(sa.st_mode) && !S_ISBLK(sb.st_mode))
		return 0;
	if (S_ISBLK(sa.st_mode) && S_ISBLK(sb.st_mode) && sa.st_rdev == sb.st_rdev)
		return 1;
	la = calloc(1, sizeof(*la));
	lb = calloc(1, sizeof(*lb));
	if (la && lb) {
		if (S_ISBLK(sa.st_mode))
			storage_add_dev(la, sa.st_rdev, 0);
		if (S_ISBLK(sb.st_mode))
			storage_add_dev(lb, sb.st_rdev, 0);
		if (S_ISBLK(sa.st_mode) && S_ISBLK(sb.st_mode))
			r = storage_has_dev(la, sb.st_rdev) || storage_has_dev(lb, sa.st_rdev);
		else if (S_ISBLK(sa.st_mode))
			r = storage_has_file(la, &sb);
		else
			r = storage_has_file(lb, &sa);
	}
	free(la);
	free(lb);
	return r;
}
