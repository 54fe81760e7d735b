/* Plain-C reference kernels: every op, every machine. */
#include "../kernels.h"
#include "ref.h"

void vk_register_ref(vk_ops *o)
{
    /* Entries are added as the kernels land; each op's reference lives in
     * kernels/ref/<op>.c. */
    (void)o;
}
