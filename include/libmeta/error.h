/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * libmeta — one error space for the whole library.
 *
 * Every libmeta call that can fail returns an int: 0 (META_OK) on success or a
 * positive `enum meta_err`.  Raw errno values never escape; for META_E_IO the
 * errno of the failing system call is kept by the object that failed (see
 * meta_io_errno()).  meta_strerror() gives a one-line English message,
 * meta_errname() the stable symbolic name ("META_E_CHECKSUM") tests may grep.
 */
#ifndef LIBMETA_ERROR_H
#define LIBMETA_ERROR_H

#include <libmeta/api.h>

#define META_ERRORS(X)                                                           \
	X(META_OK,            "success")                                            \
	X(META_E_IO,          "input/output error")                                 \
	X(META_E_NOMEM,       "out of memory")                                      \
	X(META_E_INVAL,       "invalid argument")                                   \
	X(META_E_NOENT,       "no such file or directory")                          \
	X(META_E_ISDIR,       "not a block device or regular file")                 \
	X(META_E_PERM,        "permission denied")                                  \
	X(META_E_BUSY,        "device is in use")                                   \
	X(META_E_TOOSMALL,    "metadata device/file too small")                     \
	X(META_E_LOOKSXML,    "input looks like XML, not binary metadata")          \
	X(META_E_BADMAGIC,    "bad magic: this is not the expected metadata")       \
	X(META_E_CHECKSUM,    "bad checksum")                                       \
	X(META_E_BLOCKNR,     "block number does not match its location")           \
	X(META_E_VERSION,     "unsupported metadata version")                       \
	X(META_E_FEATURE,     "unsupported incompatible feature flags")             \
	X(META_E_CORRUPT,     "metadata is damaged")                                \
	X(META_E_RANGE,       "value out of range")                                 \
	X(META_E_NOTFOUND,    "not found")                                          \
	X(META_E_NOSNAP,      "no metadata snapshot is held")                       \
	X(META_E_XML,         "malformed XML input")                                \
	X(META_E_NOSPC,       "no space left in the metadata device")               \
	X(META_E_EXISTS,      "output already holds valid metadata")                \
	X(META_E_UNSUPPORTED, "operation not supported")                            \
	X(META_E_INTERRUPTED, "interrupted")                                      \
	X(META_E_DEV_EXISTS,  "thin device already exists")                       \
	X(META_E_TRANS_ID,    "transaction id does not match the pool's")         \
	X(META_E_SNAP_HELD,   "a metadata snapshot is already held")              \
	X(META_E_SHRINK,      "cannot shrink a pool's device")                     \
	X(META_E_NEEDS_CHECK, "the pool's needs_check flag is set")               \
	X(META_E_MSG_UNKNOWN, "unknown pool message")                             \
	X(META_E_MSG_ARGS,    "wrong arguments for the pool message")             \
	X(META_E_DATA_NOSPC,  "no space left in the data device")                 \
	X(META_E_BLANK,       "the metadata is blank (its superblock is all zeros)") \
	X(META_E_BLOCK_SIZE,  "the data block size differs from the pool's")      \
	X(META_E_DATA_SIZE,   "the data device is smaller than the pool's data blocks") \
	X(META_E_STREAM,      "malformed delta stream")                           \
	X(META_E_VOL_END,     "past the end of the thin volume")

enum meta_err {
#define META_ERR_ENUM(name, msg) name,
	META_ERRORS(META_ERR_ENUM)
#undef META_ERR_ENUM
	META_E__COUNT
};

META_API const char *meta_strerror(int err);
META_API const char *meta_errname(int err);

#endif
