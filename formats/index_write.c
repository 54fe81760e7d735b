/* Index file writer: lays out the sections (docs/INDEX_FORMAT.md), streams the
 * per-row columns straight from the caller's memory (no second copy of a
 * multi-gigabyte index), and replaces the target crash-safely. */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "crc32c.h"
#include "errmsg.h"
#include "index_file.h"
#include "le.h"

#define FAIL(...) return vf_fail(err, errlen, __VA_ARGS__)

typedef unsigned long long ull;

static uint64_t up64(uint64_t x)
{
    return (x + VF_INDEX_ALIGN - 1) / VF_INDEX_ALIGN * VF_INDEX_ALIGN;
}

static int name_ok(const char *s)
{
    size_t n = s ? strlen(s) : 0;
    return n >= 1 && n <= VF_INDEX_MAX_NAME;
}

/* What the reader would refuse for reasons the writer can see cheaply; the
 * read-back after writing catches everything else. */
static int check_input(const vf_index *ix, char *err, size_t errlen)
{
    if (!vk_code_name(ix->kind) || !vk_code_row_bytes(ix->kind, ix->dim))
        FAIL("unknown code kind %d", (int)ix->kind);
    if (ix->dim < 1 || ix->dim > VF_INDEX_MAX_DIM || ix->dim_in < 1 ||
        ix->dim_in > VF_INDEX_MAX_DIM)
        FAIL("dim %u / dim_in %u out of range 1..%d", ix->dim, ix->dim_in, VF_INDEX_MAX_DIM);
    if (ix->unfitted && ix->n)
        FAIL("rows encoded with unfitted code parameters");
    if (ix->n > VF_INDEX_MAX_ROWS || ix->ndead > ix->n)
        FAIL("%llu rows (%llu dead): over the limit %llu", (ull)ix->n, (ull)ix->ndead,
             (ull)VF_INDEX_MAX_ROWS);
    if (!ix->a || !ix->b || (ix->n && (!ix->codes || !ix->ids || !ix->str_off || !ix->heap)))
        FAIL("missing code parameters or row data");
    if (ix->n && ix->str_off[ix->n] != ix->heap_size)
        FAIL("string offsets end at %llu, the heap holds %llu bytes", (ull)ix->str_off[ix->n],
             (ull)ix->heap_size);
    int model = 0;
    for (size_t i = 0; i < ix->nkv; i++) {
        if (!name_ok(ix->kv[i].key) || !ix->kv[i].value)
            FAIL("META entry %zu: key must be 1..%d bytes and have a value", i, VF_INDEX_MAX_NAME);
        for (size_t j = 0; j < i; j++)
            if (!strcmp(ix->kv[i].key, ix->kv[j].key))
                FAIL("META: duplicate key '%s'", ix->kv[i].key);
        model |= !strcmp(ix->kv[i].key, "model") && *ix->kv[i].value;
    }
    if (!model)
        FAIL("META: a non-empty \"model\" entry is required");
    if (ix->ntensors > VF_INDEX_MAX_TENSORS)
        FAIL("%zu transform tensors, at most %d", ix->ntensors, VF_INDEX_MAX_TENSORS);
    for (size_t i = 0; i < ix->ntensors; i++) {
        const vf_index_tensor *t = &ix->tensors[i];
        if (!name_ok(t->name) || t->rows < 1 || t->cols < 1 || !t->data)
            FAIL("transform tensor %zu: needs a 1..%d byte name, a non-empty shape and data", i,
                 VF_INDEX_MAX_NAME);
        for (size_t j = 0; j < i; j++)
            if (!strcmp(t->name, ix->tensors[j].name))
                FAIL("duplicate transform tensor '%s'", t->name);
    }
    return 0;
}

