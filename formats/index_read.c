/* Index file reader: every count, offset and size is checked against the
 * file's length with overflow-safe arithmetic before anything it points at is
 * read (docs/INDEX_FORMAT.md, "Validation"). Allocations are bounded by the
 * section sizes, which are bounded by the file. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "crc32c.h"
#include "errmsg.h"
#include "index_file.h"
#include "le.h"

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "index rows are used in place: a big-endian host would need a byte-swapping reader"
#endif

#define FAIL(...) return vf_fail(err, errlen, __VA_ARGS__)

typedef unsigned long long ull;

static const char *const section_names[VF_IX_SECTION_TYPES] = {
    NULL, "META", "TRANSFORM", "PARAMS", "CODES", "RESCORE", "IDS", "DEAD", "STRINGS"};

const char *vf_index_section_name(uint32_t type)
{
    return type > 0 && type < VF_IX_SECTION_TYPES ? section_names[type] : "?";
}

static int all_zero(const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (p[i])
            return 0;
    return 1;
}

typedef struct {
    const uint8_t *p;
    uint64_t size;
    int present;
} sec_ref;

/* A string (off, len) inside a section of size n: in range, NUL right after,
 * no NUL within. */
static const char *sec_string(const uint8_t *sec, uint64_t n, uint64_t off, uint64_t len)
{
    if (off > n || len >= n - off)
        return NULL;
    const char *s = (const char *)sec + off;
    if (s[len] != 0 || memchr(s, 0, len))
        return NULL;
    return s;
}

static int parse_header(const uint8_t *h, size_t len, vf_index *ix, char *err, size_t errlen)
{
    if (len == 0)
        FAIL("empty file: not a vireo index");
    if (memcmp(h, VF_INDEX_MAGIC, len < 8 ? len : 8) != 0)
        FAIL("bad magic: not a vireo index file");
    if (len < VF_INDEX_HEADER_SIZE)
        FAIL("truncated: %zu bytes, shorter than the %d-byte header", len, VF_INDEX_HEADER_SIZE);
    uint32_t bom = le32(h + 16);
    if (bom == 0x04030201u)
        FAIL("byte-order mark says big-endian: this reader reads little-endian index files only");
    if (bom != VF_INDEX_BYTE_ORDER)
        FAIL("bad byte-order mark 0x%08x", bom);
    ix->version_major = le16(h + 8);
    ix->version_minor = le16(h + 10);
    if (ix->version_major != VF_INDEX_VERSION_MAJOR)
        FAIL("unsupported index version %d.%d (this reader knows %d.x)", ix->version_major,
             ix->version_minor, VF_INDEX_VERSION_MAJOR);
    if (le32(h + 12) != VF_INDEX_HEADER_SIZE)
        FAIL("header_size %u, expected %d", le32(h + 12), VF_INDEX_HEADER_SIZE);
    uint32_t nsec = le32(h + 20);
    if (nsec < 1 || nsec > VF_INDEX_MAX_SECTIONS)
        FAIL("section_count %u out of range 1..%d", nsec, VF_INDEX_MAX_SECTIONS);
    size_t table_end = VF_INDEX_HEADER_SIZE + (size_t)nsec * VF_INDEX_SECTION_ENTRY;
    if (table_end > len)
        FAIL("truncated: the section table ends at byte %zu, past the file's %zu bytes", table_end,
             len);
    uint32_t crc = vf_crc32c(0, h, 124);
    crc = vf_crc32c(crc, h + VF_INDEX_HEADER_SIZE, table_end - VF_INDEX_HEADER_SIZE);
    if (le32(h + 124) != crc)
        FAIL("header checksum mismatch (stored %08x, computed %08x): header or section table "
             "corrupt",
             le32(h + 124), crc);
    if (!all_zero(h + 80, 44))
        FAIL("reserved header bytes are not zero");
    uint32_t hflags = le32(h + 68);
    if (hflags & ~VF_INDEX_FLAG_UNFITTED)
        FAIL("header flags 0x%x: unknown bits", hflags);
    ix->unfitted = (hflags & VF_INDEX_FLAG_UNFITTED) != 0;
    uint64_t fsize = le64(h + 24);
    if (fsize > len)
        FAIL("truncated: the header says %llu bytes, the file has %zu", (ull)fsize, len);
    if (fsize < len)
        FAIL("file_size field %llu but the file has %zu bytes (trailing bytes)", (ull)fsize, len);
    ix->file_size = fsize;
    if (le64(h + 32) != VF_INDEX_HEADER_SIZE)
        FAIL("section_table_offset %llu, expected %d", (ull)le64(h + 32), VF_INDEX_HEADER_SIZE);
    ix->n = le64(h + 40);
    ix->ndead = le64(h + 48);
    ix->dim = le32(h + 56);
    ix->dim_in = le32(h + 60);
    uint32_t kind = le32(h + 64);
    ix->generation = le64(h + 72);
    if (kind >= VK_CODE_KINDS || !vk_code_name((vk_code_kind)kind))
        FAIL("unknown code kind %u", kind);
    ix->kind = (vk_code_kind)kind;
    if (ix->dim < 1 || ix->dim > VF_INDEX_MAX_DIM)
        FAIL("dim %u out of range 1..%d", ix->dim, VF_INDEX_MAX_DIM);
    if (ix->dim_in < 1 || ix->dim_in > VF_INDEX_MAX_DIM)
        FAIL("dim_in %u out of range 1..%d", ix->dim_in, VF_INDEX_MAX_DIM);
    if (ix->n > VF_INDEX_MAX_ROWS)
        FAIL("row count %llu over the limit %llu", (ull)ix->n, (ull)VF_INDEX_MAX_ROWS);
    if (ix->ndead > ix->n)
        FAIL("dead count %llu exceeds the row count %llu", (ull)ix->ndead, (ull)ix->n);
    if (ix->unfitted && ix->n)
        FAIL("the header says the code parameters are not fitted yet, but there are %llu rows",
             (ull)ix->n);
    ix->nsections = (int)nsec;
    return 0;
}

