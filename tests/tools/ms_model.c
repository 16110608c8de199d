// SPDX-License-Identifier: GPL-2.0-only
/*
 * ms_model — the model test of the shared multisnapshot engine (issue 15), run through the
 * tools as processes: snap_message, snap_write, snap_export, snap_check and snap_dump.
 *
 *   ms_model --bin DIR --dir TMP --seed N --steps K [--chunks C] [--max-snaps M] [-v]
 *   ms_model --bin DIR --dir TMP --crash MODES --faultinj SO [--chunks C] [--seed N --steps K] [-v]
 *
 * A small origin image (C chunks of 8 sectors, default 24) and a mikulas store (made by
 * snap_message from a zeroed file, chunk size 8) sit in TMP.  Next to them a plain model: the
 * origin's bytes and each live snapshot's view; a snapshot starts as the origin, a
 * sub-snapshot as its master's view, an origin write leaves every view unchanged, a snapshot
 * write changes that view only, a delete drops it, a merge makes the origin that snapshot's
 * view and drops it.  The model also keeps the ideal sharing:
 * per origin chunk, the COW copies and the set of snapshots each one serves (an origin write
 * copies a chunk once for every snapshot that has no copy of it; a snapshot write breaks
 * sharing for that snapshot only; a sub-snapshot shares its master's copies; a delete frees
 * the copies only it used; a merge first gives every other snapshot that reads an origin
 * chunk the merged one has a copy of one copy of it, as an origin write does).
 *
 * Random mode: K seeded random steps (creates, sub-snapshots, origin writes, snapshot writes,
 * deletes, a delete of a snapshot that still has sub-snapshots, which must fail and
 * change nothing, and snap_merge of any snapshot (a master's live sub-snapshots stay), with
 * the default --batch or 1..3).  After every step: snap_export of every live view equals the model, the
 * origin file equals the model, snap_check exits 0, its status line's ids are the model's
 * live ids, sectors_allocated = metadata_sectors + chunk size x the distinct COW chunks of
 * snap_dump's exceptions, and that number of chunks is the model's.
 *
 * Crash mode: a fixed sequence of every kind of step with one-sector writes (a torn data
 * write would mix the bytes of a sector on any disk).  For each step, for each MODE of the
 * fault-injection shim (tests/preload/faultinj.c) and every N, the step runs cut at its Nth
 * write (powerloss and reorder: also after the exit, which must leave the state after); the
 * cut run must end by the shim's SIGKILL (eio: exit 3); then snap_check must exit 0 and the store
 * hold the state before or after the step: the same ids, every view (and the origin)
 * equal to the model of one of the two states, never some of one and some of the other, and
 * sectors_allocated that of one of the two.  A step that leaves the origin written but its
 * snapshots' copies not yet made is lost data, and so fails.  A store left in the state
 * before must take the step again: run once more without a fault, it makes the state after.
 * A merge commits once per batch: cut between two, the store may also hold the ids and every
 * snapshot's view (the merged one too) of the state before with the origin part merged;
 * run again, it must resume to exactly the state after (and its sectors_allocated); the
 * fixed sequence merges in batches of one, so such a cut must happen.
 * With --steps, the sequence is K seeded random steps (one-sector writes) instead.
 *
 * Exit: 0 every check held; 1 a mismatch (seed, step, what differs and the command line are
 * printed); 2 usage; 3 a tool could not be run; 77 `SKIP: ...` when snap_write or
 * snap_export does not know shared stores yet.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#define SECTOR 512u
#define CHUNK_SECTORS 8u
#define CHUNK_BYTES (CHUNK_SECTORS * SECTOR)
#define MAXS 64		/* snapshot slots of the model (bit i of a copy's mask = slot i) */
#define SUB_NONE 0xffffffffu

static const char *bindir, *tmpdir, *faultinj;
static int verbose;
static unsigned long long seed;
static int cur_step;
static char last_cmd[4096];

/* ---- the model ---- */

struct snap {
	bool live;
	uint64_t id;		/* (N << 32) | M; M = SUB_NONE for a snapshot of the origin */
	uint32_t next_sub;
	unsigned char *view;
};

struct model {
	unsigned nchunks;
	size_t osize;
	unsigned char *origin;
	uint32_t next_snapshot;
	struct snap s[MAXS];
	uint64_t *cp;		/* nchunks x MAXS: the sets of slots each COW copy serves (0: none) */
};

static void *xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);
	if (!p) {
		fprintf(stderr, "ms_model: out of memory\n");
		exit(3);
	}
	return p;
}

static void model_init(struct model *m, unsigned nchunks)
{
	memset(m, 0, sizeof(*m));
	m->nchunks = nchunks;
	m->osize = (size_t)nchunks * CHUNK_BYTES;
	m->origin = xmalloc(m->osize);
	m->cp = xmalloc(sizeof(uint64_t) * nchunks * MAXS);
	memset(m->cp, 0, sizeof(uint64_t) * nchunks * MAXS);
}

static void model_free(struct model *m)
{
	free(m->origin);
	free(m->cp);
	for (int i = 0; i < MAXS; i++)
		free(m->s[i].view);
	memset(m, 0, sizeof(*m));
}

static void model_copy(struct model *d, const struct model *m)
{
	model_free(d);
	model_init(d, m->nchunks);
	memcpy(d->origin, m->origin, m->osize);
	memcpy(d->cp, m->cp, sizeof(uint64_t) * m->nchunks * MAXS);
	d->next_snapshot = m->next_snapshot;
	for (int i = 0; i < MAXS; i++) {
		d->s[i] = m->s[i];
		d->s[i].view = NULL;
		if (m->s[i].view) {
			d->s[i].view = xmalloc(m->osize);
			memcpy(d->s[i].view, m->s[i].view, m->osize);
		}
	}
}

static void id_format(uint64_t id, char *buf, size_t len)
{
	if ((uint32_t)id == SUB_NONE)
		snprintf(buf, len, "%" PRIu32, (uint32_t)(id >> 32));
	else
		snprintf(buf, len, "%" PRIu32 ".%" PRIu32, (uint32_t)(id >> 32), (uint32_t)id);
}

static bool id_parse(const char *s, uint64_t *id)
{
	char *e;
	unsigned long long n, sub = SUB_NONE;
	errno = 0;
	n = strtoull(s, &e, 10);
	if (e == s || errno || n > 0xffffffffull)
		return false;
	if (*e == '.') {
		const char *t = e + 1;
		sub = strtoull(t, &e, 10);
		if (e == t || errno || sub >= SUB_NONE)
			return false;
	}
	if (*e)
		return false;
	*id = (n << 32) | sub;
	return true;
}

