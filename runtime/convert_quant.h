/* Float model → int8 model: static post-training quantization
 * (docs/QUANTIZATION.md).
 *
 * The result is the kind of graph the TFLite converter makes of a uint8/int8
 * model, so the runtime runs it with the same kernels: every value uint8
 * asymmetric per tensor (scale and zero point from its calibrated range);
 * CONV / DWCONV / FC with symmetric per-channel int8 weights (scale max|w|/127,
 * zero point 0) and s32 bias round(b / (s_in·s_w[c])), requantized to their
 * output's scale with the activation (ReLU / ReLU6) fused into the clamp; ADD
 * as TFLite's quantized add; GAP as TFLite's quantized MEAN; max / average
 * pooling, concat and reshape keep their input's quantization (their inputs
 * and output share one set of parameters, fitted to the union of their
 * ranges); SOFTMAX outputs scale 1/256, zero 0. The input is quantized by the
 * preprocessing (preproc.input_dtype u8 with input_scale / input_zero over the
 * full range the normalisation can produce). Transformer ops and L2NORM have
 * no int8 form here: such a model is refused, naming the node. */
#ifndef VIREO_RUNTIME_CONVERT_QUANT_H
#define VIREO_RUNTIME_CONVERT_QUANT_H

#include <stddef.h>

#include "runtime/calibrate.h"
#include "runtime/convert.h"
#include "runtime/model.h"

/* Writes the int8 version of the f32 model m to dst, with ranges[v] (from
 * vr_calibrate) for every value v of m's graph. m's metadata is carried over
 * (preproc.input_dtype becomes u8, with input_scale / input_zero); `note`
 * (may be NULL) is stored as quant.calibration. Returns 0, or -1 with a
 * message (nothing written). */
int vr_quantize_model(const vr_model *m, const vr_range *ranges, const char *note,
                      const char *dst, char *err, size_t errlen);

/* The int8 path of vr_convert_as on an f32 model file: loads the calibration
 * images o->calib (o->calib_n of them), calibrates, quantizes, writes dst. */
int vr_quantize_file(const char *f32_path, const char *dst, const vr_convert_opts *o, char *err,
                     size_t errlen);

#endif
