// SPDX-License-Identifier: GPL-2.0
/*
 * KUnit tests for the VT-x capability decoder, with the capability values
 * of real CPU models (as Bochs reports them) and the ways a CPU can say no.
 */
#include <kunit/test.h>
#include <asm/msr-index.h>
#include <asm/processor-flags.h>
#include <asm/vmx.h>

#include <eptmmu/vmx.h>

/* IA32_VMX_EPT_VPID_CAP of two models we run under Bochs. */
#define EPT_CAP_HASWELL		0x00000f0106334141ULL	/* A/D, 1G */
#define EPT_CAP_SANDY_BRIDGE	0x00000f0106114141ULL	/* no A/D, no 1G */

static struct eptmmu_vmx_msrs model(u64 ept_cap)
{
	struct eptmmu_vmx_msrs m = {
		.cpuid_vmx = true,
		.have_msrs = true,
		.feat_ctl = FEAT_CTL_LOCKED | FEAT_CTL_VMX_ENABLED_OUTSIDE_SMX,
		.basic = 0x12 | VMX_BASIC_TRUE_CTLS,
		.true_procbased = (u64)CPU_BASED_ACTIVATE_SECONDARY_CONTROLS << 32,
		.procbased2 = (u64)(SECONDARY_EXEC_ENABLE_EPT |
				    SECONDARY_EXEC_UNRESTRICTED_GUEST) << 32,
		.ept_vpid_cap = ept_cap,
	};

	return m;
}

static void vmx_haswell(struct kunit *test)
{
	struct eptmmu_vmx_msrs m = model(EPT_CAP_HASWELL);
	struct eptmmu_vmx_caps c;

	KUNIT_EXPECT_TRUE(test, eptmmu_vmx_decode(&c, &m));
	KUNIT_EXPECT_NULL(test, c.why);
	KUNIT_EXPECT_EQ(test, c.revision, 0x12u);
	KUNIT_EXPECT_TRUE(test, c.ept && c.ept_4level && c.ept_wb);
	KUNIT_EXPECT_TRUE(test, c.ept_2m && c.ept_1g);
	KUNIT_EXPECT_TRUE(test, c.invept_single && c.invept_all);
	KUNIT_EXPECT_TRUE(test, c.ept_ad);
	KUNIT_EXPECT_TRUE(test, c.ept_exec_only);
	KUNIT_EXPECT_TRUE(test, c.unrestricted);
}

static void vmx_sandy_bridge(struct kunit *test)
{
	struct eptmmu_vmx_msrs m = model(EPT_CAP_SANDY_BRIDGE);
	struct eptmmu_vmx_caps c;

	KUNIT_EXPECT_TRUE(test, eptmmu_vmx_decode(&c, &m));
	KUNIT_EXPECT_FALSE(test, c.ept_ad);
	KUNIT_EXPECT_FALSE(test, c.ept_1g);
	KUNIT_EXPECT_TRUE(test, c.ept_2m);
	KUNIT_EXPECT_TRUE(test, c.invept_single && c.invept_all);
}

static void vmx_refusals(struct kunit *test)
{
	struct eptmmu_vmx_msrs m = model(EPT_CAP_HASWELL);
	struct eptmmu_vmx_caps c;

	m.cpuid_vmx = false;
	KUNIT_EXPECT_FALSE(test, eptmmu_vmx_decode(&c, &m));
	KUNIT_EXPECT_NOT_NULL(test, strstr(c.why, "no VMX"));

	m = model(EPT_CAP_HASWELL);
	m.feat_ctl = FEAT_CTL_VMX_ENABLED_OUTSIDE_SMX;	/* not locked */
	KUNIT_EXPECT_FALSE(test, eptmmu_vmx_decode(&c, &m));
	KUNIT_EXPECT_NOT_NULL(test, strstr(c.why, "firmware"));

	m = model(EPT_CAP_HASWELL);
	m.procbased2 = 0;
	KUNIT_EXPECT_FALSE(test, eptmmu_vmx_decode(&c, &m));
	KUNIT_EXPECT_NOT_NULL(test, strstr(c.why, "no EPT"));

	m = model(EPT_CAP_HASWELL & ~VMX_EPT_INVEPT_BIT);
	KUNIT_EXPECT_FALSE(test, eptmmu_vmx_decode(&c, &m));
	KUNIT_EXPECT_NOT_NULL(test, strstr(c.why, "INVEPT"));

	m = model(EPT_CAP_HASWELL);
	m.have_msrs = false;
	KUNIT_EXPECT_FALSE(test, eptmmu_vmx_decode(&c, &m));
}

