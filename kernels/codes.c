/* Flat-index codes (kernels/codes.h): fitting, encoding and decoding rows.
 * Plain C, no allocation. For F32 and F16 the parameters a, b are ignored
 * (callers may pass NULL): those kinds store the value itself. Non-finite
 * training values are ignored by the fit, and a NaN encodes as code 0 (S8)
 * or the code nearest b (U4, U8) so a hostile float cannot make an undefined
 * float → int conversion. */
#include "kernels/codes.h"

#include <math.h>
#include <string.h>

const char *vk_code_name(vk_code_kind k)
{
    switch (k) {
    case VK_CODE_F32: return "f32";
    case VK_CODE_S8: return "int8-sym";
    case VK_CODE_U4: return "int4";
    case VK_CODE_F16: return "f16";
    case VK_CODE_U8: return "int8";
    }
    return NULL;
}

int vk_code_parse(const char *name, vk_code_kind *k)
{
    if (!name)
        return -1;
    if (!strcmp(name, "uint8")) {
        *k = VK_CODE_U8;
        return 0;
    }
    for (int i = 0; i < VK_CODE_KINDS; i++)
        if (!strcmp(name, vk_code_name((vk_code_kind)i))) {
            *k = (vk_code_kind)i;
            return 0;
        }
    return -1;
}

int vk_code_is_quantized(vk_code_kind k)
{
    return k == VK_CODE_S8 || k == VK_CODE_U8 || k == VK_CODE_U4;
}

size_t vk_code_row_bytes(vk_code_kind k, size_t dim)
{
    size_t payload;
    if (dim == 0)
        return 0;
    switch (k) {
    case VK_CODE_F32:
        if (dim > SIZE_MAX / 4)
            return 0;
        payload = dim * 4;
        break;
    case VK_CODE_S8:
    case VK_CODE_U8: payload = dim; break;
    case VK_CODE_U4: payload = dim / 2 + (dim & 1); break;
    case VK_CODE_F16:
        if (dim > SIZE_MAX / 2)
            return 0;
        payload = dim * 2;
        break;
    default: return 0;
    }
    if (payload > SIZE_MAX - (VK_CODE_ROW_ALIGN - 1))
        return 0;
    return (payload + VK_CODE_ROW_ALIGN - 1) / VK_CODE_ROW_ALIGN * VK_CODE_ROW_ALIGN;
}

void vk_code_fit(vk_code_kind k, const float *x, size_t n, size_t dim, float *a, float *b)
{
    /* Per-column min and max, row by row (one sequential pass over x; a
     * column-by-column walk strides through memory and was 3.9 s for
     * 262k × 1024). b holds the running minimum, a the maximum. */
    for (size_t d = 0; d < dim; d++) {
        b[d] = INFINITY;
        a[d] = -INFINITY;
    }
    for (size_t i = 0; i < n; i++) {
        const float *row = x + i * dim;
        for (size_t d = 0; d < dim; d++) {
            float v = row[d];
            if (!isfinite(v))
                continue;
            b[d] = v < b[d] ? v : b[d];
            a[d] = v > a[d] ? v : a[d];
        }
    }
    for (size_t d = 0; d < dim; d++) {
        float lo = b[d], hi = a[d];
        if (lo > hi) /* no finite value: treat as a constant-zero column */
            lo = hi = 0.0f;
        switch (k) {
        case VK_CODE_S8: {
            float m = fmaxf(fabsf(lo), fabsf(hi));
            a[d] = m > 0.0f ? m / 127.0f : 1.0f;
            b[d] = 0.0f;
            /* A denormal max gives a 0 or denormal scale: x/a would overflow. */
            if (!(a[d] >= 1e-30f))
                a[d] = m > 0.0f ? 1e-30f : 1.0f;
            break;
        }
        case VK_CODE_U4:
        case VK_CODE_U8: {
            float levels = k == VK_CODE_U4 ? 15.0f : 255.0f;
            b[d] = lo;
            a[d] = hi > lo ? (hi - lo) / levels : 1.0f;
            if (!isfinite(a[d])) /* range overflowed f32; keeps a·c finite */
                a[d] = 3.4e38f / levels;
            if (!(a[d] >= 1e-30f))
                a[d] = 1e-30f;
            break;
        }
        default:
            a[d] = 1.0f;
            b[d] = 0.0f;
            break;
        }
    }
}

/* binary32 → binary16, round to nearest even, overflow to ±inf, NaN kept quiet. */
static uint16_t f32_to_f16(float f)
{
    uint32_t u;
    memcpy(&u, &f, 4);
    uint32_t sign = (u >> 16) & 0x8000u;
    uint32_t exp = (u >> 23) & 0xffu;
    uint32_t man = u & 0x7fffffu;
    if (exp == 0xff)
        return (uint16_t)(sign | 0x7c00u | (man ? 0x200u : 0));
    int e = (int)exp - 127 + 15;
    if (e >= 31)
        return (uint16_t)(sign | 0x7c00u);
    if (e <= 0) {
        if (e < -10)
            return (uint16_t)sign; /* below half the smallest denormal */
        man |= 0x800000u;
        unsigned shift = (unsigned)(14 - e);
        uint32_t h = man >> shift;
        uint32_t rem = man & ((1u << shift) - 1);
        uint32_t half = 1u << (shift - 1);
        if (rem > half || (rem == half && (h & 1)))
            h++;
        return (uint16_t)(sign | h);
    }
    uint32_t h = ((uint32_t)e << 10) | (man >> 13);
    uint32_t rem = man & 0x1fffu;
    if (rem > 0x1000u || (rem == 0x1000u && (h & 1)))
        h++; /* a carry into the exponent is the correct rounding, up to inf */
    return (uint16_t)(sign | h);
}

