// SPDX-License-Identifier: GPL-2.0-only
/*
 * faultinj.so — an LD_PRELOAD shim that crashes a writer at a chosen write, for the crash
 * matrix (tests/cli/crash-matrix*.sh).  The tools link libmeta statically but libc
 * dynamically, so interposing the libc write entry points reaches every writer CLI.
 *
 * Counted writes: write, pwrite, pwrite64, writev, pwritev, pwritev64, pwritev2 on a file
 * descriptor above 2 that refers to a regular file or a block device opened for writing.
 * Writes to stdin/stdout/stderr, pipes, sockets and ttys are not counted.  (Writes libc
 * makes internally, e.g. from fwrite(), do not pass through the PLT and are not seen.)
 *
 * Environment:
 *   DMMETA_FAULT_AT=N        the N-th counted write (1-based) is the fault point; unset or 0:
 *                            no fault, only counting
 *   DMMETA_FAULT_MODE=kill   SIGKILL just before write N (nothing of it lands)
 *                     tear:K write only the first K bytes of write N (K < its length), then
 *                            SIGKILL
 *                     eio    write N and every later counted write fail with EIO, and so do
 *                            fsync/fdatasync of any file after the fault (no kill)
 *                     powerloss
 *                            at write N, undo every counted write made since the last
 *                            successful fsync/fdatasync of that file (or sync/syncfs): restore
 *                            the bytes they overwrote and the file size, then SIGKILL — a power
 *                            cut that drops unsynced writes.  open(O_TRUNC), ftruncate,
 *                            fallocate and renames are not undone; sync_file_range is not a
 *                            barrier (it does not flush the device cache).  N = (number of
 *                            counted writes) + 1 cuts the power when the program exits
 *                            normally (exit() or return from main): whatever it did not sync
 *                            before exiting is lost.
 *                     reorder
 *                            as powerloss, but the most recent unsynced write (write N-1, or
 *                            the last one before exit) survives while the earlier unsynced
 *                            ones are lost: a device that wrote its cache out of order.
 *                            Finds a missing flush between two writes whose order matters.
 *   DMMETA_FAULT_COUNT=FILE  at exit (exit() or return from main), write the number of counted
 *                            writes, in decimal and a newline, to FILE
 *   DMMETA_FAULT_VERBOSE=1   say on stderr what the shim does at the fault point
 *
 * Usage: LD_PRELOAD=$BUILDDIR/tests/preload/faultinj.so (ASan builds: also
 * ASAN_OPTIONS=verify_asan_link_order=0; the shim itself is built without sanitizers).
 * Bad settings print one line `faultinj: ...` and exit 2 at load time.
 */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <unistd.h>

#define EXPORT __attribute__((visibility("default")))

enum mode { M_NONE, M_KILL, M_TEAR, M_EIO, M_POWERLOSS, M_REORDER };

static ssize_t (*real_write)(int, const void *, size_t);
static ssize_t (*real_pwrite)(int, const void *, size_t, off_t);
static ssize_t (*real_pwrite64)(int, const void *, size_t, off_t);
static ssize_t (*real_writev)(int, const struct iovec *, int);
static ssize_t (*real_pwritev)(int, const struct iovec *, int, off_t);
static ssize_t (*real_pwritev64)(int, const struct iovec *, int, off_t);
static ssize_t (*real_pwritev2)(int, const struct iovec *, int, off_t, int);
static int (*real_fsync)(int);
static int (*real_fdatasync)(int);
static int (*real_syncfs)(int);
static void (*real_sync)(void);
static int (*real_sync_file_range)(int, off_t, off_t, unsigned int);

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static enum mode mode;
static unsigned long long fault_at;	/* 0: never */
static unsigned long long tear_k;
static unsigned long long nwrites;	/* counted writes so far */
static int failing;			/* eio mode, past the fault point */
static int verbose;
static char *count_path;

