/* Strict RFC 8259 parser (json.h). Recursive descent bounded by max_depth;
 * containers are collected on a scratch stack and copied into the arena when
 * they close, so each array/object is one contiguous block. */
#include "json.h"

#include <locale.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct json_value {
    uint8_t type;
    uint8_t has_int; /* numbers: i is exact */
    uint8_t boolean;
    size_t n; /* string length, item or member count */
    union {
        const char *s;
        json_value *items;
        struct json_member *members;
        double d;
    } u;
    int64_t i;
};

typedef struct json_member {
    const char *key;
    size_t keylen;
    json_value value;
} json_member;

/* ---------------------------------------------------------------- arena */
typedef struct chunk {
    struct chunk *next;
    size_t used, cap;
    max_align_t data[]; /* cap bytes */
} chunk;

#define CHUNK_MIN ((size_t)64 << 10)

struct json_doc {
    chunk *chunks;
    json_value root;
};

static void *arena_alloc(json_doc *d, size_t n)
{
    n = (n + 15) & ~(size_t)15;
    if (n == 0)
        n = 16;
    chunk *c = d->chunks;
    if (!c || c->cap - c->used < n) {
        size_t cap = n > CHUNK_MIN ? n : CHUNK_MIN;
        if (cap > SIZE_MAX - sizeof(chunk))
            return NULL;
        c = malloc(sizeof(chunk) + cap);
        if (!c)
            return NULL;
        c->used = 0;
        c->cap = cap;
        /* Big blocks go behind the current chunk so its free space stays usable. */
        if (d->chunks && n > CHUNK_MIN) {
            c->next = d->chunks->next;
            d->chunks->next = c;
        } else {
            c->next = d->chunks;
            d->chunks = c;
        }
    }
    void *p = (char *)c->data + c->used;
    c->used += n;
    return p;
}

void json_free(json_doc *doc)
{
    if (!doc)
        return;
    for (chunk *c = doc->chunks, *next; c; c = next) {
        next = c->next;
        free(c);
    }
    free(doc);
}

/* --------------------------------------------------------------- parser */
typedef struct parser {
    const uint8_t *begin, *p, *end;
    size_t depth, max_depth, elements, max_elements;
    json_doc *doc;
    json_member *stack;
    size_t sp, cap;
    char *err;
    size_t errlen;
} parser;

/* Reports at position at: line and column are computed from the start (only
 * on the error path). */
static int fail_at(parser *ps, const uint8_t *at, const char *fmt, ...)
{
    if (ps->err && ps->errlen) {
        size_t line = 1;
        const uint8_t *ls = ps->begin;
        for (const uint8_t *q = ps->begin; q < at; q++)
            if (*q == '\n')
                line++, ls = q + 1;
        int k = snprintf(ps->err, ps->errlen, "line %zu, column %zu: ", line,
                         (size_t)(at - ls) + 1);
        if (k >= 0 && (size_t)k < ps->errlen) {
            va_list ap;
            va_start(ap, fmt);
            vsnprintf(ps->err + k, ps->errlen - (size_t)k, fmt, ap);
            va_end(ap);
        }
    }
    return -1;
}

/* A byte for a message: printable as itself, else as \xNN. */
static const char *show(const uint8_t *p, const uint8_t *end, char buf[8])
{
    if (p >= end)
        return "end of input";
    if (*p >= 0x20 && *p < 0x7f)
        snprintf(buf, 8, "'%c'", *p);
    else
        snprintf(buf, 8, "\\x%02x", *p);
    return buf;
}

static void skip_ws(parser *ps)
{
    while (ps->p < ps->end &&
           (*ps->p == ' ' || *ps->p == '\t' || *ps->p == '\n' || *ps->p == '\r'))
        ps->p++;
}

static int push(parser *ps, const json_member *m)
{
    if (ps->sp == ps->cap) {
        size_t cap = ps->cap ? ps->cap * 2 : 64;
        json_member *s = realloc(ps->stack, cap * sizeof *s);
        if (!s)
            return fail_at(ps, ps->p, "out of memory");
        ps->stack = s;
        ps->cap = cap;
    }
    ps->stack[ps->sp++] = *m;
    return 0;
}

