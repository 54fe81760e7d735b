/* JSON parser: RFC 8259 accept/refuse cases (in the spirit of JSONTestSuite's
 * y_/n_ files), exact integers, limits, error positions, truncation at every
 * length, random corruption and a random round trip. Every input is copied
 * into a buffer of exactly its length, so ASan catches any read past it. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "formats/json.h"
#include "testutil.h"

/* ------------------------------------------------------------- helpers */
typedef struct sb {
    char *p;
    size_t n, cap;
} sb;

static void sb_put(sb *b, const void *s, size_t n)
{
    if (b->n + n + 1 > b->cap) {
        b->cap = (b->n + n + 1) * 2;
        b->p = realloc(b->p, b->cap);
        assert_non_null(b->p);
    }
    memcpy(b->p + b->n, s, n);
    b->n += n;
    b->p[b->n] = 0;
}
static void sb_str(sb *b, const char *s) { sb_put(b, s, strlen(s)); }
static void sb_fmt(sb *b, const char *fmt, ...)
{
    char tmp[64];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    sb_str(b, tmp);
}

static void dump_string(sb *b, const char *s, size_t n)
{
    sb_str(b, "\"");
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\')
            sb_fmt(b, "\\%c", c);
        else if (c < 0x20)
            sb_fmt(b, "\\u%04x", c);
        else
            sb_put(b, &s[i], 1);
    }
    sb_str(b, "\"");
}

/* Canonical form: no whitespace, integers exact, other numbers %.17g. */
static void dump(const json_value *v, sb *b)
{
    size_t n;
    const char *s;
    int64_t i;
    int t;
    switch (json_type(v)) {
    case JSON_NULL: sb_str(b, "null"); break;
    case JSON_BOOL:
        assert_int_equal(json_bool(v, &t), 0);
        sb_str(b, t ? "true" : "false");
        break;
    case JSON_NUMBER:
        if (json_int(v, &i) == 0)
            sb_fmt(b, "%lld", (long long)i);
        else
            sb_fmt(b, "%.17g", json_num(v));
        break;
    case JSON_STRING:
        s = json_str(v, &n);
        assert_non_null(s);
        assert_int_equal(s[n], 0);
        dump_string(b, s, n);
        break;
    case JSON_ARRAY:
        sb_str(b, "[");
        for (size_t k = 0; k < json_len(v); k++) {
            if (k)
                sb_str(b, ",");
            dump(json_at(v, k), b);
        }
        sb_str(b, "]");
        break;
    case JSON_OBJECT:
        sb_str(b, "{");
        for (size_t k = 0; k < json_len(v); k++) {
            if (k)
                sb_str(b, ",");
            s = json_key_at(v, k, &n);
            dump_string(b, s, n);
            sb_str(b, ":");
            dump(json_at(v, k), b);
        }
        sb_str(b, "}");
        break;
    default: tu_fail("bad type %d", json_type(v));
    }
}

/* Parses a copy of exactly len bytes. */
static int parse_exact(const char *text, size_t len, const json_limits *lim, json_doc **doc,
                       char *err, size_t errlen)
{
    char *copy = malloc(len ? len : 1);
    memcpy(copy, text, len);
    int rc = json_parse(copy, len, lim, doc, err, errlen);
    free(copy); /* the document must not point into the input */
    return rc;
}

/* --------------------------------------------------------- valid inputs */
typedef struct {
    const char *in;
    size_t len; /* 0: strlen */
    const char *canon;
} valid_case;

