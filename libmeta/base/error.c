/* SPDX-License-Identifier: GPL-2.0-only */
#include <libmeta/error.h>
#include <libmeta/damage.h>

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
	const char *name, *text;
	enum meta_severity sev;
} damage_kinds[] = {
#define X(name, sev, text) [META_DMG_##name] = {#name, text, META_SEV_##sev},
	META_DAMAGE_KINDS(X)
#undef X
};

const char *meta_damage_name(enum meta_damage_kind k)
{
	return (unsigned)k < META_DMG__COUNT ? damage_kinds[k].name : "UNKNOWN";
}

const char *meta_damage_text(enum meta_damage_kind k)
{
	return (unsigned)k < META_DMG__COUNT ? damage_kinds[k].text : "unknown damage";
}

enum meta_severity meta_damage_default_severity(enum meta_damage_kind k)
{
	return (unsigned)k < META_DMG__COUNT ? damage_kinds[k].sev : META_SEV_FATAL;
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
