/* The index store: a catalogue's embeddings as codes (kernels/codes.h), with
 * user ids, per-item path and title, the embedding model's identity and the
 * fitted transform, kept in one file (docs/INDEX_FORMAT.md).
 *
 * Life cycle
 *   vr_index_create  a new, empty index in memory
 *   vr_index_open    a file, memory-mapped read-only and validated; nothing is
 *                    copied until it is modified
 *   vr_index_fit     fit the code parameters on a training set (else the first
 *                    vr_index_add fits them on its batch)
 *   vr_index_add / vr_index_delete / vr_index_compact
 *                    change the index in memory only (copy-on-write: the mapped
 *                    file is never written)
 *   vr_index_save    write the whole index to a file crash-safely (temp file,
 *                    fsync, rename, fsync of the directory); may be the file
 *                    it was opened from: processes that have the old file
 *                    open keep reading it intact
 *   vr_index_view    what vr_index_search (runtime/index_view.h) scans
 *   vr_index_close
 *
 * Errors: functions returning int give 0 or -1 with a message in err (err
 * may be NULL). A failed add / delete / fit leaves the index as it was.
 *
 * Threads: one writer at a time, and no readers while it writes. Any number
 * of threads may read (view, search, accessors, vr_index_find) concurrently.
 *
 * Costs: the first add to an opened index copies its per-row columns (codes,
 * ids, strings) into memory once; later adds append (large columns grow by
 * remapping, without copying). Deleting copies only the tombstone bitmap.
 * Saving rewrites the whole file. */
#ifndef VIREO_RUNTIME_INDEX_H
#define VIREO_RUNTIME_INDEX_H

#include <stddef.h>
#include <stdint.h>

#include "kernels/codes.h"
#include "runtime/index_view.h"

typedef struct vr_index vr_index;

/* A named f32 matrix [rows][cols] stored with the index; a vector is one row.
 * The store keeps them for whoever fitted them (e.g. "whiten.mean" [1][dim_in],
 * "whiten.proj" [dim][dim_in]) and does not interpret them. */
typedef struct vr_index_tensor {
    const char *name; /* 1..255 bytes, unique */
    size_t rows, cols;
    const float *data;
} vr_index_tensor;

/* Free-form metadata: key 1..255 bytes, unique. Keys the store sets itself:
 * "model" (from vr_index_params.model) and "created" (UTC, ISO 8601, at
 * vr_index_create unless given). The CLI may add its own (e.g.
 * "transform" = "l2,whiten,l2"). */
typedef struct vr_index_kv {
    const char *key, *value;
} vr_index_kv;

typedef struct vr_index_params {
    vk_code_kind kind;   /* codes scanned: F32, S8, U4 or F16 */
    size_t dim_in;       /* the model's raw embedding dimension */
    size_t dim;          /* stored dimension (after the transform) */
    const char *model;   /* identity of the embedding model (e.g. file name and
                            content CRC; a list for ensembles), non-empty */
    int rescore;         /* also keep an F16 copy of every row for exact
                            re-scoring (S8 / U4 only) */
    const float *a, *b;  /* code parameters (dim each), or NULL: fitted later */
    const vr_index_tensor *tensors; /* the transform; may be NULL */
    size_t ntensors;
    const vr_index_kv *kv; /* extra metadata; may be NULL */
    size_t nkv;
} vr_index_params;

int vr_index_create(const vr_index_params *p, vr_index **out, char *err, size_t errlen);

/* Skip the CODES / RESCORE checksums at open: they read every code (about
 * 0.5 s of CPU per GiB here, docs/INDEX_FORMAT.md "Measurements"), where
 * everything else takes milliseconds. vr_index_verify checks them later.
 * Every structural check still runs. */
#define VR_INDEX_OPEN_SKIP_BULK_CRC 1u

int vr_index_open(const char *path, unsigned flags, vr_index **out, char *err, size_t errlen);
void vr_index_close(vr_index *ix); /* accepts NULL */

/* Fits the code parameters (vk_code_fit) on n training rows x[n·dim] in the
 * stored space. Only while the index has no rows. For F32 / F16 there is
 * nothing to fit (a = 1, b = 0). */
int vr_index_fit(vr_index *ix, const float *x, size_t n, char *err, size_t errlen);