static const valid_case valid[] = {
    {"[]", 0, "[]"},
    {"{}", 0, "{}"},
    {" \t\r\n[ \t\r\n] \t\r\n", 0, "[]"},
    {"\"a\"", 0, "\"a\""}, /* any value may be the root (RFC 8259, not 4627) */
    {"1", 0, "1"},
    {"-0", 0, "0"},
    {"null", 0, "null"},
    {"true", 0, "true"},
    {"false", 0, "false"},
    {"[1,-2,3.5,-0.25]", 0, "[1,-2,3.5,-0.25]"},
    {"[1e1,1E+2,1e-2,-1.5e-3,0.5]", 0, "[10,100,0.01,-0.0015,0.5]"},
    {"[1.0,1.5e1,1200e-2,0e1000000000,0.0e-5]", 0, "[1,15,12,0,0]"},
    {"[1.05e1]", 0, "[10.5]"},
    {"[123456789012345678]", 0, "[123456789012345678]"},
    {"[9223372036854775807,-9223372036854775808]", 0, "[9223372036854775807,-9223372036854775808]"},
    {"[9223372036854775808]", 0, "[9.2233720368547758e+18]"},
    {"[1e-400]", 0, "[0]"}, /* underflows to 0 as a double; not an integer */
    {"[1.7976931348623157e308]", 0, "[1.7976931348623157e+308]"},
    {"{\"a\":[1,{\"b\":null}],\"c\":\"d\"}", 0, "{\"a\":[1,{\"b\":null}],\"c\":\"d\"}"},
    {"{\"a\":1,\"a\":2}", 0, "{\"a\":1,\"a\":2}"},
    {"[\"\\\"\\\\\\/\\b\\f\\n\\r\\t\"]", 0, "[\"\\\"\\\\/\\u0008\\u000c\\u000a\\u000d\\u0009\"]"},
    {"[\"\\u0041\\u00e9\\u20AC\\ud83d\\ude00\"]", 0, "[\"A\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\"]"},
    {"[\"\\uDBFF\\uDFFF\"]", 0, "[\"\xf4\x8f\xbf\xbf\"]"},
    {"[\"\\u0000\"]", 0, "[\"\\u0000\"]"},
    {"[\"\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\xef\xbf\xbf\xf4\x8f\xbf\xbf\"]", 0,
     "[\"\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\xef\xbf\xbf\xf4\x8f\xbf\xbf\"]"},
    {"[\"\x7f\"]", 0, "[\"\x7f\"]"}, /* DEL is not a control character for JSON */
    {"[\"\\u002F\"]", 0, "[\"/\"]"},
    {"[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]", 0, "[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]"},
    {"{\"\":\"\"}", 0, "{\"\":\"\"}"},
};

static void test_valid(void **state)
{
    for (size_t c = 0; c < sizeof valid / sizeof *valid; c++) {
        const valid_case *vc = &valid[c];
        size_t len = vc->len ? vc->len : strlen(vc->in);
        json_doc *doc = NULL;
        char err[256] = "";
        if (parse_exact(vc->in, len, NULL, &doc, err, sizeof err) != 0) {
            tu_fail("valid case %zu (%s) refused: %s", c, vc->in, err);
            continue;
        }
        sb b = {0};
        dump(json_root(doc), &b);
        if (strcmp(b.p, vc->canon) != 0)
            tu_fail("valid case %zu (%s): got %s, want %s", c, vc->in, b.p, vc->canon);
        free(b.p);
        json_free(doc);
    }
}

