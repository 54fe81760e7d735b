/* AVX-512 (F/BW/DQ/VL + VNNI) kernels. Compiled with this level's flags only. */
#include "../kernels.h"
#include "avx512.h"

void vk_register_avx512(vk_ops *o)
{
    (void)o;
}