static int hex4(const uint8_t *p, unsigned *out)
{
    unsigned v = 0;
    for (int i = 0; i < 4; i++) {
        unsigned c = p[i], d;
        if (c >= '0' && c <= '9')
            d = c - '0';
        else if (c >= 'a' && c <= 'f')
            d = c - 'a' + 10;
        else if (c >= 'A' && c <= 'F')
            d = c - 'A' + 10;
        else
            return -1;
        v = v << 4 | d;
    }
    *out = v;
    return 0;
}

static size_t put_utf8(uint8_t *o, unsigned cp)
{
    if (cp < 0x80) {
        o[0] = (uint8_t)cp;
        return 1;
    }
    if (cp < 0x800) {
        o[0] = (uint8_t)(0xc0 | cp >> 6);
        o[1] = (uint8_t)(0x80 | (cp & 0x3f));
        return 2;
    }
    if (cp < 0x10000) {
        o[0] = (uint8_t)(0xe0 | cp >> 12);
        o[1] = (uint8_t)(0x80 | (cp >> 6 & 0x3f));
        o[2] = (uint8_t)(0x80 | (cp & 0x3f));
        return 3;
    }
    o[0] = (uint8_t)(0xf0 | cp >> 18);
    o[1] = (uint8_t)(0x80 | (cp >> 12 & 0x3f));
    o[2] = (uint8_t)(0x80 | (cp >> 6 & 0x3f));
    o[3] = (uint8_t)(0x80 | (cp & 0x3f));
    return 4;
}

/* Length of the valid UTF-8 sequence at p (lead byte >= 0x80), or 0
 * (RFC 3629: no overlong forms, no surrogates, nothing above U+10FFFF). */
static size_t utf8_len(const uint8_t *p, const uint8_t *end)
{
    uint8_t c = p[0];
    size_t n;
    uint8_t lo = 0x80, hi = 0xbf;
    if (c >= 0xc2 && c <= 0xdf)
        n = 2;
    else if (c >= 0xe0 && c <= 0xef) {
        n = 3;
        if (c == 0xe0)
            lo = 0xa0;
        else if (c == 0xed)
            hi = 0x9f;
    } else if (c >= 0xf0 && c <= 0xf4) {
        n = 4;
        if (c == 0xf0)
            lo = 0x90;
        else if (c == 0xf4)
            hi = 0x8f;
    } else
        return 0;
    if ((size_t)(end - p) < n)
        return 0;
    if (p[1] < lo || p[1] > hi)
        return 0;
    for (size_t i = 2; i < n; i++)
        if ((p[i] & 0xc0) != 0x80)
            return 0;
    return n;
}

