/* vireo index build|add|rm|info: a catalogue's images → an index file
 * (docs/INDEX_FORMAT.md) and its upkeep. See `vireo index --help`. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "formats/errmsg.h"
#include "index_models.h"
#include "models.h"
#include "runtime/filelist.h"
#include "runtime/index.h"
#include "runtime/retrieval.h"

static const char usage_text[] =
    "usage: vireo index build -o INDEX.vix [-m MODEL[:WEIGHT]]... SOURCE... [options]\n"
    "       vireo index add -i INDEX.vix SOURCE... [-o OUT.vix]\n"
    "       vireo index rm -i INDEX.vix [--compact] [-o OUT.vix] ID...\n"
    "       vireo index info INDEX.vix [--verify]\n"
    "  SOURCE: --images DIR|@LIST (title = file name), or --catalog FILE.tsv with lines\n"
    "          'path<TAB>title[<TAB>id]' (relative paths are relative to the file)\n"
    "  build options:\n"
    "    -m MODEL[:W]      embedding model, repeat for an ensemble (default " MODEL_DEFAULT ")\n"
    "    --codes KIND      int8 (default), int8-sym, int4, f16 or f32\n"
    "    --no-rescore      no f16 copy for exact re-scoring (int8 / int4)\n"
    "    --whiten[=POWER]  PCA whitening (power 0.5 default), fitted on --train (default: the\n"
    "                      catalogue itself); --whiten-dim D keeps D components\n"
    "    --train DIR|@LIST images the whitening is fitted on\n"
    "    --text-model T    a text tower (CLIP's) recorded in the index: `vireo search --text`\n"
    "                      embeds phrases with it (its space must be the image model's)\n"
    "    --titles W        unified items: each title embedded by the text tower and fused with\n"
    "                      the image, weight W in 0 ... 1 (docs/RETRIEVAL.md)\n"
    "    --fusion MODE     sum (one CLIP pair, same space) or concat (different spaces);\n"
    "                      default sum when the dimensions match, else concat\n"
    "  -t THREADS, -q (no progress), --no-cache (do not reuse cached embeddings)\n"
    "  Ids: from the catalogue's third column, else counting up from the index's largest id + 1.\n";

typedef struct items {
    size_t n, cap;
    char **paths, **titles;
    uint64_t *ids;
    int has_ids;
} items;

static void items_free(items *it)
{
    for (size_t i = 0; i < it->n; i++) {
        free(it->paths[i]);
        free(it->titles[i]);
    }
    free(it->paths), free(it->titles), free(it->ids);
    memset(it, 0, sizeof *it);
}

static int items_push(items *it, const char *path, const char *title, int has_id, uint64_t id)
{
    if (it->n == it->cap) {
        size_t nc = it->cap ? it->cap * 2 : 256;
        char **p = realloc(it->paths, nc * sizeof *p);
        if (p)
            it->paths = p;
        char **t = realloc(it->titles, nc * sizeof *t);
        if (t)
            it->titles = t;
        uint64_t *d = realloc(it->ids, nc * sizeof *d);
        if (d)
            it->ids = d;
        if (!p || !t || !d)
            return -1;
        it->cap = nc;
    }
    if (!title) { /* the file name without its extension */
        const char *b = strrchr(path, '/');
        b = b ? b + 1 : path;
        const char *dot = strrchr(b, '.');
        size_t len = dot && dot > b ? (size_t)(dot - b) : strlen(b);
        char *t = malloc(len + 1);
        if (!t)
            return -1;
        memcpy(t, b, len);
        t[len] = 0;
        it->titles[it->n] = t;
    } else if (!(it->titles[it->n] = strdup(title)))
        return -1;
    if (!(it->paths[it->n] = strdup(path))) {
        free(it->titles[it->n]);
        return -1;
    }
    it->ids[it->n] = id;
    if (has_id)
        it->has_ids = 1;
    it->n++;
    return 0;
}

