/* TF.js layers-model reader (tfjs.h). model.json is parsed and checked in
 * full (topology, then manifest, sizes and the value arena) before any shard
 * is opened; each group's shards are then read into one buffer, checked to be
 * exactly as long as the group's weights, and decoded. */
#include "tfjs.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "le.h"
#include "errmsg.h"

struct tfjs_model {
    json_doc *doc;
    const char *class_name;
    const json_value *config;
    size_t nlayers;
    tfjs_layer *layers;
    const tfjs_layer **layers_by_name;
    tfjs_ref *refs; /* every layer's inbound refs, then the inputs, then the outputs */
    size_t nrefs, refs_cap;
    size_t ninputs, noutputs;
    const tfjs_ref *inputs, *outputs;
    size_t nweights;
    tfjs_weight *weights;
    const tfjs_weight **weights_by_name;
    int64_t *dims;
    float *values;
};

#define FAIL(...) return vf_fail(err, errlen, __VA_ARGS__)

/* "an array", "a string", ... for messages. */
static const char *a_type(const json_value *v)
{
    switch (json_type(v)) {
    case JSON_NULL: return "null";
    case JSON_BOOL: return "a boolean";
    case JSON_NUMBER: return "a number";
    case JSON_STRING: return "a string";
    case JSON_ARRAY: return "an array";
    case JSON_OBJECT: return "an object";
    default: return "missing";
    }
}

/* A string for messages: shortened, unprintable bytes as '?'. */
static const char *show(const char *s, char buf[72])
{
    size_t k = 0, i = 0;
    for (; s && s[i] && k < 64; i++)
        buf[k++] = (unsigned char)s[i] >= 0x20 && (unsigned char)s[i] < 0x7f ? s[i] : '?';
    if (s && s[i]) {
        memcpy(buf + k, "...", 3);
        k += 3;
    }
    buf[k] = 0;
    return buf;
}

static int get_int(const json_value *v, int64_t lo, int64_t hi, int64_t *out)
{
    int64_t i;
    if (json_int(v, &i) != 0 || i < lo || i > hi)
        return -1;
    *out = i;
    return 0;
}

/* ------------------------------------------------------------ topology */
static int add_ref(tfjs_model *m, const tfjs_ref *r, char *err, size_t errlen)
{
    if (m->nrefs == m->refs_cap) {
        size_t cap = m->refs_cap ? m->refs_cap * 2 : 256;
        tfjs_ref *p = realloc(m->refs, cap * sizeof *p);
        if (!p)
            FAIL("out of memory for layer references");
        m->refs = p;
        m->refs_cap = cap;
    }
    m->refs[m->nrefs++] = *r;
    return 0;
}

/* [name, node_index, tensor_index(, kwargs)] */
static int parse_ref(const json_value *a, int call, tfjs_ref *r)
{
    size_t n = json_len(a);
    if (json_type(a) != JSON_ARRAY || n < 3 || n > 4)
        return -1;
    int64_t node, tensor;
    r->layer = json_cstr(json_at(a, 0));
    if (!r->layer || get_int(json_at(a, 1), 0, INT_MAX, &node) ||
        get_int(json_at(a, 2), 0, INT_MAX, &tensor))
        return -1;
    r->node_index = (int)node;
    r->tensor_index = (int)tensor;
    r->call = call;
    return 0;
}

/* Keras 3 nodes: {"args": [...], "kwargs": {...}} holding
 * {"class_name": "__keras_tensor__", "config": {"keras_history": [name, node, tensor]}}
 * anywhere inside. */
static int walk_keras3(tfjs_model *m, const json_value *v, int call, const char *lname, char *err,
                       size_t errlen)
{
    char b[72];
    if (json_type(v) == JSON_OBJECT) {
        const char *cn = json_cstr(json_get(v, "class_name"));
        if (cn && !strcmp(cn, "__keras_tensor__")) {
            tfjs_ref r;
            if (parse_ref(json_get(json_get(v, "config"), "keras_history"), call, &r))
                FAIL("layer '%s': inbound node %d: bad keras_history", show(lname, b), call);
            return add_ref(m, &r, err, errlen);
        }
    }
    for (size_t i = 0; i < json_len(v); i++)
        if (walk_keras3(m, json_at(v, i), call, lname, err, errlen))
            return -1;
    return 0;
}