static int slot_of(const struct model *m, uint64_t id)
{
	for (int i = 0; i < MAXS; i++)
		if (m->s[i].live && m->s[i].id == id)
			return i;
	return -1;
}

static int nlive(const struct model *m)
{
	int n = 0;
	for (int i = 0; i < MAXS; i++)
		n += m->s[i].live;
	return n;
}

static bool has_subs(const struct model *m, uint64_t id)
{
	for (int i = 0; i < MAXS; i++)
		if (m->s[i].live && (uint32_t)m->s[i].id != SUB_NONE && m->s[i].id >> 32 == id >> 32)
			return true;
	return false;
}

static uint64_t *copies(const struct model *m, unsigned c)
{
	return m->cp + (size_t)c * MAXS;
}

static int holder(const struct model *m, unsigned c, int slot)
{
	uint64_t *cp = copies(m, c);
	for (int k = 0; k < MAXS; k++)
		if (cp[k] >> slot & 1)
			return k;
	return -1;
}

static void new_copy(struct model *m, unsigned c, uint64_t set)
{
	uint64_t *cp = copies(m, c);
	for (int k = 0; k < MAXS; k++)
		if (!cp[k]) {
			cp[k] = set;
			return;
		}
	fprintf(stderr, "ms_model: internal: more copies than snapshots\n");
	exit(3);
}

static uint64_t used_chunks(const struct model *m)
{
	uint64_t n = 0;
	for (size_t i = 0; i < (size_t)m->nchunks * MAXS; i++)
		n += m->cp[i] != 0;
	return n;
}

static int new_slot(struct model *m, uint64_t id)
{
	for (int i = 0; i < MAXS; i++)
		if (!m->s[i].live) {
			free(m->s[i].view);
			m->s[i] = (struct snap){ .live = true, .id = id, .view = xmalloc(m->osize) };
			return i;
		}
	return -1;
}

static void m_create(struct model *m, uint64_t id)
{
	int i = new_slot(m, id);
	memcpy(m->s[i].view, m->origin, m->osize);
	m->next_snapshot = (uint32_t)(id >> 32) + 1;
}

static void m_subsnap(struct model *m, int master, uint64_t id)
{
	int i = new_slot(m, id);
	memcpy(m->s[i].view, m->s[master].view, m->osize);
	m->s[master].next_sub = (uint32_t)id + 1;
	for (unsigned c = 0; c < m->nchunks; c++) {
		int h = holder(m, c, master);
		if (h >= 0)
			copies(m, c)[h] |= 1ull << i;
	}
}

static void m_delete(struct model *m, int slot)
{
	for (size_t k = 0; k < (size_t)m->nchunks * MAXS; k++)
		m->cp[k] &= ~(1ull << slot);
	m->s[slot].live = false;
}

/*
 * merge slot into the origin: every chunk it has a copy of becomes the origin's data, each
 * other live snapshot with no copy of that chunk first getting one (one copy for all of
 * them, as an origin write makes); then the snapshot is gone
 */
static void m_merge(struct model *m, int slot)
{
	for (unsigned c = 0; c < m->nchunks; c++) {
		uint64_t set = 0;
		if (holder(m, c, slot) < 0)
			continue;
		for (int i = 0; i < MAXS; i++)
			if (m->s[i].live && i != slot && holder(m, c, i) < 0)
				set |= 1ull << i;
		if (set)
			new_copy(m, c, set);
		memcpy(m->origin + (size_t)c * CHUNK_BYTES, m->s[slot].view + (size_t)c * CHUNK_BYTES,
		       CHUNK_BYTES);
	}
	m_delete(m, slot);
}

/* write len bytes at byte offset off: to the origin (slot < 0) or to a snapshot */
static void m_write(struct model *m, int slot, size_t off, const unsigned char *buf, size_t len)
{
	unsigned c0 = (unsigned)(off / CHUNK_BYTES), c1 = (unsigned)((off + len - 1) / CHUNK_BYTES);
	for (unsigned c = c0; c <= c1; c++) {
		if (slot < 0) {
			uint64_t set = 0;
			for (int i = 0; i < MAXS; i++)
				if (m->s[i].live && holder(m, c, i) < 0)
					set |= 1ull << i;
			if (set)
				new_copy(m, c, set);
		} else {
			int h = holder(m, c, slot);
			if (h < 0) {
				new_copy(m, c, 1ull << slot);
			} else if (copies(m, c)[h] != 1ull << slot) {
				copies(m, c)[h] &= ~(1ull << slot);
				new_copy(m, c, 1ull << slot);
			}
		}
	}
	memcpy((slot < 0 ? m->origin : m->s[slot].view) + off, buf, len);
}

/* ---- running the tools ---- */

