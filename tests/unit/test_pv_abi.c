/* SPDX-License-Identifier: MIT */
/*
 * The Xen PV MMU ABI as vmmu spells it (include/vmmu/pv_abi.h): the
 * layouts a 64-bit Xen guest passes and the numbers it uses, so a guest
 * built for Xen and a vmmu hypervisor agree byte for byte.
 */
/* cmocka.h needs these first. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <vmmu/vmmu.h>

static void test_request_layouts_match_the_64bit_abi(void **state)
{
	(void)state;
	assert_int_equal(sizeof(struct vmmu_pv_mmu_update), 16);
	assert_int_equal(offsetof(struct vmmu_pv_mmu_update, ptr), 0);
	assert_int_equal(offsetof(struct vmmu_pv_mmu_update, val), 8);

	assert_int_equal(sizeof(struct vmmu_pv_mmuext_op), 24);
	assert_int_equal(offsetof(struct vmmu_pv_mmuext_op, cmd), 0);
	assert_int_equal(offsetof(struct vmmu_pv_mmuext_op, arg1), 8);
	assert_int_equal(offsetof(struct vmmu_pv_mmuext_op, arg2), 16);

	assert_int_equal(sizeof(struct vmmu_pv_multicall_entry), 64);
	assert_int_equal(offsetof(struct vmmu_pv_multicall_entry, result), 8);
	assert_int_equal(offsetof(struct vmmu_pv_multicall_entry, args), 16);
}

static void test_command_numbers(void **state)
{
	(void)state;
	assert_int_equal(VMMU_PV_HC_MMU_UPDATE, 1);
	assert_int_equal(VMMU_PV_HC_MULTICALL, 13);
	assert_int_equal(VMMU_PV_HC_UPDATE_VA_MAPPING, 14);
	assert_int_equal(VMMU_PV_HC_UPDATE_VA_MAPPING_OTHERDOMAIN, 22);
	assert_int_equal(VMMU_PV_HC_MMUEXT_OP, 26);

	assert_int_equal(VMMU_PV_MMU_NORMAL_PT_UPDATE, 0);
	assert_int_equal(VMMU_PV_MMU_MACHPHYS_UPDATE, 1);
	assert_int_equal(VMMU_PV_MMU_PT_UPDATE_PRESERVE_AD, 2);
	assert_int_equal(VMMU_PV_MMU_PT_UPDATE_NO_TRANSLATE, 3);
	assert_int_equal(VMMU_PV_MMU_UPDATE_PREEMPTED, 0x80000000u);

	assert_int_equal(VMMU_PV_MMUEXT_PIN_L4_TABLE, 3);
	assert_int_equal(VMMU_PV_MMUEXT_UNPIN_TABLE, 4);
	assert_int_equal(VMMU_PV_MMUEXT_NEW_BASEPTR, 5);
	assert_int_equal(VMMU_PV_MMUEXT_INVLPG_ALL, 11);
	assert_int_equal(VMMU_PV_MMUEXT_SET_LDT, 13);
	assert_int_equal(VMMU_PV_MMUEXT_NEW_USER_BASEPTR, 15);
	assert_int_equal(VMMU_PV_MMUEXT_UNMARK_SUPER, 20);

	assert_int_equal(VMMU_PV_UVMF_TLB_FLUSH, 1);
	assert_int_equal(VMMU_PV_UVMF_INVLPG, 2);
	assert_int_equal(VMMU_PV_UVMF_ALL, 4);
	assert_int_equal(VMMU_PV_DOMID_SELF, 0x7ff0);
	assert_int_equal(VMMU_PV_DOMID_IO, 0x7ff1);
	assert_int_equal(VMMU_PV_DOMID_XEN, 0x7ff2);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_request_layouts_match_the_64bit_abi),
		cmocka_unit_test(test_command_numbers),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