static int parse_sections(const uint8_t *base, size_t len, unsigned flags, vf_index *ix,
                          sec_ref *sec, char *err, size_t errlen)
{
    uint64_t prev_end = VF_INDEX_HEADER_SIZE + (uint64_t)ix->nsections * VF_INDEX_SECTION_ENTRY;
    for (int i = 0; i < ix->nsections; i++) {
        const uint8_t *e = base + VF_INDEX_HEADER_SIZE + (size_t)i * VF_INDEX_SECTION_ENTRY;
        vf_index_section s = {le32(e), le64(e + 8), le64(e + 16), le32(e + 24)};
        ix->sections[i] = s;
        const char *name = vf_index_section_name(s.type);
        if (le32(e + 4) != 0 || le32(e + 28) != 0)
            FAIL("section %d (%s): flags/reserved not zero", i, name);
        int known = s.type > 0 && s.type < VF_IX_SECTION_TYPES;
        if (!known && ix->version_minor <= VF_INDEX_VERSION_MINOR)
            FAIL("section %d: unknown type %u", i, s.type);
        if (known && sec[s.type].present)
            FAIL("section %d: a second %s section", i, name);
        if (s.offset % VF_INDEX_ALIGN)
            FAIL("%s section: offset %llu not a multiple of %d", name, (ull)s.offset,
                 VF_INDEX_ALIGN);
        if (s.offset > UINT64_MAX - s.size)
            FAIL("%s section: offset %llu + size %llu overflows", name, (ull)s.offset,
                 (ull)s.size);
        if (s.offset + s.size > len)
            FAIL("truncated: %s section ends at byte %llu past the file's %zu bytes", name,
                 (ull)(s.offset + s.size), len);
        if (s.offset < prev_end)
            FAIL("%s section at byte %llu overlaps the previous section or the table (ends at "
                 "%llu); sections must be in increasing offset order",
                 name, (ull)s.offset, (ull)prev_end);
        prev_end = s.offset + s.size;
        int bulk = s.type == VF_IX_CODES || s.type == VF_IX_RESCORE;
        if (known && !(bulk && (flags & VF_INDEX_SKIP_BULK_CRC))) {
            uint32_t crc = vf_crc32c(0, base + s.offset, s.size);
            if (crc != s.crc)
                FAIL("%s section checksum mismatch (stored %08x, computed %08x): the file is "
                     "corrupt",
                     name, s.crc, crc);
        }
        if (known)
            sec[s.type] = (sec_ref){base + s.offset, s.size, 1};
    }
    static const int required[] = {VF_IX_META, VF_IX_PARAMS, VF_IX_CODES,
                                   VF_IX_IDS,  VF_IX_DEAD,   VF_IX_STRINGS};
    for (size_t r = 0; r < sizeof required / sizeof *required; r++)
        if (!sec[required[r]].present)
            FAIL("missing %s section", section_names[required[r]]);
    ix->bulk_crc_checked = !(flags & VF_INDEX_SKIP_BULK_CRC);
    return 0;
}