static void die_mismatch(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

/* TMP/name, kept for the whole run (one string per name) */
static const char *path(const char *name)
{
	static struct {
		const char *name;
		char *full;
	} tab[32];
	int i;
	for (i = 0; i < 32 && tab[i].name; i++)
		if (!strcmp(tab[i].name, name))
			return tab[i].full;
	if (i == 32) {
		fprintf(stderr, "ms_model: internal: too many file names\n");
		exit(3);
	}
	tab[i].name = name;
	tab[i].full = xmalloc(strlen(tmpdir) + strlen(name) + 2);
	sprintf(tab[i].full, "%s/%s", tmpdir, name);
	return tab[i].full;
}

static char *slurp(const char *p, size_t *len)
{
	FILE *f = fopen(p, "rb");
	char *b;
	long n;
	if (!f)
		return NULL;
	if (fseek(f, 0, SEEK_END) || (n = ftell(f)) < 0 || fseek(f, 0, SEEK_SET)) {
		fclose(f);
		return NULL;
	}
	b = xmalloc((size_t)n + 1);
	if (fread(b, 1, (size_t)n, f) != (size_t)n) {
		fclose(f);
		free(b);
		return NULL;
	}
	fclose(f);
	b[n] = 0;
	if (len)
		*len = (size_t)n;
	return b;
}

static void spill(const char *p, const void *buf, size_t len)
{
	FILE *f = fopen(p, "wb");
	if (!f || fwrite(buf, 1, len, f) != len || fclose(f)) {
		fprintf(stderr, "ms_model: %s: cannot write: %s\n", p, strerror(errno));
		exit(3);
	}
}

static void copy_file(const char *from, const char *to)
{
	size_t n;
	char *b = slurp(from, &n);
	if (!b) {
		fprintf(stderr, "ms_model: %s: cannot read: %s\n", from, strerror(errno));
		exit(3);
	}
	spill(to, b, n);
	free(b);
}

/*
 * Run bindir/argv[0] with stdout to TMP/out.txt and stderr to TMP/err.txt; env: "K=V" strings
 * set in the child (NULL-terminated, or NULL).  Returns the exit status, 128 + the signal.
 */
static int run(const char *const *env, const char *const *argv)
{
	char exe[4096];
	size_t k = 0;
	pid_t pid;
	int st;

	last_cmd[0] = 0;
	for (int i = 0; env && env[i]; i++)
		k += (size_t)snprintf(last_cmd + k, k < sizeof(last_cmd) ? sizeof(last_cmd) - k : 0,
				      "%s ", env[i]);
	snprintf(exe, sizeof(exe), "%s/%s", bindir, argv[0]);
	for (int i = 0; argv[i] && k < sizeof(last_cmd); i++)
		k += (size_t)snprintf(last_cmd + k, sizeof(last_cmd) - k, "%s%s", i ? " " : "",
				      i ? argv[i] : exe);
	if (verbose > 1)
		fprintf(stderr, "+ %s\n", last_cmd);
	fflush(stdout);
	fflush(stderr);
	pid = fork();
	if (pid < 0) {
		fprintf(stderr, "ms_model: fork: %s\n", strerror(errno));
		exit(3);
	}
	if (pid == 0) {
		int o = open(path("out.txt"), O_WRONLY | O_CREAT | O_TRUNC, 0644);
		int e = open(path("err.txt"), O_WRONLY | O_CREAT | O_TRUNC, 0644);
		if (o < 0 || e < 0 || dup2(o, 1) < 0 || dup2(e, 2) < 0)
			_exit(126);
		close(o);
		close(e);
		for (int i = 0; env && env[i]; i++)
			putenv((char *)env[i]);
		execv(exe, (char *const *)argv);
		_exit(127);
	}
	if (waitpid(pid, &st, 0) < 0) {
		fprintf(stderr, "ms_model: waitpid: %s\n", strerror(errno));
		exit(3);
	}
	if (WIFEXITED(st)) {
		if (WEXITSTATUS(st) == 127 || WEXITSTATUS(st) == 126) {
			fprintf(stderr, "ms_model: cannot run %s\n", exe);
			exit(3);
		}
		return WEXITSTATUS(st);
	}
	return 128 + WTERMSIG(st);
}

static char *first_err_line(void)
{
	static char line[512];
	char *b = slurp(path("err.txt"), NULL), *nl;
	snprintf(line, sizeof(line), "%s", b ? b : "");
	free(b);
	if ((nl = strchr(line, '\n')))
		*nl = 0;
	return line;
}

static void die_mismatch(const char *fmt, ...)
{
	va_list ap;
	printf("ms_model: MISMATCH seed %llu step %d: ", seed, cur_step);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n  command: %s\n", last_cmd);
	fflush(stdout);
	exit(1);
}

/* ---- reading the store through the tools ---- */

struct status {
	uint64_t total, allocated, metadata;
	int nids;
	uint64_t ids[MAXS + 1];
};

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

/* snap_check STORE: exit status; on 0, the parsed status line in *st (why in *why if not) */
static int check_status(const char *store, struct status *st, const char **why)
{
	const char *argv[] = { "snap_check", store, NULL };
	int rc = run(NULL, argv), nargs, n, used;
	char *out, *p, tok[64];
	char newid[32];
	unsigned long long err;

	*why = NULL;
	if (rc)
		return rc;
	out = slurp(path("out.txt"), NULL);
	memset(st, 0, sizeof(*st));
	if (!out || sscanf(out, "%d %llu %31s %" SCNu64 " %" SCNu64 " %" SCNu64 " %d%n", &nargs, &err,
			   newid, &st->total, &st->allocated, &st->metadata, &st->nids, &used) != 7 ||
	    st->nids < 0 || st->nids > MAXS) {
		*why = "status line unreadable";
		free(out);
		return 0;
	}
	p = out + used;
	for (n = 0; n < st->nids; n++) {
		int u;
		if (sscanf(p, "%63s%n", tok, &u) != 1 || !id_parse(tok, &st->ids[n])) {
			*why = "status line: bad id list";
			break;
		}
		p += u;
	}
	free(out);
	qsort(st->ids, (size_t)st->nids, sizeof(uint64_t), cmp_u64);
	return 0;
}

/* the distinct COW chunks of snap_dump's exceptions, or -1 */
static long long dump_chunks(const char *store)
{
	const char *argv[] = { "snap_dump", store, NULL };
	char *out, *p;
	uint64_t *v = NULL;
	size_t n = 0, cap = 0, d = 0;

	if (run(NULL, argv))
		return -1;
	out = slurp(path("out.txt"), NULL);
	for (p = out; p && (p = strstr(p, "cow_chunk=\"")); p++) {
		if (n == cap) {
			cap = cap ? 2 * cap : 256;
			uint64_t *w = realloc(v, cap * sizeof(*v));
			if (!w)
				exit(3);
			v = w;
		}
		v[n++] = strtoull(p + 11, NULL, 10);
	}
	free(out);
	if (n)
		qsort(v, n, sizeof(*v), cmp_u64);
	for (size_t i = 0; i < n; i++)
		d += !i || v[i] != v[i - 1];
	free(v);
	return (long long)d;
}

/* export view id (or, id == NULL, read the origin file) and compare with want */
static const char *view_differs(const char *store, const char *origin, const char *id,
				const unsigned char *want, size_t len)
{
	static char why[256];
	size_t n;
	char *got;
	if (id) {
		const char *argv[] = { "snap_export", "--origin", origin, "--cow", store, "--snapshot", id,
				       "-o", path("view.bin"), NULL };
		int rc = run(NULL, argv);
		if (rc) {
			snprintf(why, sizeof(why), "snap_export of %s exits %d: %s", id, rc, first_err_line());
			return why;
		}
		got = slurp(path("view.bin"), &n);
	} else {
		got = slurp(origin, &n);
	}
	if (!got || n != len) {
		snprintf(why, sizeof(why), "%s %s: %zu bytes, the model has %zu", id ? "view" : "origin",
			 id ? id : "", got ? n : 0, len);
		free(got);
		return why;
	}
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)got[i] != want[i]) {
			snprintf(why, sizeof(why), "%s %s: byte %zu (sector %zu, chunk %zu) is 0x%02x, the model has 0x%02x",
				 id ? "view" : "origin", id ? id : "", i, i / SECTOR, i / CHUNK_BYTES,
				 (unsigned char)got[i], want[i]);
			free(got);
			return why;
		}
	free(got);
	return NULL;
}

static int model_ids(const struct model *m, uint64_t *ids)
{
	int n = 0;
	for (int i = 0; i < MAXS; i++)
		if (m->s[i].live)
			ids[n++] = m->s[i].id;
	qsort(ids, (size_t)n, sizeof(uint64_t), cmp_u64);
	return n;
}