static void test_accessors(void **state)
{
    const char *text = "{\"a\":1,\"a\":2,\"s\":\"x\\u0000y\",\"n\":null,\"arr\":[true,2.5],"
                       "\"\\u0061b\":3,\"big\":9007199254740993}";
    json_doc *doc;
    char err[256];
    assert_int_equal(parse_exact(text, strlen(text), NULL, &doc, err, sizeof err), 0);
    const json_value *r = json_root(doc);
    assert_int_equal(json_type(r), JSON_OBJECT);
    assert_int_equal(json_len(r), 7);
    int64_t i;
    /* Duplicate keys: the first wins. */
    assert_int_equal(json_int(json_get(r, "a"), &i), 0);
    assert_int_equal(i, 1);
    assert_int_equal(json_int(json_at(r, 1), &i), 0);
    assert_int_equal(i, 2);
    /* Keys compare after unescaping. */
    assert_int_equal(json_int(json_get(r, "ab"), &i), 0);
    assert_int_equal(i, 3);
    /* Embedded NUL: the length tells; json_cstr refuses it. */
    size_t n;
    const char *s = json_str(json_get(r, "s"), &n);
    assert_int_equal(n, 3);
    assert_memory_equal(s, "x\0y", 4);
    assert_null(json_cstr(json_get(r, "s")));
    assert_true(json_is_null(json_get(r, "n")));
    assert_int_equal(json_type(json_get(r, "n")), JSON_NULL);
    /* Exact beyond 2^53, where the double is not. */
    assert_int_equal(json_int(json_get(r, "big"), &i), 0);
    assert_true(i == 9007199254740993LL);
    assert_true(json_num(json_get(r, "big")) == 9007199254740992.0);
    const json_value *arr = json_get(r, "arr");
    int b;
    assert_int_equal(json_bool(json_at(arr, 0), &b), 0);
    assert_int_equal(b, 1);
    assert_true(json_num(json_at(arr, 1)) == 2.5);
    assert_int_equal(json_int(json_at(arr, 1), &i), -1);
    /* NULL and wrong types chain harmlessly. */
    assert_null(json_at(arr, 2));
    assert_null(json_get(json_get(r, "missing"), "x"));
    assert_null(json_get(arr, "a"));
    assert_null(json_at(json_get(r, "s"), 0));
    assert_int_equal(json_len(NULL), 0);
    assert_int_equal(json_type(NULL), JSON_NONE);
    assert_true(isnan(json_num(json_get(r, "s"))));
    assert_null(json_str(json_get(r, "a"), NULL));
    assert_int_equal(json_bool(NULL, &b), -1);
    assert_null(json_key_at(arr, 0, NULL));
    assert_string_equal(json_key_at(r, 5, NULL), "ab");
    assert_string_equal(json_type_name(JSON_OBJECT), "object");
    json_free(doc);
    json_free(NULL);
}

/* ------------------------------------------------------- invalid inputs */
typedef struct {
    const char *in;
    size_t len; /* 0: strlen */
    const char *expect; /* substring of the error */
} invalid_case;

