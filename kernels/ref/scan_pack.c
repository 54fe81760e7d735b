/* Query packing for the wide-batch scan paths (kernels.h, "Flat-index scans").
 * Portable: every level reads the same packed layout. */
#include <string.h>

#include "../kernels.h"

static size_t groups(int nq) { return ((size_t)nq + VK_SCAN_QGROUP - 1) / VK_SCAN_QGROUP; }

size_t vk_scan_pack_q8_bytes(int nq, size_t qlen)
{
    size_t g = groups(nq);
    if (nq <= 0 || qlen == 0 || qlen > SIZE_MAX / VK_SCAN_QGROUP / g)
        return 0;
    return g * VK_SCAN_QGROUP * qlen;
}

void vk_scan_pack_queries_q8(const int8_t *q, int nq, size_t qlen, uint8_t *qt)
{
    size_t slots = qlen / 4, ng = groups(nq);
    for (size_t g = 0; g < ng; g++)
        for (size_t s = 0; s < slots; s++)
            for (size_t j = 0; j < VK_SCAN_QGROUP; j++) {
                size_t qi = g * VK_SCAN_QGROUP + j;
                uint8_t *dst = qt + ((g * slots + s) * VK_SCAN_QGROUP + j) * 4;
                for (size_t t = 0; t < 4; t++)
                    dst[t] = qi < (size_t)nq ? (uint8_t)(q[qi * qlen + 4 * s + t] + 128) : 128;
            }
}

size_t vk_scan_pack_f32_bytes(int nq, size_t dim)
{
    size_t g = groups(nq);
    if (nq <= 0 || dim == 0 || dim > SIZE_MAX / sizeof(float) / VK_SCAN_QGROUP / g)
        return 0;
    return g * VK_SCAN_QGROUP * dim * sizeof(float);
}

void vk_scan_pack_queries_f32(const float *q, int nq, size_t qlen, size_t dim, float *qt)
{
    size_t ng = groups(nq);
    for (size_t g = 0; g < ng; g++)
        for (size_t d = 0; d < dim; d++)
            for (size_t j = 0; j < VK_SCAN_QGROUP; j++) {
                size_t qi = g * VK_SCAN_QGROUP + j;
                qt[(g * dim + d) * VK_SCAN_QGROUP + j] = qi < (size_t)nq ? q[qi * qlen + d] : 0.0f;
            }
}