/* At the opening quote. Unescapes into the arena. */
static int parse_string(parser *ps, const char **out, size_t *outlen)
{
    const uint8_t *open = ps->p;
    const uint8_t *q = open + 1;
    /* Find the closing quote: bounds the output (unescaping never grows). */
    while (q < ps->end && *q != '"') {
        if (*q == '\\' && ps->end - q < 2) {
            q = ps->end;
            break;
        }
        q += *q == '\\' ? 2 : 1;
    }
    if (q >= ps->end)
        return fail_at(ps, open, "unterminated string");
    size_t raw = (size_t)(q - open - 1);
    uint8_t *o = arena_alloc(ps->doc, raw + 1), *o0 = o;
    if (!o)
        return fail_at(ps, open, "out of memory");
    const uint8_t *p = open + 1;
    while (p < q) {
        uint8_t c = *p;
        if (c == '\\') {
            const uint8_t *esc = p;
            p++; /* p < q: the scan above skipped the escaped byte */
            switch (*p) {
            case '"': *o++ = '"'; p++; break;
            case '\\': *o++ = '\\'; p++; break;
            case '/': *o++ = '/'; p++; break;
            case 'b': *o++ = '\b'; p++; break;
            case 'f': *o++ = '\f'; p++; break;
            case 'n': *o++ = '\n'; p++; break;
            case 'r': *o++ = '\r'; p++; break;
            case 't': *o++ = '\t'; p++; break;
            case 'u': {
                unsigned cp, lo;
                if (q - p < 5 || hex4(p + 1, &cp))
                    return fail_at(ps, esc, "\\u must be followed by 4 hex digits");
                p += 5;
                if (cp >= 0xdc00 && cp <= 0xdfff)
                    return fail_at(ps, esc, "lone low surrogate \\u%04X", cp);
                if (cp >= 0xd800 && cp <= 0xdbff) {
                    if (q - p < 6 || p[0] != '\\' || p[1] != 'u' || hex4(p + 2, &lo) ||
                        lo < 0xdc00 || lo > 0xdfff)
                        return fail_at(ps, esc, "lone high surrogate \\u%04X (no low surrogate after it)", cp);
                    p += 6;
                    cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
                }
                o += put_utf8(o, cp);
                break;
            }
            default:
                if (*p >= 0x20 && *p < 0x7f)
                    return fail_at(ps, esc, "invalid escape '\\%c'", *p);
                return fail_at(ps, esc, "invalid escape: backslash before byte 0x%02x", *p);
            }
        } else if (c < 0x20) {
            return fail_at(ps, p, "control character U+%04X in a string (must be escaped)", c);
        } else if (c < 0x80) {
            *o++ = c;
            p++;
        } else {
            size_t n = utf8_len(p, q);
            if (!n)
                return fail_at(ps, p, "invalid UTF-8 in a string (byte 0x%02x)", c);
            memcpy(o, p, n);
            o += n;
            p += n;
        }
    }
    *o = 0;
    *out = (const char *)o0;
    *outlen = (size_t)(o - o0);
    ps->p = q + 1;
    return 0;
}

static int is_digit(const uint8_t *p, const uint8_t *end) { return p < end && *p >= '0' && *p <= '9'; }

/* Exact int64 from the decimal text: digits d[0..nd) (int and fraction parts,
 * fraction nfrac long), times 10^exp. */
static int exact_int(const uint8_t *ip, size_t nint, const uint8_t *fp, size_t nfrac, int neg,
                     long long exp, int64_t *out)
{
    /* Significant digits: the int part then the fraction part. */
    size_t nd = nint + nfrac;
#define DIGIT(k) ((k) < nint ? ip[k] : fp[(k) - nint])
    size_t first = 0;
    while (first < nd && DIGIT(first) == '0')
        first++;
    if (first == nd) {
        *out = 0;
        return 0;
    }
    size_t last = nd; /* one past the last non-zero digit */
    while (DIGIT(last - 1) == '0')
        last--;
    /* value = digits[first..last) * 10^p */
    long long p = exp - (long long)nfrac + (long long)(nd - last);
    if (p < 0)
        return -1;
    if (last - first > 19 || p > 19)
        return -1;
    uint64_t v = 0;
    for (size_t k = first; k < last; k++) {
        unsigned dg = (unsigned)(DIGIT(k) - '0');
        if (v > (UINT64_MAX - dg) / 10)
            return -1;
        v = v * 10 + dg;
    }
#undef DIGIT
    for (long long k = 0; k < p; k++) {
        if (v > UINT64_MAX / 10)
            return -1;
        v *= 10;
    }
    if (neg) {
        if (v > (uint64_t)INT64_MAX + 1)
            return -1;
        *out = v == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)v;
    } else {
        if (v > (uint64_t)INT64_MAX)
            return -1;
        *out = (int64_t)v;
    }
    return 0;
}