static int parse_inbound(tfjs_model *m, tfjs_layer *l, const json_value *nodes, char *err,
                         size_t errlen)
{
    char b[72];
    if (json_type(nodes) != JSON_ARRAY)
        FAIL("layer '%s': inbound_nodes is %s, not an array", show(l->name, b), a_type(nodes));
    size_t n = json_len(nodes);
    if (n > INT_MAX)
        FAIL("layer '%s': too many inbound nodes", show(l->name, b));
    l->n_calls = (int)n;
    for (size_t c = 0; c < n; c++) {
        const json_value *node = json_at(nodes, c);
        if (json_type(node) == JSON_OBJECT) {
            if (walk_keras3(m, node, (int)c, l->name, err, errlen))
                return -1;
            continue;
        }
        if (json_type(node) != JSON_ARRAY)
            FAIL("layer '%s': inbound node %zu is %s, not an array", show(l->name, b), c,
                 a_type(node));
        for (size_t k = 0; k < json_len(node); k++) {
            tfjs_ref r;
            if (parse_ref(json_at(node, k), (int)c, &r))
                FAIL("layer '%s': inbound node %zu entry %zu is not [name, node_index, "
                     "tensor_index, kwargs]",
                     show(l->name, b), c, k);
            if (add_ref(m, &r, err, errlen))
                return -1;
        }
    }
    return 0;
}

static int cmp_layer(const void *a, const void *b)
{
    return strcmp((*(const tfjs_layer *const *)a)->name, (*(const tfjs_layer *const *)b)->name);
}

static int parse_io(tfjs_model *m, const json_value *list, const char *what, size_t *n, char *err,
                    size_t errlen)
{
    *n = 0;
    if (!list)
        return 0;
    if (json_type(list) != JSON_ARRAY)
        FAIL("model config: %s is %s, not an array", what, a_type(list));
    for (size_t i = 0; i < json_len(list); i++) {
        tfjs_ref r;
        if (parse_ref(json_at(list, i), 0, &r))
            FAIL("model config: %s[%zu] is not [name, node_index, tensor_index]", what, i);
        if (add_ref(m, &r, err, errlen))
            return -1;
        (*n)++;
    }
    return 0;
}

