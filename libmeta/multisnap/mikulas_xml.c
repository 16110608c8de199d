/* SPDX-License-Identifier: GPL-2.0-only */
#include <libmeta/error.h>
#include "multisnap/mikulas_internal.h"

int mikulas_dump_xml(void *st, FILE *out) { (void)st; (void)out; return META_E_UNSUPPORTED; }
int mikulas_dump_human(void *st, FILE *out) { (void)st; (void)out; return META_E_UNSUPPORTED; }
int mikulas_restore_xml(FILE *in, struct meta_io *io, char *err, size_t errlen)
{
	(void)in; (void)io; (void)err; (void)errlen;
	return META_E_UNSUPPORTED;
}