static int add_images(items *it, const char *spec, char *err, size_t errlen)
{
    vr_filelist fl = {0};
    if (vr_filelist_add_spec(&fl, spec, err, errlen))
        return -1;
    int rc = 0;
    for (size_t i = 0; i < fl.n && !rc; i++)
        if (items_push(it, fl.paths[i], NULL, 0, 0))
            rc = vf_fail(err, errlen, "out of memory");
    vr_filelist_free(&fl);
    return rc;
}

static int add_catalog(items *it, const char *file, char *err, size_t errlen)
{
    FILE *f = fopen(file, "r");
    if (!f)
        return vf_fail(err, errlen, "%s: %s", file, strerror(errno));
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", file);
    char *slash = strrchr(dir, '/');
    if (slash)
        slash[1] = 0;
    else
        dir[0] = 0;
    char line[8192];
    size_t lineno = 0;
    int rc = 0;
    size_t with_id = 0, rows = 0;
    while (!rc && fgets(line, sizeof line, f)) {
        lineno++;
        size_t len = strlen(line);
        if (len == sizeof line - 1 && line[len - 1] != '\n') {
            rc = vf_fail(err, errlen, "%s:%zu: line too long", file, lineno);
            break;
        }
        while (len && (line[len - 1] == '\n' || line[len - 1] == '\r'))
            line[--len] = 0;
        if (!len || line[0] == '#')
            continue;
        char *title = strchr(line, '\t'), *idf = NULL;
        if (title) {
            *title++ = 0;
            idf = strchr(title, '\t');
            if (idf)
                *idf++ = 0;
        }
        uint64_t id = 0;
        if (idf) {
            char *end;
            errno = 0;
            unsigned long long v = strtoull(idf, &end, 10);
            if (end == idf || *end || errno || idf[0] == '-') {
                rc = vf_fail(err, errlen, "%s:%zu: id '%s' is not an unsigned integer", file, lineno,
                             idf);
                break;
            }
            id = v;
            with_id++;
        }
        char path[8300];
        snprintf(path, sizeof path, "%s%s", line[0] == '/' ? "" : dir, line);
        rows++;
        if (items_push(it, path, title, idf != NULL, id))
            rc = vf_fail(err, errlen, "out of memory");
    }
    fclose(f);
    if (!rc && with_id && with_id != rows)
        rc = vf_fail(err, errlen, "%s: give an id on every line or on none", file);
    return rc;
}

/* Parses the SOURCE options shared by build and add; other options are left. */
static int source_opt(items *it, int argc, char **argv, int *i, char *err, size_t errlen, int *used)
{
    *used = 0;
    if ((!strcmp(argv[*i], "--images") || !strcmp(argv[*i], "--catalog")) && *i + 1 < argc) {
        *used = 1;
        int cat = !strcmp(argv[*i], "--catalog");
        (*i)++;
        return cat ? add_catalog(it, argv[*i], err, errlen) : add_images(it, argv[*i], err, errlen);
    }
    return 0;
}

static uint64_t next_id(const vr_index *ix)
{
    uint64_t mx = 0;
    int any = 0;
    for (size_t r = 0; ix && r < vr_index_rows(ix); r++) {
        uint64_t id = vr_index_id(ix, r);
        if (!any || id > mx)
            mx = id;
        any = 1;
    }
    return any ? mx + 1 : 0;
}

/* Adds the items whose embedding worked (ok[i]) with rows x (n·dim, compacted
 * in place). Ids: the catalogue's, else counting up from the largest + 1.
 * Returns the number added, or -1. */
static long add_rows(vr_index *ix, items *it, float *x, const uint8_t *ok, size_t dim, char *err,
                     size_t errlen)
{
    uint64_t id = next_id(ix);
    size_t k = 0;
    for (size_t i = 0; i < it->n; i++) {
        if (!ok[i])
            continue;
        if (k != i) {
            memmove(x + k * dim, x + i * dim, dim * sizeof *x);
            char *p = it->paths[k], *t = it->titles[k];
            it->paths[k] = it->paths[i], it->titles[k] = it->titles[i];
            it->paths[i] = p, it->titles[i] = t;
            it->ids[k] = it->ids[i];
        }
        if (!it->has_ids)
            it->ids[k] = id++;
        k++;
    }
    if (!k)
        return vf_fail(err, errlen, "no image could be embedded");
    if (!vr_index_rows(ix) && vr_index_fit(ix, x, k, err, errlen))
        return -1;
    if (vr_index_add(ix, k, x, it->ids, (const char *const *)it->paths,
                     (const char *const *)it->titles, err, errlen))
        return -1;
    return (long)k;
}