static int parse_topology(tfjs_model *m, const json_value *root, char *err, size_t errlen)
{
    char b[72], b2[72];
    const json_value *fmt = json_get(root, "format");
    if (fmt && (!json_cstr(fmt) || strcmp(json_cstr(fmt), "layers-model") != 0))
        FAIL("format is '%s', not 'layers-model'", json_cstr(fmt) ? show(json_cstr(fmt), b) : "?");
    const json_value *topo = json_get(root, "modelTopology");
    if (json_type(topo) != JSON_OBJECT)
        FAIL("modelTopology is %s, not an object", a_type(topo));
    /* tfjs-layers: modelTopology.model_config, or modelTopology itself. */
    const json_value *mc = json_get(topo, "model_config");
    if (!mc)
        mc = topo;
    if (json_type(mc) != JSON_OBJECT)
        FAIL("model_config is %s, not an object", a_type(mc));
    m->class_name = json_cstr(json_get(mc, "class_name"));
    if (!m->class_name)
        FAIL("model_config has no class_name string");
    int seq = !strcmp(m->class_name, "Sequential");
    if (!seq && strcmp(m->class_name, "Model") && strcmp(m->class_name, "Functional"))
        FAIL("model class '%s' is not Model, Functional or Sequential", show(m->class_name, b));
    m->config = json_get(mc, "config");
    /* Old Sequential configs are the layer list itself. */
    const json_value *layers = seq && json_type(m->config) == JSON_ARRAY
                                   ? m->config
                                   : json_get(m->config, "layers");
    if (json_type(layers) != JSON_ARRAY)
        FAIL("model config: layers is %s, not an array", a_type(layers));
    size_t n = json_len(layers);
    m->layers = calloc(n ? n : 1, sizeof *m->layers);
    m->layers_by_name = calloc(n ? n : 1, sizeof *m->layers_by_name);
    size_t *start = calloc(n + 1, sizeof *start);
    if (!m->layers || !m->layers_by_name || !start) {
        free(start);
        FAIL("out of memory for %zu layers", n);
    }
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        const json_value *lj = json_at(layers, i);
        tfjs_layer *l = &m->layers[i];
        start[i] = m->nrefs;
        if (json_type(lj) != JSON_OBJECT) {
            rc = vf_fail(err, errlen, "layers[%zu] is %s, not an object", i, a_type(lj));
            break;
        }
        l->class_name = json_cstr(json_get(lj, "class_name"));
        l->config = json_get(lj, "config");
        l->name = json_cstr(json_get(lj, "name"));
        if (!l->name) /* Sequential entries may carry the name only in config */
            l->name = json_cstr(json_get(l->config, "name"));
        if (!l->name || !l->name[0])
            rc = vf_fail(err, errlen, "layers[%zu] has no name", i);
        else if (!l->class_name)
            rc = vf_fail(err, errlen, "layer '%s' has no class_name string", show(l->name, b));
        else if (json_type(l->config) != JSON_OBJECT)
            rc = vf_fail(err, errlen, "layer '%s': config is %s, not an object", show(l->name, b),
                      a_type(l->config));
        else if (json_get(lj, "inbound_nodes"))
            rc = parse_inbound(m, l, json_get(lj, "inbound_nodes"), err, errlen);
        else if (!seq)
            rc = vf_fail(err, errlen, "layer '%s' has no inbound_nodes", show(l->name, b));
        else if (i > 0) { /* Sequential: the previous layer */
            tfjs_ref r = {.layer = m->layers[i - 1].name};
            l->n_calls = 1;
            rc = add_ref(m, &r, err, errlen);
        }
        m->layers_by_name[i] = l;
    }
    start[n] = m->nrefs;
    size_t io = m->nrefs;
    if (rc == 0 && !seq)
        rc = parse_io(m, json_get(m->config, "input_layers"), "input_layers", &m->ninputs, err,
                      errlen);
    if (rc == 0 && !seq)
        rc = parse_io(m, json_get(m->config, "output_layers"), "output_layers", &m->noutputs, err,
                      errlen);
    if (rc == 0 && seq && n) {
        tfjs_ref first = {.layer = m->layers[0].name}, last = {.layer = m->layers[n - 1].name};
        rc = add_ref(m, &first, err, errlen) || add_ref(m, &last, err, errlen);
        m->ninputs = m->noutputs = 1;
    }
    if (rc) {
        free(start);
        return -1;
    }
    /* refs is final: hand out pointers. */
    for (size_t i = 0; i < n; i++) {
        m->layers[i].n_inbound = start[i + 1] - start[i];
        m->layers[i].inbound = m->layers[i].n_inbound ? m->refs + start[i] : NULL;
    }
    free(start);
    m->inputs = m->ninputs ? m->refs + io : NULL;
    m->outputs = m->noutputs ? m->refs + io + m->ninputs : NULL;
    m->nlayers = n;
    qsort(m->layers_by_name, n, sizeof *m->layers_by_name, cmp_layer);
    for (size_t i = 1; i < n; i++)
        if (!strcmp(m->layers_by_name[i - 1]->name, m->layers_by_name[i]->name))
            FAIL("duplicate layer name '%s'", show(m->layers_by_name[i]->name, b));
    for (size_t i = 0; i < n; i++)
        for (size_t k = 0; k < m->layers[i].n_inbound; k++)
            if (!tfjs_find_layer(m, m->layers[i].inbound[k].layer))
                FAIL("layer '%s': inbound layer '%s' is not in the model", show(m->layers[i].name, b),
                     show(m->layers[i].inbound[k].layer, b2));
    for (size_t k = 0; k < m->ninputs + m->noutputs; k++)
        if (!tfjs_find_layer(m, m->refs[io + k].layer))
            FAIL("model %s layer '%s' is not in the model", k < m->ninputs ? "input" : "output",
                 show(m->refs[io + k].layer, b));
    return 0;
}

