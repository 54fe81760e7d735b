/* Checked FlatBuffers accessors (flatbuf.h). Positions are size_t values
 * already known to be < len; every addition is compared against what is
 * left of the buffer before it is made. */
#include "flatbuf.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "le.h"

int fb_fail(const fb_reader *r, const char *fmt, ...)
{
    if (r->err && r->errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(r->err, r->errlen, fmt, ap);
        va_end(ap);
    }
    return -1;
}

int fb_context(const fb_reader *r, const char *fmt, ...)
{
    if (!r->err || !r->errlen)
        return -1;
    char inner[512], ctx[256];
    snprintf(inner, sizeof inner, "%s", r->err);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(ctx, sizeof ctx, fmt, ap);
    va_end(ap);
    snprintf(r->err, r->errlen, "%s: %s", ctx, inner);
    return -1;
}

/* Is [pos, pos + n) inside the buffer? */
static int inside(const fb_reader *r, size_t pos, size_t n) { return pos <= r->len && n <= r->len - pos; }

int fb_table_at(const fb_reader *r, size_t pos, fb_table *t, const char *what)
{
    if (!inside(r, pos, 4))
        return fb_fail(r, "%s: table at %zu lies outside the buffer (%zu bytes)", what, pos, r->len);
    if (pos % 4)
        return fb_fail(r, "%s: table at %zu is not 4-byte aligned", what, pos);
    int64_t vt = (int64_t)pos - (int64_t)(int32_t)le32(r->b + pos);
    if (vt < 0 || !inside(r, (size_t)vt, 4))
        return fb_fail(r, "%s: vtable of the table at %zu (soffset %d) lies outside the buffer",
                       what, pos, (int32_t)le32(r->b + pos));
    if (vt % 2)
        return fb_fail(r, "%s: vtable at %lld is not 2-byte aligned", what, (long long)vt);
    t->pos = pos;
    t->vt = (size_t)vt;
    t->vtsize = le16(r->b + t->vt);
    t->tsize = le16(r->b + t->vt + 2);
    if (t->vtsize < 4 || t->vtsize % 2 || !inside(r, t->vt, t->vtsize))
        return fb_fail(r, "%s: vtable at %zu has size %u (needs an even size >= 4 inside the buffer)",
                       what, t->vt, t->vtsize);
    if (t->tsize < 4 || !inside(r, pos, t->tsize))
        return fb_fail(r, "%s: table at %zu has size %u (needs >= 4 inside the buffer)", what, pos,
                       t->tsize);
    return 0;
}

int fb_root(const fb_reader *r, const char *ident, fb_table *t)
{
    size_t need = ident ? 8 : 4;
    if (r->len < need)
        return fb_fail(r, "buffer too short for a FlatBuffer: %zu bytes, need %zu", r->len, need);
    if (ident && memcmp(r->b + 4, ident, 4) != 0)
        return fb_fail(r, "file identifier is not \"%.4s\"", ident);
    uint32_t root = le32(r->b);
    if (root < need || !inside(r, root, 4))
        return fb_fail(r, "root table offset %u outside the buffer (%zu bytes)", root, r->len);
    return fb_table_at(r, root, t, "root");
}

int fb_field(const fb_reader *r, const fb_table *t, int id, size_t size, size_t *pos,
             const char *what)
{
    *pos = 0;
    size_t slot = 4 + 2 * (size_t)id;
    if (slot + 2 > t->vtsize)
        return 0; /* the vtable predates this field */
    uint16_t off = le16(r->b + t->vt + slot);
    if (!off)
        return 0;
    if ((size_t)off + size > t->tsize)
        return fb_fail(r, "%s: field at table offset %u (%zu bytes) outside the table's %u bytes",
                       what, off, size, t->tsize);
    size_t p = t->pos + off;
    if (p % size)
        return fb_fail(r, "%s: %zu-byte field at %zu is not aligned", what, size, p);
    *pos = p;
    return 0;
}

#define SCALAR(fn, T, size, load)                                                                  \
    int fn(const fb_reader *r, const fb_table *t, int id, T def, T *v, const char *what)           \
    {                                                                                              \
        size_t p;                                                                                  \
        if (fb_field(r, t, id, size, &p, what))                                                    \
            return -1;                                                                             \
        *v = p ? (T)(load) : def;                                                                  \
        return 0;                                                                                  \
    }
