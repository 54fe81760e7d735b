/* The CLIP BPE tokenizer (OpenAI CLIP's simple_tokenizer.py, which open_clip
 * and Hugging Face's CLIPTokenizer reproduce), read from CLIP's merges file
 * bpe_simple_vocab_16e6.txt.gz.
 *
 * Vocabulary, as CLIP builds it: the 256 byte symbols of GPT-2's
 * bytes_to_unicode, the same with "</w>" (end of word), the joined symbols of
 * the first 48,894 merges (lines 2..48,895 of the file), then
 * <|startoftext|> (49406) and <|endoftext|> (49407): 49,408 tokens.
 *
 * Encoding, as CLIP's encode(): UTF-8 → code points; html.unescape twice;
 * strip; runs of whitespace → one space; strip; lower(); split by CLIP's
 * regex (letters runs, single digits, other-symbol runs, the contractions
 * 's 't 're 've 'm 'll 'd, and the two special tokens spelt out); each piece's
 * UTF-8 bytes through bytes_to_unicode, then byte-pair merges by rank (the
 * lowest-ranked pair first, all its occurrences left to right, as CLIP's
 * loop does; here with a heap, O(L log L) for a piece of L bytes rather than
 * CLIP's O(L²) per merge round). Ids: [49406] + pieces + [49407].
 *
 * Defined differences from CLIP:
 *  - ftfy.fix_text (mojibake repair, NFC, curly quotes, …: heuristic, a large
 *    library) is not applied. Ids equal CLIP's whenever ftfy leaves the text
 *    unchanged (plain, already-NFC text; CLIP's own reference strings).
 *  - Input is bytes: invalid UTF-8 is decoded as Python's
 *    bytes.decode("utf-8", "replace") does (each maximal ill-formed subpart
 *    → U+FFFD), never an error. So the ids are CLIP's for that decoded text.
 *  - Character tables are Python 3.11's (Unicode 14.0); CLIP's `regex`
 *    module may know newer letters (runtime/unicode_tables.c).
 *
 * The merges file is hostile input: gzip with CRC and length checked, at most
 * VR_TOKENIZER_MAX_FILE bytes inflated, UTF-8 validated, every used line
 * exactly two non-empty symbols separated by one space; anything else is
 * refused with the line number. A loaded tokenizer is read-only: encoding is
 * thread-safe. */
#ifndef VIREO_RUNTIME_TOKENIZER_H
#define VIREO_RUNTIME_TOKENIZER_H

#include <stddef.h>
#include <stdint.h>

#define VR_CLIP_CONTEXT 77                    /* CLIP's text context length */
#define VR_TOKENIZER_MAX_FILE ((size_t)64 << 20) /* inflated merges file */
#define VR_TOKENIZER_MAX_TEXT ((size_t)16 << 20) /* one text, in bytes */

typedef struct vr_tokenizer vr_tokenizer;

/* path: a gzip'd merges file (bpe_simple_vocab_16e6.txt.gz). */
int vr_tokenizer_open(const char *path, vr_tokenizer **out, char *err, size_t errlen);
/* The same from gzip bytes in memory. */
int vr_tokenizer_from_gzip(const void *gz, size_t len, vr_tokenizer **out, char *err,
                           size_t errlen);
void vr_tokenizer_free(vr_tokenizer *t); /* accepts NULL */

int vr_tokenizer_vocab_size(const vr_tokenizer *t); /* 49408 */
int32_t vr_tokenizer_sot(const vr_tokenizer *t);    /* 49406 */
int32_t vr_tokenizer_eot(const vr_tokenizer *t);    /* 49407 */

/* All ids of text[0..len) (UTF-8): [sot] + pieces + [eot], untruncated.
 * *ids is malloc'd (caller frees), *n ≥ 2. -1 with a message when the text is
 * over VR_TOKENIZER_MAX_TEXT or memory runs out. */
int vr_tokenizer_encode(const vr_tokenizer *t, const char *text, size_t len, int32_t **ids,
                        size_t *n, char *err, size_t errlen);

/* CLIP's tokenize(text, context_length=context, truncate=True): the ids as
 * above; when more than `context`, the first context − 1 then eot. out[] gets
 * `context` entries, zero-padded after the ids (the model's input row).
 * Returns the number of ids before the padding (2..context), or -1 (context
 * < 2, text too long, out of memory). Work stops once `context` ids exist, so
 * a long text costs its clean-up (linear) and a few pieces of BPE. */
int vr_tokenizer_encode_context(const vr_tokenizer *t, const char *text, size_t len, int context,
                                int32_t *out, char *err, size_t errlen);

#endif
