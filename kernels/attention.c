/* The split of fused attention into work items, shared by every ISA so the
 * runtime can schedule any level's kernel the same way.
 *
 * Item w = ((b * H + h) * QB + qb), QB = ceil(Lq / VK_ATTN_QBLOCK): query
 * blocks are innermost so that a contiguous range of items (what one thread
 * gets) walks the query blocks of one head in turn, and that head's K and V
 * stay in L2 between them.
 */
#include "kernels.h"

int vk_attention_items(const vk_attention_f32_args *a)
{
    if (a->B <= 0 || a->H <= 0 || a->Lq <= 0)
        return 0;
    int qb = (a->Lq + VK_ATTN_QBLOCK - 1) / VK_ATTN_QBLOCK;
    return a->B * a->H * qb;
}