/* binary16 → binary32, exact for every input. Normal numbers are a shift and
 * an exponent rebias; denormals get the bias of the smallest normal added in
 * the exponent and then subtracted in float (exact); inf/NaN get the rest of
 * the exponent range. Branch-light so the decode loop stays fast: the
 * re-scoring pass converts shortlist·dim values per query. */
float vk_code_f16_to_f32(uint16_t h)
{
    const uint32_t shifted_exp = 0x7c00u << 13;
    uint32_t o = ((uint32_t)h & 0x7fffu) << 13;
    uint32_t exp = shifted_exp & o;
    float f;
    o += (uint32_t)(127 - 15) << 23;
    if (exp == shifted_exp) {
        o += (uint32_t)(128 - 16) << 23;
    } else if (exp == 0) {
        o += 1u << 23;
        memcpy(&f, &o, 4);
        f -= 6.103515625e-05f; /* 2^-14 */
        memcpy(&o, &f, 4);
    }
    o |= ((uint32_t)h & 0x8000u) << 16;
    memcpy(&f, &o, 4);
    return f;
}

static int encode_s8(float x, float a)
{
    float v = x / a;
    if (!(v == v))
        return 0;
    if (v >= 127.0f)
        return 127;
    if (v <= -127.0f)
        return -127;
    return (int)roundf(v); /* ties away from zero */
}

/* Nearest of 0 … top to (x − b)/a. (x − b) may overflow to ±inf for a
 * hostile x: that clamps like any value out of range. */
static unsigned encode_unsigned(float x, float a, float b, unsigned top)
{
    float v = (x - b) / a;
    if (!(v == v))
        return 0;
    if (v >= (float)top)
        return top;
    if (v <= 0.0f)
        return 0;
    return (unsigned)floorf(v + 0.5f);
}

void vk_code_encode(vk_code_kind k, const float *x, size_t dim, const float *a, const float *b,
                    void *row)
{
    size_t rb = vk_code_row_bytes(k, dim);
    uint8_t *r = row;
    if (rb == 0)
        return;
    memset(r, 0, rb);
    switch (k) {
    case VK_CODE_F32:
        for (size_t d = 0; d < dim; d++) {
            uint32_t u;
            memcpy(&u, &x[d], 4);
            r[4 * d + 0] = (uint8_t)u;
            r[4 * d + 1] = (uint8_t)(u >> 8);
            r[4 * d + 2] = (uint8_t)(u >> 16);
            r[4 * d + 3] = (uint8_t)(u >> 24);
        }
        break;
    case VK_CODE_S8:
        for (size_t d = 0; d < dim; d++)
            r[d] = (uint8_t)(int8_t)encode_s8(x[d], a[d]);
        break;
    case VK_CODE_U4:
        for (size_t d = 0; d < dim; d++) {
            unsigned c = encode_unsigned(x[d], a[d], b[d], 15);
            r[d / 2] |= (uint8_t)((d & 1) ? c << 4 : c);
        }
        break;
    case VK_CODE_U8:
        for (size_t d = 0; d < dim; d++)
            r[d] = (uint8_t)encode_unsigned(x[d], a[d], b[d], 255);
        break;
    case VK_CODE_F16:
        for (size_t d = 0; d < dim; d++) {
            uint16_t h = f32_to_f16(x[d]);
            r[2 * d] = (uint8_t)h;
            r[2 * d + 1] = (uint8_t)(h >> 8);
        }
        break;
    }
}

void vk_code_decode(vk_code_kind k, const void *row, size_t dim, const float *a, const float *b,
                    float *x)
{
    const uint8_t *r = row;
    switch (k) {
    case VK_CODE_F32:
        for (size_t d = 0; d < dim; d++) {
            uint32_t u = (uint32_t)r[4 * d] | (uint32_t)r[4 * d + 1] << 8 |
                         (uint32_t)r[4 * d + 2] << 16 | (uint32_t)r[4 * d + 3] << 24;
            memcpy(&x[d], &u, 4);
        }
        break;
    case VK_CODE_S8:
        for (size_t d = 0; d < dim; d++)
            x[d] = a[d] * (float)(int8_t)r[d];
        break;
    case VK_CODE_U4:
        for (size_t d = 0; d < dim; d++) {
            unsigned c = (d & 1) ? r[d / 2] >> 4 : r[d / 2] & 15u;
            x[d] = a[d] * (float)c + b[d];
        }
        break;
    case VK_CODE_U8:
        for (size_t d = 0; d < dim; d++)
            x[d] = a[d] * (float)r[d] + b[d];
        break;
    case VK_CODE_F16:
        for (size_t d = 0; d < dim; d++)
            x[d] = vk_code_f16_to_f32((uint16_t)(r[2 * d] | r[2 * d + 1] << 8));
        break;
    }
}