static const invalid_case invalid[] = {
    {"", 0, "line 1, column 1: unexpected end of input"},
    {" \n ", 0, "line 2, column 2: unexpected end of input"},
    {"[1,]", 0, "trailing comma in an array"},
    {"{\"a\":1,}", 0, "trailing comma in an object"},
    {"[1,,2]", 0, "unexpected ','"},
    {"[,1]", 0, "unexpected ','"},
    {"[1 2]", 0, "expected ',' or ']'"},
    {"{\"a\" 1}", 0, "expected ':'"},
    {"{\"a\":1 \"b\":2}", 0, "expected ',' or '}'"},
    {"{1:2}", 0, "expected a string key"},
    {"{'a':1}", 0, "expected a string key"},
    {"{\"a\":}", 0, "unexpected '}'"},
    {"[01]", 0, "leading zero"},
    {"[-01]", 0, "leading zero"},
    {"[00]", 0, "leading zero"},
    {"[1.]", 0, "after '.'"},
    {"[.5]", 0, "unexpected '.'"},
    {"[+1]", 0, "unexpected '+'"},
    {"[1e]", 0, "exponent"},
    {"[1e+]", 0, "exponent"},
    {"[-]", 0, "after '-'"},
    {"-", 0, "after '-', got end of input"},
    {"[0x10]", 0, "expected ',' or ']'"},
    {"[Infinity]", 0, "unexpected 'I'"},
    {"[-Infinity]", 0, "after '-'"},
    {"[NaN]", 0, "unexpected 'N'"},
    {"[1e400]", 0, "out of the range of a double"},
    {"[-1e400]", 0, "out of the range of a double"},
    {"[1e99999999999999999999]", 0, "out of the range of a double"},
    {"[\"\\ud800\"]", 0, "lone high surrogate"},
    {"[\"\\ud800\\u0041\"]", 0, "lone high surrogate"},
    {"[\"\\ud800x\"]", 0, "lone high surrogate"},
    {"[\"\\ud800\\ud800\"]", 0, "lone high surrogate"},
    {"[\"\\udc00\"]", 0, "lone low surrogate"},
    {"[\"\\ude00\\ud83d\"]", 0, "lone low surrogate"},
    {"[\"\\u12\"]", 0, "4 hex digits"},
    {"[\"\\u12G4\"]", 0, "4 hex digits"},
    {"[\"\\x\"]", 0, "invalid escape '\\x'"},
    {"[\"\\'\"]", 0, "invalid escape"},
    {"[\"a\tb\"]", 0, "control character U+0009"},
    {"[\"a\nb\"]", 0, "control character U+000A"},
    {"[\"\x01\"]", 0, "control character U+0001"},
    {"[\"a\0b\"]", 7, "control character U+0000"},
    {"[\"\xff\"]", 0, "invalid UTF-8"},
    {"[\"\x80\"]", 0, "invalid UTF-8"},
    {"[\"\xc0\xaf\"]", 0, "invalid UTF-8"},           /* overlong '/' */
    {"[\"\xc1\xbf\"]", 0, "invalid UTF-8"},           /* overlong */
    {"[\"\xe0\x80\xaf\"]", 0, "invalid UTF-8"},       /* overlong */
    {"[\"\xf0\x80\x80\xaf\"]", 0, "invalid UTF-8"},   /* overlong */
    {"[\"\xed\xa0\x80\"]", 0, "invalid UTF-8"},       /* UTF-8-encoded surrogate */
    {"[\"\xf4\x90\x80\x80\"]", 0, "invalid UTF-8"},   /* above U+10FFFF */
    {"[\"\xf5\x80\x80\x80\"]", 0, "invalid UTF-8"},
    {"[\"\xe2\x82\"]", 0, "invalid UTF-8"},           /* truncated sequence */
    {"[\"\xe2\x82", 0, "unterminated string"},
    {"[\"abc", 0, "unterminated string"},
    {"[\"abc\\", 0, "unterminated string"},
    {"[\"abc\\\"]", 0, "unterminated string"},
    {"[", 0, "unexpected end of input"},
    {"{", 0, "expected a string key, got end of input"},
    {"{\"a\"", 0, "expected ':'"},
    {"{\"a\":", 0, "unexpected end of input"},
    {"[1", 0, "expected ',' or ']' after an array item, got end of input"},
    {"tru", 0, "invalid literal"},
    {"nul", 0, "invalid literal"},
    {"True", 0, "unexpected 'T'"},
    {"[truex]", 0, "expected ',' or ']'"},
    {"[] []", 0, "after the JSON value"},
    {"[]x", 0, "after the JSON value"},
    {"1 2", 0, "after the JSON value"},
    {"[1]\0", 4, "unexpected \\x00 after the JSON value"},
    {"\xef\xbb\xbf[]", 0, "byte order mark"},
    {"[1]//c", 0, "after the JSON value"},
    {"/*c*/[1]", 0, "unexpected '/'"},
    {"[\f1]", 0, "unexpected \\x0c"},
    {"[\xc2\xa0" "1]", 0, "unexpected \\xc2"}, /* U+00A0 is not JSON whitespace */
    {"'a'", 0, "unexpected '''"},
    {"[\n  1,\n  ]", 0, "line 2, column 4: trailing comma in an array"},
    {"{\"a\":\n\n   [1,\n  x]}", 0, "line 4, column 3: unexpected 'x'"},
};