/* ------------------------------------------------------------ manifest */
static const char *const dtype_names[] = {"float32", "int32", "bool"};
static const char *const quant_names[] = {"none", "uint8", "uint16", "float16"};
static const unsigned quant_size[] = {0, 1, 2, 2};

const char *tfjs_dtype_name(tfjs_dtype t) { return (unsigned)t < 3 ? dtype_names[t] : "?"; }
const char *tfjs_quant_name(tfjs_quant q) { return (unsigned)q < 4 ? quant_names[q] : "?"; }

static int parse_weight(tfjs_model *m, const json_value *wj, int g, size_t i, tfjs_weight *w,
                        int64_t *dims, char *err, size_t errlen)
{
    char b[72], b2[72];
    if (json_type(wj) != JSON_OBJECT)
        FAIL("weightsManifest[%d].weights[%zu] is %s, not an object", g, i, a_type(wj));
    w->name = json_cstr(json_get(wj, "name"));
    if (!w->name || !w->name[0])
        FAIL("weightsManifest[%d].weights[%zu] has no name string", g, i);
    const char *nm = show(w->name, b);
    const char *dt = json_cstr(json_get(wj, "dtype"));
    if (!dt)
        FAIL("weight '%s': dtype is %s, not a string", nm, a_type(json_get(wj, "dtype")));
    int d = -1;
    for (int k = 0; k < 3; k++)
        if (!strcmp(dt, dtype_names[k]))
            d = k;
    if (d < 0)
        FAIL("weight '%s': unsupported dtype '%s' (float32, int32 or bool)", nm, show(dt, b2));
    w->dtype = (tfjs_dtype)d;
    const json_value *shape = json_get(wj, "shape");
    if (json_type(shape) != JSON_ARRAY)
        FAIL("weight '%s': shape is %s, not an array", nm, a_type(shape));
    size_t nd = json_len(shape);
    if (nd > TFJS_MAX_DIMS)
        FAIL("weight '%s': %zu dimensions, more than %d", nm, nd, TFJS_MAX_DIMS);
    uint64_t count = 1;
    for (size_t k = 0; k < nd; k++) {
        int64_t v;
        if (get_int(json_at(shape, k), 0, INT64_MAX, &v))
            FAIL("weight '%s': shape[%zu] is not a non-negative integer", nm, k);
        if (v && count > TFJS_MAX_VALUES / (uint64_t)v)
            FAIL("weight '%s': shape has more than %llu elements (or overflows)", nm,
                 (unsigned long long)TFJS_MAX_VALUES);
        count *= (uint64_t)v;
        dims[k] = v;
    }
    w->ndim = (int)nd;
    w->shape = nd ? dims : NULL;
    w->count = (size_t)count;
    w->group = g;
    unsigned esize = 4;
    if (w->dtype == TFJS_BOOL)
        esize = 1;
    const json_value *q = json_get(wj, "quantization");
    if (q) {
        if (json_type(q) != JSON_OBJECT)
            FAIL("weight '%s': quantization is %s, not an object", nm, a_type(q));
        const char *qd = json_cstr(json_get(q, "dtype"));
        if (!qd)
            FAIL("weight '%s': quantization has no dtype string", nm);
        for (int k = 1; k < 4; k++)
            if (!strcmp(qd, quant_names[k]))
                w->quant = (tfjs_quant)k;
        if (w->quant == TFJS_Q_NONE)
            FAIL("weight '%s': unknown quantization dtype '%s' (uint8, uint16 or float16)", nm,
                 show(qd, b2));
        if (w->quant == TFJS_Q_FLOAT16 && w->dtype != TFJS_FLOAT32)
            FAIL("weight '%s': float16 quantization needs dtype float32, not %s", nm, dt);
        if (w->quant != TFJS_Q_FLOAT16 && w->dtype == TFJS_BOOL)
            FAIL("weight '%s': %s quantization of a bool weight", nm, qd);
        if (w->quant != TFJS_Q_FLOAT16) {
            const json_value *mn = json_get(q, "min"), *sc = json_get(q, "scale");
            if (json_type(mn) != JSON_NUMBER || json_type(sc) != JSON_NUMBER)
                FAIL("weight '%s': %s quantization without numeric min and scale", nm, qd);
            w->qmin = json_num(mn);
            w->qscale = json_num(sc);
        }
        esize = quant_size[w->quant];
    }
    w->nbytes = count * esize; /* count <= 2^30: no overflow */
    return 0;
}