static bool same_ids(const struct model *m, const struct status *st)
{
	uint64_t ids[MAXS];
	int n = model_ids(m, ids);
	return n == st->nids && !memcmp(ids, st->ids, sizeof(uint64_t) * (size_t)n);
}

static void ids_text(const uint64_t *ids, int n, char *buf, size_t len)
{
	size_t k = 0;
	buf[0] = 0;
	for (int i = 0; i < n && k + 24 < len; i++) {
		char t[32];
		id_format(ids[i], t, sizeof(t));
		k += (size_t)snprintf(buf + k, len - k, "%s%s", i ? " " : "", t);
	}
}

/* every check of a step; on a mismatch, report and exit 1 */
static void verify(const struct model *m, const char *store, const char *origin, bool strict_count)
{
	struct status st;
	const char *why;
	int rc = check_status(store, &st, &why);
	long long chunks;
	char a[1024], b[1024];
	uint64_t ids[MAXS];

	if (rc)
		die_mismatch("snap_check exits %d: %s", rc, first_err_line());
	if (why)
		die_mismatch("snap_check: %s", why);
	if (!same_ids(m, &st)) {
		int n = model_ids(m, ids);
		ids_text(ids, n, a, sizeof(a));
		ids_text(st.ids, st.nids, b, sizeof(b));
		die_mismatch("status ids '%s', the model has '%s'", b, a);
	}
	for (int i = 0; i < MAXS; i++) {
		if (!m->s[i].live)
			continue;
		id_format(m->s[i].id, a, sizeof(a));
		if ((why = view_differs(store, origin, a, m->s[i].view, m->osize)))
			die_mismatch("%s", why);
	}
	if ((why = view_differs(store, origin, NULL, m->origin, m->osize)))
		die_mismatch("%s", why);
	chunks = dump_chunks(store);
	if (chunks < 0)
		die_mismatch("snap_dump fails: %s", first_err_line());
	if (st.allocated != st.metadata + (uint64_t)chunks * CHUNK_SECTORS)
		die_mismatch("sectors_allocated %" PRIu64 " != metadata %" PRIu64 " + %lld COW chunks x %u in snap_dump",
			     st.allocated, st.metadata, chunks, CHUNK_SECTORS);
	if (strict_count && (uint64_t)chunks != used_chunks(m))
		die_mismatch("%lld COW chunks in use (snap_dump), the model's sharing needs %" PRIu64,
			     chunks, used_chunks(m));
	if (verbose)
		printf("step %d ok: %d snapshots, %lld COW chunks, %" PRIu64 "/%" PRIu64 " %" PRIu64 "\n",
		       cur_step, st.nids, chunks, st.allocated, st.total, st.metadata);
}

/* ---- steps ---- */

enum kind { K_CREATE, K_SUBSNAP, K_OWRITE, K_SWRITE, K_DELETE, K_DELETE_BUSY, K_MERGE };

struct step {
	enum kind kind;
	uint64_t id;		/* the snapshot written, deleted, or the master of a sub-snapshot */
	uint64_t off;		/* sectors */
	uint64_t nsect;
	uint64_t dseed;		/* the written bytes */
	unsigned batch;		/* a merge's --batch (0: the default) */
};

static const char *kind_name[] = { "create", "create_subsnap", "origin write", "snapshot write",
				   "delete", "delete (busy)", "merge" };

static uint64_t rng_state;

static uint64_t rnd(void)
{
	/* xorshift64* */
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * 0x2545F4914F6CDD1Dull;
}

static uint64_t rnd_below(uint64_t n)
{
	return n ? rnd() % n : 0;
}

static void fill(unsigned char *buf, size_t len, uint64_t s)
{
	uint64_t save = rng_state;
	rng_state = s * 0x9E3779B97F4A7C15ull + 1;
	for (size_t i = 0; i < len; i++)
		buf[i] = (unsigned char)(rnd() >> 56);
	rng_state = save;
}

/* the argv of a step on store/origin (buffers in *args) */
static void step_argv(const struct step *s, const char *store, const char *origin, const char **argv,
		      char args[4][64])
{
	int k = 0;
	id_format(s->id, args[0], 64);
	switch (s->kind) {
	case K_CREATE:
	case K_SUBSNAP:
	case K_DELETE:
	case K_DELETE_BUSY:
		argv[k++] = "snap_message";
		argv[k++] = store;
		argv[k++] = s->kind == K_CREATE ? "create" : s->kind == K_SUBSNAP ? "create_subsnap" : "delete";
		if (s->kind != K_CREATE)
			argv[k++] = args[0];
		break;
	case K_OWRITE:
	case K_SWRITE:
		snprintf(args[1], 64, "%" PRIu64, s->off);
		argv[k++] = "snap_write";
		argv[k++] = "--origin";
		argv[k++] = origin;
		argv[k++] = "--cow";
		argv[k++] = store;
		argv[k++] = "--target";
		argv[k++] = s->kind == K_OWRITE ? "origin" : args[0];
		argv[k++] = "--offset";
		argv[k++] = args[1];
		argv[k++] = "--input";
		argv[k++] = path("in.bin");
		break;
	case K_MERGE:
		argv[k++] = "snap_merge";
		argv[k++] = "-q";
		argv[k++] = "--origin";
		argv[k++] = origin;
		argv[k++] = "--cow";
		argv[k++] = store;
		argv[k++] = "--snapshot";
		argv[k++] = args[0];
		if (s->batch) {
			snprintf(args[2], 64, "%u", s->batch);
			argv[k++] = "--batch";
			argv[k++] = args[2];
		}
		break;
	}
	argv[k] = NULL;
}

/* the step's effect on a model; the new id a create prints in *newid */
static void apply(struct model *m, const struct step *s, uint64_t *newid)
{
	int slot = s->kind == K_CREATE || s->kind == K_OWRITE ? -1 : slot_of(m, s->id);
	switch (s->kind) {
	case K_CREATE:
		*newid = (uint64_t)m->next_snapshot << 32 | SUB_NONE;
		m_create(m, *newid);
		break;
	case K_SUBSNAP:
		*newid = (s->id & ~(uint64_t)0xffffffff) | m->s[slot].next_sub;
		m_subsnap(m, slot, *newid);
		break;
	case K_DELETE:
		m_delete(m, slot);
		break;
	case K_DELETE_BUSY:
		break;
	case K_MERGE:
		m_merge(m, slot);
		break;
	case K_OWRITE:
	case K_SWRITE: {
		size_t len = (size_t)s->nsect * SECTOR;
		unsigned char *buf = xmalloc(len);
		fill(buf, len, s->dseed);
		m_write(m, slot, (size_t)s->off * SECTOR, buf, len);
		free(buf);
		break;
	}
	}
}