static void test_invalid(void **state)
{
    for (size_t c = 0; c < sizeof invalid / sizeof *invalid; c++) {
        const invalid_case *ic = &invalid[c];
        size_t len = ic->len ? ic->len : strlen(ic->in);
        json_doc *doc = (json_doc *)1;
        char err[256] = "";
        int rc = parse_exact(ic->in, len, NULL, &doc, err, sizeof err);
        if (rc == 0) {
            tu_fail("invalid case %zu (%s): accepted", c, ic->in);
            json_free(doc);
            continue;
        }
        if (getenv("VIREO_TEST_VERBOSE"))
            fprintf(stderr, "%-28s -> %s\n", ic->in, err);
        assert_null(doc);
        if (!strstr(err, ic->expect))
            tu_fail("invalid case %zu (%s): error '%s' does not mention '%s'", c, ic->in, err,
                    ic->expect);
        if (strncmp(err, "line ", 5) != 0)
            tu_fail("invalid case %zu: error '%s' has no position", c, err);
    }
}

static char *nested(size_t depth, size_t *len)
{
    char *s = malloc(2 * depth + 1);
    for (size_t i = 0; i < depth; i++)
        s[i] = '[', s[2 * depth - 1 - i] = ']';
    s[2 * depth] = 0;
    *len = 2 * depth;
    return s;
}

static void test_limits(void **state)
{
    json_doc *doc;
    char err[256];
    size_t len;
    /* Depth: exactly the default is fine, one more is a clean error. */
    char *s = nested(JSON_DEFAULT_MAX_DEPTH, &len);
    assert_int_equal(parse_exact(s, len, NULL, &doc, err, sizeof err), 0);
    json_free(doc);
    free(s);
    s = nested(JSON_DEFAULT_MAX_DEPTH + 1, &len);
    assert_int_equal(parse_exact(s, len, NULL, &doc, err, sizeof err), -1);
    assert_non_null(strstr(err, "nesting deeper than 64"));
    assert_non_null(strstr(err, "column 65"));
    free(s);
    /* Far deeper than any stack could recurse: refused, not a crash. */
    s = nested(1000000, &len);
    json_limits big = {.max_depth = 100000000};
    assert_int_equal(parse_exact(s, len, &big, &doc, err, sizeof err), -1);
    assert_non_null(strstr(err, "nesting deeper than 1024"));
    assert_int_equal(parse_exact(s, len, NULL, &doc, err, sizeof err), -1);
    free(s);
    /* Objects count too. */
    const char *objs = "{\"a\":{\"b\":{\"c\":1}}}";
    json_limits d2 = {.max_depth = 2};
    assert_int_equal(parse_exact(objs, strlen(objs), &d2, &doc, err, sizeof err), -1);
    assert_non_null(strstr(err, "max_depth"));
    json_limits d3 = {.max_depth = 3};
    assert_int_equal(parse_exact(objs, strlen(objs), &d3, &doc, err, sizeof err), 0);
    json_free(doc);
    /* Bytes. */
    json_limits b4 = {.max_bytes = 4};
    assert_int_equal(parse_exact("[1,2]", 5, &b4, &doc, err, sizeof err), -1);
    assert_non_null(strstr(err, "max_bytes"));
    assert_int_equal(parse_exact("[12]", 4, &b4, &doc, err, sizeof err), 0);
    json_free(doc);
    /* Elements: [1,2,3] is 4 values. */
    json_limits e3 = {.max_elements = 3}, e4 = {.max_elements = 4};
    assert_int_equal(parse_exact("[1,2,3]", 7, &e3, &doc, err, sizeof err), -1);
    assert_non_null(strstr(err, "max_elements"));
    assert_int_equal(parse_exact("[1,2,3]", 7, &e4, &doc, err, sizeof err), 0);
    json_free(doc);
    /* A tiny error buffer is still NUL-terminated; NULL err is fine. */
    char tiny[8];
    assert_int_equal(parse_exact("[1,]", 4, NULL, &doc, tiny, sizeof tiny), -1);
    assert_int_equal(strlen(tiny), 7);
    assert_int_equal(parse_exact("[1,]", 4, NULL, &doc, NULL, 0), -1);
    assert_int_equal(json_parse(NULL, 0, NULL, &doc, err, sizeof err), -1);
    assert_non_null(strstr(err, "end of input"));
}