/* Appends n rows x[n·dim] (stored space, finite) with their ids; paths and
 * titles may be NULL (all empty) or hold NULL entries (empty). Refused as a
 * whole if an id is already live in the index or repeats in the batch, or a
 * value is not finite. If the parameters were never fitted, they are fitted
 * on this batch first. Rows out of the fitted range are clamped. */
int vr_index_add(vr_index *ix, size_t n, const float *x, const uint64_t *ids,
                 const char *const *paths, const char *const *titles, char *err, size_t errlen);

/* Tombstones the live rows holding ids[0..n). Ids not live in the index
 * (never added, already deleted, or repeated in ids) are skipped, not an
 * error: *deleted (may be NULL) counts the rows deleted, and found (may be
 * NULL, n entries) says per id whether it deleted a row. A deleted id may be
 * added again. */
int vr_index_delete(vr_index *ix, const uint64_t *ids, size_t n, size_t *deleted, uint8_t *found,
                    char *err, size_t errlen);

/* Drops the tombstoned rows; the survivors keep their order, rows are
 * renumbered. */
int vr_index_compact(vr_index *ix, char *err, size_t errlen);

int vr_index_save(vr_index *ix, const char *path, char *err, size_t errlen);

/* Every section checksum of the file the index was opened from (the bulk ones
 * included), and that no id is live twice. 0 for an index not from a file
 * (nothing to check but the ids). */
int vr_index_verify(vr_index *ix, char *err, size_t errlen);

/* The scan's view; valid until the index is modified or closed. */
void vr_index_get_view(const vr_index *ix, vr_index_view *v);

/* ------------------------------------------------------------ accessors */
size_t vr_index_rows(const vr_index *ix); /* including tombstoned rows */
size_t vr_index_live(const vr_index *ix);
size_t vr_index_dim(const vr_index *ix);
size_t vr_index_dim_in(const vr_index *ix);
vk_code_kind vr_index_kind(const vr_index *ix);
const char *vr_index_model(const vr_index *ix);
/* Per row (row < vr_index_rows; otherwise 0 / NULL / 1). Strings are never
 * NULL for a valid row (empty when none was given). */
uint64_t vr_index_id(const vr_index *ix, size_t row);
const char *vr_index_path(const vr_index *ix, size_t row);
const char *vr_index_title(const vr_index *ix, size_t row);
int vr_index_is_dead(const vr_index *ix, size_t row);
/* The live row holding id: 1 found (row in *row), 0 not found, -1 error (out
 * of memory, or a file holding an id live twice). The first call builds the
 * id map (O(rows)). */
int vr_index_find(const vr_index *ix, uint64_t id, size_t *row, char *err, size_t errlen);
/* Metadata: the value for key, or NULL. */
const char *vr_index_meta(const vr_index *ix, const char *key);
size_t vr_index_meta_count(const vr_index *ix);
vr_index_kv vr_index_meta_at(const vr_index *ix, size_t i);
/* Transform tensors: by name (NULL if absent) or position. Data is valid
 * while the index is open. */
size_t vr_index_tensor_count(const vr_index *ix);
int vr_index_tensor_at(const vr_index *ix, size_t i, vr_index_tensor *t);
int vr_index_tensor_find(const vr_index *ix, const char *name, vr_index_tensor *t); /* 1 / 0 */

/* For `vireo index info`. */
typedef struct vr_index_section_info {
    const char *name; /* "CODES", ... */
    uint64_t offset, size;
    uint32_t crc;
} vr_index_section_info;

typedef struct vr_index_info {
    vk_code_kind kind;
    size_t dim, dim_in;
    size_t rows, live, dead;
    int rescore;       /* has the F16 copy */
    int fitted;        /* code parameters fitted (or given) */
    int modified;      /* changed since created / opened / saved */
    const char *model;
    uint64_t generation;   /* saves so far (of the file it came from, plus this one's) */
    size_t code_bytes, rescore_bytes, string_bytes; /* in memory or in the file */
    /* The file it was opened from (file_size 0 if none): */
    uint64_t file_size;
    int version_major, version_minor;
    int bulk_crc_checked;
    int nsections;
    vr_index_section_info sections[16]; /* VF_INDEX_MAX_SECTIONS */
} vr_index_info;

void vr_index_get_info(const vr_index *ix, vr_index_info *info);

#endif
