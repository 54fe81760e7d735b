/* Texts → embeddings with a CLIP-style text tower: the tokenizer
 * (runtime/tokenizer.h) makes each text one zero-padded context row of ids
 * (vr_tokenizer_encode_context, truncated as CLIP does), the tower's graph
 * (runtime/convert_clip.c: input s32 [1, ctx, 1], output the E-dim text
 * embedding) runs on batches of rows.
 *
 * A model is accepted as a text tower when its graph input is s32 ids of shape
 * [1, ctx, 1] (ctx ≥ 2) and its output a vector; an image model, or a text
 * model whose metadata names another tokenizer than CLIP's BPE
 * (`text.tokenizer`), is refused with a message saying so. The rows come back
 * as the tower gives them (not normalised). */
#ifndef VIREO_RUNTIME_TEXT_ENCODER_H
#define VIREO_RUNTIME_TEXT_ENCODER_H

#include <stddef.h>

#include "runtime/threadpool.h"

typedef struct vr_text_encoder vr_text_encoder;

/* model_path: a vireo weight file holding a text tower; vocab_path: CLIP's
 * bpe_simple_vocab_16e6.txt.gz. */
int vr_text_encoder_open(const char *model_path, const char *vocab_path, vr_text_encoder **out,
                         char *err, size_t errlen);
void vr_text_encoder_close(vr_text_encoder *e); /* accepts NULL */

size_t vr_text_encoder_dim(const vr_text_encoder *e);     /* E */
int vr_text_encoder_context(const vr_text_encoder *e);    /* ctx */

/* out: n rows of E floats, row i the embedding of texts[i] (NUL-terminated
 * UTF-8). pool may be NULL (one thread). Identical texts give identical rows
 * (the rows of a batch do not interact). */
int vr_text_encoder_run(vr_text_encoder *e, const char *const *texts, size_t n, vr_pool *pool,
                        float *out, char *err, size_t errlen);

#endif