/* powerloss: files written since their last sync, and the undo journal */
struct pfile {
	dev_t dev;
	ino_t ino;
	int fd;			/* our own O_RDWR descriptor, not O_DIRECT */
	int regular;
	int dirty;		/* has journal entries since its last sync */
	off_t size0;		/* size before its first unsynced write */
};
struct undo {
	int file;		/* index into files[] */
	off_t off;
	size_t len;		/* bytes of old data held (may be < write length past EOF) */
	size_t wlen;		/* length of the write */
	unsigned char *old;
};
#define MAX_FILES 64
static struct pfile files[MAX_FILES];
static int nfiles;
static struct undo *journal;
static size_t njournal, cjournal;

static void say(const char *fmt, unsigned long long a, unsigned long long b)
{
	char line[256];
	int n = snprintf(line, sizeof(line), fmt, a, b);
	if (n > 0)
		(void)syscall(SYS_write, 2, line, (size_t)n < sizeof(line) ? (size_t)n : sizeof(line) - 1);
}

static void die(const char *msg)
{
	(void)syscall(SYS_write, 2, "faultinj: ", 10);
	(void)syscall(SYS_write, 2, msg, strlen(msg));
	(void)syscall(SYS_write, 2, "\n", 1);
	_exit(2);
}

static void powerloss(void);
static void killme(void);

static void *sym(const char *name)
{
	return dlsym(RTLD_NEXT, name);
}

static void resolve(void)
{
	if (real_pwrite)
		return;
	real_write = (ssize_t (*)(int, const void *, size_t))sym("write");
	real_pwrite64 = (ssize_t (*)(int, const void *, size_t, off_t))sym("pwrite64");
	real_writev = (ssize_t (*)(int, const struct iovec *, int))sym("writev");
	real_pwritev = (ssize_t (*)(int, const struct iovec *, int, off_t))sym("pwritev");
	real_pwritev64 = (ssize_t (*)(int, const struct iovec *, int, off_t))sym("pwritev64");
	real_pwritev2 = (ssize_t (*)(int, const struct iovec *, int, off_t, int))sym("pwritev2");
	real_fsync = (int (*)(int))sym("fsync");
	real_fdatasync = (int (*)(int))sym("fdatasync");
	real_syncfs = (int (*)(int))sym("syncfs");
	real_sync = (void (*)(void))sym("sync");
	real_sync_file_range = (int (*)(int, off_t, off_t, unsigned int))sym("sync_file_range");
	real_pwrite = (ssize_t (*)(int, const void *, size_t, off_t))sym("pwrite");
}

static unsigned long long parse_num(const char *name, const char *s)
{
	char *end;
	unsigned long long v;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || end == s || *end || *s == '-') {
		char msg[200];
		snprintf(msg, sizeof(msg), "%s=%.40s: not a non-negative decimal number", name, s);
		die(msg);
	}
	return v;
}

__attribute__((constructor)) static void faultinj_init(void)
{
	const char *at = getenv("DMMETA_FAULT_AT");
	const char *m = getenv("DMMETA_FAULT_MODE");
	const char *c = getenv("DMMETA_FAULT_COUNT");
	const char *v = getenv("DMMETA_FAULT_VERBOSE");

	resolve();
	verbose = v && *v && strcmp(v, "0");
	if (c && *c)
		count_path = strdup(c);
	if (at && *at)
		fault_at = parse_num("DMMETA_FAULT_AT", at);
	if (!m || !*m || !strcmp(m, "kill"))
		mode = M_KILL;
	else if (!strncmp(m, "tear:", 5)) {
		mode = M_TEAR;
		tear_k = parse_num("DMMETA_FAULT_MODE=tear:K", m + 5);
	} else if (!strcmp(m, "eio"))
		mode = M_EIO;
	else if (!strcmp(m, "powerloss"))
		mode = M_POWERLOSS;
	else if (!strcmp(m, "reorder"))
		mode = M_REORDER;
	else
		die("DMMETA_FAULT_MODE: expected kill, tear:K, eio, powerloss or reorder");
	if (!fault_at)
		mode = M_NONE;
}

