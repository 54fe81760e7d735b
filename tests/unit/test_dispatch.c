/* The op table: every op has a reference kernel, every level the machine can
 * run builds a complete table, levels it cannot run are refused. */
#include <stdio.h>
#include <string.h>

#include "testutil.h"

static void test_isa_names_round_trip(void **state)
{
    for (int i = 0; i < VK_ISA_COUNT; i++)
        assert_int_equal(vk_isa_parse(vk_isa_name((vk_isa)i)), i);
    assert_int_equal(vk_isa_parse("AVX512"), -1);
    assert_int_equal(vk_isa_parse(""), -1);
    assert_int_equal(vk_isa_parse(NULL), -1);
    assert_int_equal(vk_isa_parse("avx2"), -1);
}

static void check_complete(const vk_ops *t)
{
    int present[VK_OP_COUNT];
#define X(name, type) present[VK_OP_##name] = t->name != NULL;
    VK_OPS(X)
#undef X
    for (int op = 0; op < VK_OP_COUNT; op++) {
        if (!present[op] || !t->impl[op]) {
            tu_fail("level %s: op %s has no kernel", vk_isa_name(t->level), vk_op_name(op));
            return;
        }
        if (t->isa[op] > t->level && !(t->level == VK_ISA_AMX && t->isa[op] == VK_ISA_AVX512))
            tu_fail("level %s: op %s uses a kernel of level %s", vk_isa_name(t->level),
                    vk_op_name(op), vk_isa_name(t->isa[op]));
    }
}

static void test_every_supported_level_is_complete(void **state)
{
    assert_true(vk_isa_supported(VK_ISA_REF));
    for (int lvl = 0; lvl < VK_ISA_COUNT; lvl++) {
        const vk_ops *t = vk_ops_for((vk_isa)lvl);
        if (!vk_isa_supported((vk_isa)lvl)) {
            assert_null(t);
            continue;
        }
        assert_non_null(t);
        assert_int_equal(t->level, lvl);
        check_complete(t);
    }
}

static void test_reference_table_is_all_ref(void **state)
{
    const vk_ops *t = vk_ops_for(VK_ISA_REF);
    for (int op = 0; op < VK_OP_COUNT; op++)
        assert_int_equal(t->isa[op], VK_ISA_REF);
}

static void test_best_level_consistent_with_features(void **state)
{
    const vk_cpu *c = vk_cpu_get();
    if (c->best >= VK_ISA_AVX512 && c->best != VK_ISA_NEON) {
        assert_true(c->avx512f && c->avx512bw && c->avx512vl && c->avx512vnni && c->os_zmm);
    }
    if (c->best == VK_ISA_AMX)
        assert_true(c->amx_tile && c->amx_int8 && c->amx_permitted);
    /* the same answer twice (detection runs once) */
    assert_ptr_equal(c, vk_cpu_get());
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_isa_names_round_trip),
        cmocka_unit_test(test_every_supported_level_is_complete),
        cmocka_unit_test(test_reference_table_is_all_ref),
        cmocka_unit_test(test_best_level_consistent_with_features),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
