/* The image pipeline: many image files in, one embedding per file out, in the
 * order of the input list, with reading, decoding and the model overlapped on
 * threads and the memory in use bounded whatever the list's length.
 *
 *   loader thread ──files──▶ slots ──decode+preprocess──▶ slots ──batches──▶ model lanes
 *   (vr_loader: io_uring         (workers: vr_preprocess_     (a worker runs a lane:
 *    batches, or pread)           encoded into the slot)        plan + kernel pool)
 *                                                                      │
 *   caller's thread ◀── callback per image, in list order ◀────────────┘
 *
 * - Slots: a ring of `window` slots, one per image in flight (read, decoded,
 *   waiting for or inside a model run, or waiting to be reported). Image i
 *   uses slot i mod window and may enter only once image i − window has been
 *   reported, so memory is bounded by the window: encoded file bytes (also
 *   capped on their own, see memory_mb), the preprocessed tensor and the
 *   embedding row per slot, plus per worker the pixels of one decode.
 * - Loader: one thread reading the next files in chunks of up to queue_depth
 *   (io_uring keeps a chunk's reads in flight together; where io_uring is
 *   refused, vr_loader falls back to pread and says so once on stderr).
 * - Workers (`threads` of them) take whichever job is ready, preferring a
 *   model run: a batch is the next `batch` decoded images in list order (the
 *   failed ones are passed over; the list's tail makes one smaller batch). A
 *   worker that runs a batch holds a lane, which owns a plan for the batch
 *   size and a kernel pool of lane_threads threads. Otherwise a worker decodes
 *   the next loaded file into its slot. With lanes = threads and one thread
 *   per lane (the default), every core alternates between decoding and the
 *   model and no core waits at a per-layer barrier for a thread that the
 *   decoders preempted; lanes = 1 with lane_threads = threads is the other
 *   layout (one model run at a time, split over all cores, decoders beside it).
 * - Reporting: the caller's thread calls fn once per image, in list order,
 *   with the embedding or the error; a file that cannot be read or decoded is
 *   reported and skipped, never fatal. Only a model failure, an allocation
 *   failure at set-up, or fn returning non-zero stops the run.
 *
 * Embeddings are the model output value's h·w·c elements as f32:
 * dequantized, scale·(q − zero), when the output is u8 / s8. For a retrieval
 * embedding of a classifier, call vr_model_use_features (runtime/features.h)
 * on the model first. Results do not depend on threads, lanes, window or the
 * loader's backend; with a quantized model they are also independent of the
 * batch size (integer kernels are exact).
 */
#ifndef VIREO_RUNTIME_PIPELINE_H
#define VIREO_RUNTIME_PIPELINE_H

#include <stddef.h>
#include <stdint.h>

#include "formats/image.h"
#include "runtime/model.h"

#define VR_PIPELINE_DEFAULT_BATCH 1
#define VR_PIPELINE_DEFAULT_MEMORY_MB 256u

typedef struct vr_pipeline_opts {
    int threads;       /* workers (decode and model); 0: vr_cpu_count() */
    int batch;         /* images per model run; 0: VR_PIPELINE_DEFAULT_BATCH */
    int lanes;         /* model runs at once, each with its own plan; 0: threads */
    int lane_threads;  /* kernel threads per model run; 0: 1, or threads when lanes = 1 */
    int window;        /* max images in flight; 0: from memory_mb (at least
                          batch · lanes + threads; larger values are capped by memory_mb) */
    unsigned memory_mb; /* cap on the slots' tensors + rows and on the encoded
                           bytes read ahead (each gets its share); 0: 256 */
    unsigned queue_depth;   /* loader reads in flight; 0: 64 */
    uint64_t max_file_bytes; /* larger files are skipped as errors; 0: 64 MiB */
    int force_pread;        /* never io_uring */
    int preprocess_only;    /* do not run the model: fn gets the input tensors */
    int scaled_decode;      /* decode JPEGs DCT-scaled (runtime/preprocess.h:
                               faster, not equal to the full-size decode) */
    vf_image_limits limits; /* for decoding (zero: defaults) */
} vr_pipeline_opts;

typedef struct vr_pipeline_item {
    size_t index;            /* position in the input list */
    const char *path;
    const float *embedding;  /* dim floats, or NULL (error, or preprocess_only) */
    size_t dim;
    const void *tensor;      /* preprocess_only: the model input, tensor_bytes */
    size_t tensor_bytes;
    const char *error;       /* NULL on success, else "<path>: <what went wrong>" */
} vr_pipeline_item;

/* Called on the caller's thread, in list order; the pointers are valid for
 * the call only. Non-zero stops the pipeline (vr_pipeline_embed returns -1). */
typedef int (*vr_pipeline_fn)(void *ctx, const vr_pipeline_item *it);

typedef struct vr_pipeline_stats {
    size_t ok, failed;   /* images reported with / without an embedding */
    size_t batches;      /* model runs */
    uint64_t bytes_read; /* encoded bytes loaded */
    double seconds;      /* wall clock of the whole run */
    double load_s, decode_s, model_s; /* time spent in each stage, summed over threads */
    const char *backend; /* "io_uring" or "pread" */
    int threads, batch, lanes, lane_threads, window;   /* as resolved */
} vr_pipeline_stats;

/* Fills *o with the defaults: threads, batch, memory_mb, queue_depth and
 * max_file_bytes set; lanes, lane_threads and window 0 (they follow threads
 * and batch). A zero field means its default anyway. */
void vr_pipeline_defaults(vr_pipeline_opts *o);

/* Embedding dimension of m (its output value's h·w·c). */
size_t vr_pipeline_dim(const vr_model *m);

/* Runs m over paths[0..n) (o may be NULL; st may be NULL). Returns 0 when
 * every image was reported (some may have failed: see st->failed), or -1 with
 * a message: invalid arguments, the model cannot be planned or run, out of
 * memory at set-up, or fn asked to stop. */
int vr_pipeline_embed(const vr_model *m, const char *const *paths, size_t n,
                      const vr_pipeline_opts *o, vr_pipeline_fn fn, void *ctx,
                      vr_pipeline_stats *st, char *err, size_t errlen);

#endif