/* Each per-row section must be exactly n rows of its size. */
static int check_row_section(const char *name, uint64_t size, uint64_t n, uint64_t row,
                             char *err, size_t errlen)
{
    uint64_t want;
    if (__builtin_mul_overflow(n, row, &want))
        FAIL("%s: %llu rows of %llu bytes overflow", name, (ull)n, (ull)row);
    if (size != want)
        FAIL("%s section holds %llu bytes; %llu rows of %llu bytes need %llu", name, (ull)size,
             (ull)n, (ull)row, (ull)want);
    return 0;
}

static int parse_meta(const sec_ref *s, vf_index *ix, char *err, size_t errlen)
{
    if (s->size < 8)
        FAIL("META section too short (%llu bytes)", (ull)s->size);
    uint32_t count = le32(s->p);
    if (le32(s->p + 4) != 0)
        FAIL("META: reserved field not zero");
    if ((uint64_t)count * VF_INDEX_META_ENTRY + 8 > s->size)
        FAIL("META: %u entries need %llu bytes, the section has %llu", count,
             (ull)count * VF_INDEX_META_ENTRY + 8, (ull)s->size);
    if (count == 0)
        FAIL("META: no entries (the \"model\" key is required)");
    ix->kv = calloc(count, sizeof *ix->kv);
    if (!ix->kv)
        FAIL("out of memory (%u META entries)", count);
    ix->nkv = count;
    int have_model = 0;
    for (uint32_t i = 0; i < count; i++) {
        const uint8_t *e = s->p + 8 + (size_t)i * VF_INDEX_META_ENTRY;
        uint32_t klen = le32(e + 4);
        const char *k = sec_string(s->p, s->size, le32(e), klen);
        const char *v = sec_string(s->p, s->size, le32(e + 8), le32(e + 12));
        if (!k || klen < 1 || klen > VF_INDEX_MAX_NAME)
            FAIL("META entry %u: bad key reference (out of range, not NUL-terminated, contains a "
                 "NUL, or not 1..%d bytes)",
                 i, VF_INDEX_MAX_NAME);
        if (!v)
            FAIL("META entry %u ('%s'): bad value reference", i, k);
        for (uint32_t j = 0; j < i; j++)
            if (!strcmp(ix->kv[j].key, k))
                FAIL("META: duplicate key '%s'", k);
        ix->kv[i] = (vf_index_kv){k, v};
        if (!strcmp(k, "model")) {
            if (!*v)
                FAIL("META: empty \"model\" value");
            have_model = 1;
        }
    }
    if (!have_model)
        FAIL("META: no \"model\" key (the embedding model's identity)");
    return 0;
}

