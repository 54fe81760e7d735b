/* A small, strict RFC 8259 JSON parser into a read-only DOM (docs/FORMATS.md,
 * "JSON").
 *
 * Input is hostile: the parser is bounded by json_limits (bytes, nesting
 * depth, number of values), accepts only what RFC 8259 allows (no comments,
 * no trailing commas, no leading zeros, no NaN/Infinity, no byte order mark,
 * no control characters or invalid UTF-8 inside strings, no lone UTF-16
 * surrogates in \u escapes) and reports the first problem as
 * "line L, column C: ..." (1-based; the column counts bytes).
 *
 * The whole document lives in one arena freed by json_free; every pointer the
 * accessors return is valid until then. Strings are unescaped to UTF-8 and
 * NUL-terminated; a string may contain U+0000 (from "\u0000"), so its length
 * is given separately.
 *
 * Numbers: json_num gives the nearest double. A number that would overflow a
 * double (1e400) is refused. json_int gives the exact value as int64 when the
 * number is integral and in range, computed from the decimal text itself
 * (so 9007199254740993 is exact, 1.5e1 is 15, 1.05e1 is not an integer).
 *
 * Duplicate keys are kept (RFC 8259 leaves them to the implementation):
 * json_get returns the FIRST member with the key; iterate with json_key_at /
 * json_at to see the others. Lookup is a linear scan.
 *
 * Every accessor accepts NULL (and a value of the wrong type) and then returns
 * NULL / 0 / JSON_NONE, so lookups chain: json_get(json_get(root, "a"), "b").
 */
#ifndef VIREO_FORMATS_JSON_H
#define VIREO_FORMATS_JSON_H

#include <stddef.h>
#include <stdint.h>

typedef enum json_type {
    JSON_NONE = 0, /* no value (NULL pointer) */
    JSON_NULL,
    JSON_BOOL,
    JSON_NUMBER,
    JSON_STRING,
    JSON_ARRAY,
    JSON_OBJECT,
} json_type;

#define JSON_DEFAULT_MAX_BYTES ((size_t)64 << 20) /* 64 MiB */
#define JSON_DEFAULT_MAX_DEPTH 64
#define JSON_DEFAULT_MAX_ELEMENTS ((size_t)1 << 22) /* 4 Mi values: <= ~320 MB peak (~80 B each) */
#define JSON_MAX_DEPTH_CAP 1024 /* the parser recurses: a larger max_depth is clamped */

/* A field left 0 takes its default; a NULL json_limits means all defaults. */
typedef struct json_limits {
    size_t max_bytes;    /* input length */
    size_t max_depth;    /* nesting of arrays and objects; the root container is depth 1 */
    size_t max_elements; /* values in the document: every scalar, array and object counts 1
                            (object keys do not) */
} json_limits;

typedef struct json_doc json_doc;
typedef struct json_value json_value;

/* Parses buf[0..len). On success *out holds the document (free with
 * json_free) and 0 is returned; on failure *out is NULL, err holds
 * "line L, column C: what" and -1 is returned. */
int json_parse(const void *buf, size_t len, const json_limits *lim, json_doc **out, char *err,
               size_t errlen);
void json_free(json_doc *doc); /* accepts NULL */

const json_value *json_root(const json_doc *doc);
json_type json_type_of(const json_value *v);
#define json_type(v) json_type_of(v)
const char *json_type_name(json_type t); /* "null", "bool", "number", ... */

/* Arrays and objects: number of items / members; 0 for anything else. */
size_t json_len(const json_value *v);
/* i-th item of an array, or i-th member's value of an object; NULL past the end. */
const json_value *json_at(const json_value *v, size_t i);
/* i-th member's key of an object (NUL-terminated; *len if non-NULL). */
const char *json_key_at(const json_value *obj, size_t i, size_t *len);
/* First member with this key (compared byte for byte after unescaping). */
const json_value *json_get(const json_value *obj, const char *key);
const json_value *json_getn(const json_value *obj, const char *key, size_t keylen);

/* A string's bytes (NUL-terminated; *len if non-NULL), or NULL. */
const char *json_str(const json_value *v, size_t *len);
/* A string without an embedded NUL, or NULL: what C code that treats names
 * as C strings wants. */
const char *json_cstr(const json_value *v);
/* A number's value, or NaN if v is not a number. */
double json_num(const json_value *v);
/* 0 and *out = the value if v is an integral number that fits int64; -1 otherwise. */
int json_int(const json_value *v, int64_t *out);
/* 0 and *out = 0/1 if v is true/false; -1 otherwise. */
int json_bool(const json_value *v, int *out);
int json_is_null(const json_value *v);

#endif