static int cmp_weight(const void *a, const void *b)
{
    return strcmp((*(const tfjs_weight *const *)a)->name, (*(const tfjs_weight *const *)b)->name);
}

static int parse_manifest(tfjs_model *m, const json_value *root, char *err, size_t errlen)
{
    const json_value *man = json_get(root, "weightsManifest");
    if (json_type(man) != JSON_ARRAY)
        FAIL("weightsManifest is %s, not an array", a_type(man));
    size_t ng = json_len(man), nw = 0, nd = 0;
    if (ng > INT_MAX)
        FAIL("too many weight groups");
    for (size_t g = 0; g < ng; g++) {
        const json_value *grp = json_at(man, g);
        if (json_type(grp) != JSON_OBJECT)
            FAIL("weightsManifest[%zu] is %s, not an object", g, a_type(grp));
        const json_value *ws = json_get(grp, "weights"), *ps = json_get(grp, "paths");
        if (json_type(ws) != JSON_ARRAY)
            FAIL("weightsManifest[%zu].weights is %s, not an array", g, a_type(ws));
        if (json_type(ps) != JSON_ARRAY)
            FAIL("weightsManifest[%zu].paths is %s, not an array", g, a_type(ps));
        nw += json_len(ws);
        for (size_t i = 0; i < json_len(ws); i++) {
            size_t k = json_len(json_get(json_at(ws, i), "shape"));
            nd += k < TFJS_MAX_DIMS ? k : TFJS_MAX_DIMS;
        }
    }
    m->weights = calloc(nw ? nw : 1, sizeof *m->weights);
    m->weights_by_name = calloc(nw ? nw : 1, sizeof *m->weights_by_name);
    m->dims = calloc(nd ? nd : 1, sizeof *m->dims);
    if (!m->weights || !m->weights_by_name || !m->dims)
        FAIL("out of memory for %zu weights", nw);
    uint64_t total_values = 0;
    size_t used = 0;
    for (size_t g = 0; g < ng; g++) {
        const json_value *ws = json_get(json_at(man, g), "weights");
        uint64_t offset = 0;
        for (size_t i = 0; i < json_len(ws); i++) {
            tfjs_weight *w = &m->weights[m->nweights];
            if (parse_weight(m, json_at(ws, i), (int)g, i, w, m->dims + used, err, errlen))
                return -1;
            used += (size_t)w->ndim;
            w->offset = offset;
            offset += w->nbytes; /* each <= 2^32, at most 2^22 of them */
            total_values += w->count;
            if (total_values > TFJS_MAX_VALUES)
                FAIL("the weights hold more than %llu values", (unsigned long long)TFJS_MAX_VALUES);
            m->weights_by_name[m->nweights] = w;
            m->nweights++;
        }
    }
    qsort(m->weights_by_name, m->nweights, sizeof *m->weights_by_name, cmp_weight);
    char b[72];
    for (size_t i = 1; i < m->nweights; i++)
        if (!strcmp(m->weights_by_name[i - 1]->name, m->weights_by_name[i]->name))
            FAIL("duplicate weight name '%s'", show(m->weights_by_name[i]->name, b));
    /* One arena; each weight at a multiple of 64 bytes. */
    size_t floats = 0;
    for (size_t i = 0; i < m->nweights; i++)
        floats += (m->weights[i].count + 15) / 16 * 16;
    m->values = aligned_alloc(64, (floats ? floats : 16) * sizeof(float));
    if (!m->values)
        FAIL("out of memory for %zu weight values", floats);
    floats = 0;
    for (size_t i = 0; i < m->nweights; i++) {
        m->weights[i].data = m->values + floats;
        floats += (m->weights[i].count + 15) / 16 * 16;
    }
    return 0;
}