static int parse_transform(const sec_ref *s, vf_index *ix, char *err, size_t errlen)
{
    if (!s->present)
        return 0;
    if (s->size < 8)
        FAIL("TRANSFORM section too short (%llu bytes)", (ull)s->size);
    uint32_t count = le32(s->p);
    if (le32(s->p + 4) != 0)
        FAIL("TRANSFORM: reserved field not zero");
    if (count < 1 || count > VF_INDEX_MAX_TENSORS)
        FAIL("TRANSFORM: tensor count %u out of range 1..%d", count, VF_INDEX_MAX_TENSORS);
    uint64_t table_end = 8 + (uint64_t)count * VF_INDEX_TENSOR_ENTRY;
    if (table_end > s->size)
        FAIL("TRANSFORM: %u entries need %llu bytes, the section has %llu", count,
             (ull)table_end, (ull)s->size);
    ix->tensors = calloc(count, sizeof *ix->tensors);
    uint64_t *start = calloc(count, sizeof *start), *end = calloc(count, sizeof *end);
    if (!ix->tensors || !start || !end) {
        free(start);
        free(end);
        FAIL("out of memory");
    }
    ix->ntensors = count;
    int rc = 0;
    uint64_t first_data = s->size;
    for (uint32_t i = 0; i < count && !rc; i++) {
        const uint8_t *e = s->p + 8 + (size_t)i * VF_INDEX_TENSOR_ENTRY;
        uint32_t rows = le32(e + 8), cols = le32(e + 12);
        uint64_t off = le64(e + 16), bytes = 0;
        if (le64(e + 24) != 0)
            rc = vf_fail(err, errlen, "TRANSFORM entry %u: reserved field not zero", i);
        else if (rows < 1 || cols < 1)
            rc = vf_fail(err, errlen, "TRANSFORM entry %u: shape %u x %u has a zero", i, rows,
                         cols);
        else if (__builtin_mul_overflow((uint64_t)rows * cols, (uint64_t)4, &bytes))
            rc = vf_fail(err, errlen, "TRANSFORM entry %u: %u x %u floats overflow", i, rows, cols);
        else if (off % VF_INDEX_ALIGN || off < table_end || off > s->size ||
                 bytes > s->size - off)
            rc = vf_fail(err, errlen,
                         "TRANSFORM entry %u: data [%llu, +%llu) not 64-aligned after the entry "
                         "table and inside the section (%llu bytes)",
                         i, (ull)off, (ull)bytes, (ull)s->size);
        if (rc)
            break;
        start[i] = off;
        end[i] = off + bytes;
        if (off < first_data)
            first_data = off;
        ix->tensors[i] = (vf_index_tensor){NULL, rows, cols, (const float *)(s->p + off)};
    }
    for (uint32_t i = 0; i < count && !rc; i++)
        for (uint32_t j = 0; j < i && !rc; j++)
            if (start[i] < end[j] && start[j] < end[i])
                rc = vf_fail(err, errlen, "TRANSFORM: data of entries %u and %u overlap", j, i);
    free(start);
    free(end);
    if (rc)
        return rc;
    /* Names live between the entry table and the first tensor's data. */
    for (uint32_t i = 0; i < count; i++) {
        const uint8_t *e = s->p + 8 + (size_t)i * VF_INDEX_TENSOR_ENTRY;
        uint32_t noff = le32(e), nlen = le32(e + 4);
        const char *name = sec_string(s->p, first_data, noff, nlen);
        if (!name || noff < table_end || nlen < 1 || nlen > VF_INDEX_MAX_NAME)
            FAIL("TRANSFORM entry %u: bad name reference", i);
        for (uint32_t j = 0; j < i; j++)
            if (!strcmp(ix->tensors[j].name, name))
                FAIL("TRANSFORM: duplicate tensor name '%s'", name);
        ix->tensors[i].name = name;
        const vf_index_tensor *t = &ix->tensors[i];
        size_t nval = (size_t)t->rows * t->cols;
        for (size_t k = 0; k < nval; k++)
            if (!isfinite(t->data[k]))
                FAIL("TRANSFORM tensor '%s': value %zu is not finite", name, k);
    }
    return 0;
}

