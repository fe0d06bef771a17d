/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The one place that knows kernel versions.  eptmmu is written against
 * the newest supported kernel's interfaces; each shim below maps one of
 * them back for the older kernels that lack it, and says which versions
 * it covers and why.  No other file tests LINUX_VERSION_CODE.
 *
 * Supported: Linux 6.1 to 6.12 (built and tested on Debian 12's 6.1 and
 * 6.12 kernels, see "Supported kernels" in README.md).
 */
#ifndef _EPTMMU_COMPAT_H
#define _EPTMMU_COMPAT_H

#include <linux/version.h>

#if LINUX_VERSION_CODE < KERNEL_VERSION(6, 1, 0) || \
	LINUX_VERSION_CODE >= KERNEL_VERSION(6, 13, 0)
#error "eptmmu supports Linux 6.1 to 6.12 only"
#endif

#include <linux/compiler.h>
#include <linux/export.h>
#include <linux/mm.h>
#include <linux/pgtable.h>
#include <asm/debugreg.h>
#include <asm/idtentry.h>
#include <asm/msr-index.h>
#include <asm/mtrr.h>
#include <asm/vmx.h>

/*
 * 6.1-6.9: <asm/vmx.h> does not name bit 63 of an EPT entry, "suppress
 * #VE" (Intel SDM vol. 3C, "Format of EPT Paging-Structure Entries").
 */
#if LINUX_VERSION_CODE < KERNEL_VERSION(6, 10, 0)
#define VMX_EPT_SUPPRESS_VE_BIT		BIT_ULL(63)
#endif

/*
 * 6.1-6.11: the architectural memory types have no X86_MEMTYPE_* names
 * yet; the MTRR encoding in <asm/mtrr.h> is the same one EPT uses.
 */
#if LINUX_VERSION_CODE < KERNEL_VERSION(6, 12, 0)
#define X86_MEMTYPE_WB			((u64)MTRR_TYPE_WRBACK)
#endif

/*
 * 6.1-6.4: get_user_pages_remote() still takes a vmas argument (before
 * @locked); eptmmu never wants the VMAs back.  A function-like macro is
 * not expanded again inside its own body, so this calls the real one.
 */
#if LINUX_VERSION_CODE < KERNEL_VERSION(6, 5, 0)
#define get_user_pages_remote(mm, start, nr_pages, gup_flags, pages, locked) \
	get_user_pages_remote(mm, start, nr_pages, gup_flags, pages, NULL, locked)
#endif

/*
 * 6.1: no pmdp_get_lockless().  On x86-64 a PMD is one 64-bit word, so a
 * single READ_ONCE() cannot tear; split PMDs exist only on 32-bit PAE.
 */
#if LINUX_VERSION_CODE < KERNEL_VERSION(6, 2, 0)
static_assert(IS_ENABLED(CONFIG_X86_64));
static inline pmd_t pmdp_get_lockless(pmd_t *pmdp)
{
	return READ_ONCE(*pmdp);
}
#endif

/*
 * 6.1-6.2: load_gs_index() is declared by <asm/special_insns.h>; 6.3
 * moved it to <asm/gsseg.h>.
 */
#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 3, 0)
#include <asm/gsseg.h>
#else
#include <asm/special_insns.h>
#endif

/*
 * 6.1 (and 6.12 before stable picked up the DR7 reset-value change):
 * <asm/debugreg.h> does not name DR7's fixed bit.  It arrived through a
 * stable backport, so no single version marks it: test the macro.  Bit 10
 * of DR7 is reserved and reads as 1, which makes 0x400 DR7's reset value
 * (Intel SDM vol. 3B, "Debug Control Register (DR7)").
 */
#ifndef DR7_FIXED_1
#define DR7_FIXED_1			0x00000400
#endif

