/* Definitions shared by the weight file reader and writer. */
#include <stdint.h>

#include "kernels/pack.h"
#include "weights.h"

const char *vw_dtype_name(vw_dtype t)
{
    switch (t) {
    case VW_F32: return "f32";
    case VW_F16: return "f16";
    case VW_BF16: return "bf16";
    case VW_S8: return "s8";
    case VW_U8: return "u8";
    case VW_S32: return "s32";
    }
    return "?";
}

const char *vw_layout_name(vw_layout l)
{
    static const char *const names[VW_LAYOUT_COUNT] = {
        "plain", "f32_b16", "s8_b16x4", "conv_f32", "conv_s8", "dw_f32", "dw_s8",
        "bf16_b16x2", "conv_bf16", "dw_bf16", "conv_wino_f32"};
    return (unsigned)l < VW_LAYOUT_COUNT ? names[l] : "?";
}

size_t vw_dtype_size(vw_dtype t)
{
    switch (t) {
    case VW_F32:
    case VW_S32: return 4;
    case VW_F16:
    case VW_BF16: return 2;
    case VW_S8:
    case VW_U8: return 1;
    }
    return 0;
}

static int mul_ok(size_t a, size_t b, size_t *r) { return !__builtin_mul_overflow(a, b, r); }

/* The packers take int dimensions: every dim of a packed layout must fit an
 * int with room for the padding the packer adds. */
#define PACK_DIM_MAX (1 << 24)

static int dims_fit(int ndim, const int64_t *dims)
{
    for (int i = 0; i < ndim; i++)
        if (dims[i] < 1 || dims[i] > PACK_DIM_MAX)
            return 0;
    return 1;
}

/* Winograd F(4,3) conv weights (kernels.h conv_wino_f32): f32 [OC, 3, 3, C]
 * as 36 matmul-B blocks of C × round_up(OC, 16); 3×3 kernels only. */
static size_t wino_size(vw_dtype t, int ndim, const int64_t *dims)
{
    size_t n, r;
    if (t != VW_F32 || ndim != 4 || !dims_fit(ndim, dims) || dims[1] != 3 || dims[2] != 3)
        return 0;
    if (!mul_ok((size_t)dims[3], vk_round_up((size_t)dims[0], 16), &n) || !mul_ok(n, 36, &n) ||
        !mul_ok(n, 4, &r))
        return 0;
    if (n < ((size_t)1 << 30) && vk_pack_wino_f32_size((int)dims[0], (int)dims[3]) != n)
        return 0; /* the packer is the definition */
    return r;
}

size_t vw_expected_size(vw_dtype t, vw_layout l, int ndim, const int64_t *dims)
{
    size_t es = vw_dtype_size(t), n = 1, r;
    if (!es || ndim < 0 || ndim > VW_MAX_DIMS)
        return 0;
    switch (l) {
    case VW_PLAIN:
        for (int i = 0; i < ndim; i++) {
            if (dims[i] < 1 || !mul_ok(n, (size_t)dims[i], &n))
                return 0;
        }
        return mul_ok(n, es, &r) ? r : 0;
    case VW_CONV_WINO_F32: return wino_size(t, ndim, dims);
    default: break;
    }
    /* Packed layouts: a K×N matrix (K the reduction) in 16-column panels,
     * int8 with K rounded up to 4; depthwise: taps × channels rounded to 16. */
    int want_ndim = 0;
    vw_dtype want_t = VW_F32;
    switch (l) {
    case VW_F32_B16: want_ndim = 2; break;
    case VW_S8_B16X4: want_ndim = 2, want_t = VW_S8; break;
    case VW_CONV_F32: want_ndim = 4; break;
    case VW_CONV_S8: want_ndim = 4, want_t = VW_S8; break;
    case VW_DW_F32: want_ndim = 3; break;
    case VW_DW_S8: want_ndim = 3, want_t = VW_S8; break;
    case VW_BF16_B16X2: want_ndim = 2, want_t = VW_BF16; break;
    case VW_CONV_BF16: want_ndim = 4, want_t = VW_BF16; break;
    case VW_DW_BF16: want_ndim = 3, want_t = VW_BF16; break;
    default: return 0;
    }
    if (ndim != want_ndim || t != want_t || !dims_fit(ndim, dims))
        return 0;
    size_t k, cols;
    if (ndim == 2) {
        k = (size_t)dims[0];
        cols = (size_t)dims[1];
    } else if (ndim == 4) {
        k = (size_t)dims[1] * (size_t)dims[2]; /* each < 2^24: no overflow */
        if (!mul_ok(k, (size_t)dims[3], &k))
            return 0;
        cols = (size_t)dims[0];
    } else {
        k = (size_t)dims[0] * (size_t)dims[1];
        cols = (size_t)dims[2];
    }
    if (k > PACK_DIM_MAX)
        return 0;
    if (want_t == VW_S8 && ndim != 3)
        k = (k + 3) / 4 * 4;
    if (want_t == VW_BF16 && ndim != 3) /* K in pairs */
        k = (k + 1) / 2 * 2;
    cols = (cols + 15) / 16 * 16;
    if (!mul_ok(k, cols, &n) || !mul_ok(n, es, &r))
        return 0;
    /* The kernels' packers are the definition; cross-check where their int
     * arguments cannot overflow. */
    if (n < ((size_t)1 << 30)) {
        size_t lib = 0;
        switch (l) {
        case VW_F32_B16: lib = vk_pack_f32_b_size((int)dims[0], (int)dims[1]) * 4; break;
        case VW_S8_B16X4: lib = vk_pack_s8_b_size((int)dims[0], (int)dims[1]); break;
        case VW_CONV_F32:
            lib = vk_pack_conv_f32_size((int)dims[0], (int)dims[1], (int)dims[2], (int)dims[3]) * 4;
            break;
        case VW_CONV_S8:
            lib = vk_pack_conv_s8_size((int)dims[0], (int)dims[1], (int)dims[2], (int)dims[3]);
            break;
        case VW_DW_F32: lib = vk_pack_dw_size((int)dims[0], (int)dims[1], (int)dims[2]) * 4; break;
        case VW_DW_S8: lib = vk_pack_dw_size((int)dims[0], (int)dims[1], (int)dims[2]); break;
        case VW_BF16_B16X2: lib = vk_pack_bf16_b_size((int)dims[0], (int)dims[1]) * 2; break;
        case VW_CONV_BF16:
            lib = vk_pack_conv_bf16_size((int)dims[0], (int)dims[1], (int)dims[2], (int)dims[3]) * 2;
            break;
        case VW_DW_BF16: lib = vk_pack_dw_size((int)dims[0], (int)dims[1], (int)dims[2]) * 2; break;
        default: break;
        }
        if (lib != r)
            return 0;
    }
    return r;
}
