/* AMX level: the AVX-512 kernels plus AMX tile kernels. No AMX kernel exists
 * yet (a later issue); the level still selects correctly on AMX machines and
 * runs the AVX-512 kernels. */
#include "../kernels.h"

void vk_register_amx(vk_ops *o) { (void)o; }