static void prepare_input(const struct step *s)
{
	if (s->kind == K_OWRITE || s->kind == K_SWRITE) {
		size_t len = (size_t)s->nsect * SECTOR;
		unsigned char *buf = xmalloc(len);
		fill(buf, len, s->dseed);
		spill(path("in.bin"), buf, len);
		free(buf);
	}
}

static void describe(const struct step *s, char *buf, size_t len)
{
	char id[32];
	id_format(s->id, id, sizeof(id));
	if (s->kind == K_OWRITE || s->kind == K_SWRITE)
		snprintf(buf, len, "%s %s sectors %" PRIu64 "+%" PRIu64, kind_name[s->kind],
			 s->kind == K_OWRITE ? "origin" : id, s->off, s->nsect);
	else if (s->kind == K_CREATE)
		snprintf(buf, len, "create");
	else if (s->kind == K_MERGE && s->batch)
		snprintf(buf, len, "merge %s (batch %u)", id, s->batch);
	else
		snprintf(buf, len, "%s %s", kind_name[s->kind], id);
}

/* run a step on store/origin without faults and check the exit status and printed id */
static void run_step(struct model *m, const struct step *s, const char *store, const char *origin)
{
	const char *argv[16];
	char args[4][64], d[128];
	uint64_t newid = 0;
	int rc;

	prepare_input(s);
	step_argv(s, store, origin, argv, args);
	apply(m, s, &newid);
	rc = run(NULL, argv);
	describe(s, d, sizeof(d));
	if (s->kind == K_DELETE_BUSY) {
		if (rc != 3)
			die_mismatch("%s: exit %d, want 3 (a snapshot with sub-snapshots): %s", d, rc,
				     first_err_line());
		return;
	}
	if (rc)
		die_mismatch("%s: exit %d: %s", d, rc, first_err_line());
	if (s->kind == K_CREATE || s->kind == K_SUBSNAP) {
		char *out = slurp(path("out.txt"), NULL), want[32], *nl;
		id_format(newid, want, sizeof(want));
		if (out && (nl = strchr(out, '\n')))
			*nl = 0;
		if (!out || strcmp(out, want))
			die_mismatch("%s prints id '%s', the model says '%s'", d, out ? out : "", want);
		free(out);
	}
}

/* a random valid step (or a busy delete now and then) */
static struct step random_step(const struct model *m, int max_snaps)
{
	struct step s = { .dseed = rnd() };
	int live = nlive(m), masters = 0;
	int pick[MAXS], np = 0;

	for (int i = 0; i < MAXS; i++)
		if (m->s[i].live && (uint32_t)m->s[i].id == SUB_NONE)
			masters++;
	for (;;) {
		uint64_t r = rnd_below(100);
		if (r < 14) {
			if (live >= max_snaps)
				continue;
			s.kind = K_CREATE;
		} else if (r < 24) {
			if (!masters || live >= max_snaps)
				continue;
			s.kind = K_SUBSNAP;
		} else if (r < 55) {
			s.kind = K_OWRITE;
		} else if (r < 88) {
			if (!live)
				continue;
			s.kind = K_SWRITE;
		} else if (r < 94) {
			if (!live)
				continue;
			s.kind = K_DELETE;
		} else {
			/* a merge: of a sub-snapshot or of a master (its live subs stay) */
			if (!live)
				continue;
			s.kind = K_MERGE;
			s.batch = rnd_below(2) ? 0 : 1 + (unsigned)rnd_below(3);
		}
		break;
	}
	for (int i = 0; i < MAXS; i++)
		if (m->s[i].live && (s.kind != K_SUBSNAP || (uint32_t)m->s[i].id == SUB_NONE))
			pick[np++] = i;
	if (s.kind != K_CREATE && s.kind != K_OWRITE) {
		int i = pick[rnd_below((uint64_t)np)];
		s.id = m->s[i].id;
		if (s.kind == K_DELETE && (uint32_t)s.id == SUB_NONE && has_subs(m, s.id))
			s.kind = K_DELETE_BUSY;
	}
	if (s.kind == K_OWRITE || s.kind == K_SWRITE) {
		uint64_t sectors = m->osize / SECTOR;
		uint64_t r = rnd_below(4);
		if (r == 0) {		/* whole chunks */
			s.off = rnd_below(m->nchunks) * CHUNK_SECTORS;
			s.nsect = CHUNK_SECTORS * (1 + rnd_below(2));
		} else if (r == 1) {	/* one sector */
			s.off = rnd_below(sectors);
			s.nsect = 1;
		} else {		/* anything up to three chunks */
			s.off = rnd_below(sectors);
			s.nsect = 1 + rnd_below(3 * CHUNK_SECTORS);
		}
		if (s.off + s.nsect > sectors)
			s.nsect = sectors - s.off;
	}
	return s;
}

/* ---- setup ---- */

static void make_store(const char *store, const char *origin, const struct model *m, uint64_t store_sectors)
{
	int fd = open(store, O_RDWR | O_CREAT | O_TRUNC, 0644);
	if (fd < 0 || ftruncate(fd, (off_t)(store_sectors * SECTOR)) || close(fd)) {
		fprintf(stderr, "ms_model: %s: %s\n", store, strerror(errno));
		exit(3);
	}
	spill(origin, m->origin, m->osize);
	const char *argv[] = { "snap_message", "-q", "--type", "mikulas", "--chunk-size", "8", "--origin",
			       origin, store, NULL };
	int rc = run(NULL, argv);
	if (rc) {
		if (strstr(first_err_line(), "no mikulas store")) {
			printf("SKIP: this build has no mikulas store\n");
			exit(77);
		}
		die_mismatch("making the store: exit %d: %s", rc, first_err_line());
	}
}

/* SKIP (77) when snap_write or snap_export do not know shared stores yet */
static void probe(const char *store, const char *origin)
{
	const char *w[] = { "snap_write", "--origin", path("p-origin.img"), "--cow", path("p-store.img"),
			    "--target", "origin", "--offset", "0", "--input", path("in.bin"), NULL };
	const char *e[] = { "snap_export", "--origin", path("p-origin.img"), "--cow", path("p-store.img"),
			    "--snapshot", "0", "-o", path("view.bin"), NULL };
	const char *c[] = { "snap_message", "-q", path("p-store.img"), "create", NULL };
	unsigned char sector[SECTOR];
	int rc;

	copy_file(store, path("p-store.img"));
	copy_file(origin, path("p-origin.img"));
	memset(sector, 0x5a, sizeof(sector));
	spill(path("in.bin"), sector, sizeof(sector));
	if ((rc = run(NULL, c)))
		die_mismatch("probe: create: exit %d: %s", rc, first_err_line());
	rc = run(NULL, w);
	if (rc && (strstr(first_err_line(), "SnAp") || rc == 2)) {
		printf("SKIP: snap_write does not write shared stores yet: %s\n", first_err_line());
		exit(77);
	}
	rc = run(NULL, e);
	if (rc == 2 || (rc && strstr(first_err_line(), "SnAp"))) {
		printf("SKIP: snap_export does not read shared stores yet: %s\n", first_err_line());
		exit(77);
	}
	unlink(path("p-store.img"));
	unlink(path("p-origin.img"));
}

