/* Character tables of the CLIP tokenizer (runtime/unicode_tables.c, generated
 * by tools/gen_unicode_tables.py from Python's unicodedata and html.entities).
 * Internal to runtime/tokenizer*.c. */
#ifndef VIREO_RUNTIME_TOKENIZER_TABLES_H
#define VIREO_RUNTIME_TOKENIZER_TABLES_H

#include <stddef.h>
#include <stdint.h>

/* Inclusive code point ranges, sorted, disjoint. */
typedef struct vr_uc_range {
    uint32_t lo, hi;
} vr_uc_range;

/* str.lower() for code points that become one other code point: first,
 * first + stride, ... (count of them) map to themselves + delta. Sorted by
 * first; the spans of different runs do not interleave. */
typedef struct vr_uc_lower_run {
    uint32_t first;
    uint16_t count;
    uint8_t stride;
    int32_t delta;
} vr_uc_lower_run;

/* str.lower() mappings to two code points (U+0130 → "i̇"). */
typedef struct vr_uc_lower_multi {
    uint32_t cp;
    uint32_t lower[2];
} vr_uc_lower_multi;

/* HTML5 named character references (html.entities.html5): the name as the
 * text after '&', with its ';' when it has one; one or two code points (the
 * second 0 when absent). Sorted by name (bytewise). */
typedef struct vr_html_entity {
    const char *name;
    uint32_t cp[2];
} vr_html_entity;

extern const vr_uc_range vr_uc_letter[];      /* \p{L} */
extern const size_t vr_uc_letter_count;
extern const vr_uc_range vr_uc_number[];      /* \p{N} */
extern const size_t vr_uc_number_count;
extern const vr_uc_range vr_uc_white_space[]; /* \s of the regex module (White_Space) */
extern const size_t vr_uc_white_space_count;
extern const vr_uc_range vr_uc_isspace[];     /* str.isspace(), what str.strip() removes */
extern const size_t vr_uc_isspace_count;
extern const vr_uc_range vr_uc_case_ignorable[]; /* for Python's final-sigma rule */
extern const size_t vr_uc_case_ignorable_count;
extern const vr_uc_range vr_uc_cased[];          /* cased and not case-ignorable */
extern const size_t vr_uc_cased_count;
extern const vr_uc_lower_run vr_uc_lower[];
extern const size_t vr_uc_lower_count;
extern const vr_uc_lower_multi vr_uc_lower_multi_map[];
extern const size_t vr_uc_lower_multi_count;
extern const vr_html_entity vr_html_entities[];
extern const size_t vr_html_entity_count;

#endif