/*
 * The host's NMI handler, run after an NMI made the guest exit
 * (vcpu/vmx_vcpu.c, R-VMX-EVENT).  The kernel exports an entry point for
 * a VMX hypervisor module, called with a hand-made interrupt frame on the
 * kernel stack, only when kvm_intel is a module (CONFIG_KVM_INTEL=m, as
 * in Debian's kernels and our test kernels): 6.1-6.2 name it
 * asm_exc_nmi_noist, 6.3 renamed it asm_exc_nmi_kvm_vmx.  Elsewhere there
 * is none, and eptmmu_vmx_init() refuses the vmx backend.
 */
#define EPTMMU_HAVE_VMX_NMI_ENTRY	IS_MODULE(CONFIG_KVM_INTEL)
#if !EPTMMU_HAVE_VMX_NMI_ENTRY
#define eptmmu_vmx_nmi_entry		NULL
#elif LINUX_VERSION_CODE < KERNEL_VERSION(6, 3, 0)
#define eptmmu_vmx_nmi_entry		asm_exc_nmi_noist
#else
#define eptmmu_vmx_nmi_entry		asm_exc_nmi_kvm_vmx
#endif

/*
 * FRED (Linux 6.9 and later, CONFIG_X86_FRED, on a CPU that has it and
 * with it enabled) delivers no event through the IDT: there the entry
 * from a hypervisor is fred_entry_from_kvm() (exported with
 * CONFIG_KVM_INTEL).  6.1-6.8 have no FRED; neither has any kernel this
 * module is tested on (Debian's 6.12 is built without it), so this arm
 * is compiled by nobody here.
 */
#if IS_ENABLED(CONFIG_X86_FRED) && IS_ENABLED(CONFIG_KVM_INTEL)
#include <asm/fred.h>
#define eptmmu_fred_enabled()	cpu_feature_enabled(X86_FEATURE_FRED)
#define eptmmu_fred_nmi()	fred_entry_from_kvm(EVENT_TYPE_NMI, NMI_VECTOR)
#else
#define eptmmu_fred_enabled()	false
#define eptmmu_fred_nmi()	do { } while (0)
#endif

/*
 * 6.1.0-6.1.62: no <kunit/visibility.h> (new in 6.2, backported to
 * 6.1.63).  Same contract as the kernel's: export to the
 * EXPORTED_FOR_KUNIT_TESTING namespace only when KUnit is configured.
 *
 * MODULE_IMPORT_NS() and EXPORT_SYMBOL_NS() take the namespace as an
 * identifier up to 6.12 (6.13 wants a string literal, which the range
 * check above refuses), so the test modules'
 * MODULE_IMPORT_NS(EXPORTED_FOR_KUNIT_TESTING) is right on every
 * supported kernel and needs no shim.
 */
#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 1, 63)
#include <kunit/visibility.h>
#elif IS_ENABLED(CONFIG_KUNIT)
#define VISIBLE_IF_KUNIT
#define EXPORT_SYMBOL_IF_KUNIT(sym) \
	EXPORT_SYMBOL_NS(sym, EXPORTED_FOR_KUNIT_TESTING)
#else
#define VISIBLE_IF_KUNIT static
#define EXPORT_SYMBOL_IF_KUNIT(sym)
#endif

/*
 * 6.1-6.11: the KUnit suites (EPTMMU_TEST=1 on a kernel with KUnit) use
 * 6.12's KUnit: kunit_add_action_or_reset(), KUNIT_CASE_SLOW() and
 * kunit_vm_mmap(), none of which 6.1 has.  eptmmu.ko itself with the
 * test knobs builds on every supported kernel.
 */
#if defined(EPTMMU_TEST) && IS_ENABLED(CONFIG_KUNIT) && \
	LINUX_VERSION_CODE < KERNEL_VERSION(6, 12, 0)
#error "EPTMMU_TEST=1 with CONFIG_KUNIT needs Linux 6.12 (its KUnit API)"
#endif

#endif /* _EPTMMU_COMPAT_H */