/* ------------------------------------------------------------- shards */
/* Relative, inside the directory: not absolute, no ".." component. */
static const char *bad_path(const char *p, size_t len)
{
    if (len == 0)
        return "is empty";
    if (strlen(p) != len)
        return "contains U+0000";
    if (p[0] == '/')
        return "is absolute";
    for (const char *c = p; *c;) {
        const char *e = strchr(c, '/');
        size_t n = e ? (size_t)(e - c) : strlen(c);
        if (n == 2 && c[0] == '.' && c[1] == '.')
            return "has a '..' component";
        if (n == 0)
            return "has an empty component";
        c += n + (e ? 1 : 0);
        if (e && !*c)
            return "ends with '/'";
    }
    return NULL;
}

static double js_round(double x) { return floor(x + 0.5); }

/* ToInt32 of the ECMAScript spec: what storing into an Int32Array does. */
static int32_t to_int32(double x)
{
    if (!isfinite(x))
        return 0;
    double r = fmod(trunc(x), 4294967296.0);
    if (r < 0)
        r += 4294967296.0;
    uint32_t u = (uint32_t)r;
    return (int32_t)u;
}

static void decode(const tfjs_weight *w, const uint8_t *src, float *dst)
{
    size_t n = w->count;
    switch (w->quant) {
    case TFJS_Q_NONE:
        if (w->dtype == TFJS_FLOAT32)
            for (size_t i = 0; i < n; i++)
                dst[i] = lef32(src + 4 * i);
        else if (w->dtype == TFJS_INT32)
            for (size_t i = 0; i < n; i++)
                dst[i] = (float)(int32_t)le32(src + 4 * i);
        else
            for (size_t i = 0; i < n; i++)
                dst[i] = src[i] ? 1.0f : 0.0f;
        break;
    case TFJS_Q_UINT8:
    case TFJS_Q_UINT16:
        for (size_t i = 0; i < n; i++) {
            double q = w->quant == TFJS_Q_UINT8 ? src[i] : le16(src + 2 * i);
            double v = q * w->qscale + w->qmin;
            dst[i] = w->dtype == TFJS_INT32 ? (float)to_int32(js_round(v)) : (float)v;
        }
        break;
    case TFJS_Q_FLOAT16:
        for (size_t i = 0; i < n; i++)
            dst[i] = tfjs_half_to_float(le16(src + 2 * i));
        break;
    }
}

static int read_all(int fd, uint8_t *p, size_t n)
{
    while (n) {
        ssize_t k = read(fd, p, n);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0)
            return -1;
        p += k;
        n -= (size_t)k;
    }
    return 0;
}

