/* Checked accessors for FlatBuffers binaries (https://flatbuffers.dev,
 * "FlatBuffers internals"), for hostile input.
 *
 * Layout: the buffer starts with a u32 offset to the root table. A table
 * starts with an i32 soffset; its vtable lies at table - soffset and holds u16
 * vtable size, u16 table size, then one u16 per field: the field's offset
 * within the table, 0 when absent (the reader uses the schema default).
 * Offset fields (tables, vectors, strings) hold a u32 added to the field's own
 * position: they only point forward. A vector is a u32 count then its
 * elements; a vector of tables holds one such u32 offset per element. A
 * string is a byte vector followed by a NUL. A union is two fields: a u8 type
 * (0 = none) and then an offset to the table of that type. All little-endian.
 *
 * Every accessor checks what it reads against the buffer before reading it:
 * offsets with overflow-safe arithmetic, tables and vtables and their sizes,
 * each field against the table's size, vector lengths against the bytes
 * left, string terminators, and the alignment the format guarantees (tables,
 * offsets and vector counts 4, vtables 2, scalars their own size). Nothing
 * recurses: the caller walks its schema, whose depth is fixed.
 *
 * Functions return 0, or -1 with a message naming the field (its `what`) and
 * the values that are wrong; the caller adds where it was. */
#ifndef VIREO_FORMATS_FLATBUF_H
#define VIREO_FORMATS_FLATBUF_H

#include <stddef.h>
#include <stdint.h>

typedef struct fb_reader {
    const uint8_t *b;
    size_t len;
    char *err;
    size_t errlen;
} fb_reader;

typedef struct fb_table {
    size_t pos;      /* the table's soffset */
    size_t vt;       /* its vtable */
    uint16_t vtsize; /* bytes of vtable */
    uint16_t tsize;  /* bytes of table, soffset included */
} fb_table;

typedef struct fb_vec {
    size_t pos; /* first element; 0 when absent */
    uint32_t n; /* 0 when absent */
    int present;
} fb_vec;

/* printf-style message into r->err; returns -1. */
int fb_fail(const fb_reader *r, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;
/* Prefixes the message already in r->err with a context; returns -1. */
int fb_context(const fb_reader *r, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

/* The root table; with ident (4 chars) non-NULL, the file identifier that
 * follows the root offset must match it. */
int fb_root(const fb_reader *r, const char *ident, fb_table *t);
int fb_table_at(const fb_reader *r, size_t pos, fb_table *t, const char *what);

/* Position of field `id` holding `size` bytes (1, 2, 4, 8), or 0 if absent. */
int fb_field(const fb_reader *r, const fb_table *t, int id, size_t size, size_t *pos,
             const char *what);

int fb_u8(const fb_reader *r, const fb_table *t, int id, uint8_t def, uint8_t *v, const char *what);
int fb_i8(const fb_reader *r, const fb_table *t, int id, int8_t def, int8_t *v, const char *what);
int fb_u32(const fb_reader *r, const fb_table *t, int id, uint32_t def, uint32_t *v,
           const char *what);
int fb_i32(const fb_reader *r, const fb_table *t, int id, int32_t def, int32_t *v,
           const char *what);
int fb_u64(const fb_reader *r, const fb_table *t, int id, uint64_t def, uint64_t *v,
           const char *what);
int fb_f32(const fb_reader *r, const fb_table *t, int id, float def, float *v, const char *what);

/* The target of offset field `id`; *present = 0 (and *target = 0) if absent. */
int fb_ref(const fb_reader *r, const fb_table *t, int id, size_t *target, int *present,
           const char *what);
/* Sub-table in field `id`; *present = 0 if absent. */
int fb_subtable(const fb_reader *r, const fb_table *t, int id, fb_table *sub, int *present,
                const char *what);
/* Vector of `elem`-byte elements in field `id`; an absent one has n = 0. */
int fb_vector(const fb_reader *r, const fb_table *t, int id, size_t elem, fb_vec *v,
              const char *what);
/* String in field `id`: NUL-terminated in place; NULL (n = 0) if absent. */
int fb_string(const fb_reader *r, const fb_table *t, int id, const char **s, uint32_t *n,
              const char *what);
/* Element i (< v->n) of a vector of tables. */
int fb_vec_table(const fb_reader *r, const fb_vec *v, uint32_t i, fb_table *t, const char *what);

/* Elements of a vector fb_vector has checked, for i < v->n. */
uint8_t fb_vec_u8(const fb_reader *r, const fb_vec *v, uint32_t i);
int32_t fb_vec_i32(const fb_reader *r, const fb_vec *v, uint32_t i);
int64_t fb_vec_i64(const fb_reader *r, const fb_vec *v, uint32_t i);
float fb_vec_f32(const fb_reader *r, const fb_vec *v, uint32_t i);

#endif