static int parse_number(parser *ps, json_value *v)
{
    const uint8_t *start = ps->p, *p = ps->p, *end = ps->end;
    int neg = 0;
    if (*p == '-')
        neg = 1, p++;
    if (!is_digit(p, end)) {
        char b[8];
        return fail_at(ps, p, "expected a digit after '-', got %s", show(p, end, b));
    }
    const uint8_t *ip = p;
    if (*p == '0') {
        p++;
        if (is_digit(p, end))
            return fail_at(ps, start, "leading zero in a number");
    } else {
        while (is_digit(p, end))
            p++;
    }
    size_t nint = (size_t)(p - ip);
    const uint8_t *fp = p;
    size_t nfrac = 0;
    if (p < end && *p == '.') {
        p++;
        if (!is_digit(p, end)) {
            char b[8];
            return fail_at(ps, p, "expected a digit after '.', got %s", show(p, end, b));
        }
        fp = p;
        while (is_digit(p, end))
            p++;
        nfrac = (size_t)(p - fp);
    }
    long long exp = 0;
    if (p < end && (*p == 'e' || *p == 'E')) {
        p++;
        int eneg = 0;
        if (p < end && (*p == '+' || *p == '-'))
            eneg = *p == '-', p++;
        if (!is_digit(p, end)) {
            char b[8];
            return fail_at(ps, p, "expected a digit in the exponent, got %s", show(p, end, b));
        }
        while (is_digit(p, end)) {
            if (exp < 1000000000LL) /* saturate: far beyond any double */
                exp = exp * 10 + (*p - '0');
            p++;
        }
        if (eneg)
            exp = -exp;
    }
    size_t n = (size_t)(p - start);
    /* strtod on a NUL-terminated copy, with the locale's decimal point. */
    char sbuf[128], *s = n < sizeof sbuf ? sbuf : malloc(n + 1);
    if (!s)
        return fail_at(ps, start, "out of memory");
    memcpy(s, start, n);
    s[n] = 0;
    const char *dp = localeconv()->decimal_point;
    if (dp && dp[0] && dp[0] != '.' && !dp[1] && nfrac) {
        char *dot = strchr(s, '.');
        if (dot)
            *dot = dp[0];
    }
    double d = strtod(s, NULL);
    if (s != sbuf)
        free(s);
    if (isinf(d))
        return fail_at(ps, start, "number %.*s is out of the range of a double", (int)(n > 40 ? 40 : n),
                       (const char *)start);
    v->type = JSON_NUMBER;
    v->u.d = d;
    v->has_int = exact_int(ip, nint, fp, nfrac, neg, exp, &v->i) == 0;
    ps->p = p;
    return 0;
}

static int parse_value(parser *ps, json_value *v);

static int enter(parser *ps)
{
    if (++ps->depth > ps->max_depth)
        return fail_at(ps, ps->p, "nesting deeper than %zu (max_depth)", ps->max_depth);
    return 0;
}

static int parse_array(parser *ps, json_value *v)
{
    if (enter(ps))
        return -1;
    size_t base = ps->sp;
    ps->p++;
    skip_ws(ps);
    if (ps->p < ps->end && *ps->p == ']') {
        ps->p++;
    } else {
        for (;;) {
            json_member m = {0};
            if (parse_value(ps, &m.value) || push(ps, &m))
                return -1;
            skip_ws(ps);
            if (ps->p < ps->end && *ps->p == ',') {
                const uint8_t *comma = ps->p++;
                skip_ws(ps);
                if (ps->p < ps->end && *ps->p == ']')
                    return fail_at(ps, comma, "trailing comma in an array");
                continue;
            }
            if (ps->p < ps->end && *ps->p == ']') {
                ps->p++;
                break;
            }
            char b[8];
            return fail_at(ps, ps->p, "expected ',' or ']' after an array item, got %s",
                           show(ps->p, ps->end, b));
        }
    }
    size_t n = ps->sp - base;
    v->type = JSON_ARRAY;
    v->n = n;
    v->u.items = NULL;
    if (n) {
        json_value *items = arena_alloc(ps->doc, n * sizeof *items);
        if (!items)
            return fail_at(ps, ps->p, "out of memory");
        for (size_t i = 0; i < n; i++)
            items[i] = ps->stack[base + i].value;
        v->u.items = items;
    }
    ps->sp = base;
    ps->depth--;
    return 0;
}

