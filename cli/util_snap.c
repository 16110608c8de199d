/* SPDX-License-Identifier: GPL-2.0-only */
#include "util_snap.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libmeta/error.h>
#include <libmeta/family.h>
#include <libmeta/io.h>

#include "common.h"

int snap_cli_open(const char *path, unsigned flags, struct meta_snap **out)
{
	int r = meta_snap_open(path, flags, out);
	switch (r) {
	case META_OK:
		return 0;
	case META_E_BADMAGIC: {
		struct meta_io *io;
		enum meta_family f = META_FAMILY_NONE;
		if (!meta_io_open(path, 0, &io)) {
			f = meta_family_sniff(io);
			meta_io_close(io);
		}
		if (f != META_FAMILY_NONE && meta_family_checker(f))
			cli_err("%s: no \"SnAp\" header: it holds %s (%s reads it), not a dm-snapshot "
				"COW store", path, meta_family_name(f), meta_family_checker(f));
		else if (strcmp(cli_prog, "snap_check"))
			cli_err("%s: no \"SnAp\" header: this is not a dm-snapshot COW store "
				"(is it the origin, or a damaged header? run snap_check %s)", path, path);
		else
			cli_err("%s: no \"SnAp\" header: this is not a dm-snapshot COW store "
				"(is it the origin, or a thin/other device?)", path);
		return EXIT_DAMAGE;
	}
	case META_E_VERSION:
		cli_err("%s: unsupported snapshot store version (only version 1 exists); "
			"the kernel refuses this store too", path);
		return EXIT_DAMAGE;
	case META_E_CORRUPT:
		cli_err("%s: illegal chunk size in the header (must be a power of two from 1 to "
			"2097152 sectors); the header is damaged", path);
		return EXIT_DAMAGE;
	case META_E_TOOSMALL:
		cli_err("%s: too small to hold a snapshot store header (less than 512 bytes)", path);
		return EXIT_OPERR;
	case META_E_BUSY:
		cli_err("cannot open %s exclusively: device is in use. Deactivate the snapshot "
			"(or the snapshot-merge target) first", path);
		return EXIT_OPERR;
	case META_E_LOOKSXML:
		cli_err("%s: This looks like XML.  This tool reads the binary COW device; "
			"use snap_restore to turn XML into a store.", path);
		return EXIT_OPERR;
	default:
		cli_report_open_error(path, r, 0);
		return cli_exit_for(r) == EXIT_DAMAGE ? EXIT_DAMAGE : EXIT_OPERR;
	}
}

#define MAX_REPORTS_PER_KIND 10

void snap_cli_print_damage(void *ctx, const struct meta_damage *d)
{
	static unsigned reported[META_DMG__COUNT];
	int verbose = ctx ? *(int *)ctx : 0;
	if (d->severity == META_SEV_INFO && !verbose)
		return;
	if (cli_quiet)
		return;
	if ((unsigned)d->kind < META_DMG__COUNT && ++reported[d->kind] > MAX_REPORTS_PER_KIND) {
		if (reported[d->kind] == MAX_REPORTS_PER_KIND + 1)
			fprintf(stderr, "%s: further %s reports suppressed\n", cli_prog,
				meta_damage_name(d->kind));
		return;
	}
	cli_damage_print(CLI_DAMAGE_CHECK, "", d);
}

int snap_cli_parse_range(const char *s, uint64_t *begin, uint64_t *end)
{
	const char *dots = strstr(s, "..");
	char a[32];
	size_t n;
	if (!dots)
		return -1;
	n = (size_t)(dots - s);
	if (n == 0 || n >= sizeof(a))
		return -1;
	memcpy(a, s, n);
	a[n] = 0;
	if (cli_parse_u64(a, begin) || cli_parse_u64(dots + 2, end) || *end <= *begin)
		return -1;
	return 0;
}

void snap_cli_refuse_same_role(const char *role_a, const char *a, const char *role_b, const char *b)
{
	if (!a || !b || !meta_io_same_storage(a, b))
		return;
	cli_err("%s: the %s is the %s %s (same file or device); refusing to write to it", b, role_b,
		role_a, a);
	exit(EXIT_USAGE);
}

void snap_cli_refuse_stdout_is(const char *role, const char *path)
{
	if (!path || !meta_io_same_storage(path, "/proc/self/fd/1"))
		return;
	cli_err("standard output is the %s %s (same file or device); refusing to write to it", role,
		path);
	exit(EXIT_USAGE);
}