/*
 * R-VMX-LIFE: entering VMX operation needs an all-context INVEPT; a CPU
 * with single-context INVEPT only is refused, one with all-context only
 * is taken (its flushes use all-context).
 */
static void vmx_invept_types(struct kunit *test)
{
	struct eptmmu_vmx_msrs m;
	struct eptmmu_vmx_caps c;

	m = model(EPT_CAP_HASWELL & ~VMX_EPT_EXTENT_GLOBAL_BIT);
	KUNIT_EXPECT_FALSE(test, eptmmu_vmx_decode(&c, &m));
	KUNIT_EXPECT_TRUE(test, c.invept_single);
	KUNIT_EXPECT_NOT_NULL(test, strstr(c.why, "all-context INVEPT"));

	m = model(EPT_CAP_HASWELL & ~VMX_EPT_EXTENT_CONTEXT_BIT);
	KUNIT_EXPECT_TRUE(test, eptmmu_vmx_decode(&c, &m));
	KUNIT_EXPECT_FALSE(test, c.invept_single);
	KUNIT_EXPECT_TRUE(test, c.invept_all);
}

/* Without the TRUE MSRs the plain control MSR decides. */
static void vmx_true_ctls(struct kunit *test)
{
	struct eptmmu_vmx_msrs m = model(EPT_CAP_HASWELL);
	struct eptmmu_vmx_caps c;

	m.basic &= ~VMX_BASIC_TRUE_CTLS;
	KUNIT_EXPECT_FALSE(test, eptmmu_vmx_decode(&c, &m));	/* procbased 0 */
	m.procbased = m.true_procbased;
	KUNIT_EXPECT_TRUE(test, eptmmu_vmx_decode(&c, &m));
	KUNIT_EXPECT_FALSE(test, c.true_ctls);
}

/* Allowed-0 bits in the low half, allowed-1 in the high half. */
#define CTL(must, may)	((u64)(may) << 32 | (must))

/* A CPU that allows every control; @must are its default-1 bits. */
static struct eptmmu_vmx_msrs ctl_model(u32 must)
{
	struct eptmmu_vmx_msrs m = model(EPT_CAP_HASWELL);

	m.true_pinbased = CTL(must, ~0u);
	m.true_procbased = CTL(must, ~0u);
	m.procbased2 = CTL(0, ~0u);
	m.true_exit = CTL(must, ~0u);
	m.true_entry = CTL(must, ~0u & ~VM_ENTRY_IA32E_MODE);
	m.cr0_fixed0 = X86_CR0_PG | X86_CR0_NE | X86_CR0_PE;
	m.cr0_fixed1 = ~0ULL;
	m.cr4_fixed0 = X86_CR4_VMXE;
	m.cr4_fixed1 = ~0ULL;
	return m;
}

/* The controls trap what the guest must not do, and honour default-1s. */
static void vmx_controls(struct kunit *test)
{
	struct eptmmu_vmx_msrs m = ctl_model(BIT(1));
	struct eptmmu_vmx_config cfg;
	struct eptmmu_vmx_caps c;

	KUNIT_ASSERT_TRUE(test, eptmmu_vmx_decode(&c, &m));
	KUNIT_ASSERT_NULL(test, eptmmu_vmx_controls(&cfg, &c, &m));
	KUNIT_EXPECT_TRUE(test, cfg.pin & PIN_BASED_EXT_INTR_MASK);
	KUNIT_EXPECT_TRUE(test, cfg.pin & PIN_BASED_NMI_EXITING);
	KUNIT_EXPECT_TRUE(test, cfg.proc & CPU_BASED_HLT_EXITING);
	KUNIT_EXPECT_TRUE(test, cfg.proc & CPU_BASED_UNCOND_IO_EXITING);
	KUNIT_EXPECT_TRUE(test, cfg.proc & CPU_BASED_MOV_DR_EXITING);
	KUNIT_EXPECT_FALSE(test, cfg.proc & CPU_BASED_USE_MSR_BITMAPS);
	KUNIT_EXPECT_TRUE(test, cfg.proc2 & SECONDARY_EXEC_ENABLE_EPT);
	KUNIT_EXPECT_TRUE(test, cfg.proc2 & SECONDARY_EXEC_UNRESTRICTED_GUEST);
	KUNIT_EXPECT_TRUE(test, cfg.exit & VM_EXIT_HOST_ADDR_SPACE_SIZE);
	KUNIT_EXPECT_FALSE(test, cfg.entry & VM_ENTRY_IA32E_MODE);
	/* The CPU's default-1 bit is kept in every field. */
	KUNIT_EXPECT_TRUE(test, cfg.pin & cfg.proc & cfg.exit & cfg.entry & BIT(1));
	/* Paging off, x87/SSE off, VMXE as the fixed bits demand. */
	KUNIT_EXPECT_FALSE(test, cfg.guest_cr0 & X86_CR0_PG);
	KUNIT_EXPECT_TRUE(test, cfg.guest_cr0 & X86_CR0_PE);
	KUNIT_EXPECT_TRUE(test, cfg.guest_cr0 & X86_CR0_EM);
	KUNIT_EXPECT_TRUE(test, cfg.guest_cr0 & X86_CR0_TS);
	KUNIT_EXPECT_EQ(test, cfg.guest_cr4, (u64)X86_CR4_VMXE);
	KUNIT_EXPECT_EQ(test, cfg.revision, 0x12u);
}