/* ---- crash mode ---- */

/* the fixed sequence: every kind of step, one-sector writes (ids as the model hands them out) */
static const struct {
	enum kind kind;
	const char *id;
	unsigned chunk, sector;
	unsigned batch;		/* a merge's --batch */
} crash_seq[] = {
	{ K_CREATE, NULL, 0, 0, 0 },	/* 0 */
	{ K_OWRITE, NULL, 1, 3, 0 },	/* copy for 0 */
	{ K_CREATE, NULL, 0, 0, 0 },	/* 1 */
	{ K_SUBSNAP, "0", 0, 0, 0 },	/* 0.0 shares 0's copy of chunk 1 */
	{ K_SWRITE, "0", 1, 5, 0 },	/* breaks the sharing with 0.0 */
	{ K_SWRITE, "1", 2, 0, 0 },	/* a copy of the origin for 1 */
	{ K_OWRITE, NULL, 2, 7, 0 },	/* one copy for 0 and 0.0 (1 has its own) */
	{ K_SWRITE, "0.0", 2, 1, 0 },	/* breaks the sharing with 0 */
	{ K_DELETE_BUSY, "0", 0, 0, 0 },	/* refused: 0 has 0.0 */
	{ K_DELETE, "0.0", 0, 0, 0 },
	{ K_OWRITE, NULL, 1, 0, 0 },	/* copy for 1 only */
	{ K_DELETE, "1", 0, 0, 0 },
	{ K_CREATE, NULL, 0, 0, 0 },	/* 2 */
	{ K_SWRITE, "2", 0, 2, 0 },
	{ K_CREATE, NULL, 0, 0, 0 },	/* 3 */
	{ K_OWRITE, NULL, 0, 4, 0 },	/* one copy for 0 and 3, not for 2 (it has its own) */
	{ K_SWRITE, "3", 0, 6, 0 },	/* breaks that sharing: 0's view stays */
	{ K_DELETE, "0", 0, 0, 0 },
	{ K_SWRITE, "3", 0, 7, 0 },	/* now 3's own chunk: written in place */
	{ K_SUBSNAP, "3", 0, 0, 0 },	/* 3.0 */
	{ K_SWRITE, "3.0", 1, 2, 0 },
	{ K_MERGE, "3.0", 0, 0, 0 },	/* a sub-snapshot: one copy of chunk 1 for 2 and 3 */
	{ K_SWRITE, "2", 3, 1, 0 },
	{ K_SWRITE, "2", 2, 4, 0 },
	{ K_CREATE, NULL, 0, 0, 0 },	/* 4 */
	{ K_MERGE, "2", 0, 0, 1 },	/* chunks 0, 2, 3 a batch each: copies for 3 and 4 */
	{ K_MERGE, "3", 0, 0, 2 },	/* 4 keeps its copies */
	{ K_SWRITE, "4", 1, 3, 0 },	/* 4's own chunk 1 */
	{ K_SUBSNAP, "4", 0, 0, 0 },	/* 4.0 shares it */
	{ K_SUBSNAP, "4", 0, 0, 0 },	/* 4.1 too */
	{ K_SWRITE, "4.1", 1, 6, 0 },	/* 4.1 breaks that sharing */
	{ K_OWRITE, NULL, 2, 5, 0 },	/* one copy for 4, 4.0 and 4.1 */
	{ K_SWRITE, "4", 3, 2, 0 },	/* 4.0 and 4.1 still read the origin at 3 */
	{ K_MERGE, "4", 0, 0, 1 },	/* a master with live subs: one copy at 3 for both; 4.0
					   keeps 4's chunk 1, all keep the chunk 2 copy */
	{ K_SWRITE, "4.0", 0, 1, 0 },	/* an orphan sub is written */
	{ K_MERGE, "4.1", 0, 0, 1 },	/* and merged: 4.0 keeps its view */
};

struct judged {
	bool ok;
	char why[600];
};

/* does the store (after a cut run) hold exactly the state of model m (the origin too if with_origin)? */
static bool views_are(const struct model *m, const char *store, const char *origin, const struct status *st,
		      bool with_origin, char *why, size_t len)
{
	char id[32];
	const char *w;
	if (!same_ids(m, st)) {
		snprintf(why, len, "ids differ");
		return false;
	}
	for (int i = 0; i < MAXS; i++) {
		if (!m->s[i].live)
			continue;
		id_format(m->s[i].id, id, sizeof(id));
		if ((w = view_differs(store, origin, id, m->s[i].view, m->osize))) {
			snprintf(why, len, "%s", w);
			return false;
		}
	}
	if (with_origin && (w = view_differs(store, origin, NULL, m->origin, m->osize))) {
		snprintf(why, len, "%s", w);
		return false;
	}
	return true;
}

static bool state_is(const struct model *m, const char *store, const char *origin, const struct status *st,
		     char *why, size_t len)
{
	return views_are(m, store, origin, st, true, why, len);
}

/* steps == 0: the fixed sequence; else that many random steps (one-sector writes) */
/* --crash-step K: the writes N a mode cuts at, as tests/lib.sh's crash_ns: every N when K is
 * 1, else the first and last E (--crash-ends E, default 3) and every K-th, one further at each (step, mode), so that the
 * modes together cut most writes */
static unsigned long crash_step = 1, crash_phase, crash_ends = 3;

static bool cut_here(unsigned long n, unsigned long last)
{
	return crash_step <= 1 || n <= crash_ends || n + crash_ends > last ||
	       (n + crash_phase) % crash_step == 0;
}