static int parse_kind(const char *s, vk_code_kind *k)
{
    if (!strcmp(s, "int8") || !strcmp(s, "uint8"))
        *k = VK_CODE_U8;
    else if (!strcmp(s, "int8-sym"))
        *k = VK_CODE_S8;
    else if (!strcmp(s, "int4"))
        *k = VK_CODE_U4;
    else if (!strcmp(s, "f16"))
        *k = VK_CODE_F16;
    else if (!strcmp(s, "f32"))
        *k = VK_CODE_F32;
    else
        return -1;
    return 0;
}

typedef struct common_opts {
    ixm_embed_opts eo;
    const char *in, *out;
} common_opts;

/* -t, -q, --no-cache, -i, -o. */
static int common_opt(common_opts *c, int argc, char **argv, int *i)
{
    const char *o = argv[*i];
    int has = *i + 1 < argc;
    if (!strcmp(o, "-t") && has)
        c->eo.threads = atoi(argv[++*i]);
    else if (!strcmp(o, "-q"))
        c->eo.quiet = 1;
    else if (!strcmp(o, "--no-cache"))
        c->eo.no_cache = 1;
    else if (!strcmp(o, "-i") && has)
        c->in = argv[++*i];
    else if (!strcmp(o, "-o") && has)
        c->out = argv[++*i];
    else
        return 0;
    return 1;
}

static void drop_failed(float *x, const uint8_t *ok, size_t n, size_t d, size_t *k)
{
    *k = 0;
    for (size_t i = 0; i < n; i++)
        if (ok[i])
            memmove(x + (*k)++ * d, x + i * d, d * sizeof *x);
}

static int fit_whitening(ix_models *m, items *catalogue, const char *train, const vr_whiten_opts *wo,
                         const ixm_embed_opts *eo, vr_whiten *w, char *err, size_t errlen)
{
    items tr = {0};
    const items *ts = catalogue;
    if (train && m->text_spec[0] && m->fusion.w > 0)
        return vf_fail(err, errlen, "--train lists images without titles: the whitening of "
                                    "image + title rows is fitted on the catalogue itself "
                                    "(drop --train)");
    if (train) {
        if (add_images(&tr, train, err, errlen))
            return -1;
        ts = &tr;
    }
    float *tx = NULL;
    uint8_t *tok = NULL;
    size_t td = 0, k = 0;
    ixm_embed_opts teo = *eo;
    teo.label = train ? "whitening set" : "catalogue (whitening)";
    int rc = ixm_embed(m, (const char *const *)ts->paths, (const char *const *)ts->titles, ts->n,
                       NULL, &teo, &tx, &tok, &td, NULL, err, errlen);
    if (!rc) {
        drop_failed(tx, tok, ts->n, td, &k);
        rc = vr_whiten_fit(tx, k, td, wo, NULL, w, err, errlen);
    }
    if (!rc && !eo->quiet)
        fprintf(stderr, "whitening: fitted on %zu images, %zu -> %zu dimensions\n", k, w->d_in,
                w->d_out);
    free(tx), free(tok);
    items_free(&tr);
    return rc;
}

