/* The in-image taps of one pooling window, shared by the SIMD pooling
 * kernels (the reference walks every tap and skips those outside). Taps are
 * kh in [kh0, kh1) for an output row and kw in [kw0, kw1) for an output
 * column: with dilation d >= 1 the in-image taps of a window form one
 * contiguous range. */
#ifndef VIREO_KERNELS_POOL_WINDOW_H
#define VIREO_KERNELS_POOL_WINDOW_H

/* Taps k in [0, K) with 0 <= start + k·d < size. */
static inline void vk_pool_taps(int start, int K, int d, int size, int *k0, int *k1)
{
    int lo = 0, hi = K;
    while (lo < hi && start + lo * d < 0)
        lo++;
    while (hi > lo && start + (hi - 1) * d >= size)
        hi--;
    *k0 = lo;
    *k1 = hi;
}

#endif