/* A long flat array and a long string: linear time, one arena. */
static void test_large(void **state)
{
    size_t n = 500000;
    sb b = {0};
    sb_str(&b, "[");
    for (size_t i = 0; i < n; i++)
        sb_fmt(&b, i ? ",%zu" : "%zu", i);
    sb_str(&b, "]");
    json_doc *doc;
    char err[256];
    assert_int_equal(json_parse(b.p, b.n, NULL, &doc, err, sizeof err), 0);
    const json_value *r = json_root(doc);
    assert_int_equal(json_len(r), n);
    int64_t v;
    assert_int_equal(json_int(json_at(r, n - 1), &v), 0);
    assert_int_equal(v, (int64_t)n - 1);
    json_free(doc);
    b.n = 0;
    sb_str(&b, "\"");
    for (size_t i = 0; i < 200000; i++)
        sb_str(&b, i % 3 ? "ab" : "\\u00e9");
    sb_str(&b, "\"");
    assert_int_equal(json_parse(b.p, b.n, NULL, &doc, err, sizeof err), 0);
    size_t len;
    json_str(json_root(doc), &len);
    assert_int_equal(len, 400000); /* "ab" and U+00E9 are both 2 bytes */
    json_free(doc);
    free(b.p);
}

static const char sample[] =
    "{\n"
    "  \"name\": \"vireo \\u00e9\\ud83d\\ude00 \xe2\x82\xac\",\n"
    "  \"layers\": [ {\"class_name\": \"Conv2D\", \"config\": {\"filters\": 32, \"kernel_size\": [3, 3],\n"
    "      \"strides\": [2,2], \"use_bias\": false, \"scale\": -1.25e-3, \"x\": null}},\n"
    "    {\"class_name\": \"Dense\", \"units\": 1000, \"t\": true, \"esc\": \"\\\"\\\\\\/\\b\\f\\n\\r\\t\"} ],\n"
    "  \"empty\": {}, \"none\": [], \"n\": -0.0\n"
    "}";

/* Every proper prefix of a document that is an object is incomplete. */
static void test_truncated_everywhere(void **state)
{
    size_t len0 = sizeof sample - 1;
    json_doc *doc;
    char err[256];
    assert_int_equal(parse_exact(sample, len0, NULL, &doc, err, sizeof err), 0);
    json_free(doc);
    for (size_t len = 0; len < len0; len++) {
        doc = (json_doc *)1;
        if (parse_exact(sample, len, NULL, &doc, err, sizeof err) == 0) {
            tu_fail("truncated to %zu bytes: accepted", len);
            json_free(doc);
        } else {
            assert_null(doc);
            assert_true(strncmp(err, "line ", 5) == 0);
        }
    }
}

/* Byte flips, insertions and deletions: never a crash, and what is accepted
 * dumps and re-parses to the same thing. */