/* META: u32 count, u32 0, count × {key_off, key_len, val_off, val_len}, strings. */
static uint8_t *build_meta(const vf_index *ix, uint64_t *size)
{
    uint64_t len = 8 + (uint64_t)VF_INDEX_META_ENTRY * ix->nkv;
    for (size_t i = 0; i < ix->nkv; i++)
        len += strlen(ix->kv[i].key) + 1 + strlen(ix->kv[i].value) + 1;
    if (len > UINT32_MAX)
        return NULL;
    uint8_t *b = calloc(1, len);
    if (!b)
        return NULL;
    put32(b, (uint32_t)ix->nkv);
    uint64_t sp = 8 + (uint64_t)VF_INDEX_META_ENTRY * ix->nkv;
    for (size_t i = 0; i < ix->nkv; i++) {
        uint8_t *e = b + 8 + i * VF_INDEX_META_ENTRY;
        const char *s[2] = {ix->kv[i].key, ix->kv[i].value};
        for (int k = 0; k < 2; k++) {
            size_t l = strlen(s[k]);
            memcpy(b + sp, s[k], l);
            put32(e + 8 * k, (uint32_t)sp);
            put32(e + 8 * k + 4, (uint32_t)l);
            sp += l + 1;
        }
    }
    *size = len;
    return b;
}

/* TRANSFORM: u32 count, u32 0, count × 32-byte entries, names, then each
 * tensor's f32 data at a 64-aligned offset. */
static uint8_t *build_transform(const vf_index *ix, uint64_t *size)
{
    uint64_t len = 8 + (uint64_t)VF_INDEX_TENSOR_ENTRY * ix->ntensors;
    for (size_t i = 0; i < ix->ntensors; i++)
        len += strlen(ix->tensors[i].name) + 1;
    uint64_t names_end = len;
    for (size_t i = 0; i < ix->ntensors; i++)
        len = up64(len) + 4ull * ix->tensors[i].rows * ix->tensors[i].cols;
    if (len > UINT32_MAX) /* metadata, not rows: a 4 GiB transform is a mistake */
        return NULL;
    uint8_t *b = calloc(1, len);
    if (!b)
        return NULL;
    put32(b, (uint32_t)ix->ntensors);
    uint64_t sp = 8 + (uint64_t)VF_INDEX_TENSOR_ENTRY * ix->ntensors, dp = names_end;
    for (size_t i = 0; i < ix->ntensors; i++) {
        const vf_index_tensor *t = &ix->tensors[i];
        uint8_t *e = b + 8 + i * VF_INDEX_TENSOR_ENTRY;
        size_t l = strlen(t->name);
        memcpy(b + sp, t->name, l);
        put32(e, (uint32_t)sp);
        put32(e + 4, (uint32_t)l);
        sp += l + 1;
        put32(e + 8, t->rows);
        put32(e + 12, t->cols);
        dp = up64(dp);
        put64(e + 16, dp);
        size_t bytes = 4ull * t->rows * t->cols;
        memcpy(b + dp, t->data, bytes);
        dp += bytes;
    }
    *size = len;
    return b;
}

/* Sequential writer with a running section checksum. */
typedef struct {
    int fd;
    uint64_t pos;
    uint32_t crc;
    const char *path;
    char *err;
    size_t errlen;
} out_file;