uint64_t snap_cli_sectors_to_bytes(const char *opt, uint64_t sectors)
{
	uint64_t bytes;
	if (cli_mul_overflows(sectors, 512, &bytes))
	{
		cli_err("%s %" PRIu64 " sectors is past the largest byte offset (2^64 bytes); "
			"nothing was written", opt, sectors);
		exit(EXIT_USAGE);
	}
	return bytes;
}

void snap_cli_report_damage(const char *path, const struct snap_cli_damage *fd, const char *verb)
{
	char buf[512];
	if (!fd->seen) {
		cli_err("%s: the snapshot store is damaged; refusing to %s. Run snap_check %s for "
			"details", path, verb, path);
		return;
	}
	if (fd->d.kind == META_DMG_SNAP_INVALID) {
		cli_err("%s: the snapshot is invalid (the kernel invalidated it: COW overflow or I/O "
			"error); its data is lost, refusing to %s. Run snap_check %s for details",
			path, verb, path);
		return;
	}
	cli_damage_format(buf, sizeof(buf), CLI_DAMAGE_STORE, &fd->d);
	cli_err("%s: the snapshot store is damaged: %s; refusing to %s. Run snap_check %s for "
		"details", path, buf, verb, path);
}

void snap_cli_report_io(const char *path, int err_no, const char *next)
{
	if (err_no == ENOSPC)
		cli_err("%s: no space left on the filesystem (or device) holding it (ENOSPC): the "
			"filesystem is full, not the snapshot's COW store (an overflow); %s", path, next);
	else
		cli_err("%s: I/O error (%s); %s", path, strerror(err_no ? err_no : EIO), next);
}

void snap_cli_refuse_metadata_output(const char *path, bool force)
{
	enum meta_family f;
	if (force)
		return;
	f = cli_sniff_family(path);
	if (f == META_FAMILY_NONE || f == META_FAMILY_XML || !meta_family_checker(f))
		return;
	cli_err("%s: holds %s (%s reads it); refusing to overwrite it without --force", path,
		meta_family_name(f), meta_family_checker(f));
	exit(EXIT_OPERR);
}

int ms_cli_open(const char *path, unsigned flags, struct meta_ms **out)
{
	int r = meta_ms_open(path, flags, out);
	enum meta_family f;
	switch (r) {
	case META_OK:
		return 0;
	case META_E_BADMAGIC:
		f = cli_sniff_family(path);
		if (f == META_FAMILY_SNAP) {
			cli_err("%s: holds a classic dm-snapshot COW store, not a shared multisnapshot "
				"store (one snapshot per COW device, no messages; snap_check, snap_dump "
				"and snap_restore read it)", path);
			return EXIT_OPERR;
		}
		if (f != META_FAMILY_NONE && f != META_FAMILY_XML) {
			const char *reader = meta_family_checker(f);
			cli_err("%s: holds %s, not a shared multisnapshot store (%s%s)", path,
				meta_family_name(f), reader ? reader : "no dmmeta tool",
				f == META_FAMILY_THIN ? " reads it; thin_message runs its messages"
						      : " reads it");
			return EXIT_OPERR;
		}
		cli_err("%s: no shared multisnapshot store here (no mikulas or daniel magic) and the "
			"first 4 KiB are not zero: is it the origin, or a damaged superblock? "
			"(run snap_check %s)", path, path);
		return EXIT_DAMAGE;
	case META_E_UNSUPPORTED:
		f = cli_sniff_family(path);
		cli_err("%s: holds %s that this build cannot use (its store type, or that layout "
			"of it, is not supported)", path, meta_family_name(f));
		return EXIT_OPERR;
	case META_E_VERSION:
		cli_err("%s: unsupported shared store version (the superblock is newer than this "
			"tool, or damaged); run snap_check %s", path, path);
		return EXIT_DAMAGE;
	case META_E_CORRUPT:
		cli_err("%s: the shared store's superblock is damaged; run snap_check %s for details",
			path, path);
		return EXIT_DAMAGE;
	case META_E_BUSY:
		cli_err("cannot open %s exclusively: device is in use. Remove the multisnapshot "
			"target (and its multisnap-snap devices) first", path);
		return EXIT_OPERR;
	case META_E_LOOKSXML:
		cli_err("%s: This looks like XML.  This tool reads the binary COW device; "
			"use snap_restore to turn XML into a store.", path);
		return EXIT_OPERR;
	case META_E_TOOSMALL:
		cli_err("%s: too small to hold a shared multisnapshot store (less than 4096 bytes)",
			path);
		return EXIT_OPERR;
	default:
		cli_report_open_error(path, r, 0);
		return cli_exit_for(r) == EXIT_DAMAGE ? EXIT_DAMAGE : EXIT_OPERR;
	}
}