static void test_random_corruption(void **state)
{
    size_t len0 = sizeof sample - 1;
    tu_rng r = tu_rng_make(11);
    static const char alphabet[] = "{}[]\":,\\u0123456789eE+-.tfn \n\x80\xc3\xed\xf4\xff\x00";
    int accepted = 0;
    for (int it = 0; it < 20000; it++) {
        char *b = malloc(len0 + 8);
        memcpy(b, sample, len0);
        size_t len = len0;
        int edits = 1 + (int)(tu_next(&r) % 3);
        for (int k = 0; k < edits; k++) {
            size_t pos = tu_next(&r) % len;
            int op = (int)(tu_next(&r) % 3);
            if (op == 0) {
                b[pos] = alphabet[tu_next(&r) % (sizeof alphabet - 1)];
            } else if (op == 1 && len < len0 + 8) {
                memmove(b + pos + 1, b + pos, len - pos);
                b[pos] = alphabet[tu_next(&r) % (sizeof alphabet - 1)];
                len++;
            } else if (len > 1) {
                memmove(b + pos, b + pos + 1, len - pos - 1);
                len--;
            }
        }
        json_doc *doc;
        char err[256];
        if (parse_exact(b, len, NULL, &doc, err, sizeof err) == 0) {
            accepted++;
            sb d1 = {0}, d2 = {0};
            dump(json_root(doc), &d1);
            json_doc *doc2;
            if (json_parse(d1.p, d1.n, NULL, &doc2, err, sizeof err) != 0)
                tu_fail("canonical form of an accepted mutation refused: %s\n%s", err, d1.p);
            dump(json_root(doc2), &d2);
            assert_string_equal(d1.p, d2.p);
            json_free(doc2);
            json_free(doc);
            free(d1.p);
            free(d2.p);
        } else {
            assert_true(strncmp(err, "line ", 5) == 0);
        }
        free(b);
    }
    assert_true(accepted > 0);
}

/* ------------------------------------------------- random round trip */
static void gen_ws(tu_rng *r, sb *text)
{
    static const char *ws[] = {"", "", "", " ", "\n", "\t", "\r\n  "};
    sb_str(text, ws[tu_next(r) % 7]);
}

static void gen_string(tu_rng *r, sb *text, sb *canon)
{
    sb raw = {0}; /* the decoded bytes */
    sb_str(text, "\"");
    int n = (int)(tu_next(r) % 12);
    for (int i = 0; i < n; i++) {
        int kind = (int)(tu_next(r) % 6);
        uint8_t u[4];
        unsigned cp;
        if (kind == 0) { /* plain ASCII */
            char c = (char)(0x20 + tu_next(r) % 95);
            if (c == '"' || c == '\\')
                c = 'q';
            sb_put(text, &c, 1);
            sb_put(&raw, &c, 1);
        } else if (kind == 1) { /* short escapes */
            static const char *esc[] = {"\\\"", "\\\\", "\\/", "\\b", "\\f", "\\n", "\\r", "\\t"};
            static const char dec[] = "\"\\/\b\f\n\r\t";
            int k = (int)(tu_next(r) % 8);
            sb_str(text, esc[k]);
            sb_put(&raw, &dec[k], 1);
        } else {
            /* a code point, raw (kind 2) or as \u escape(s) */
            static const unsigned range[] = {0x80, 0x800, 0x10000, 0x110000};
            unsigned lim = range[tu_next(r) % 4];
            do
                cp = (unsigned)(tu_next(r) % lim);
            while ((cp >= 0xd800 && cp <= 0xdfff) || (kind == 2 && cp < 0x20));
            size_t k;
            if (cp < 0x80) {
                u[0] = (uint8_t)cp, k = 1;
            } else if (cp < 0x800) {
                u[0] = (uint8_t)(0xc0 | cp >> 6), u[1] = (uint8_t)(0x80 | (cp & 0x3f)), k = 2;
            } else if (cp < 0x10000) {
                u[0] = (uint8_t)(0xe0 | cp >> 12), u[1] = (uint8_t)(0x80 | (cp >> 6 & 0x3f));
                u[2] = (uint8_t)(0x80 | (cp & 0x3f)), k = 3;
            } else {
                u[0] = (uint8_t)(0xf0 | cp >> 18), u[1] = (uint8_t)(0x80 | (cp >> 12 & 0x3f));
                u[2] = (uint8_t)(0x80 | (cp >> 6 & 0x3f)), u[3] = (uint8_t)(0x80 | (cp & 0x3f));
                k = 4;
            }
            if (kind == 2 && cp != '"' && cp != '\\') {
                sb_put(text, u, k);
            } else if (cp >= 0x10000) {
                unsigned v = cp - 0x10000;
                sb_fmt(text, "\\u%04X\\u%04x", 0xd800 + (v >> 10), 0xdc00 + (v & 0x3ff));
            } else {
                sb_fmt(text, tu_next(r) % 2 ? "\\u%04x" : "\\u%04X", cp);
            }
            sb_put(&raw, u, k);
        }
    }
    sb_str(text, "\"");
    dump_string(canon, raw.p ? raw.p : "", raw.n);
    free(raw.p);
}