static int index_build(int argc, char **argv)
{
    common_opts c = {0};
    const char *train = NULL;
    items it = {0};
    ix_models m = {0};
    vk_code_kind kind = VK_CODE_U8;
    int rescore = 1, whiten = 0, rc = 1;
    vr_whiten_opts wo = vr_whiten_opts_default();
    vr_whiten w = {0};
    vr_index *ix = NULL;
    float *x = NULL;
    uint8_t *ok = NULL;
    char err[1024];
    const char *text_model = NULL, *fusion = NULL;
    double titles = 0;
    for (int i = 1; i < argc; i++) {
        int used;
        if (source_opt(&it, argc, argv, &i, err, sizeof err, &used))
            goto fail;
        if (used || common_opt(&c, argc, argv, &i))
            continue;
        const char *o = argv[i];
        int has = i + 1 < argc;
        char *end = NULL;
        if (!strcmp(o, "--text-model") && has)
            text_model = argv[++i];
        else if (!strcmp(o, "--fusion") && has)
            fusion = argv[++i];
        else if (!strcmp(o, "--titles") && has && (titles = strtod(argv[i + 1], &end), *end == 0) &&
                 end != argv[i + 1] && titles >= 0 && titles <= 1)
            i++;
        else if (!strcmp(o, "-m") && has) {
            if (ixm_add(&m, argv[++i], c.eo.quiet, err, sizeof err))
                goto fail;
        } else if (!strcmp(o, "--codes") && has && parse_kind(argv[i + 1], &kind) == 0)
            i++;
        else if (!strcmp(o, "--no-rescore"))
            rescore = 0;
        else if (!strcmp(o, "--whiten"))
            whiten = 1;
        else if (!strncmp(o, "--whiten=", 9) && (wo.power = strtof(o + 9, NULL)) >= 0 &&
                 wo.power <= 1)
            whiten = 1;
        else if (!strcmp(o, "--whiten-dim") && has)
            wo.d_out = (size_t)strtoull(argv[++i], NULL, 10);
        else if (!strcmp(o, "--train") && has)
            train = argv[++i];
        else {
            fprintf(stderr, "vireo index build: bad argument '%s'\n%s", o, usage_text);
            items_free(&it);
            return 2;
        }
    }
    if (!c.out || it.n == 0) {
        fprintf(stderr, "vireo index build: needs -o and at least one image\n%s", usage_text);
        items_free(&it);
        return 2;
    }
    if (m.n == 0 && ixm_add(&m, MODEL_DEFAULT, c.eo.quiet, err, sizeof err))
        goto fail;
    if ((titles > 0 || fusion) && !text_model) {
        vf_fail(err, sizeof err, "--titles and --fusion need --text-model");
        goto fail;
    }
    if (text_model &&
        ixm_set_text(&m, text_model, fusion, (float)titles, c.eo.quiet, err, sizeof err))
        goto fail;
    if (kind == VK_CODE_F32 || kind == VK_CODE_F16)
        rescore = 0;
    if (whiten && fit_whitening(&m, &it, train, &wo, &c.eo, &w, err, sizeof err))
        goto fail;
    size_t dim = 0;
    double ips = 0;
    c.eo.label = "catalogue";
    if (ixm_embed(&m, (const char *const *)it.paths, (const char *const *)it.titles, it.n,
                  whiten ? &w : NULL, &c.eo, &x, &ok, &dim, &ips, err, sizeof err))
        goto fail;
    size_t dim_in = 0;
    for (int i = 0; i < m.n; i++)
        dim_in += m.dim[i];
    if (m.text_spec[0])
        dim_in = vr_fusion_dim(&m.fusion);
    char ident[2048], transform[128];
    ixm_identity(&m, ident, sizeof ident);
    /* informational: the records that drive it are text.* and the tensors */
    snprintf(transform, sizeof transform, "l2,concat%s%s",
             !m.text_spec[0]       ? ""
             : m.fusion.w == 0     ? ",text-queries"
             : m.fusion.mode == VR_FUSION_SUM ? ",titles-sum"
                                   : ",titles-concat",
             whiten ? ",whiten,l2" : "");
    static ixm_kv kv;
    ixm_to_kv(&m, transform, &kv);
    vr_index_tensor tens[2] = {{"whiten.mean", 1, w.d_in, w.mean},
                               {"whiten.proj", w.d_out, w.d_in, w.proj}};
    vr_index_params p = {.kind = kind, .dim_in = dim_in, .dim = dim, .model = ident,
                         .rescore = rescore, .tensors = whiten ? tens : NULL,
                         .ntensors = whiten ? 2 : 0, .kv = kv.kv, .nkv = kv.n};
    if (vr_index_create(&p, &ix, err, sizeof err))
        goto fail;
    long added = add_rows(ix, &it, x, ok, dim, err, sizeof err);
    if (added < 0 || vr_index_save(ix, c.out, err, sizeof err))
        goto fail;
    if (!c.eo.quiet)
        fprintf(stderr, "vireo index build: %s: %ld items (%zu skipped), %s codes, %zu-d, model %s\n",
                c.out, added, it.n - (size_t)added, vk_code_name(kind), dim, ident);
    rc = 0;
    goto out;
fail:
    fprintf(stderr, "vireo index build: %s\n", err);
out:
    free(x), free(ok);
    vr_whiten_free(&w);
    vr_index_close(ix);
    items_free(&it);
    return rc;
}

