/* Which value of a model is its retrieval embedding.
 *
 * Retrieval wants a network's pooled features, not its class scores: for a
 * classifier (Coral MobileNetV2, nsfwjs, torchvision ResNet-50) the embedding
 * is the output of its last global pooling — the 1×1×C value a spatial
 * reduction (GAP, or an AVGPOOL / MAXPOOL whose output is 1×1 from a larger
 * input) produces — and the classifier head after it is not run for search.
 * A model whose output already is that value (the Coral embedding extractor)
 * is left as it is. A model without any global pooling (no spatial reduction
 * to 1×1) keeps its output. */
#ifndef VIREO_RUNTIME_FEATURES_H
#define VIREO_RUNTIME_FEATURES_H

#include <stddef.h>

#include "runtime/model.h"

/* The value id of m's pooled features (or its output, as above). */
int vr_model_feature_value(const vr_model *m);

/* Makes that value m's output, so plans built afterwards end there (nodes
 * after it still run; their results are unused). Returns the embedding
 * dimension h·w·c, or -1 with a message. */
int vr_model_use_features(vr_model *m, char *err, size_t errlen);

#endif