static int parse_params(const sec_ref *s, vf_index *ix, char *err, size_t errlen)
{
    if (s->size != 8ull * ix->dim)
        FAIL("PARAMS section holds %llu bytes; dim %u needs %llu", (ull)s->size, ix->dim,
             8ull * ix->dim);
    ix->a = (const float *)s->p;
    ix->b = (const float *)s->p + ix->dim;
    for (uint32_t d = 0; d < ix->dim; d++)
        if (!isfinite(ix->a[d]) || !(ix->a[d] > 0) || !isfinite(ix->b[d]))
            FAIL("PARAMS: dimension %u has a = %g, b = %g (a must be finite and > 0, b finite)",
                 d, ix->a[d], ix->b[d]);
    return 0;
}

static int parse_dead(const sec_ref *s, vf_index *ix, char *err, size_t errlen)
{
    uint64_t bytes = (ix->n + 7) / 8;
    if (s->size != bytes)
        FAIL("DEAD section holds %llu bytes; %llu rows need %llu", (ull)s->size, (ull)ix->n,
             (ull)bytes);
    ix->dead = s->p;
    if (ix->n % 8 && (s->p[bytes - 1] >> (ix->n % 8)))
        FAIL("DEAD: bits set past row %llu", (ull)ix->n);
    uint64_t set = 0;
    for (uint64_t i = 0; i < bytes; i++)
        set += (uint64_t)__builtin_popcount(s->p[i]);
    if (set != ix->ndead)
        FAIL("DEAD: %llu rows marked deleted, the header says %llu", (ull)set, (ull)ix->ndead);
    return 0;
}

static int parse_strings(const sec_ref *s, vf_index *ix, char *err, size_t errlen)
{
    if (s->size < 16)
        FAIL("STRINGS section too short (%llu bytes)", (ull)s->size);
    uint64_t count = le64(s->p), heap = le64(s->p + 8);
    if (count != ix->n)
        FAIL("STRINGS: %llu records for %llu rows", (ull)count, (ull)ix->n);
    /* n ≤ VF_INDEX_MAX_ROWS, so the offsets table size cannot overflow. */
    uint64_t table = 16 + 8 * (count + 1);
    if (table > s->size || heap != s->size - table)
        FAIL("STRINGS: section holds %llu bytes; %llu offsets and a %llu-byte heap need %llu",
             (ull)s->size, (ull)(count + 1), (ull)heap,
             table > UINT64_MAX - heap ? (ull)UINT64_MAX : (ull)(table + heap));
    ix->str_off = (const uint64_t *)(s->p + 16);
    ix->heap = (const char *)s->p + table;
    ix->heap_size = heap;
    if (ix->str_off[0] != 0 || ix->str_off[count] != heap)
        FAIL("STRINGS: offsets must run from 0 to the heap size %llu (found %llu .. %llu)",
             (ull)heap, (ull)ix->str_off[0], (ull)ix->str_off[count]);
    for (uint64_t i = 0; i < count; i++) {
        uint64_t o = ix->str_off[i], e = ix->str_off[i + 1];
        if (e < o || e - o < 2 || e > heap)
            FAIL("STRINGS: record %llu [%llu, %llu) is not a range of at least 2 bytes in the "
                 "heap",
                 (ull)i, (ull)o, (ull)e);
        const char *r = ix->heap + o;
        size_t rlen = (size_t)(e - o);
        const char *nul = r[rlen - 1] == 0 ? memchr(r, 0, rlen) : NULL;
        size_t path_len = nul ? (size_t)(nul - r) : rlen - 1;
        if (!nul || path_len == rlen - 1 || memchr(nul + 1, 0, rlen - 2 - path_len))
            FAIL("STRINGS: record %llu is not \"path\\0title\\0\" (needs exactly two NULs, the "
                 "last at its end)",
                 (ull)i);
    }
    return 0;
}

/* Padding between sections and after the last one is zero, so that no byte of
 * a file escapes every check (sections are sorted: parse_sections). */