static int load_group(tfjs_model *m, const json_value *grp, int g, const char *dir, char *err,
                      size_t errlen)
{
    char b[72];
    const json_value *paths = json_get(grp, "paths");
    size_t np = json_len(paths);
    uint64_t need = 0;
    size_t first = SIZE_MAX, nw = 0;
    for (size_t i = 0; i < m->nweights; i++)
        if (m->weights[i].group == g) {
            if (first == SIZE_MAX)
                first = i;
            need += m->weights[i].nbytes;
            nw++;
        }
    int *fds = calloc(np ? np : 1, sizeof *fds);
    if (!fds)
        FAIL("out of memory");
    for (size_t k = 0; k < np; k++)
        fds[k] = -1;
    uint64_t have = 0;
    int rc = 0;
    uint8_t *buf = NULL;
    for (size_t k = 0; k < np && rc == 0; k++) {
        size_t plen;
        const char *p = json_str(json_at(paths, k), &plen);
        const char *why = p ? bad_path(p, plen) : "is not a string";
        if (why) {
            rc = vf_fail(err, errlen, "weightsManifest[%d].paths[%zu] '%s' %s", g, k,
                      p ? show(p, b) : "", why);
            break;
        }
        char full[PATH_MAX];
        if ((size_t)snprintf(full, sizeof full, "%s/%s", dir, p) >= sizeof full) {
            rc = vf_fail(err, errlen, "weightsManifest[%d].paths[%zu]: path too long", g, k);
            break;
        }
        fds[k] = open(full, O_RDONLY | O_CLOEXEC);
        struct stat st;
        if (fds[k] < 0)
            rc = vf_fail(err, errlen, "weight shard %s: %s", full, strerror(errno));
        else if (fstat(fds[k], &st) != 0 || !S_ISREG(st.st_mode))
            rc = vf_fail(err, errlen, "weight shard %s: not a regular file", full);
        else if ((uint64_t)st.st_size > TFJS_MAX_VALUES * 4 - have)
            rc = vf_fail(err, errlen, "weight shards of group %d: more than %llu bytes", g,
                      (unsigned long long)TFJS_MAX_VALUES * 4);
        else
            have += (uint64_t)st.st_size;
    }
    if (rc == 0 && have != need)
        rc = vf_fail(err, errlen,
                  "weight group %d: its %zu shard(s) hold %llu bytes but its %zu weights need %llu "
                  "(%s)",
                  g, np, (unsigned long long)have, nw, (unsigned long long)need,
                  have < need ? "a shard is short or missing" : "a shard has extra bytes");
    if (rc == 0 && need) {
        buf = malloc((size_t)need);
        if (!buf)
            rc = vf_fail(err, errlen, "out of memory for %llu bytes of weights", (unsigned long long)need);
    }
    uint64_t at = 0;
    for (size_t k = 0; k < np && rc == 0; k++) {
        struct stat st;
        if (fstat(fds[k], &st) != 0 || (uint64_t)st.st_size > need - at ||
            read_all(fds[k], buf + at, (size_t)st.st_size) != 0) {
            rc = vf_fail(err, errlen, "weight group %d: reading shard %zu failed (changed while read?)", g, k);
            break;
        }
        at += (uint64_t)st.st_size;
    }
    for (size_t k = 0; k < np; k++)
        if (fds[k] >= 0)
            close(fds[k]);
    free(fds);
    if (rc == 0 && at != need)
        rc = vf_fail(err, errlen, "weight group %d: shards changed while read", g);
    for (size_t i = first; rc == 0 && nw && i < m->nweights; i++) {
        tfjs_weight *w = &m->weights[i];
        if (w->group == g)
            decode(w, buf + w->offset, (float *)w->data);
    }
    free(buf);
    return rc;
}

/* --------------------------------------------------------------- load */
int tfjs_load_mem(const void *json, size_t len, const char *dir, tfjs_model **out, char *err,
                  size_t errlen)
{
    *out = NULL;
    tfjs_model *m = calloc(1, sizeof *m);
    if (!m)
        FAIL("out of memory");
    char jerr[256];
    json_limits lim = {.max_bytes = TFJS_MAX_JSON_BYTES};
    int rc = 0;
    if (json_parse(json, len, &lim, &m->doc, jerr, sizeof jerr) != 0)
        rc = vf_fail(err, errlen, "model.json: %s", jerr);
    const json_value *root = json_root(m->doc);
    if (rc == 0 && json_type(root) != JSON_OBJECT)
        rc = vf_fail(err, errlen, "model.json is %s, not an object", a_type(root));
    if (rc == 0)
        rc = parse_topology(m, root, err, errlen);
    if (rc == 0)
        rc = parse_manifest(m, root, err, errlen);
    const json_value *man = json_get(root, "weightsManifest");
    for (size_t g = 0; rc == 0 && g < json_len(man); g++)
        rc = load_group(m, json_at(man, g), (int)g, dir, err, errlen);
    if (rc) {
        tfjs_free(m);
        return -1;
    }
    *out = m;
    return 0;
}

