/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * gen_mikulas_xml: a mikulas store as snap_dump XML, for bench/multisnap.sh and the
 * sizing test.  Standalone (no libmeta): the metadata area is sized by the rule of
 * man/multisnap-store.5 ("Sizing the metadata area"), written out here on purpose so
 * that a restore of the output onto a BYTES-byte device checks the rule.
 *
 *   gen_mikulas_xml [-c CHUNK_SECTORS] [-n EXCEPTIONS] BYTES
 *
 * BYTES: the COW device's size.  M and D follow from it as format computes them.
 * EXCEPTIONS: how many (default, and 0: D, every data chunk named once: the rule's
 * worst case); at most D.
 * Snapshots: 0 .. 7 of the origin and sub-snapshots 2.0, 2.1 and 5.0 (11 ids), in key
 * order.  Origin chunks i + i/3 (every fourth number skipped), each with 1 to 3
 * exceptions covering consecutive runs of the 11 ids (a run sometimes skipped), so
 * that ranges of ids are shared; the n-th exception's COW chunk is (n * 7919) mod D
 * (a step prime to D: every chunk at most once, scattered).
 */
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BLOCK 4096ull
#define MAX_BLOCKS (255ull * 16320ull)

static uint64_t div_up(uint64_t a, uint64_t b)
{
	return a / b + (a % b != 0);
}

static uint64_t gcd(uint64_t a, uint64_t b)
{
	while (b) {
		uint64_t t = a % b;
		a = b;
		b = t;
	}
	return a;
}

static uint64_t mix(uint64_t x)
{
	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdull;
	x ^= x >> 33;
	return x;
}

static const char *const ids[] = {"0", "1", "2.0", "2.1", "2", "3", "4", "5.0", "5", "6", "7"};
#define NIDS 11u

int main(int argc, char **argv)
{
	uint64_t cs = 8, want = 0, bytes, cb, d0, m, start, d, step = 7919, n = 0;
	int i;
	for (i = 1; i + 1 < argc && argv[i][0] == '-'; i += 2) {
		if (!strcmp(argv[i], "-c"))
			cs = strtoull(argv[i + 1], NULL, 10);
		else if (!strcmp(argv[i], "-n"))
			want = strtoull(argv[i + 1], NULL, 10);
		else
			break;
	}
	if (i + 1 != argc || cs < 8 || (cs & (cs - 1))) {
		fprintf(stderr, "usage: gen_mikulas_xml [-c CHUNK_SECTORS] [-n EXCEPTIONS] BYTES\n");
		return 2;
	}
	bytes = strtoull(argv[i], NULL, 10);
	cb = cs * 512;
	d0 = bytes / cb;
	m = 1 + 2 * div_up(d0, 42) + 2 * div_up(d0, 16320) + 256;
	if (m < 64)
		m = 64;
	if (m > MAX_BLOCKS)
		m = MAX_BLOCKS;
	start = div_up(m * BLOCK, cb) * cb;
	d = bytes > start ? (bytes - start) / cb : 0;
	if (!d) {
		fprintf(stderr, "gen_mikulas_xml: %" PRIu64 " bytes hold no data chunk\n", bytes);
		return 1;
	}
	if (!want)
		want = d;
	if (want > d) {
		fprintf(stderr, "gen_mikulas_xml: %" PRIu64 " exceptions, %" PRIu64 " data chunks\n",
			want, d);
		return 1;
	}
	while (gcd(step, d) != 1)
		step += 2;
	printf("<multisnap_store type=\"mikulas\" version=\"1\" chunk_size=\"%" PRIu64
	       "\" metadata_blocks=\"%" PRIu64 "\" data_chunks=\"%" PRIu64
	       "\" next_snapshot=\"8\" transaction=\"20\" flags=\"\">\n", cs, m, d);
	for (unsigned k = 0; k < NIDS; k++)
		printf("  <snapshot id=\"%s\" next_sub=\"%u\" created=\"%u\"/>\n", ids[k],
		       !strcmp(ids[k], "2") ? 2u : !strcmp(ids[k], "5") ? 1u : 0u, 2 + k);
	for (uint64_t c = 0; n < want; c++) {
		uint64_t h = mix(c + 1), origin = c + c / 3;
		unsigned k = 1 + (unsigned)(h % 3), at = (unsigned)(h >> 8) % 3;
		for (unsigned e = 0; e < k && n < want && at < NIDS; e++) {
			/* a run of 1 .. 5 ids from `at`, the last run to the end */
			unsigned len = e + 1 == k ? NIDS - at : 1 + (unsigned)(h >> (16 + 4 * e)) % 5;
			unsigned last = at + len - 1 < NIDS ? at + len - 1 : NIDS - 1;
			printf("  <exception origin_chunk=\"%" PRIu64 "\" first_id=\"%s\" last_id=\"%s\""
			       " cow_chunk=\"%" PRIu64 "\"/>\n", origin, ids[at], ids[last],
			       (n * step) % d);
			n++;
			at = last + 1 + (unsigned)((h >> (40 + e)) & 1); /* sometimes a run skipped */
		}
	}
	printf("</multisnap_store>\n");
	return ferror(stdout) || fflush(stdout) ? 1 : 0;
}