static int check_padding(const uint8_t *base, size_t len, const vf_index *ix, char *err,
                         size_t errlen)
{
    uint64_t pos = VF_INDEX_HEADER_SIZE + (uint64_t)ix->nsections * VF_INDEX_SECTION_ENTRY;
    for (int i = 0; i <= ix->nsections; i++) {
        uint64_t next = i < ix->nsections ? ix->sections[i].offset : len;
        if (!all_zero(base + pos, (size_t)(next - pos)))
            FAIL("non-zero padding bytes in [%llu, %llu)", (ull)pos, (ull)next);
        if (i < ix->nsections)
            pos = ix->sections[i].offset + ix->sections[i].size;
    }
    return 0;
}

int vf_index_parse(const void *buf, size_t len, unsigned flags, vf_index *out, char *err,
                   size_t errlen)
{
    memset(out, 0, sizeof *out);
    if ((uintptr_t)buf % VF_INDEX_ALIGN)
        FAIL("index buffer not %d-byte aligned", VF_INDEX_ALIGN);
    const uint8_t *base = buf;
    vf_index ix = {0};
    sec_ref sec[VF_IX_SECTION_TYPES] = {{0}};
    size_t row = 0, f16row = vk_code_row_bytes(VK_CODE_F16, 1);
    int rc = parse_header(base, len, &ix, err, errlen);
    if (!rc)
        rc = parse_sections(base, len, flags, &ix, sec, err, errlen);
    if (!rc) {
        row = vk_code_row_bytes(ix.kind, ix.dim);
        f16row = vk_code_row_bytes(VK_CODE_F16, ix.dim);
        if (!row || !f16row)
            rc = vf_fail(err, errlen, "no row layout for %s codes of dim %u",
                         vk_code_name(ix.kind), ix.dim);
    }
    if (!rc)
        rc = check_row_section("CODES", sec[VF_IX_CODES].size, ix.n, row, err, errlen);
    if (!rc && sec[VF_IX_RESCORE].present)
        rc = check_row_section("RESCORE", sec[VF_IX_RESCORE].size, ix.n, f16row, err, errlen);
    if (!rc)
        rc = check_row_section("IDS", sec[VF_IX_IDS].size, ix.n, 8, err, errlen);
    if (!rc)
        rc = parse_meta(&sec[VF_IX_META], &ix, err, errlen);
    if (!rc)
        rc = parse_transform(&sec[VF_IX_TRANSFORM], &ix, err, errlen);
    if (!rc)
        rc = parse_params(&sec[VF_IX_PARAMS], &ix, err, errlen);
    if (!rc)
        rc = parse_dead(&sec[VF_IX_DEAD], &ix, err, errlen);
    if (!rc)
        rc = parse_strings(&sec[VF_IX_STRINGS], &ix, err, errlen);
    if (!rc)
        rc = check_padding(base, len, &ix, err, errlen);
    if (rc) {
        vf_index_release(&ix);
        return rc;
    }
    ix.codes = sec[VF_IX_CODES].p;
    ix.rescore = sec[VF_IX_RESCORE].present ? sec[VF_IX_RESCORE].p : NULL;
    ix.ids = (const uint64_t *)sec[VF_IX_IDS].p;
    *out = ix;
    return 0;
}

void vf_index_release(vf_index *ix)
{
    if (!ix)
        return;
    free(ix->kv);
    free(ix->tensors);
    ix->kv = NULL;
    ix->tensors = NULL;
    ix->nkv = ix->ntensors = 0;
}

int vf_index_check_crcs(const vf_index *ix, const void *buf, char *err, size_t errlen)
{
    const uint8_t *base = buf;
    for (int i = 0; i < ix->nsections; i++) {
        const vf_index_section *s = &ix->sections[i];
        uint32_t crc = vf_crc32c(0, base + s->offset, s->size);
        if (crc != s->crc)
            FAIL("%s section checksum mismatch (stored %08x, computed %08x): the file is corrupt",
                 vf_index_section_name(s->type), s->crc, crc);
    }
    return 0;
}