int tfjs_load(const char *path, tfjs_model **out, char *err, size_t errlen)
{
    *out = NULL;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        FAIL("%s: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        FAIL("%s: not a regular file", path);
    }
    if ((uint64_t)st.st_size > TFJS_MAX_JSON_BYTES) {
        close(fd);
        FAIL("%s: %lld bytes, more than the %zu a model.json may have", path, (long long)st.st_size,
             TFJS_MAX_JSON_BYTES);
    }
    size_t n = (size_t)st.st_size;
    char *buf = malloc(n ? n : 1);
    if (!buf || read_all(fd, (uint8_t *)buf, n) != 0) {
        close(fd);
        free(buf);
        FAIL("%s: read failed", path);
    }
    close(fd);
    char dir[PATH_MAX];
    const char *slash = strrchr(path, '/');
    if (!slash)
        snprintf(dir, sizeof dir, ".");
    else if (slash == path)
        snprintf(dir, sizeof dir, "/");
    else if ((size_t)(slash - path) >= sizeof dir) {
        free(buf);
        FAIL("%s: path too long", path);
    } else
        snprintf(dir, sizeof dir, "%.*s", (int)(slash - path), path);
    char sub[512];
    int rc = tfjs_load_mem(buf, n, dir, out, sub, sizeof sub);
    free(buf);
    if (rc)
        FAIL("%s: %s", path, sub);
    return 0;
}

void tfjs_free(tfjs_model *m)
{
    if (!m)
        return;
    json_free(m->doc);
    free(m->layers);
    free(m->layers_by_name);
    free(m->refs);
    free(m->weights);
    free(m->weights_by_name);
    free(m->dims);
    free(m->values);
    free(m);
}

/* ----------------------------------------------------------- accessors */
const char *tfjs_model_class(const tfjs_model *m) { return m->class_name; }
const json_value *tfjs_model_config(const tfjs_model *m) { return m->config; }
const json_value *tfjs_json(const tfjs_model *m) { return json_root(m->doc); }

size_t tfjs_layer_count(const tfjs_model *m) { return m->nlayers; }
const tfjs_layer *tfjs_layer_at(const tfjs_model *m, size_t i)
{
    return i < m->nlayers ? &m->layers[i] : NULL;
}

const tfjs_layer *tfjs_find_layer(const tfjs_model *m, const char *name)
{
    size_t lo = 0, hi = m->nlayers;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(m->layers_by_name[mid]->name, name);
        if (c == 0)
            return m->layers_by_name[mid];
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

const tfjs_ref *tfjs_inputs(const tfjs_model *m, size_t *n)
{
    *n = m->ninputs;
    return m->inputs;
}

const tfjs_ref *tfjs_outputs(const tfjs_model *m, size_t *n)
{
    *n = m->noutputs;
    return m->outputs;
}

size_t tfjs_weight_count(const tfjs_model *m) { return m->nweights; }
const tfjs_weight *tfjs_weight_at(const tfjs_model *m, size_t i)
{
    return i < m->nweights ? &m->weights[i] : NULL;
}

const tfjs_weight *tfjs_find_weight(const tfjs_model *m, const char *name)
{
    size_t lo = 0, hi = m->nweights;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(m->weights_by_name[mid]->name, name);
        if (c == 0)
            return m->weights_by_name[mid];
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

float tfjs_half_to_float(uint16_t h)
{
    uint32_t s = (uint32_t)(h & 0x8000) << 16, e = h >> 10 & 0x1f, mant = h & 0x3ff, u;
    if (e == 0) {
        if (mant == 0) {
            u = s;
        } else { /* subnormal: normalise */
            e = 113;
            while (!(mant & 0x400)) {
                mant <<= 1;
                e--;
            }
            u = s | e << 23 | (mant & 0x3ff) << 13;
        }
    } else if (e == 31) {
        u = s | 0x7f800000u | mant << 13;
    } else {
        u = s | (e + 112) << 23 | mant << 13;
    }
    float f;
    memcpy(&f, &u, 4);
    return f;
}