static int index_add(int argc, char **argv)
{
    common_opts c = {0};
    items it = {0};
    ix_models m;
    vr_index *ix = NULL;
    float *x = NULL;
    uint8_t *ok = NULL;
    char err[1024];
    int rc = 1;
    for (int i = 1; i < argc; i++) {
        int used;
        if (source_opt(&it, argc, argv, &i, err, sizeof err, &used))
            goto fail;
        if (!used && !common_opt(&c, argc, argv, &i)) {
            fprintf(stderr, "vireo index add: bad argument '%s'\n%s", argv[i], usage_text);
            items_free(&it);
            return 2;
        }
    }
    if (!c.in || it.n == 0) {
        fprintf(stderr, "vireo index add: needs -i INDEX and at least one image\n%s", usage_text);
        items_free(&it);
        return 2;
    }
    if (vr_index_open(c.in, 0, &ix, err, sizeof err) ||
        ixm_from_index(ix, &m, c.eo.quiet, err, sizeof err))
        goto fail;
    vr_whiten w;
    int hw = ixm_whiten_from_index(ix, &w, err, sizeof err);
    if (hw < 0)
        goto fail;
    size_t dim = 0;
    c.eo.label = "new items";
    if (ixm_embed(&m, (const char *const *)it.paths, (const char *const *)it.titles, it.n,
                  hw ? &w : NULL, &c.eo, &x, &ok, &dim, NULL, err, sizeof err))
        goto fail;
    if (dim != vr_index_dim(ix)) {
        vf_fail(err, sizeof err, "embeddings are %zu-d, the index stores %zu-d", dim,
                vr_index_dim(ix));
        goto fail;
    }
    long added = add_rows(ix, &it, x, ok, dim, err, sizeof err);
    const char *dst = c.out ? c.out : c.in;
    if (added < 0 || vr_index_save(ix, dst, err, sizeof err))
        goto fail;
    if (!c.eo.quiet)
        fprintf(stderr, "vireo index add: %s: +%ld items (%zu skipped), %zu live\n", dst, added,
                it.n - (size_t)added, vr_index_live(ix));
    rc = 0;
    goto out;
fail:
    fprintf(stderr, "vireo index add: %s\n", err);
out:
    free(x), free(ok);
    vr_index_close(ix);
    items_free(&it);
    return rc;
}

static int index_rm(int argc, char **argv)
{
    common_opts c = {0};
    int compact = 0, rc = 1;
    uint64_t *ids = calloc((size_t)argc + 1, sizeof *ids);
    size_t nid = 0;
    char err[1024];
    vr_index *ix = NULL;
    if (!ids)
        return 1;
    for (int i = 1; i < argc; i++) {
        if (common_opt(&c, argc, argv, &i))
            continue;
        if (!strcmp(argv[i], "--compact")) {
            compact = 1;
            continue;
        }
        char *end;
        errno = 0;
        unsigned long long v = strtoull(argv[i], &end, 10);
        if (end == argv[i] || *end || errno || argv[i][0] == '-') {
            fprintf(stderr, "vireo index rm: '%s' is not an id\n%s", argv[i], usage_text);
            free(ids);
            return 2;
        }
        ids[nid++] = v;
    }
    if (!c.in || (!nid && !compact)) {
        fprintf(stderr, "%s", usage_text);
        free(ids);
        return 2;
    }
    size_t deleted = 0;
    uint8_t *found = calloc(nid + 1, 1);
    if (!found || vr_index_open(c.in, 0, &ix, err, sizeof err) ||
        vr_index_delete(ix, ids, nid, &deleted, found, err, sizeof err))
        goto fail;
    for (size_t i = 0; i < nid; i++)
        if (!found[i])
            fprintf(stderr, "vireo index rm: id %llu is not in the index\n",
                    (unsigned long long)ids[i]);
    if (compact && vr_index_compact(ix, err, sizeof err))
        goto fail;
    const char *dst = c.out ? c.out : c.in;
    if (vr_index_save(ix, dst, err, sizeof err))
        goto fail;
    fprintf(stderr, "vireo index rm: %s: %zu removed, %zu live, %zu rows%s\n", dst, deleted,
            vr_index_live(ix), vr_index_rows(ix), compact ? " (compacted)" : "");
    rc = deleted == nid ? 0 : 1;
    goto out;
fail:
    fprintf(stderr, "vireo index rm: %s\n", found ? err : "out of memory");
out:
    free(found);
    free(ids);
    vr_index_close(ix);
    return rc;
}

