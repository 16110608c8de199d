/* SPDX-License-Identifier: GPL-2.0-only */
#include "util_damage.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>

#include "common.h"

/*
 * Templates.  A code stands for a field of the record or of its kind's row:
 *   %n name    %t description   %p phrase   %a advice   %s "warning: " / "note: " by severity
 *   %d detail (absent when NULL or empty)   %e detail, else the description
 *   %b block (absent when none)   %B block   %v device (absent when none)
 *   %r begin   %c count   %C count (absent when at most 1)
 *   %R the range in the kind's unit: "key 5", "data blocks [5, 9)", "keys [5, end)" (absent
 *      when empty or when it is just the block)
 *   %K the range as keys: "5..8", "5 and up" (absent when empty or all keys)
 *   %W the span of a device's tree: "whole tree", "virtual blocks 5..8"
 * A group {...} is left out when a code in it is absent.
 */
#define THIN_CHECK "%n{ at block %b}{, device %v}{, %R}{, %C blocks}: %p{ (%d)}; %a"

static const char *const check_form[] = {
	[META_LOCUS_BLOCK] = THIN_CHECK,
	[META_LOCUS_NODE] = THIN_CHECK,
	[META_LOCUS_VIRTUAL] = THIN_CHECK,
	[META_LOCUS_DATA] = THIN_CHECK,
	[META_LOCUS_RECORD] = "%s%n: %t (cow chunk %B, record %r){: %d}",
	[META_LOCUS_RUN] = "%s%n: %t (%c records from record %r){: %d}",
	[META_LOCUS_STORE] = "%s%n: %t{: %d}",
};

static const char *const forms[] = {
	[CLI_DAMAGE_SKIP] = "%t (%n{, %d}){ at block %b}{, device %v}{, keys %K}",
	[CLI_DAMAGE_REPAIR] = "%n at block %B{ (device %v, %W)}",
	[CLI_DAMAGE_FIRST] = "%t{ in %d}{, device %v}{, metadata block %b}",
	[CLI_DAMAGE_STORE] = "%t (cow chunk %B, record %r)",
	[CLI_DAMAGE_NOTE] = "%e",
	[CLI_DAMAGE_RECORD] = "record %r (cow chunk %B): %e",
};

struct out {
	char *buf;
	size_t size, n;
};

static void put(struct out *o, const char *fmt, ...)
{
	va_list ap;
	int w;
	if (o->n + 1 >= o->size)
		return;
	va_start(ap, fmt);
	w = vsnprintf(o->buf + o->n, o->size - o->n, fmt, ap);
	va_end(ap);
	if (w > 0)
		o->n += (size_t)w < o->size - o->n ? (size_t)w : o->size - o->n - 1;
}

static bool has_detail(const struct meta_damage *d)
{
	return d->detail && d->detail[0];
}

/* The %R range; false when there is none to print. */
static bool put_range(struct out *o, const struct meta_damage *d)
{
	const char *unit = meta_damage_range_label(d->kind);
	if (d->begin == UINT64_MAX || (d->begin == d->block && d->end == d->begin + 1))
		return false;
	if (d->end == d->begin + 1)
		put(o, "%s %" PRIu64, unit, d->begin);
	else if (d->end == UINT64_MAX)
		put(o, "%ss [%" PRIu64 ", end)", unit, d->begin);
	else if (d->end > d->begin)
		put(o, "%ss [%" PRIu64 ", %" PRIu64 ")", unit, d->begin, d->end);
	else
		return false;
	return true;
}

