/* The vireo index file (.vix, docs/INDEX_FORMAT.md): bytes in, a vf_index of
 * pointers out, and back. The reader treats every file as hostile; the writer
 * replaces a file crash-safely. State (adding, deleting, the id map) lives in
 * runtime/index.h, which is what callers use. */
#ifndef VIREO_FORMATS_INDEX_FILE_H
#define VIREO_FORMATS_INDEX_FILE_H

#include <stddef.h>
#include <stdint.h>

#include "kernels/codes.h"

/* ------------------------------------------------------ on-disk constants */
#define VF_INDEX_MAGIC "VIREOIX\0"
#define VF_INDEX_VERSION_MAJOR 1
#define VF_INDEX_VERSION_MINOR 1 /* 1.1: code kind 4 (VK_CODE_U8); 1.0 files read as before */
#define VF_INDEX_HEADER_SIZE 128
#define VF_INDEX_SECTION_ENTRY 32
#define VF_INDEX_BYTE_ORDER 0x01020304u
#define VF_INDEX_ALIGN 64
#define VF_INDEX_MAX_SECTIONS 16
#define VF_INDEX_MAX_DIM 65536
/* Rows are u32 in search hits, and the id map keeps UINT32_MAX for "empty". */
#define VF_INDEX_MAX_ROWS 0xfffffffeull
#define VF_INDEX_MAX_TENSORS 64
#define VF_INDEX_MAX_NAME 255
#define VF_INDEX_META_ENTRY 16
#define VF_INDEX_TENSOR_ENTRY 32
/* Header flag: the code parameters are placeholders (a = 1, b = 0) to be
 * fitted by the first add; only in a file without rows. */
#define VF_INDEX_FLAG_UNFITTED 1u

enum {
    VF_IX_META = 1,
    VF_IX_TRANSFORM = 2,
    VF_IX_PARAMS = 3,
    VF_IX_CODES = 4,
    VF_IX_RESCORE = 5,
    VF_IX_IDS = 6,
    VF_IX_DEAD = 7,
    VF_IX_STRINGS = 8,
    VF_IX_SECTION_TYPES
};

/* ------------------------------------------------------------- contents */
typedef struct vf_index_kv {
    const char *key, *value;
} vf_index_kv;

/* A named f32 matrix [rows][cols] (a vector is one row): the fitted
 * transform (whitening mean, projection, ...). */
typedef struct vf_index_tensor {
    const char *name;
    uint32_t rows, cols;
    const float *data;
} vf_index_tensor;

typedef struct vf_index_section {
    uint32_t type;
    uint64_t offset, size;
    uint32_t crc;
} vf_index_section;

/* Everything an index file holds. The reader fills it with pointers into the
 * caller's buffer (kv and tensors are arrays it allocates: vf_index_release);
 * the writer reads one the caller filled. Per-row columns are exactly their
 * on-disk bytes (the host is little-endian, see index_read.c). */
typedef struct vf_index {
    vk_code_kind kind;
    uint32_t dim;    /* stored (scanned) dimension */
    uint32_t dim_in; /* the embedding model's raw output dimension */
    uint64_t n;      /* rows, tombstoned ones included */
    uint64_t ndead;  /* set bits in dead */
    uint64_t generation; /* how many times the file has been saved */
    int unfitted;        /* VF_INDEX_FLAG_UNFITTED */
    vf_index_kv *kv;     /* META entries; "model" is required */
    size_t nkv;
    vf_index_tensor *tensors; /* TRANSFORM; may be empty */
    size_t ntensors;
    const float *a, *b;       /* code parameters, dim each (kernels/codes.h) */
    const uint8_t *codes;     /* n · vk_code_row_bytes(kind, dim) */
    const uint8_t *rescore;   /* n · vk_code_row_bytes(VK_CODE_F16, dim), or NULL */
    const uint64_t *ids;      /* n */
    const uint8_t *dead;      /* (n + 7) / 8 bytes; bits past n zero */
    /* Row i's strings are the record heap[str_off[i], str_off[i+1]):
     * "path\0title\0". str_off has n + 1 entries, str_off[0] = 0,
     * str_off[n] = heap_size. */
    const uint64_t *str_off;
    const char *heap;
    uint64_t heap_size;

    /* Filled by the reader only. */
    int version_major, version_minor;
    uint64_t file_size;
    int nsections;
    vf_index_section sections[VF_INDEX_MAX_SECTIONS];
    int bulk_crc_checked; /* CODES / RESCORE checksums verified */
} vf_index;

/* ---------------------------------------------------------------- reader */
/* Skip the CODES and RESCORE checksums (the bulk of a large file) at parse
 * time; vf_index_check_crcs verifies them later. Every other check runs. */
#define VF_INDEX_SKIP_BULK_CRC 1u

/* Validates buf[0, len) (docs/INDEX_FORMAT.md, "Validation") and fills out.
 * buf must be 64-byte aligned (an mmap is) and outlive out. On failure
 * returns -1 with a message and out holds nothing to release. */
int vf_index_parse(const void *buf, size_t len, unsigned flags, vf_index *out, char *err,
                   size_t errlen);
void vf_index_release(vf_index *ix); /* the reader's arrays; accepts NULL */
/* Recomputes every section's checksum against the table (buf as parsed). */
int vf_index_check_crcs(const vf_index *ix, const void *buf, char *err, size_t errlen);

const char *vf_index_section_name(uint32_t type); /* "CODES", ...; "?" if unknown */

/* ---------------------------------------------------------------- writer */
/* Writes ix to path crash-safely: a temp file in path's directory, written,
 * fsync'd, then read back and validated like any file (bulk checksums aside),
 * renamed over path, and the directory fsync'd. On any failure the temp file
 * is removed and an existing file at path is untouched; readers that have the
 * old file mapped keep reading it intact. A new file takes the old one's
 * permission bits (0644 if none). ix->generation is written as given. */
int vf_index_save(const vf_index *ix, const char *path, char *err, size_t errlen);

#endif
