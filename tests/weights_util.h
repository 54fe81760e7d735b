/* Helpers for tests that corrupt weight files on purpose: find a section,
 * and recompute every checksum so a mutation reaches the checks behind them. */
#ifndef VIREO_TESTS_WEIGHTS_UTIL_H
#define VIREO_TESTS_WEIGHTS_UTIL_H

#include <stddef.h>
#include <stdint.h>

#include "formats/crc32c.h"
#include "formats/le.h"

static inline uint8_t *wu_section(uint8_t *b, uint32_t type, uint64_t *size)
{
    uint32_t n = le32(b + 24);
    for (uint32_t i = 0; i < n; i++) {
        uint8_t *e = b + 64 + 32 * i;
        if (le32(e) == type) {
            if (size)
                *size = le64(e + 16);
            return b + le64(e + 8);
        }
    }
    return NULL;
}

static inline void wu_fix_crcs(uint8_t *b, size_t len)
{
    uint32_t n = le32(b + 24);
    for (uint32_t i = 0; i < n && 64 + 32 * (size_t)(i + 1) <= len; i++) {
        uint8_t *e = b + 64 + 32 * i;
        uint64_t off = le64(e + 8), size = le64(e + 16);
        if (off <= len && size <= len - off)
            put32(e + 24, vf_crc32c(0, b + off, size));
    }
    put32(b + 60, vf_crc32c(0, b, 60));
}

#endif