static void vmx_controls_refused(struct kunit *test)
{
	struct eptmmu_vmx_msrs m = ctl_model(0);
	struct eptmmu_vmx_config cfg;
	struct eptmmu_vmx_caps c;

	m.true_pinbased = CTL(0, PIN_BASED_EXT_INTR_MASK);	/* no NMI exit */
	KUNIT_ASSERT_TRUE(test, eptmmu_vmx_decode(&c, &m));
	KUNIT_EXPECT_NOT_NULL(test, strstr(eptmmu_vmx_controls(&cfg, &c, &m),
					   "NMI"));

	m = ctl_model(0);
	m.procbased2 = CTL(0, SECONDARY_EXEC_ENABLE_EPT);
	KUNIT_ASSERT_TRUE(test, eptmmu_vmx_decode(&c, &m));
	KUNIT_EXPECT_NOT_NULL(test, strstr(eptmmu_vmx_controls(&cfg, &c, &m),
					   "unrestricted"));

	m = ctl_model(0);
	m.true_entry = CTL(VM_ENTRY_IA32E_MODE, ~0u);
	KUNIT_ASSERT_TRUE(test, eptmmu_vmx_decode(&c, &m));
	KUNIT_EXPECT_NOT_NULL(test, strstr(eptmmu_vmx_controls(&cfg, &c, &m),
					   "64-bit guest"));

	m = ctl_model(0);
	m.cr0_fixed1 = ~(u64)X86_CR0_EM;
	KUNIT_ASSERT_TRUE(test, eptmmu_vmx_decode(&c, &m));
	KUNIT_EXPECT_NOT_NULL(test, strstr(eptmmu_vmx_controls(&cfg, &c, &m),
					   "CR0"));
}

/* EPTMMU_RUN_GUEST needs the IA-32e entry control, CR0.PG and CR4.PAE. */
static void vmx_controls_long_mode(struct kunit *test)
{
	struct eptmmu_vmx_msrs m = ctl_model(0);
	struct eptmmu_vmx_config cfg;
	struct eptmmu_vmx_caps c;

	KUNIT_ASSERT_TRUE(test, eptmmu_vmx_decode(&c, &m));
	KUNIT_ASSERT_NULL(test, eptmmu_vmx_controls(&cfg, &c, &m));
	KUNIT_EXPECT_FALSE(test, cfg.long_mode);

	m.true_entry = CTL(0, ~0u);
	KUNIT_ASSERT_NULL(test, eptmmu_vmx_controls(&cfg, &c, &m));
	KUNIT_EXPECT_TRUE(test, cfg.long_mode);
	/* Allowed, not forced: the 32-bit guest still runs. */
	KUNIT_EXPECT_FALSE(test, cfg.entry & VM_ENTRY_IA32E_MODE);

	m.cr4_fixed1 = ~(u64)X86_CR4_PAE;
	KUNIT_ASSERT_NULL(test, eptmmu_vmx_controls(&cfg, &c, &m));
	KUNIT_EXPECT_FALSE(test, cfg.long_mode);
}

static struct kunit_case vmx_cases[] = {
	KUNIT_CASE(vmx_haswell),
	KUNIT_CASE(vmx_sandy_bridge),
	KUNIT_CASE(vmx_refusals),
	KUNIT_CASE(vmx_invept_types),
	KUNIT_CASE(vmx_true_ctls),
	KUNIT_CASE(vmx_controls),
	KUNIT_CASE(vmx_controls_refused),
	KUNIT_CASE(vmx_controls_long_mode),
	{}
};

static struct kunit_suite vmx_suite = {
	.name = "eptmmu_vmx_caps",
	.test_cases = vmx_cases,
};

kunit_test_suite(vmx_suite);