__attribute__((destructor)) static void faultinj_fini(void)
{
	char buf[32];
	int fd, n;
	if ((mode == M_POWERLOSS || mode == M_REORDER) && fault_at == nwrites + 1) {
		pthread_mutex_lock(&lock);
		nwrites++;
		powerloss();
		killme();
	}
	if (!count_path)
		return;
	fd = open(count_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return;
	n = snprintf(buf, sizeof(buf), "%llu\n", nwrites);
	(void)syscall(SYS_write, fd, buf, (size_t)n);
	close(fd);
}

/* Is fd a regular file or block device open for writing (and not 0-2)? */
static int counted_fd(int fd, struct stat *st)
{
	int fl;
	if (fd <= 2)
		return 0;
	if (fstat(fd, st) < 0)
		return 0;
	if (!S_ISREG(st->st_mode) && !S_ISBLK(st->st_mode))
		return 0;
	fl = fcntl(fd, F_GETFL);
	if (fl < 0 || (fl & O_ACCMODE) == O_RDONLY)
		return 0;
	return 1;
}

static int own_fd(int fd)
{
	char path[64];
	int o;
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	o = open(path, O_RDWR | O_CLOEXEC);
	if (o < 0)
		die("cannot reopen a written file through /proc/self/fd");
	/* keep it out of the low numbers the program may expect to get */
	{
		int hi = fcntl(o, F_DUPFD_CLOEXEC, 700);
		if (hi >= 0) {
			close(o);
			o = hi;
		}
	}
	return o;
}

static int file_index(int fd, const struct stat *st)
{
	int i;
	for (i = 0; i < nfiles; i++)
		if (files[i].dev == st->st_dev && files[i].ino == st->st_ino)
			return i;
	if (nfiles == MAX_FILES)
		die("too many written files");
	files[nfiles].dev = st->st_dev;
	files[nfiles].ino = st->st_ino;
	files[nfiles].fd = own_fd(fd);
	files[nfiles].regular = S_ISREG(st->st_mode);
	files[nfiles].dirty = 0;
	return nfiles++;
}

static ssize_t full_pwrite(int fd, const void *buf, size_t len, off_t off)
{
	const unsigned char *p = buf;
	size_t done = 0;
	while (done < len) {
		ssize_t r = real_pwrite(fd, p + done, len - done, off + (off_t)done);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return -1;
		done += (size_t)r;
	}
	return (ssize_t)done;
}

/* powerloss: remember what the write of len bytes at off will overwrite */
static void journal_add(int fd, const struct stat *st, off_t off, size_t len)
{
	int i = file_index(fd, st);
	struct pfile *f = &files[i];
	struct undo *u;
	ssize_t got = 0;

	if (!f->dirty) {
		struct stat cur;
		f->dirty = 1;
		f->size0 = fstat(f->fd, &cur) == 0 ? cur.st_size : 0;
	}
	if (njournal == cjournal) {
		size_t n = cjournal ? cjournal * 2 : 256;
		struct undo *j = realloc(journal, n * sizeof(*j));
		if (!j)
			die("out of memory for the undo journal");
		journal = j;
		cjournal = n;
	}
	u = &journal[njournal];
	u->file = i;
	u->off = off;
	u->old = len ? malloc(len) : NULL;
	if (len && !u->old)
		die("out of memory for the undo journal");
	while (got < (ssize_t)len) {
		ssize_t r = pread(f->fd, u->old + got, len - (size_t)got, off + got);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		got += r;
	}
	u->len = (size_t)got;
	u->wlen = len;
	njournal++;
}

static void journal_forget_file(int i)
{
	size_t r, w = 0;
	for (r = 0; r < njournal; r++) {
		if (journal[r].file == i)
			free(journal[r].old);
		else
			journal[w++] = journal[r];
	}
	njournal = w;
	files[i].dirty = 0;
}

static void synced(int fd)
{
	struct stat st;
	int i;
	if ((mode != M_POWERLOSS && mode != M_REORDER) || fstat(fd, &st) < 0)
		return;
	for (i = 0; i < nfiles; i++)
		if (files[i].dev == st.st_dev && files[i].ino == st.st_ino)
			journal_forget_file(i);
}

static void synced_all(void)
{
	int i;
	if (mode != M_POWERLOSS && mode != M_REORDER)
		return;
	for (i = 0; i < nfiles; i++)
		journal_forget_file(i);
}

static void powerloss(void)
{
	size_t k = njournal, keep = (size_t)-1;
	int i;
	off_t keep_end = 0;
	unsigned char *kept = NULL;
	ssize_t kept_len = 0;
	if (mode == M_REORDER && njournal) {
		keep = njournal - 1;	/* the latest unsynced write survives */
		keep_end = journal[keep].off + (off_t)journal[keep].wlen;
		kept = malloc(journal[keep].wlen ? journal[keep].wlen : 1);
		if (!kept)
			die("out of memory");
		kept_len = pread(files[journal[keep].file].fd, kept, journal[keep].wlen,
				 journal[keep].off);
	}
	while (k--) {
		struct undo *u = &journal[k];
		if (k == keep)
			continue;
		if (u->len && full_pwrite(files[u->file].fd, u->old, u->len, u->off) < 0)
			die("powerloss: cannot restore overwritten bytes");
		if (u->len < u->wlen && files[u->file].regular) {
			/* it wrote past the old end: that part reads as zeros again (a hole
			 * when the size is cut back below; zeros under a surviving write) */
			unsigned char *z = calloc(1, u->wlen - u->len);
			if (!z || full_pwrite(files[u->file].fd, z, u->wlen - u->len,
					      u->off + (off_t)u->len) < 0)
				die("powerloss: cannot clear bytes written past the old end");
			free(z);
		}
	}
	/* undoing earlier writes may have covered part of it: put it back */
	if (kept && kept_len > 0 &&
	    full_pwrite(files[journal[keep].file].fd, kept, (size_t)kept_len, journal[keep].off) < 0)
		die("reorder: cannot rewrite the surviving write");
	free(kept);
	for (i = 0; i < nfiles; i++) {
		off_t size = files[i].size0;
		if (keep != (size_t)-1 && journal[keep].file == i && keep_end > size) {
			struct stat cur;
			/* the surviving write keeps the file as long as it made it */
			size = fstat(files[i].fd, &cur) == 0 && cur.st_size < keep_end ? cur.st_size : keep_end;
		}
		if (files[i].dirty && files[i].regular && ftruncate(files[i].fd, size) < 0)
			die("powerloss: cannot restore the file size");
		(void)real_fsync(files[i].fd);
	}
	if (verbose)
		say("faultinj: power cut at write %llu: %llu unsynced writes undone\n",
		    nwrites, (unsigned long long)(njournal - (keep != (size_t)-1)));
}

static void killme(void)
{
	(void)kill(getpid(), SIGKILL);
	for (;;)
		pause();
}

/*
 * Called before each write.  Returns 0 to let the write proceed, -1 to fail it with errno
 * set; does not return in kill/tear/powerloss at the fault point (the tear writes its part
 * through buf/iov first).
 */
static int before_write(int fd, off_t off, int positional, const void *buf, size_t len,
			const struct iovec *iov, int iovcnt)
{
	struct stat st;
	int k;

	if (!counted_fd(fd, &st))
		return 0;
	if (!buf)
		for (k = 0, len = 0; k < iovcnt; k++)
			len += iov[k].iov_len;
	if (!positional)
		off = lseek(fd, 0, SEEK_CUR);

	pthread_mutex_lock(&lock);
	nwrites++;
	if (failing) {
		pthread_mutex_unlock(&lock);
		errno = EIO;
		return -1;
	}
	if (mode != M_NONE && nwrites == fault_at) {
		switch (mode) {
		case M_KILL:
			if (verbose)
				say("faultinj: kill before write %llu (%llu bytes)\n", nwrites, len);
			killme();
			break;
		case M_TEAR: {
			size_t want = tear_k < len ? (size_t)tear_k : len;
			unsigned char *tmp = malloc(want ? want : 1);
			size_t got = 0;
			int own;
			if (!tmp)
				die("out of memory");
			if (buf)
				memcpy(tmp, buf, want);
			else
				for (k = 0; k < iovcnt && got < want; k++) {
					size_t n = iov[k].iov_len < want - got ? iov[k].iov_len : want - got;
					memcpy(tmp + got, iov[k].iov_base, n);
					got += n;
				}
			/* through our own descriptor: no O_DIRECT alignment rules */
			own = own_fd(fd);
			if (want && full_pwrite(own, tmp, want, off) < 0)
				die("tear: cannot write the partial block");
			(void)real_fsync(own);
			if (verbose)
				say("faultinj: tear write %llu after %llu bytes\n", nwrites,
				    (unsigned long long)want);
			killme();
			break;
		}
		case M_EIO:
			failing = 1;
			if (verbose)
				say("faultinj: EIO from write %llu on (%llu bytes)\n", nwrites, len);
			pthread_mutex_unlock(&lock);
			errno = EIO;
			return -1;
		case M_POWERLOSS:
		case M_REORDER:
			powerloss();
			killme();
			break;
		default:
			break;
		}
	}
	if ((mode == M_POWERLOSS || mode == M_REORDER) && off >= 0)
		journal_add(fd, &st, off, len);
	pthread_mutex_unlock(&lock);
	return 0;
}

EXPORT ssize_t write(int fd, const void *buf, size_t len)
{
	resolve();
	if (before_write(fd, 0, 0, buf ? buf : "", len, NULL, 0))
		return -1;
	return real_write(fd, buf, len);
}

EXPORT ssize_t pwrite(int fd, const void *buf, size_t len, off_t off)
{
	resolve();
	if (before_write(fd, off, 1, buf ? buf : "", len, NULL, 0))
		return -1;
	return real_pwrite(fd, buf, len, off);
}

EXPORT ssize_t pwrite64(int fd, const void *buf, size_t len, off_t off)
{
	resolve();
	if (before_write(fd, off, 1, buf ? buf : "", len, NULL, 0))
		return -1;
	return (real_pwrite64 ? real_pwrite64 : real_pwrite)(fd, buf, len, off);
}

EXPORT ssize_t writev(int fd, const struct iovec *iov, int cnt)
{
	resolve();
	if (before_write(fd, 0, 0, NULL, 0, iov, cnt))
		return -1;
	return real_writev(fd, iov, cnt);
}

EXPORT ssize_t pwritev(int fd, const struct iovec *iov, int cnt, off_t off)
{
	resolve();
	if (before_write(fd, off, 1, NULL, 0, iov, cnt))
		return -1;
	return real_pwritev(fd, iov, cnt, off);
}

EXPORT ssize_t pwritev64(int fd, const struct iovec *iov, int cnt, off_t off)
{
	resolve();
	if (before_write(fd, off, 1, NULL, 0, iov, cnt))
		return -1;
	return (real_pwritev64 ? real_pwritev64 : real_pwritev)(fd, iov, cnt, off);
}

EXPORT ssize_t pwritev2(int fd, const struct iovec *iov, int cnt, off_t off, int flags)
{
	resolve();
	if (before_write(fd, off, off != -1, NULL, 0, iov, cnt))
		return -1;
	return real_pwritev2(fd, iov, cnt, off, flags);
}

static int sync_common(int fd, int (*real)(int))
{
	int r;
	resolve();
	pthread_mutex_lock(&lock);
	if (failing) {
		struct stat st;
		int counted = counted_fd(fd, &st);
		pthread_mutex_unlock(&lock);
		if (counted) {
			errno = EIO;
			return -1;
		}
		return real(fd);
	}
	r = real(fd);
	if (r == 0)
		synced(fd);
	pthread_mutex_unlock(&lock);
	return r;
}

EXPORT int fsync(int fd)
{
	resolve();
	return sync_common(fd, real_fsync);
}

EXPORT int fdatasync(int fd)
{
	resolve();
	return sync_common(fd, real_fdatasync);
}

EXPORT int syncfs(int fd)
{
	int r;
	resolve();
	pthread_mutex_lock(&lock);
	r = real_syncfs(fd);
	if (r == 0)
		synced_all();
	pthread_mutex_unlock(&lock);
	return r;
}

EXPORT void sync(void)
{
	resolve();
	pthread_mutex_lock(&lock);
	real_sync();
	synced_all();
	pthread_mutex_unlock(&lock);
}

/* Not a durability barrier: passed through unchanged. */
EXPORT int sync_file_range(int fd, off_t off, off_t n, unsigned int flags)
{
	resolve();
	return real_sync_file_range(fd, off, n, flags);
}
