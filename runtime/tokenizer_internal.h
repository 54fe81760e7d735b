/* CLIP tokenizer internals: text clean-up and pre-tokenisation on code points
 * (runtime/tokenizer_text.c), used by runtime/tokenizer.c and the tests. */
#ifndef VIREO_RUNTIME_TOKENIZER_INTERNAL_H
#define VIREO_RUNTIME_TOKENIZER_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

/* UTF-8 → code points. Invalid input never fails: each maximal ill-formed
 * subpart (Unicode 15, §3.9 "U+FFFD substitution of maximal subparts": a lead
 * byte and the continuation bytes that could still complete it) becomes one
 * U+FFFD, as Python's bytes.decode("utf-8", "replace") does. out holds at
 * least len code points; returns how many were written. */
size_t vr_tok_utf8_decode(const uint8_t *s, size_t len, uint32_t *out);
/* One code point from s[0..len), len ≥ 1: returns the bytes consumed, *cp
 * (U+FFFD and *ok = 0 for an ill-formed subpart). */
size_t vr_tok_utf8_one(const uint8_t *s, size_t len, uint32_t *cp, int *ok);

/* Code point → UTF-8 (cp ≤ 0x10FFFF, no surrogates); returns 1..4 bytes. */
int vr_tok_utf8_put(uint32_t cp, uint8_t *out);

/* CLIP's text clean-up, in its order, on x[0..n) in place (the result is
 * never longer than 2n; x must have room for that):
 *   html.unescape twice, str.strip(), re.sub(r"\s+", " ") and strip() again
 *   (whitespace_clean), str.lower() (with Python's final-sigma rule).
 * Returns the new length. */
size_t vr_tok_clean(uint32_t *x, size_t n, uint32_t *tmp);

/* One html.unescape pass: dst (room for n) from src[0..n); returns the length. */
size_t vr_tok_html_unescape(const uint32_t *src, size_t n, uint32_t *dst);

/* CLIP's pre-tokeniser, leftmost-first like the regex
 *   <|startoftext|>|<|endoftext|>|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+
 * (IGNORECASE): the next match at or after *pos in x[0..n). Returns 1 with
 * the match in [*start, *end) and *pos = *end, or 0 when none is left. */
int vr_tok_next_piece(const uint32_t *x, size_t n, size_t *pos, size_t *start, size_t *end);

/* Character classes (the generated tables). */
int vr_uc_is_letter(uint32_t cp);
int vr_uc_is_number(uint32_t cp);
int vr_uc_is_white_space(uint32_t cp);
int vr_uc_is_space(uint32_t cp);
/* str.lower() of one code point out of context (U+03A3 needs its context:
 * vr_tok_clean applies the final-sigma rule): writes 1 or 2 code points,
 * returns how many. */
int vr_uc_tolower(uint32_t cp, uint32_t out[2]);

#endif
