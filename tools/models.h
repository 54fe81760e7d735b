/* Model arguments of the retrieval commands (-m): a vireo weight file, a
 * source model the converters read (.tflite, TF.js model.json, torchvision
 * .safetensors; converted once into the cache directory and reused while the
 * source is unchanged), or a short name for a model in ../shared:
 *
 *   mnv1-embed   Coral MobileNetV1 1.0 embedding extractor (int8, 1024-d)  [default]
 *   mnv2         Coral MobileNetV2 1.0 (uint8 QAT)        pooled 1280-d features
 *   mnv2-ptq     Coral TF2 MobileNetV2 (int8 PTQ)         pooled 1280-d features
 *   nsfw-mnv2    nsfwjs MobileNetV2 (f32)                 pooled 1280-d features
 *   nsfw-incv3   nsfwjs InceptionV3 (f32)                 pooled 2048-d features
 *
 * ../shared is $VIREO_SHARED_DIR, else the shared directory beside the source
 * tree this binary was built from, else ../shared. */
#ifndef VIREO_TOOLS_MODELS_H
#define VIREO_TOOLS_MODELS_H

#include <stddef.h>

#define MODEL_DEFAULT "mnv1-embed"

/* The shared data directory (no trailing slash). */
const char *models_shared_dir(void);
/* Resolves spec to a weight file path in out, converting (and caching) a
 * source file. tower ("image" or "text") picks that tower of a two-tower CLIP
 * file (runtime/convert.h, vr_convert_opts.tower); other sources ignore it.
 * Returns 0, or -1 with a message. */
int models_resolve(const char *spec, const char *tower, char *out, size_t outlen, int quiet,
                   char *err, size_t errlen);
/* The cache directory ($VIREO_CACHE_DIR, else $XDG_CACHE_HOME/vireo, else
 * ~/.cache/vireo), created if missing. Returns 0, or -1 if there is none. */
int models_cache_dir(char *buf, size_t n);
/* CLIP's BPE merges file: $VIREO_CLIP_VOCAB, else
 * <shared>/models/clip-tokenizer/bpe_simple_vocab_16e6.txt.gz. */
const char *models_clip_vocab(void);
/* A short printable name for spec (the alias, or the file name without directories). */
const char *models_short_name(const char *spec);

#endif