static int parse_object(parser *ps, json_value *v)
{
    if (enter(ps))
        return -1;
    size_t base = ps->sp;
    ps->p++;
    skip_ws(ps);
    if (ps->p < ps->end && *ps->p == '}') {
        ps->p++;
    } else {
        for (;;) {
            json_member m = {0};
            if (ps->p >= ps->end || *ps->p != '"') {
                char b[8];
                return fail_at(ps, ps->p, "expected a string key, got %s", show(ps->p, ps->end, b));
            }
            if (parse_string(ps, &m.key, &m.keylen))
                return -1;
            skip_ws(ps);
            if (ps->p >= ps->end || *ps->p != ':') {
                char b[8];
                return fail_at(ps, ps->p, "expected ':' after a key, got %s", show(ps->p, ps->end, b));
            }
            ps->p++;
            if (parse_value(ps, &m.value) || push(ps, &m))
                return -1;
            skip_ws(ps);
            if (ps->p < ps->end && *ps->p == ',') {
                const uint8_t *comma = ps->p++;
                skip_ws(ps);
                if (ps->p < ps->end && *ps->p == '}')
                    return fail_at(ps, comma, "trailing comma in an object");
                continue;
            }
            if (ps->p < ps->end && *ps->p == '}') {
                ps->p++;
                break;
            }
            char b[8];
            return fail_at(ps, ps->p, "expected ',' or '}' after an object member, got %s",
                           show(ps->p, ps->end, b));
        }
    }
    size_t n = ps->sp - base;
    v->type = JSON_OBJECT;
    v->n = n;
    v->u.members = NULL;
    if (n) {
        json_member *ms = arena_alloc(ps->doc, n * sizeof *ms);
        if (!ms)
            return fail_at(ps, ps->p, "out of memory");
        memcpy(ms, ps->stack + base, n * sizeof *ms);
        v->u.members = ms;
    }
    ps->sp = base;
    ps->depth--;
    return 0;
}

static int literal(parser *ps, const char *word, json_value *v, json_type t, int b)
{
    size_t n = strlen(word);
    if ((size_t)(ps->end - ps->p) < n || memcmp(ps->p, word, n) != 0)
        return fail_at(ps, ps->p, "invalid literal (expected %s)", word);
    ps->p += n;
    v->type = (uint8_t)t;
    v->boolean = (uint8_t)b;
    return 0;
}

static int parse_value(parser *ps, json_value *v)
{
    skip_ws(ps);
    if (ps->p >= ps->end)
        return fail_at(ps, ps->p, "unexpected end of input (expected a value)");
    if (++ps->elements > ps->max_elements)
        return fail_at(ps, ps->p, "more than %zu values (max_elements)", ps->max_elements);
    memset(v, 0, sizeof *v);
    switch (*ps->p) {
    case '{': return parse_object(ps, v);
    case '[': return parse_array(ps, v);
    case '"':
        v->type = JSON_STRING;
        return parse_string(ps, &v->u.s, &v->n);
    case 't': return literal(ps, "true", v, JSON_BOOL, 1);
    case 'f': return literal(ps, "false", v, JSON_BOOL, 0);
    case 'n': return literal(ps, "null", v, JSON_NULL, 0);
    case '-':
    case '0': case '1': case '2': case '3': case '4':
    case '5': case '6': case '7': case '8': case '9':
        return parse_number(ps, v);
    default: {
        char b[8];
        return fail_at(ps, ps->p, "unexpected %s (expected a value)", show(ps->p, ps->end, b));
    }
    }
}