/* Expand code c of d; false when its value is absent. */
static bool put_code(struct out *o, char c, const struct meta_damage *d)
{
	static const char *const sev_lead[] = {
		[META_SEV_INFO] = "note: ", [META_SEV_NONFATAL] = "warning: ", [META_SEV_FATAL] = ""};
	switch (c) {
	case 'n':
		put(o, "%s", meta_damage_name(d->kind));
		return true;
	case 't':
		put(o, "%s", meta_damage_text(d->kind));
		return true;
	case 'p':
		put(o, "%s", meta_damage_phrase(d->kind));
		return true;
	case 'a':
		put(o, "%s", meta_damage_advice(d->kind));
		return true;
	case 's':
		put(o, "%s", (unsigned)d->severity <= META_SEV_FATAL ? sev_lead[d->severity] : "");
		return true;
	case 'd':
		put(o, "%s", has_detail(d) ? d->detail : "");
		return has_detail(d);
	case 'e':
		put(o, "%s", has_detail(d) ? d->detail : meta_damage_text(d->kind));
		return true;
	case 'b':
	case 'B':
		put(o, "%" PRIu64, d->block);
		return c == 'B' || d->block != UINT64_MAX;
	case 'v':
		put(o, "%" PRIu64, d->dev_id);
		return d->dev_id != UINT64_MAX;
	case 'r':
		put(o, "%" PRIu64, d->begin);
		return true;
	case 'c':
	case 'C':
		put(o, "%" PRIu64, d->count);
		return c == 'c' || d->count > 1;
	case 'R':
		return put_range(o, d);
	case 'K':
		if (d->begin >= d->end || (d->begin == 0 && d->end == UINT64_MAX))
			return false;
		if (d->end == UINT64_MAX)
			put(o, "%" PRIu64 " and up", d->begin);
		else
			put(o, "%" PRIu64 "..%" PRIu64, d->begin, d->end - 1);
		return true;
	case 'W':
		if (d->begin == 0 && d->end == UINT64_MAX)
			put(o, "whole tree");
		else
			put(o, "virtual blocks %" PRIu64 "..%" PRIu64, d->begin, d->end ? d->end - 1 : 0);
		return true;
	default:
		put(o, "%c", c);
		return true;
	}
}

size_t cli_damage_format(char *buf, size_t size, enum cli_damage_form f,
			 const struct meta_damage *d)
{
	struct out o = {buf, size, 0};
	const char *t = f == CLI_DAMAGE_CHECK ? check_form[meta_damage_locus(d->kind)] : forms[f];
	size_t group = SIZE_MAX; /* where the open group starts */
	bool whole = true;       /* every code of the open group has a value */
	if (!size)
		return 0;
	buf[0] = 0;
	for (; *t; t++) {
		if (*t == '{') {
			group = o.n;
			whole = true;
		} else if (*t == '}') {
			if (!whole)
				o.n = group;
			buf[o.n] = 0;
			group = SIZE_MAX;
		} else if (*t == '%' && t[1]) {
			whole &= put_code(&o, *++t, d);
		} else {
			put(&o, "%c", *t);
		}
	}
	return o.n;
}

void cli_damage_print(enum cli_damage_form f, const char *lead, const struct meta_damage *d)
{
	char buf[1024];
	cli_damage_format(buf, sizeof(buf), f, d);
	cli_err("%s%s", lead, buf);
}

void cli_keep_first_damage(void *ctx, const struct meta_damage *d)
{
	struct cli_first_damage *fd = ctx;
	if (fd->seen)
		return;
	fd->seen = 1;
	fd->d = *d;
	fd->d.detail = NULL;
	if (d->detail) {
		snprintf(fd->detail, sizeof(fd->detail), "%s", d->detail);
		fd->d.detail = fd->detail;
	}
}

void cli_keep_first_fatal(void *ctx, const struct meta_damage *d)
{
	if (d->severity == META_SEV_FATAL)
		cli_keep_first_damage(ctx, d);
}

void cli_report_first_damage(const char *path, const struct cli_first_damage *fd)
{
	char buf[512];
	if (!fd->seen) {
		cli_err("%s: metadata contains errors (run thin_check for details)", path);
		return;
	}
	cli_damage_format(buf, sizeof(buf), CLI_DAMAGE_FIRST, &fd->d);
	cli_err("%s: metadata contains errors: %s (run thin_check for details)", path, buf);
}
