/* NEON (+dotprod) kernels: none yet (a later issue). The level exists so that
 * adding them is a matter of adding files here. */
#include "../kernels.h"

void vk_register_neon(vk_ops *o) { (void)o; }