int json_parse(const void *buf, size_t len, const json_limits *lim, json_doc **out, char *err,
               size_t errlen)
{
    *out = NULL;
    if (err && errlen)
        err[0] = 0;
    json_limits L = lim ? *lim : (json_limits){0};
    if (!L.max_bytes)
        L.max_bytes = JSON_DEFAULT_MAX_BYTES;
    if (!L.max_depth)
        L.max_depth = JSON_DEFAULT_MAX_DEPTH;
    if (L.max_depth > JSON_MAX_DEPTH_CAP)
        L.max_depth = JSON_MAX_DEPTH_CAP;
    if (!L.max_elements)
        L.max_elements = JSON_DEFAULT_MAX_ELEMENTS;
    parser ps = {.begin = buf, .p = buf, .end = (const uint8_t *)buf + len,
                 .max_depth = L.max_depth, .max_elements = L.max_elements,
                 .err = err, .errlen = errlen};
    if (!buf && len)
        return fail_at(&ps, ps.p, "no buffer");
    if (!buf)
        ps.begin = ps.p = ps.end = (const uint8_t *)"";
    if (len > L.max_bytes) {
        if (err && errlen)
            snprintf(err, errlen, "input of %zu bytes exceeds max_bytes (%zu)", len, L.max_bytes);
        return -1;
    }
    if (len >= 3 && !memcmp(buf, "\xef\xbb\xbf", 3))
        return fail_at(&ps, ps.p, "byte order mark is not allowed");
    json_doc *d = calloc(1, sizeof *d);
    if (!d)
        return fail_at(&ps, ps.p, "out of memory");
    ps.doc = d;
    int rc = parse_value(&ps, &d->root);
    if (rc == 0) {
        skip_ws(&ps);
        if (ps.p < ps.end) {
            char b[8];
            rc = fail_at(&ps, ps.p, "unexpected %s after the JSON value", show(ps.p, ps.end, b));
        }
    }
    free(ps.stack);
    if (rc) {
        json_free(d);
        return -1;
    }
    *out = d;
    return 0;
}

/* ------------------------------------------------------------ accessors */
const json_value *json_root(const json_doc *doc) { return doc ? &doc->root : NULL; }

json_type json_type_of(const json_value *v) { return v ? (json_type)v->type : JSON_NONE; }

const char *json_type_name(json_type t)
{
    static const char *const names[] = {"none", "null", "bool", "number", "string", "array", "object"};
    return (unsigned)t < sizeof names / sizeof *names ? names[t] : "?";
}

size_t json_len(const json_value *v)
{
    return v && (v->type == JSON_ARRAY || v->type == JSON_OBJECT) ? v->n : 0;
}

const json_value *json_at(const json_value *v, size_t i)
{
    if (!v || i >= v->n)
        return NULL;
    if (v->type == JSON_ARRAY)
        return &v->u.items[i];
    if (v->type == JSON_OBJECT)
        return &v->u.members[i].value;
    return NULL;
}

const char *json_key_at(const json_value *obj, size_t i, size_t *len)
{
    if (!obj || obj->type != JSON_OBJECT || i >= obj->n)
        return NULL;
    if (len)
        *len = obj->u.members[i].keylen;
    return obj->u.members[i].key;
}

const json_value *json_getn(const json_value *obj, const char *key, size_t keylen)
{
    if (!obj || obj->type != JSON_OBJECT || !key)
        return NULL;
    for (size_t i = 0; i < obj->n; i++) {
        const json_member *m = &obj->u.members[i];
        if (m->keylen == keylen && memcmp(m->key, key, keylen) == 0)
            return &m->value;
    }
    return NULL;
}

const json_value *json_get(const json_value *obj, const char *key)
{
    return key ? json_getn(obj, key, strlen(key)) : NULL;
}

const char *json_str(const json_value *v, size_t *len)
{
    if (!v || v->type != JSON_STRING)
        return NULL;
    if (len)
        *len = v->n;
    return v->u.s;
}

const char *json_cstr(const json_value *v)
{
    size_t n;
    const char *s = json_str(v, &n);
    return s && strlen(s) == n ? s : NULL;
}

double json_num(const json_value *v) { return v && v->type == JSON_NUMBER ? v->u.d : NAN; }

int json_int(const json_value *v, int64_t *out)
{
    if (!v || v->type != JSON_NUMBER || !v->has_int)
        return -1;
    *out = v->i;
    return 0;
}

int json_bool(const json_value *v, int *out)
{
    if (!v || v->type != JSON_BOOL)
        return -1;
    *out = v->boolean;
    return 0;
}

int json_is_null(const json_value *v) { return v && v->type == JSON_NULL; }