static void gen_value(tu_rng *r, int depth, sb *text, sb *canon)
{
    int kind = (int)(tu_next(r) % (depth < 5 ? 8 : 6));
    gen_ws(r, text);
    switch (kind) {
    case 0: sb_str(text, "null"), sb_str(canon, "null"); break;
    case 1: {
        const char *t = tu_next(r) % 2 ? "true" : "false";
        sb_str(text, t), sb_str(canon, t);
        break;
    }
    case 2: { /* integer */
        int64_t v = (int64_t)tu_next(r) >> (tu_next(r) % 63);
        sb_fmt(text, "%lld", (long long)v), sb_fmt(canon, "%lld", (long long)v);
        break;
    }
    case 3: { /* double, written so that it round-trips */
        double d;
        do {
            uint64_t bits = tu_next(r);
            memcpy(&d, &bits, 8);
        } while (!isfinite(d) || d == 0 || (d == floor(d) && fabs(d) < 1e19));
        sb_fmt(text, "%.17g", d), sb_fmt(canon, "%.17g", d);
        break;
    }
    case 4:
    case 5: gen_string(r, text, canon); break;
    case 6: { /* array */
        int n = (int)(tu_next(r) % 5);
        sb_str(text, "["), sb_str(canon, "[");
        for (int i = 0; i < n; i++) {
            if (i)
                sb_str(text, ","), sb_str(canon, ",");
            gen_value(r, depth + 1, text, canon);
        }
        gen_ws(r, text);
        sb_str(text, "]"), sb_str(canon, "]");
        break;
    }
    default: { /* object */
        int n = (int)(tu_next(r) % 5);
        sb_str(text, "{"), sb_str(canon, "{");
        for (int i = 0; i < n; i++) {
            if (i)
                sb_str(text, ","), sb_str(canon, ",");
            gen_ws(r, text);
            gen_string(r, text, canon);
            gen_ws(r, text);
            sb_str(text, ":"), sb_str(canon, ":");
            gen_value(r, depth + 1, text, canon);
        }
        gen_ws(r, text);
        sb_str(text, "}"), sb_str(canon, "}");
        break;
    }
    }
    gen_ws(r, text);
}

static void test_random_round_trip(void **state)
{
    tu_rng r = tu_rng_make(5);
    for (int it = 0; it < 3000; it++) {
        sb text = {0}, canon = {0}, got = {0};
        gen_value(&r, 0, &text, &canon);
        json_doc *doc;
        char err[256];
        if (parse_exact(text.p, text.n, NULL, &doc, err, sizeof err) != 0) {
            tu_fail("generated document refused: %s\n%s", err, text.p);
        } else {
            dump(json_root(doc), &got);
            if (strcmp(got.p, canon.p) != 0)
                tu_fail("round trip %d:\n text  %s\n got   %s\n want  %s", it, text.p, got.p,
                        canon.p);
            json_free(doc);
        }
        free(text.p), free(canon.p), free(got.p);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_valid),
        cmocka_unit_test(test_accessors),
        cmocka_unit_test(test_invalid),
        cmocka_unit_test(test_limits),
        cmocka_unit_test(test_large),
        cmocka_unit_test(test_truncated_everywhere),
        cmocka_unit_test(test_random_corruption),
        cmocka_unit_test(test_random_round_trip),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
