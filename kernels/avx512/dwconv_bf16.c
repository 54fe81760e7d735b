/* AVX-512 bf16 depthwise convolution: bf16 weights widened to f32, f32 FMAs
 * (kernels.h: the input is not rounded).
 *
 * Why not vdpbf16ps: depthwise has no reduction over channels, so pairs would
 * have to be taps of the same channel, interleaved, with the input rounded
 * and re-paired for every output — more shuffles than multiplies. The op is
 * bound by the input map's traffic (9 multiply-adds per loaded value at best),
 * not by arithmetic; bf16 only halves the (small) weights.
 *
 * So: per slice of 64 channels, the slice's KH·KW·64 weights are widened into
 * a stack buffer (a 16-bit shift each) and the f32 kernel runs on that slice
 * (geometry with C = 64, the same pixel strides). The f32 kernel's fast path
 * already sweeps 64-channel slices outermost, so this changes neither its
 * loop order nor its results: out = act(bias + Σ_(kh,kw) x·w), FMAs in tap
 * order. Kernels beyond 16×16 taps (none in any model here) run in 16-channel
 * slices, and past 32×32 taps on the reference.
 */
#include <immintrin.h>

#include "../pack.h"
#include "../ref/ref.h"
#include "avx512.h"

#define SLICE 64
#define WBUF_FLOATS (16 * 16 * SLICE) /* 64 KB: 16×16 taps × 64 channels */

void vk_dwconv_bf16_avx512(const vk_dwconv_bf16_args *a, int r0, int r1)
{
    const vk_conv_geom *g = &a->g;
    const int taps = g->KH * g->KW;
    const int slice = taps * SLICE <= WBUF_FLOATS ? SLICE : 16;
    if (r1 <= r0)
        return;
    if ((long long)taps * slice > WBUF_FLOATS) {
        vk_dwconv_bf16_ref(a, r0, r1);
        return;
    }
    float wbuf[WBUF_FLOATS] __attribute__((aligned(64)));
    const ptrdiff_t Cp = (ptrdiff_t)vk_round_up((size_t)g->C, 16);
    for (int cs = 0; cs < g->C; cs += slice) {
        const int cn = g->C - cs < slice ? g->C - cs : slice;
        const int cnp = (cn + 15) & ~15; /* within Cp: the packed row's zero padding */
        for (int t = 0; t < taps; t++)
            for (int j = 0; j < cnp; j += 16) {
                const __m256i h = _mm256_loadu_si256((const __m256i *)(a->Wp + t * Cp + cs + j));
                _mm512_store_ps(wbuf + t * cnp + j,
                                _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16)));
            }
        vk_dwconv_f32_args f = {
            .g = *g, .in = a->in + cs, .Wp = wbuf, .bias = a->bias ? a->bias + cs : NULL,
            .out = a->out + cs, .act = a->act,
        };
        f.g.C = f.g.OC = cn;
        vk_dwconv_f32_avx512(&f, r0, r1);
    }
}