static int out_bytes(out_file *o, const void *p, size_t n)
{
    o->crc = vf_crc32c(o->crc, p, n);
    const uint8_t *b = p;
    while (n) {
        ssize_t w = write(o->fd, b, n > (1u << 30) ? (1u << 30) : n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return vf_fail(o->err, o->errlen, "%s: write at byte %llu: %s", o->path,
                           (ull)o->pos, w < 0 ? strerror(errno) : "no progress");
        b += w;
        n -= (size_t)w;
        o->pos += (uint64_t)w;
    }
    return 0;
}

static int out_zeros(out_file *o, uint64_t n)
{
    static const uint8_t z[4096];
    while (n) {
        size_t k = n > sizeof z ? sizeof z : (size_t)n;
        if (out_bytes(o, z, k))
            return -1;
        n -= k;
    }
    return 0;
}

typedef struct {
    uint32_t type;
    const void *p[3]; /* up to three pieces, written back to back */
    uint64_t len[3];
    int zeros;        /* piece 0 is len[0] zero bytes (no deletions recorded) */
} sec_src;

static int write_file(const vf_index *ix, out_file *o, char *err, size_t errlen)
{
    uint64_t meta_len = 0, tr_len = 0;
    uint8_t *meta = build_meta(ix, &meta_len);
    uint8_t *tr = ix->ntensors ? build_transform(ix, &tr_len) : NULL;
    if (!meta || (ix->ntensors && !tr)) {
        free(meta);
        free(tr);
        FAIL("out of memory, or META / TRANSFORM over 4 GiB");
    }
    uint64_t n = ix->n;
    uint8_t strings_hdr[16];
    put64(strings_hdr, n);
    put64(strings_hdr + 8, ix->heap_size);
    static const uint64_t zero_off = 0;
    uint64_t row = vk_code_row_bytes(ix->kind, ix->dim);
    uint64_t f16 = vk_code_row_bytes(VK_CODE_F16, ix->dim);
    sec_src secs[VF_IX_SECTION_TYPES];
    int ns = 0;
    secs[ns++] = (sec_src){VF_IX_META, {meta}, {meta_len}, 0};
    if (tr)
        secs[ns++] = (sec_src){VF_IX_TRANSFORM, {tr}, {tr_len}, 0};
    secs[ns++] = (sec_src){VF_IX_PARAMS, {ix->a, ix->b}, {4ull * ix->dim, 4ull * ix->dim}, 0};
    secs[ns++] = (sec_src){VF_IX_CODES, {ix->codes}, {n * row}, 0};
    if (ix->rescore)
        secs[ns++] = (sec_src){VF_IX_RESCORE, {ix->rescore}, {n * f16}, 0};
    secs[ns++] = (sec_src){VF_IX_IDS, {ix->ids}, {8 * n}, 0};
    secs[ns++] = (sec_src){VF_IX_DEAD, {ix->dead}, {(n + 7) / 8}, !ix->dead};
    secs[ns++] = (sec_src){VF_IX_STRINGS,
                           {strings_hdr, n ? (const void *)ix->str_off : &zero_off, ix->heap},
                           {16, 8 * (n + 1), ix->heap_size},
                           0};

    size_t table_end = VF_INDEX_HEADER_SIZE + (size_t)ns * VF_INDEX_SECTION_ENTRY;
    uint8_t head[VF_INDEX_HEADER_SIZE + VF_INDEX_MAX_SECTIONS * VF_INDEX_SECTION_ENTRY];
    memset(head, 0, sizeof head);
    int rc = out_zeros(o, table_end);
    for (int i = 0; i < ns && !rc; i++) {
        rc = out_zeros(o, up64(o->pos) - o->pos);
        uint64_t off = o->pos, len = 0;
        o->crc = 0;
        for (int k = 0; k < 3 && !rc; k++) {
            if (!secs[i].len[k])
                continue;
            rc = secs[i].zeros && k == 0 ? out_zeros(o, secs[i].len[k])
                                         : out_bytes(o, secs[i].p[k], secs[i].len[k]);
            len += secs[i].len[k];
        }
        uint8_t *e = head + VF_INDEX_HEADER_SIZE + (size_t)i * VF_INDEX_SECTION_ENTRY;
        put32(e, secs[i].type);
        put64(e + 8, off);
        put64(e + 16, len);
        put32(e + 24, o->crc);
    }
    free(meta);
    free(tr);
    if (rc)
        return rc;
    memcpy(head, VF_INDEX_MAGIC, 8);
    put16(head + 8, VF_INDEX_VERSION_MAJOR);
    put16(head + 10, VF_INDEX_VERSION_MINOR);
    put32(head + 12, VF_INDEX_HEADER_SIZE);
    put32(head + 16, VF_INDEX_BYTE_ORDER);
    put32(head + 20, (uint32_t)ns);
    put64(head + 24, o->pos);
    put64(head + 32, VF_INDEX_HEADER_SIZE);
    put64(head + 40, n);
    put64(head + 48, ix->ndead);
    put32(head + 56, ix->dim);
    put32(head + 60, ix->dim_in);
    put32(head + 64, (uint32_t)ix->kind);
    put32(head + 68, ix->unfitted ? VF_INDEX_FLAG_UNFITTED : 0);
    put64(head + 72, ix->generation);
    uint32_t crc = vf_crc32c(0, head, 124);
    crc = vf_crc32c(crc, head + VF_INDEX_HEADER_SIZE, table_end - VF_INDEX_HEADER_SIZE);
    put32(head + 124, crc);
    for (size_t done = 0; done < table_end;) {
        ssize_t w = pwrite(o->fd, head + done, table_end - done, (off_t)done);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            FAIL("%s: writing the header: %s", o->path, w < 0 ? strerror(errno) : "no progress");
        done += (size_t)w;
    }
    return 0;
}

/* The file as any reader will see it: mapped and validated. */
static int read_back(int fd, uint64_t len, const char *path, char *err, size_t errlen)
{
    void *map = mmap(NULL, (size_t)len, PROT_READ, MAP_SHARED, fd, 0);
    if (map == MAP_FAILED)
        FAIL("%s: mmap for the read-back check: %s", path, strerror(errno));
    vf_index chk;
    char why[512];
    int rc = vf_index_parse(map, (size_t)len, VF_INDEX_SKIP_BULK_CRC, &chk, why, sizeof why);
    vf_index_release(&chk);
    munmap(map, (size_t)len);
    if (rc)
        FAIL("refusing to save: the written index does not read back: %s", why);
    return 0;
}

int vf_index_save(const vf_index *ix, const char *path, char *err, size_t errlen)
{
    if (check_input(ix, err, errlen))
        return -1;
    size_t plen = strlen(path);
    char *tmp = malloc(plen + 16), *dircopy = strdup(path);
    if (!tmp || !dircopy) {
        free(tmp);
        free(dircopy);
        FAIL("out of memory");
    }
    snprintf(tmp, plen + 16, "%s.tmp.XXXXXX", path);
    struct stat st;
    mode_t mode = stat(path, &st) == 0 && S_ISREG(st.st_mode) ? (st.st_mode & 07777) : 0644;
    int rc = -1, fd = mkstemp(tmp);
    if (fd < 0) {
        vf_fail(err, errlen, "%s: cannot create a temporary file: %s", tmp, strerror(errno));
        goto out;
    }
    out_file o = {fd, 0, 0, tmp, err, errlen};
    rc = write_file(ix, &o, err, errlen);
    if (!rc && fsync(fd) != 0)
        rc = vf_fail(err, errlen, "%s: fsync: %s", tmp, strerror(errno));
    if (!rc)
        rc = read_back(fd, o.pos, tmp, err, errlen);
    if (!rc && fchmod(fd, mode) != 0)
        rc = vf_fail(err, errlen, "%s: chmod: %s", tmp, strerror(errno));
    if (close(fd) != 0 && !rc)
        rc = vf_fail(err, errlen, "%s: close: %s", tmp, strerror(errno));
    if (!rc && rename(tmp, path) != 0)
        rc = vf_fail(err, errlen, "rename %s -> %s: %s", tmp, path, strerror(errno));
    if (rc) {
        unlink(tmp);
        goto out;
    }
    /* The rename is durable only once the directory entry is. */
    int dfd = open(dirname(dircopy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0 || fsync(dfd) != 0)
        rc = vf_fail(err, errlen,
                     "%s: the new index is in place, but syncing its directory failed (%s): it "
                     "may not survive a crash",
                     path, strerror(errno));
    if (dfd >= 0)
        close(dfd);
out:
    free(tmp);
    free(dircopy);
    return rc;
}