SCALAR(fb_u8, uint8_t, 1, r->b[p])
SCALAR(fb_i8, int8_t, 1, (int8_t)r->b[p])
SCALAR(fb_u32, uint32_t, 4, le32(r->b + p))
SCALAR(fb_i32, int32_t, 4, (int32_t)le32(r->b + p))
SCALAR(fb_u64, uint64_t, 8, le64(r->b + p))
SCALAR(fb_f32, float, 4, lef32(r->b + p))
#undef SCALAR

/* Follows the u32 offset stored at p. */
static int follow(const fb_reader *r, size_t p, size_t *target, const char *what)
{
    *target = 0;
    uint32_t off = le32(r->b + p);
    if (off == 0 || !inside(r, p, off) || !inside(r, p + off, 4))
        return fb_fail(r, "%s: offset %u at %zu points outside the buffer (%zu bytes)", what, off,
                       p, r->len);
    *target = p + off;
    if (*target % 4)
        return fb_fail(r, "%s: target %zu is not 4-byte aligned", what, *target);
    return 0;
}

int fb_ref(const fb_reader *r, const fb_table *t, int id, size_t *target, int *present,
           const char *what)
{
    size_t p;
    *target = 0;
    *present = 0;
    if (fb_field(r, t, id, 4, &p, what))
        return -1;
    if (!p)
        return 0;
    if (follow(r, p, target, what))
        return -1;
    *present = 1;
    return 0;
}

int fb_subtable(const fb_reader *r, const fb_table *t, int id, fb_table *sub, int *present,
                const char *what)
{
    size_t target;
    if (fb_ref(r, t, id, &target, present, what))
        return -1;
    return *present ? fb_table_at(r, target, sub, what) : 0;
}

int fb_vector(const fb_reader *r, const fb_table *t, int id, size_t elem, fb_vec *v,
              const char *what)
{
    size_t target;
    v->pos = 0;
    v->n = 0;
    if (fb_ref(r, t, id, &target, &v->present, what))
        return -1;
    if (!v->present)
        return 0;
    uint32_t n = le32(r->b + target);
    size_t room = r->len - target - 4; /* target + 4 <= len: checked by follow */
    if (n > room / elem)
        return fb_fail(r, "%s: vector of %u x %zu bytes at %zu runs past the end of the buffer "
                          "(%zu bytes)", what, n, elem, target, r->len);
    v->pos = target + 4;
    v->n = n;
    return 0;
}

int fb_string(const fb_reader *r, const fb_table *t, int id, const char **s, uint32_t *n,
              const char *what)
{
    fb_vec v;
    *s = NULL;
    *n = 0;
    if (fb_vector(r, t, id, 1, &v, what))
        return -1;
    if (!v.present)
        return 0;
    if (v.n >= r->len - v.pos)
        return fb_fail(r, "%s: string of %u bytes at %zu has no room for its NUL terminator", what,
                       v.n, v.pos - 4);
    if (r->b[v.pos + v.n] != 0)
        return fb_fail(r, "%s: string of %u bytes at %zu is not NUL-terminated", what, v.n,
                       v.pos - 4);
    *s = (const char *)r->b + v.pos;
    *n = v.n;
    return 0;
}

int fb_vec_table(const fb_reader *r, const fb_vec *v, uint32_t i, fb_table *t, const char *what)
{
    size_t target = 0;
    if (follow(r, v->pos + 4 * (size_t)i, &target, what))
        return -1;
    return fb_table_at(r, target, t, what);
}

uint8_t fb_vec_u8(const fb_reader *r, const fb_vec *v, uint32_t i) { return r->b[v->pos + i]; }
int32_t fb_vec_i32(const fb_reader *r, const fb_vec *v, uint32_t i)
{
    return (int32_t)le32(r->b + v->pos + 4 * (size_t)i);
}
int64_t fb_vec_i64(const fb_reader *r, const fb_vec *v, uint32_t i)
{
    return (int64_t)le64(r->b + v->pos + 8 * (size_t)i);
}
float fb_vec_f32(const fb_reader *r, const fb_vec *v, uint32_t i)
{
    return lef32(r->b + v->pos + 4 * (size_t)i);
}
