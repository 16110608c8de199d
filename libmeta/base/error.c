/* SPDX-License-Identifier: GPL-2.0-only */
#include <libmeta/error.h>
#include <libmeta/damage.h>

#include <stddef.h>

static const char *const err_msg[] = {
#define X(name, msg) [name] = msg,
	META_ERRORS(X)
#undef X
};

static const char *const err_name[] = {
#define X(name, msg) [name] = #name,
	META_ERRORS(X)
#undef X
};

const char *meta_strerror(int err)
{
	if (err < 0 || err >= META_E__COUNT)
		return "unknown error";
	return err_msg[err];
}

const char *meta_errname(int err)
{
	if (err < 0 || err >= META_E__COUNT)
		return "META_E_UNKNOWN";
	return err_name[err];
}

const char *meta_version(void)
{
	return LIBMETA_VERSION;
}

static const struct {
	const char *name, *text, *phrase, *advice;
	enum meta_severity sev;
	enum meta_damage_locus locus;
} damage_kinds[] = {
#define X(name, sev, locus, text, phrase, advice) \
	[META_DMG_##name] = {#name, text, phrase, advice, META_SEV_##sev, META_LOCUS_##locus},
	META_DAMAGE_KINDS(X)
#undef X
};

static const char *const locus_label[] = {
	[META_LOCUS_BLOCK] = "block",
	[META_LOCUS_NODE] = "key",
	[META_LOCUS_VIRTUAL] = "virtual block",
	[META_LOCUS_DATA] = "data block",
	[META_LOCUS_RECORD] = "record",
	[META_LOCUS_RUN] = "record",
	[META_LOCUS_STORE] = "store",
};

#define KNOWN(k) ((unsigned)(k) < META_DMG__COUNT)

const char *meta_damage_name(enum meta_damage_kind k)
{
	return KNOWN(k) ? damage_kinds[k].name : "UNKNOWN";
}

const char *meta_damage_text(enum meta_damage_kind k)
{
	return KNOWN(k) ? damage_kinds[k].text : "unknown damage";
}

const char *meta_damage_phrase(enum meta_damage_kind k)
{
	return KNOWN(k) && damage_kinds[k].phrase ? damage_kinds[k].phrase : meta_damage_text(k);
}

const char *meta_damage_advice(enum meta_damage_kind k)
{
	return KNOWN(k) ? damage_kinds[k].advice : "run thin_check";
}

enum meta_damage_locus meta_damage_locus(enum meta_damage_kind k)
{
	return KNOWN(k) ? damage_kinds[k].locus : META_LOCUS_BLOCK;
}

const char *meta_damage_range_label(enum meta_damage_kind k)
{
	return locus_label[meta_damage_locus(k)];
}

enum meta_severity meta_damage_default_severity(enum meta_damage_kind k)
{
	return KNOWN(k) ? damage_kinds[k].sev : META_SEV_FATAL;
}

void meta_damage_init(struct meta_damage *d, enum meta_damage_kind k)
{
	d->kind = k;
	d->severity = meta_damage_default_severity(k);
	d->block = UINT64_MAX;
	d->dev_id = UINT64_MAX;
	d->begin = 0;
	d->end = 0;
	d->count = 0;
	d->detail = 0;
}
