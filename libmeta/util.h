/* SPDX-License-Identifier: GPL-2.0-only */
/* Small private helpers shared by libmeta's modules. */
#ifndef LIBMETA_UTIL_H
#define LIBMETA_UTIL_H

#include <stddef.h>

/*
 * Make room for `need` elements of `elem` bytes in the array *p of capacity *cap
 * (doubling, at least 64).  0, or META_E_NOMEM with *p and *cap unchanged.
 */
int meta_grow(void **p, size_t *cap, size_t need, size_t elem);

#endif
