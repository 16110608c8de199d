/* SPDX-License-Identifier: GPL-2.0-only */
#include <libmeta/error.h>
#include "multisnap/mikulas_internal.h"

int mikulas_check(struct meta_io *io, meta_damage_fn fn, void *ctx)
{
	(void)io; (void)fn; (void)ctx;
	return META_E_UNSUPPORTED;
}
