/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * gen_thin_xml — deterministic generator of thin-pool metadata XML (test tool).
 *
 *   gen_thin_xml [--devices N] [--mappings M] [--snapshots K] [--change PCT]
 *                [--nr-data-blocks N] [--data-block-size SECTORS] [--seed S]
 *                [--fragment PCT] [--gap PCT] [--format flat|shared]
 *                [--leaf-entries N] [--transaction N]
 *
 * Model.  N origin devices (dev_id 0..N-1) are created at pool time 0, each with M mapped
 * virtual blocks (contiguous from 0, or with random holes when --gap PCT > 0; every origin
 * device uses the same virtual layout).  Then K snapshots of device 0 are taken in sequence:
 * snapshot i (1..K) gets dev_id N+i-1, pool time becomes t = i, the snapshot's
 * creation_time = snap_time = t and device 0's snap_time = t.  After each snapshot, PCT
 * percent of device 0's blocks (in random runs of 1..16) are rewritten to newly allocated
 * data blocks carrying time t.  A snapshot therefore sees device 0's blocks as they were
 * before the rewrite round that follows it.
 *
 * Data allocation walks a cursor through the data device; with probability --fragment PCT a
 * new allocation jumps to a random place instead of continuing the run.  Allocated blocks
 * are never reused.  --nr-data-blocks defaults to 5/4 of what is allocated, plus 64.
 *
 * Output (stdout).  --format flat (default): thin_dump 0.9.0 XML, range_mapping for runs
 * of >= 2 blocks with consecutive data blocks and equal time, single_mapping otherwise,
 * attributes in 0.9's order.  --format shared: the 1.x form; device 0's block list is cut
 * into chunks of --leaf-entries (default 252, one full bottom-level leaf) mappings, and a
 * chunk whose contents are identical in two or more devices (device 0 and its snapshots) is
 * written once as <def name="..."> before the devices and spliced with <ref name="..."/>,
 * so the 1.x thin_restore builds one shared leaf for it.
 *
 * Exit: 0 ok, 2 bad options (one line on stderr), 3 out of memory / write error.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PROG "gen_thin_xml"

static uint64_t rng_state;