static bool xml_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

bool ms_cli_xml_is_multisnap(const char *b, size_t len)
{
	size_t i = 0;
	for (;;) {
		const char *e;
		size_t skip = 1;
		while (i < len && xml_space(b[i]))
			i++;
		if (i + 1 >= len || b[i] != '<')
			return false;
		if (b[i + 1] == '?') {
			e = memmem(b + i, len - i, "?>", 2);
			skip = 2;
		} else if (len - i >= 4 && !memcmp(b + i, "<!--", 4)) {
			e = memmem(b + i + 4, len - i - 4, "-->", 3);
			skip = 3;
		} else if (b[i + 1] == '!') {
			e = memchr(b + i, '>', len - i);
		} else {
			break;
		}
		if (!e)
			return false;
		i = (size_t)(e - b) + skip;
	}
	return len - i > 16 && !memcmp(b + i + 1, "multisnap_store", 15) &&
	       (xml_space(b[i + 16]) || b[i + 16] == '>' || b[i + 16] == '/');
}

int snap_cli_slurp(FILE *in, char **buf, size_t *len)
{
	size_t cap = 65536, n = 0;
	char *b = malloc(cap);
	if (!b)
		return -1;
	for (;;) {
		size_t got;
		if (n == cap) {
			char *nb = realloc(b, cap * 2);
			if (!nb) {
				free(b);
				errno = ENOMEM;
				return -1;
			}
			b = nb;
			cap *= 2;
		}
		got = fread(b + n, 1, cap - n, in);
		n += got;
		if (!got) {
			if (ferror(in)) {
				free(b);
				if (!errno)
					errno = EIO;
				return -1;
			}
			break;
		}
	}
	*buf = b;
	*len = n;
	return 0;
}

int snap_cli_read_head(FILE *in, size_t max, char **buf, size_t *len)
{
	char *b = malloc(max ? max : 1);
	size_t n = 0, got;
	if (!b)
		return -1;
	while (n < max && (got = fread(b + n, 1, max - n, in)) > 0)
		n += got;
	if (ferror(in)) {
		free(b);
		if (!errno)
			errno = EIO;
		return -1;
	}
	*buf = b;
	*len = n;
	return 0;
}

/* "OUT: holds ...; refusing to overwrite it without --force" for META_E_EXISTS. */
void snap_cli_report_exists(const char *output, const char *what)
{
	enum meta_family f = cli_sniff_family(output);
	if (f == META_FAMILY_NONE)
		cli_err("%s already holds %s; use --force to overwrite it", output, what);
	else if (meta_family_checker(f))
		cli_err("%s: holds %s (%s reads it); refusing to overwrite it without --force",
			output, meta_family_name(f), meta_family_checker(f));
	else
		cli_err("%s: holds %s; refusing to overwrite it without --force", output,
			meta_family_name(f));
}

int ms_cli_open_checked(const char *path, unsigned flags, const char *verb, struct meta_ms **out)
{
	struct cli_first_damage fd = {0};
	int ex = ms_cli_open(path, flags, out);
	if (ex)
		return ex;
	meta_ms_close(*out);
	*out = NULL;
	if (meta_ms_check_path(path, cli_keep_first_fatal, &fd) >= META_SEV_FATAL) {
		const char *detail = fd.seen ? fd.d.detail : NULL;
		cli_err("%s: the shared store is damaged: %s (%s%s%s); refusing to %s. Run snap_check %s "
			"for details", path, fd.seen ? meta_damage_text(fd.d.kind) : "unreadable",
			fd.seen ? meta_damage_name(fd.d.kind) : "", detail ? ", " : "",
			detail ? detail : "", verb, path);
		return EXIT_DAMAGE;
	}
	return ms_cli_open(path, flags, out);
}

bool ms_cli_is_shared(const char *path, enum meta_ms_type *type)
{
	enum meta_family f = cli_sniff_family(path);
	*type = f == META_FAMILY_MIKULAS ? META_MS_MIKULAS
		: f == META_FAMILY_DANIEL ? META_MS_DANIEL : META_MS_NONE;
	return *type != META_MS_NONE;
}