static void crash_matrix(struct model *m, char *modes, uint64_t store_sectors, unsigned long steps,
			 int max_snaps)
{
	struct model before = { 0 };
	char *modev[16];
	int nmodes = 0;
	unsigned long total = 0, n_before = 0, n_after = 0, n_resumed = 0;
	bool late_modes = false;
	char fa[4200], fm[96], fc[4200];
	struct status st_before, st_after, st;
	const char *why;

	for (char *t = strtok(modes, " ,"); t && nmodes < 16; t = strtok(NULL, " ,"))
		modev[nmodes++] = t;
	make_store(path("cur.store"), path("cur.origin"), m, store_sectors);
	probe(path("cur.store"), path("cur.origin"));
	verify(m, path("cur.store"), path("cur.origin"), true);

	size_t nsteps = steps ? steps : sizeof(crash_seq) / sizeof(crash_seq[0]);
	for (size_t k = 0; k < nsteps; k++) {
		struct step s = { .nsect = 1, .dseed = 1000 + k };
		const char *argv[16];
		char args[4][64], d[128];
		uint64_t newid;
		unsigned long nw;
		char *cnt;

		cur_step = (int)k + 1;
		if (steps) {
			s = random_step(m, max_snaps);
			s.nsect = 1;
		} else {
			s.kind = crash_seq[k].kind;
			if (crash_seq[k].id && !id_parse(crash_seq[k].id, &s.id))
				exit(3);
			s.off = (uint64_t)crash_seq[k].chunk * CHUNK_SECTORS + crash_seq[k].sector;
			s.batch = crash_seq[k].batch;
		}
		describe(&s, d, sizeof(d));
		model_copy(&before, m);
		if (check_status(path("cur.store"), &st_before, &why) || why)
			die_mismatch("snap_check of the state before: %s", why ? why : first_err_line());

		/* the state after: the step without faults, fully verified */
		copy_file(path("cur.store"), path("a.store"));
		copy_file(path("cur.origin"), path("a.origin"));
		run_step(m, &s, path("a.store"), path("a.origin"));
		verify(m, path("a.store"), path("a.origin"), true);
		if (check_status(path("a.store"), &st_after, &why) || why)
			die_mismatch("snap_check of the state after: %s", why ? why : first_err_line());

		/* count its writes */
		prepare_input(&s);
		copy_file(path("cur.store"), path("t.store"));
		copy_file(path("cur.origin"), path("t.origin"));
		step_argv(&s, path("t.store"), path("t.origin"), argv, args);
		snprintf(fa, sizeof(fa), "LD_PRELOAD=%s", faultinj);
		snprintf(fc, sizeof(fc), "DMMETA_FAULT_COUNT=%s", path("count.txt"));
		{
			const char *env[] = { fa, fc, NULL };
			run(env, argv);
		}
		cnt = slurp(path("count.txt"), NULL);
		nw = cnt ? strtoul(cnt, NULL, 10) : 0;
		free(cnt);
		if (!nw && s.kind != K_DELETE_BUSY)
			die_mismatch("%s: no counted write (is %s the shim?)", d, faultinj);

		for (int mi = 0; mi < nmodes; mi++) {
			bool late = !strcmp(modev[mi], "powerloss") || !strcmp(modev[mi], "reorder");
			late_modes |= late;
			unsigned long last = nw + (late ? 1 : 0);
			crash_phase++;
			for (unsigned long n = 1; n <= last; n++) {
				char at[64], wb[300], wa[300];
				int rc;
				if (!cut_here(n, last))
					continue;
				snprintf(at, sizeof(at), "DMMETA_FAULT_AT=%lu", n);
				snprintf(fm, sizeof(fm), "DMMETA_FAULT_MODE=%s", modev[mi]);
				copy_file(path("cur.store"), path("t.store"));
				copy_file(path("cur.origin"), path("t.origin"));
				const char *env[] = { fa, at, fm, NULL };
				int crc = run(env, argv);
				bool eio = !strcmp(modev[mi], "eio");
				snprintf(fc, sizeof(fc), "%s", last_cmd);
				total++;
				/* killed by the shim (exit 3 under eio), never another end */
				if (n <= nw && crc != (eio ? 3 : 128 + 9))
					die_mismatch("%s cut at write %lu/%lu (%s): the cut run ends with %d, want %d: %s",
						     d, n, nw, modev[mi], crc, eio ? 3 : 128 + 9, first_err_line());
				rc = check_status(path("t.store"), &st, &why);
				if (rc || why)
					die_mismatch("%s cut at write %lu/%lu (%s): snap_check %s %s\n  cut run: %s", d, n,
						     nw, modev[mi], rc ? "exits" : "status:", rc ? first_err_line() : why, fc);
				/* a merge cut between its batches holds some of its copies: judged below */
				if (s.kind != K_MERGE && st.allocated != st_before.allocated &&
				    st.allocated != st_after.allocated)
					die_mismatch("%s cut at write %lu/%lu (%s): sectors_allocated %" PRIu64
						     ", before %" PRIu64 ", after %" PRIu64 "\n  cut run: %s",
						     d, n, nw, modev[mi], st.allocated, st_before.allocated,
						     st_after.allocated, fc);
				if (n > nw) {
					/* the power cut after an exit 0: everything it did is on disk */
					if (!state_is(m, path("t.store"), path("t.origin"), &st, wa, sizeof(wa)))
						die_mismatch("%s: power cut after its exit 0 (%s) loses what it wrote: %s\n  cut run: %s",
							     d, modev[mi], wa, fc);
					if (st.allocated != st_after.allocated)
						die_mismatch("%s: power cut after its exit 0 (%s): sectors_allocated %" PRIu64
							     ", after %" PRIu64 "\n  cut run: %s", d, modev[mi],
							     st.allocated, st_after.allocated, fc);
					n_after++;
				} else if (state_is(&before, path("t.store"), path("t.origin"), &st, wb, sizeof(wb)) ||
					   (s.kind == K_MERGE &&
					    views_are(&before, path("t.store"), path("t.origin"), &st, false, wb, sizeof(wb)))) {
					/*
					 * the store goes on: the step, run again, makes the state after (a merge
					 * cut midway: its snapshot and every other view still as before, the
					 * origin part merged; run again it resumes to the same bytes)
					 */
					if (s.kind == K_MERGE && !state_is(&before, path("t.store"), path("t.origin"), &st, wb, sizeof(wb)))
						n_resumed++;
					else
						n_before++;
					rc = run(NULL, argv);
					if (s.kind == K_DELETE_BUSY ? rc != 3 : rc != 0)
						die_mismatch("%s cut at write %lu/%lu (%s) left the state before; run again it exits %d: %s\n  cut run: %s",
							     d, n, nw, modev[mi], rc, first_err_line(), fc);
					if (check_status(path("t.store"), &st, &why) || why ||
					    !state_is(m, path("t.store"), path("t.origin"), &st, wa, sizeof(wa)))
						die_mismatch("%s cut at write %lu/%lu (%s) left the state before; run again it does not make the state after: %s\n  cut run: %s",
							     d, n, nw, modev[mi], why ? why : wa, fc);
					if (s.kind == K_MERGE && st.allocated != st_after.allocated)
						die_mismatch("%s cut at write %lu/%lu (%s), run again: sectors_allocated %" PRIu64
							     ", after %" PRIu64 "\n  cut run: %s", d, n, nw, modev[mi],
							     st.allocated, st_after.allocated, fc);
				} else if (state_is(m, path("t.store"), path("t.origin"), &st, wa, sizeof(wa))) {
					if (s.kind == K_MERGE && st.allocated != st_after.allocated)
						die_mismatch("%s cut at write %lu/%lu (%s): the state after, sectors_allocated %" PRIu64
							     ", after %" PRIu64 "\n  cut run: %s", d, n, nw, modev[mi],
							     st.allocated, st_after.allocated, fc);
					n_after++;
				} else {
					die_mismatch("%s cut at write %lu/%lu (%s): neither the state before (%s) nor after (%s)\n  cut run: %s",
						     d, n, nw, modev[mi], wb, wa, fc);
				}
			}
		}
		if (verbose)
			printf("step %d: %s: %lu writes, cut at %s in %d modes\n", cur_step, d, nw,
			       crash_step > 1 ? "a sample" : "each", nmodes);
		copy_file(path("a.store"), path("cur.store"));
		copy_file(path("a.origin"), path("cur.origin"));
		(void)newid;
	}
	model_free(&before);
	/* every step's first write cut leaves the state before; a power cut after the exit, after */
	if (!n_before || (!n_after && late_modes))
		die_mismatch("%lu cut runs left the state before and %lu the state after: the matrix cut nothing that matters",
			     n_before, n_after);
	/* the fixed sequence merges in batches of one: some cut must fall between two */
	if (!steps && !n_resumed)
		die_mismatch("no cut run left a merge midway: the matrix does not test resuming");
	printf("ms_model crash matrix: %zu steps, %lu cut runs: %lu left the state before, %lu the state after, %lu a merge midway (resumed)\n",
	       nsteps, total, n_before, n_after, n_resumed);
}