static int index_info(int argc, char **argv)
{
    const char *path = NULL;
    int verify = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--verify"))
            verify = 1;
        else if (argv[i][0] != '-' && !path)
            path = argv[i];
        else {
            fprintf(stderr, "%s", usage_text);
            return 2;
        }
    }
    if (!path) {
        fprintf(stderr, "%s", usage_text);
        return 2;
    }
    char err[1024];
    vr_index *ix;
    if (vr_index_open(path, verify ? 0 : VR_INDEX_OPEN_SKIP_BULK_CRC, &ix, err, sizeof err)) {
        fprintf(stderr, "vireo index info: %s\n", err);
        return 1;
    }
    vr_index_info in;
    vr_index_get_info(ix, &in);
    printf("%s: vireo index v%d.%d, %llu bytes, generation %llu\n", path, in.version_major,
           in.version_minor, (unsigned long long)in.file_size, (unsigned long long)in.generation);
    printf("  codes      %s, %zu-d (model output %zu-d)%s\n", vk_code_name(in.kind), in.dim, in.dim_in,
           in.rescore ? ", f16 re-scoring copy" : "");
    printf("  rows       %zu (%zu live, %zu deleted)\n", in.rows, in.live, in.dead);
    printf("  model      %s\n", in.model);
    for (size_t i = 0; i < vr_index_meta_count(ix); i++) {
        vr_index_kv kv = vr_index_meta_at(ix, i);
        printf("  meta       %s = %s\n", kv.key, kv.value);
    }
    for (size_t i = 0; i < vr_index_tensor_count(ix); i++) {
        vr_index_tensor t;
        if (vr_index_tensor_at(ix, i, &t) == 0)
            printf("  tensor     %s [%zu x %zu]\n", t.name, t.rows, t.cols);
    }
    for (int i = 0; i < in.nsections; i++)
        printf("  section    %-8s offset %10llu size %12llu crc32c %08x\n", in.sections[i].name,
               (unsigned long long)in.sections[i].offset, (unsigned long long)in.sections[i].size,
               in.sections[i].crc);
    int rc = 0;
    if (verify) {
        if (vr_index_verify(ix, err, sizeof err)) {
            fprintf(stderr, "vireo index info: %s\n", err);
            rc = 1;
        } else
            printf("  verify     every checksum matches, no id twice\n");
    }
    vr_index_close(ix);
    return rc;
}

int cmd_index(int argc, char **argv)
{
    if (argc < 2 || !strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) {
        fputs(usage_text, argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    if (!strcmp(argv[1], "build"))
        return index_build(argc - 1, argv + 1);
    if (!strcmp(argv[1], "add"))
        return index_add(argc - 1, argv + 1);
    if (!strcmp(argv[1], "rm"))
        return index_rm(argc - 1, argv + 1);
    if (!strcmp(argv[1], "info"))
        return index_info(argc - 1, argv + 1);
    fprintf(stderr, "vireo index: unknown subcommand '%s'\n%s", argv[1], usage_text);
    return 2;
}
