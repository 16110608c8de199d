/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * crc32c (Castagnoli), raw form used by the kernel's persistent-data:
 * meta_crc32c(seed, buf, len) updates `seed` with no final inversion.
 * SSE4.2 instruction when the CPU has it (chosen at run time), table otherwise.
 */
#ifndef LIBMETA_CRC32C_H
#define LIBMETA_CRC32C_H

#include <stddef.h>
#include <stdint.h>
#include <libmeta/api.h>

META_API uint32_t meta_crc32c(uint32_t seed, const void *buf, size_t len);
/* Portable implementation, exported for tests that compare both paths. */
META_API uint32_t meta_crc32c_sw(uint32_t seed, const void *buf, size_t len);
/* Checksum of a persistent-data block: crc32c(~0, data+4, size-4) ^ xor_salt. */
META_API uint32_t meta_block_csum(const void *block, size_t size, uint32_t xor_salt);

#endif