/* ---- main ---- */

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: ms_model --bin DIR --dir TMP --seed N --steps K [--chunks C] [--max-snaps M]\n"
		"                [--loose-count] [-v]\n"
		"       ms_model --bin DIR --dir TMP --crash MODES --faultinj SO [--chunks C]\n"
		"                [--seed N --steps K] [--crash-step K [--crash-ends E]] [-v]\n"
		"The model test of shared multisnapshot stores (mikulas) through the snap_* tools:\n"
		"K seeded random steps, every view checked against a plain model after each; or\n"
		"(--crash) a fixed sequence with every step cut at every write in each MODE of the\n"
		"fault-injection shim (e.g. \"kill tear:512 powerloss reorder eio\"); with --steps,\n"
		"K seeded random steps (one-sector writes) instead of the fixed sequence.\n"
		"  --chunks C       origin size in 4 KiB chunks (default 24)\n"
		"  --max-snaps M    at most M live snapshots (default 12, at most 60)\n"
		"  --crash-step K   cut at every K-th write (and the first and last 3) only,\n"
		"                   one further for each step and mode (default 1: every write)\n"
		"  --crash-ends E   with --crash-step, also the first and last E writes (default 3)\n"
		"  --loose-count    do not require the COW chunks in use to be the model's ideal count\n"
		"  -v               a line per step (-vv: also every command)\n"
		"Exit: 0 ok, 1 mismatch, 2 usage, 3 operational, 77 skip.\n");
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "bin", required_argument, NULL, 'b' },     { "dir", required_argument, NULL, 'd' },
		{ "seed", required_argument, NULL, 's' },    { "steps", required_argument, NULL, 'k' },
		{ "chunks", required_argument, NULL, 'c' },  { "max-snaps", required_argument, NULL, 'm' },
		{ "crash", required_argument, NULL, 'C' },   { "faultinj", required_argument, NULL, 'f' },
		{ "loose-count", no_argument, NULL, 'l' },   { "verbose", no_argument, NULL, 'v' },
		{ "crash-step", required_argument, NULL, 'S' },
		{ "crash-ends", required_argument, NULL, 'E' },
		{ "help", no_argument, NULL, 'h' },          { NULL, 0, NULL, 0 },
	};
	unsigned long steps = 0, nchunks = 24, max_snaps = 12;
	char *modes = NULL;
	bool strict = true;
	struct model m;
	int o;

	while ((o = getopt_long(argc, argv, "vh", opts, NULL)) != -1) {
		switch (o) {
		case 'b': bindir = optarg; break;
		case 'd': tmpdir = optarg; break;
		case 's': seed = strtoull(optarg, NULL, 0); break;
		case 'k': steps = strtoul(optarg, NULL, 0); break;
		case 'c': nchunks = strtoul(optarg, NULL, 0); break;
		case 'm': max_snaps = strtoul(optarg, NULL, 0); break;
		case 'C': modes = optarg; break;
		case 'f': faultinj = optarg; break;
		case 'l': strict = false; break;
		case 'E': crash_ends = strtoul(optarg, NULL, 0); break;
		case 'S':
			crash_step = strtoul(optarg, NULL, 0);
			if (!crash_step) {
				usage(stderr);
				return 2;
			}
			break;
		case 'v': verbose++; break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (!bindir || !tmpdir || optind != argc || nchunks < 4 || nchunks > 4096 || max_snaps < 1 ||
	    max_snaps > 60 || (modes && !faultinj) || (!modes && !steps)) {
		usage(stderr);
		return 2;
	}
	/* a store with room for every copy the model can make, plus its metadata */
	uint64_t store_sectors = (uint64_t)nchunks * (max_snaps + 1) * CHUNK_SECTORS + 8192;

	model_init(&m, (unsigned)nchunks);
	rng_state = seed * 0x9E3779B97F4A7C15ull + 0x1234567;
	fill(m.origin, m.osize, seed + 77);
	if (modes) {
		crash_matrix(&m, modes, store_sectors, steps, (int)max_snaps);
		model_free(&m);
		return 0;
	}
	make_store(path("store.img"), path("origin.img"), &m, store_sectors);
	probe(path("store.img"), path("origin.img"));
	verify(&m, path("store.img"), path("origin.img"), strict);
	for (cur_step = 1; cur_step <= (int)steps; cur_step++) {
		struct step s = random_step(&m, (int)max_snaps);
		if (verbose) {
			char d[128];
			describe(&s, d, sizeof(d));
			printf("step %d: %s\n", cur_step, d);
		}
		run_step(&m, &s, path("store.img"), path("origin.img"));
		verify(&m, path("store.img"), path("origin.img"), strict);
	}
	printf("ms_model: seed %llu: %lu steps, every view equal to the model\n", seed, steps);
	model_free(&m);
	return 0;
}
