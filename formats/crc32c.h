/* CRC-32C (Castagnoli), the checksum of vireo's file formats. */
#ifndef VIREO_FORMATS_CRC32C_H
#define VIREO_FORMATS_CRC32C_H
#include <stddef.h>
#include <stdint.h>

/* crc32c(0, p, n) for a whole buffer; pass the previous result to continue. */
uint32_t vf_crc32c(uint32_t crc, const void *p, size_t n);

#endif