static uint64_t rnd(void)
{
	/* splitmix64 */
	uint64_t z = (rng_state += 0x9e3779b97f4a7c15ULL);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static uint64_t rnd_below(uint64_t n)
{
	return n ? rnd() % n : 0;
}

static bool chance(unsigned pct)
{
	return pct && rnd_below(100) < pct;
}

__attribute__((noreturn, format(printf, 1, 2))) static void usage_error(const char *fmt, ...)
{
	va_list ap;
	fprintf(stderr, PROG ": ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, " (try '" PROG " --help')\n");
	exit(2);
}

__attribute__((noreturn)) static void die_nomem(void)
{
	fprintf(stderr, PROG ": out of memory\n");
	exit(3);
}

static void *xcalloc(size_t n, size_t sz)
{
	void *p = calloc(n ? n : 1, sz ? sz : 1);
	if (!p)
		die_nomem();
	return p;
}

/* ---- output buffer ------------------------------------------------------ */

static char obuf[1 << 16];
static size_t olen;

static void oflush(void)
{
	if (olen && fwrite(obuf, 1, olen, stdout) != olen) {
		fprintf(stderr, PROG ": write error: %s\n", strerror(errno));
		exit(3);
	}
	olen = 0;
}

static void ostr(const char *s)
{
	size_t n = strlen(s);
	if (olen + n > sizeof(obuf))
		oflush();
	memcpy(obuf + olen, s, n);
	olen += n;
}

static void onum(uint64_t v)
{
	char tmp[24];
	int i = 0;
	if (olen + 24 > sizeof(obuf))
		oflush();
	do {
		tmp[i++] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	while (i)
		obuf[olen++] = tmp[--i];
}

/* ---- data allocator ----------------------------------------------------- */

static uint64_t nr_data;
static uint8_t *used; /* bitmap of allocated data blocks */
static uint64_t cursor;
static unsigned fragment_pct;

static bool is_used(uint64_t b)
{
	return used[b >> 3] & (1u << (b & 7));
}

static uint64_t alloc_block(void)
{
	uint64_t b = cursor;
	if (chance(fragment_pct))
		b = rnd_below(nr_data);
	for (uint64_t n = 0; n < nr_data; n++, b++) {
		if (b >= nr_data)
			b = 0;
		if ((b & 7) == 0 && used[b >> 3] == 0xff && n + 8 < nr_data) {
			b += 7;
			n += 7;
			continue;
		}
		if (!is_used(b)) {
			used[b >> 3] |= (uint8_t)(1u << (b & 7));
			cursor = b + 1 >= nr_data ? 0 : b + 1;
			return b;
		}
	}
	/* Cannot happen: nr_data was checked against the total needed. */
	fprintf(stderr, PROG ": internal error: data device full\n");
	exit(3);
}

/* ---- model -------------------------------------------------------------- */

/* A version of one of device 0's blocks: valid from time `time` on. */
struct version {
	uint64_t data;
	uint32_t time;
	uint32_t next; /* index+1 into the overflow array of the previous version, 0 = none */
};

struct mapping {
	uint64_t vblock, data;
	uint32_t time;
};

static uint64_t *vblocks;     /* M virtual block numbers, ascending */
static struct version *first; /* device 0: first version of each block */
static uint32_t *latest;      /* device 0: index+1 of latest overflow version, 0 = first */
static struct version *over;  /* overflow versions (rewrites) */
static size_t nr_over, cap_over;

/* The version of block i that a device with horizon h (sees times < h) maps. */
static const struct version *version_at(uint64_t i, uint32_t h)
{
	uint32_t v = latest[i];
	while (v) {
		const struct version *o = &over[v - 1];
		if (o->time < h)
			return o;
		v = o->next;
	}
	return &first[i];
}

/* Number of versions of block i visible at horizon h (identifies the content). */
static uint32_t nr_versions_at(uint64_t i, uint32_t h)
{
	uint32_t n = 1;
	for (uint32_t v = latest[i]; v; v = over[v - 1].next)
		if (over[v - 1].time < h)
			n++;
	return n;
}

struct emitter {
	bool open;
	struct mapping run; /* pending run: run.vblock.. , length run_len */
	uint64_t run_len;
};

static void emit_flush(struct emitter *e, const char *indent)
{
	if (!e->open)
		return;
	ostr(indent);
	if (e->run_len == 1) {
		ostr("<single_mapping origin_block=\"");
		onum(e->run.vblock);
		ostr("\" data_block=\"");
		onum(e->run.data);
	} else {
		ostr("<range_mapping origin_begin=\"");
		onum(e->run.vblock);
		ostr("\" data_begin=\"");
		onum(e->run.data);
		ostr("\" length=\"");
		onum(e->run_len);
	}
	ostr("\" time=\"");
	onum(e->run.time);
	ostr("\"/>\n");
	e->open = false;
}

static void emit_map(struct emitter *e, const char *indent, uint64_t vb, uint64_t data, uint32_t time)
{
	if (e->open && vb == e->run.vblock + e->run_len && data == e->run.data + e->run_len &&
	    time == e->run.time) {
		e->run_len++;
		return;
	}
	emit_flush(e, indent);
	e->open = true;
	e->run.vblock = vb;
	e->run.data = data;
	e->run.time = time;
	e->run_len = 1;
}

static void emit_device_open(uint64_t id, uint64_t mapped, uint64_t trans, uint32_t ctime,
			     uint32_t stime)
{
	ostr("  <device dev_id=\"");
	onum(id);
	ostr("\" mapped_blocks=\"");
	onum(mapped);
	ostr("\" transaction=\"");
	onum(trans);
	ostr("\" creation_time=\"");
	onum(ctime);
	ostr("\" snap_time=\"");
	onum(stime);
	ostr("\">\n");
}

static void usage(void)
{
	fputs("Usage: " PROG " [OPTIONS]\n"
	       "Write deterministic thin-pool metadata XML to stdout.\n\n"
	       "  --devices N          origin devices, dev_id 0..N-1 (default 1)\n"
	       "  --mappings M         mapped blocks per origin device (default 1000)\n"
	       "  --snapshots K        snapshots of device 0, taken in sequence (default 0)\n"
	       "  --change PCT         % of device 0's blocks rewritten after each snapshot (default 10)\n"
	       "  --nr-data-blocks N   data device size in blocks (default: 5/4 of the need + 64)\n"
	       "  --data-block-size S  data block size in sectors (default 128)\n"
	       "  --seed S             random seed (default 1)\n"
	       "  --fragment PCT       % of allocations that jump instead of continuing (default 0)\n"
	       "  --gap PCT            % of virtual blocks followed by a hole (default 0)\n"
	       "  --format F           flat (0.9 thin_dump) or shared (1.x <def>/<ref>) (default flat)\n"
	       "  --leaf-entries N     mappings per shared chunk in --format shared (default 252)\n"
	       "  --transaction N      superblock transaction id (default: devices + snapshots)\n"
	       "  -h, --help           this help\n", stdout);
}

static uint64_t num_arg(const char *opt, const char *s, uint64_t max)
{
	char *end;
	unsigned long long v;
	if (!s || !*s || *s < '0' || *s > '9')
		usage_error("%s needs a non-negative decimal number, got '%s'", opt, s ? s : "");
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || *end)
		usage_error("%s needs a non-negative decimal number, got '%s'", opt, s);
	if (v > max)
		usage_error("%s %s is too large (max %" PRIu64 ")", opt, s, max);
	return v;
}

int main(int argc, char **argv)
{
	enum { O_DEV = 256, O_MAP, O_SNAP, O_CHG, O_NRD, O_DBS, O_SEED, O_FRAG, O_GAP, O_FMT,
	       O_LEAF, O_TRANS };
	static const struct option opts[] = {
		{ "devices", required_argument, NULL, O_DEV },
		{ "mappings", required_argument, NULL, O_MAP },
		{ "snapshots", required_argument, NULL, O_SNAP },
		{ "change", required_argument, NULL, O_CHG },
		{ "nr-data-blocks", required_argument, NULL, O_NRD },
		{ "data-block-size", required_argument, NULL, O_DBS },
		{ "seed", required_argument, NULL, O_SEED },
		{ "fragment", required_argument, NULL, O_FRAG },
		{ "gap", required_argument, NULL, O_GAP },
		{ "format", required_argument, NULL, O_FMT },
		{ "leaf-entries", required_argument, NULL, O_LEAF },
		{ "transaction", required_argument, NULL, O_TRANS },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	uint64_t devices = 1, mappings = 1000, snapshots = 0, change = 10, nrd = 0, dbs = 128;
	uint64_t seed = 1, gap = 0, leaf = 252, trans = UINT64_MAX;
	bool shared = false;
	int c;

	opterr = 0;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case O_DEV: devices = num_arg("--devices", optarg, 1u << 20); break;
		case O_MAP: mappings = num_arg("--mappings", optarg, 1ULL << 32); break;
		case O_SNAP: snapshots = num_arg("--snapshots", optarg, 1u << 20); break;
		case O_CHG: change = num_arg("--change", optarg, 100); break;
		case O_NRD: nrd = num_arg("--nr-data-blocks", optarg, (1ULL << 40) - 1); break;
		case O_DBS: dbs = num_arg("--data-block-size", optarg, 2097152); break;
		case O_SEED: seed = num_arg("--seed", optarg, UINT64_MAX); break;
		case O_FRAG: fragment_pct = (unsigned)num_arg("--fragment", optarg, 100); break;
		case O_GAP: gap = num_arg("--gap", optarg, 100); break;
		case O_FMT:
			if (!strcmp(optarg, "flat"))
				shared = false;
			else if (!strcmp(optarg, "shared"))
				shared = true;
			else
				usage_error("--format must be 'flat' or 'shared', got '%s'", optarg);
			break;
		case O_LEAF: leaf = num_arg("--leaf-entries", optarg, 1u << 20); break;
		case O_TRANS: trans = num_arg("--transaction", optarg, UINT64_MAX - 1); break;
		case 'h': usage(); return 0;
		default:
			if (optopt > 0 && optopt < 256)
				usage_error("unknown or incomplete option '-%c'", optopt);
			usage_error("unknown or incomplete option '%s'", argv[optind - 1]);
		}
	}
	if (optind < argc)
		usage_error("unexpected argument '%s'", argv[optind]);
	if (dbs < 128 || dbs % 128)
		usage_error("--data-block-size must be a multiple of 128 sectors, got %" PRIu64, dbs);
	if (leaf == 0)
		usage_error("--leaf-entries must be at least 1");
	if (snapshots && devices == 0)
		usage_error("--snapshots needs at least one device");
	if (gap == 100)
		usage_error("--gap must be below 100");
	if (trans == UINT64_MAX)
		trans = devices + snapshots;
	rng_state = seed;

	/* Data blocks needed: every origin block once, plus the rewrites. */
	uint64_t per_round = mappings * change / 100;
	uint64_t need = devices * mappings + snapshots * per_round;
	if (nrd == 0)
		nrd = need + need / 4 + 64;
	if (nrd < need)
		usage_error("--nr-data-blocks %" PRIu64 " is too small: this pool needs %" PRIu64, nrd,
			    need);
	nr_data = nrd;
	used = xcalloc((size_t)(nr_data / 8 + 1), 1);

	/* Virtual layout shared by all origin devices. */
	vblocks = xcalloc((size_t)mappings, sizeof(*vblocks));
	for (uint64_t i = 0, vb = 0; i < mappings; i++) {
		vblocks[i] = vb++;
		if (chance((unsigned)gap))
			vb += 1 + rnd_below(64);
	}

	/* Device 0's history. */
	first = xcalloc((size_t)mappings, sizeof(*first));
	latest = xcalloc((size_t)mappings, sizeof(*latest));
	if (devices) {
		for (uint64_t i = 0; i < mappings; i++) {
			first[i].data = alloc_block();
			first[i].time = 0;
		}
	}
	/* Other origin devices: allocated now (time 0) but generated again at output time
	 * from a saved allocator state would be fragile; store their data blocks. */
	uint64_t *others = NULL;
	if (devices > 1) {
		others = calloc((size_t)((devices - 1) * mappings) + 1, sizeof(*others));
		if (!others)
			die_nomem();
		for (uint64_t d = 1; d < devices; d++)
			for (uint64_t i = 0; i < mappings; i++)
				others[(d - 1) * mappings + i] = alloc_block();
	}
	for (uint64_t t = 1; t <= snapshots; t++) {
		uint64_t done = 0, tries = 0;
		while (done < per_round && tries < per_round * 4 + 64) {
			uint64_t i = rnd_below(mappings), len = 1 + rnd_below(16);
			tries++;
			for (; len && i < mappings && done < per_round; len--, i++) {
				if (latest[i] && over[latest[i] - 1].time == t)
					continue; /* already rewritten in this round */
				if (nr_over == cap_over) {
					cap_over = cap_over ? cap_over * 2 : 1024;
					over = realloc(over, cap_over * sizeof(*over));
					if (!over)
						die_nomem();
				}
				over[nr_over].data = alloc_block();
				over[nr_over].time = (uint32_t)t;
				over[nr_over].next = latest[i];
				latest[i] = (uint32_t)++nr_over;
				done++;
			}
		}
		/* Sweep for the remainder so the count is exact. */
		for (uint64_t i = 0; i < mappings && done < per_round; i++) {
			if (latest[i] && over[latest[i] - 1].time == t)
				continue;
			if (nr_over == cap_over) {
				cap_over = cap_over ? cap_over * 2 : 1024;
				over = realloc(over, cap_over * sizeof(*over));
				if (!over)
					die_nomem();
			}
			over[nr_over].data = alloc_block();
			over[nr_over].time = (uint32_t)t;
			over[nr_over].next = latest[i];
			latest[i] = (uint32_t)++nr_over;
			done++;
		}
	}

	/* ---- output ---- */
	uint32_t now = (uint32_t)snapshots;
	uint32_t horizon_origin = UINT32_MAX;
	ostr("<superblock uuid=\"\" time=\"");
	onum(now);
	ostr("\" transaction=\"");
	onum(trans);
	ostr("\" flags=\"0\" version=\"2\" data_block_size=\"");
	onum(dbs);
	ostr("\" nr_data_blocks=\"");
	onum(nr_data);
	ostr("\">\n");

	/*
	 * Shared chunks: chunk j of a device with horizon h is identified by
	 * (j, sum over the chunk of nr_versions_at(i, h)); the sum is monotonic in h and
	 * changes exactly when some block of the chunk changes, so equal sums = equal content.
	 * A chunk content is worth a <def> when >= 2 devices use it.
	 */
	uint64_t nchunks = shared && devices ? (mappings + leaf - 1) / leaf : 0;
	/* users[j]: for each device 0/snapshot (index 0 = device 0, s = snapshot s), the
	 * content key; computed on the fly. */
	uint64_t ndev0 = devices ? 1 + snapshots : 0;
	uint64_t *key = NULL;
	if (nchunks) {
		key = calloc((size_t)(nchunks * ndev0), sizeof(*key));
		if (!key)
			die_nomem();
		for (uint64_t s = 0; s < ndev0; s++) {
			uint32_t h = s == 0 ? horizon_origin : (uint32_t)s;
			for (uint64_t j = 0; j < nchunks; j++) {
				uint64_t sum = 0;
				for (uint64_t i = j * leaf; i < mappings && i < (j + 1) * leaf; i++)
					sum += nr_versions_at(i, h);
				key[j * ndev0 + s] = sum;
			}
		}
		/* Emit a def for each (chunk, key) used by >= 2 devices, once. */
		for (uint64_t j = 0; j < nchunks; j++) {
			uint64_t *row = &key[j * ndev0];
			for (uint64_t s = 0; s < ndev0; s++) {
				uint64_t users = 0;
				bool seen = false;
				for (uint64_t u = 0; u < ndev0; u++)
					if (row[u] == row[s]) {
						users++;
						if (u < s)
							seen = true;
					}
				if (users < 2 || seen)
					continue;
				struct emitter e = { 0 };
				uint32_t h = s == 0 ? horizon_origin : (uint32_t)s;
				ostr("  <def name=\"c");
				onum(j);
				ostr("v");
				onum(row[s]);
				ostr("\">\n");
				for (uint64_t i = j * leaf; i < mappings && i < (j + 1) * leaf; i++) {
					const struct version *v = version_at(i, h);
					emit_map(&e, "    ", vblocks[i], v->data, v->time);
				}
				emit_flush(&e, "    ");
				ostr("  </def>\n");
			}
		}
	}

	for (uint64_t d = 0; d < devices + snapshots; d++) {
		bool dev0 = d == 0, snap = d >= devices;
		uint64_t s = snap ? d - devices + 1 : 0; /* snapshot number = its time */
		uint64_t dtrans = dev0 ? trans : snap ? devices + s : d + 1;
		uint32_t ctime = snap ? (uint32_t)s : 0;
		uint32_t stime = dev0 ? now : ctime;
		if (dtrans > trans)
			dtrans = trans;
		emit_device_open(d, mappings, dtrans, ctime, stime);
		struct emitter e = { 0 };
		if (dev0 || snap) {
			uint32_t h = snap ? (uint32_t)s : horizon_origin;
			uint64_t col = snap ? s : 0;
			for (uint64_t j = 0, i = 0; i < mappings; j++) {
				uint64_t end = (j + 1) * leaf < mappings ? (j + 1) * leaf : mappings;
				bool use_ref = false;
				if (nchunks) {
					uint64_t *row = &key[j * ndev0];
					for (uint64_t u = 0; u < ndev0 && !use_ref; u++)
						use_ref = u != col && row[u] == row[col];
				}
				if (!nchunks)
					end = mappings;
				if (use_ref) {
					emit_flush(&e, "    ");
					ostr("    <ref name=\"c");
					onum(j);
					ostr("v");
					onum(key[j * ndev0 + col]);
					ostr("\"/>\n");
					i = end;
					continue;
				}
				for (; i < end; i++) {
					const struct version *v = version_at(i, h);
					emit_map(&e, "    ", vblocks[i], v->data, v->time);
				}
			}
		} else {
			const uint64_t *data = &others[(d - 1) * mappings];
			for (uint64_t i = 0; i < mappings; i++)
				emit_map(&e, "    ", vblocks[i], data[i], 0);
		}
		emit_flush(&e, "    ");
		ostr("  </device>\n");
	}
	ostr("</superblock>\n");
	oflush();
	if (fflush(stdout) != 0 || ferror(stdout)) {
		fprintf(stderr, PROG ": write error: %s\n", strerror(errno));
		return 3;
	}
	free(key);
	free(others);
	free(over);
	free(latest);
	free(first);
	free(vblocks);
	free(used);
	return 0;
}
