/* SPDX-License-Identifier: GPL-2.0-only */
/* Export control and library version for libmeta. */
#ifndef LIBMETA_API_H
#define LIBMETA_API_H

#if defined(LIBMETA_BUILD) && defined(__GNUC__)
#define META_API __attribute__((visibility("default")))
#else
#define META_API
#endif

#define LIBMETA_VERSION "0.1.0"

META_API const char *meta_version(void);

#endif
