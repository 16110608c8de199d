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
#include <sys/stat.h>
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
};

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
	int oflags, fd;

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
		if (flags & META_IO_DIRECT)
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
	free(io);
}

uint64_t meta_io_size(const struct meta_io *io) { return io->size; }
int meta_io_is_blockdev(const struct meta_io *io) { return io->blockdev; }
const char *meta_io_path(const struct meta_io *io) { return io->path; }
int meta_io_errno(const struct meta_io *io) { return io->last_errno; }
uint64_t meta_io_nr_writes(const struct meta_io *io) { return io->nr_writes; }

void meta_io_fail_writes_after(struct meta_io *io, uint64_t n)
{
	io->fail_after = n;
}

int meta_io_pread(struct meta_io *io, void *buf, size_t len, uint64_t off)
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

int meta_io_pwrite(struct meta_io *io, const void *buf, size_t len, uint64_t off)
{
	const uint8_t *p = buf;
	if (!(io->flags & META_IO_WRITE)) {
		io->last_errno = EBADF;
		return META_E_PERM;
	}
	if (io->nr_writes >= io->fail_after) {
		io->last_errno = EIO;
		return META_E_IO;
	}
	while (len) {
		ssize_t r = pwrite(io->fd, p, len, (off_t)off);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			io->last_errno = errno;
			return errno == ENOSPC ? META_E_NOSPC : META_E_IO;
		}
		p += r;
		len -= (size_t)r;
		off += (uint64_t)r;
	}
	io->nr_writes++;
	if (!io->blockdev && off > io->size)
		io->size = off;
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

void meta_io_willneed(struct meta_io *io, uint64_t off, uint64_t len)
{
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
		    (rest >= 14 && !memcmp(p, "snapshot_store", 14)))
			return META_E_LOOKSXML;
	}
	return META_OK;
}
