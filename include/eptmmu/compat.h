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
 * is none (make check's lockdep and kcsan kernels have no kvm_intel):
 * vmx_host_nmi() falls back to INT 2 there, and eptmmu_vmx_init()
 * refuses the vmx backend only where FRED would reject that.
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
/* FRED on, but no kvm_intel to export its entry for hypervisors. */
#if IS_ENABLED(CONFIG_X86_FRED) && !IS_ENABLED(CONFIG_KVM_INTEL)
#define eptmmu_fred_unserved()	cpu_feature_enabled(X86_FEATURE_FRED)
#else
#define eptmmu_fred_unserved()	false
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
 * The KUnit suites (eptmmu_test.ko, EPTMMU_TEST=1 on a kernel with KUnit)
 * are written against 6.12's KUnit.  What older KUnit lacks, with the
 * same contract; the test kernels are 6.1 and 6.12, so these shims are
 * exercised on 6.1 and compiled out on 6.12.
 */
#if defined(EPTMMU_TEST) && IS_ENABLED(CONFIG_KUNIT)
#include <kunit/test.h>
#include <kunit/resource.h>
#include <linux/kthread.h>
#include <linux/mman.h>
#include <linux/sched/mm.h>

#if LINUX_VERSION_CODE < KERNEL_VERSION(6, 5, 0)
/*
 * 6.1-6.4: no deferred actions (kunit_add_action*() arrived in 6.5).  A
 * test-managed resource whose free callback runs the action keeps their
 * contract: every action runs when the case ends (passed, failed or
 * aborted), the last added first, since 6.1 frees resources as a stack;
 * and a registration that fails runs the action at once.
 */
typedef void (kunit_action_t)(void *);

struct eptmmu_kunit_action {
	kunit_action_t *fn;
	void *ctx;
};

static inline void eptmmu_kunit_action_free(struct kunit_resource *res)
{
	struct eptmmu_kunit_action *a = res->data;

	a->fn(a->ctx);
	kfree(a);
}

static inline int kunit_add_action_or_reset(struct kunit *test,
					    kunit_action_t *fn, void *ctx)
{
	struct eptmmu_kunit_action *a = kmalloc(sizeof(*a), GFP_KERNEL);

	if (a) {
		a->fn = fn;
		a->ctx = ctx;
		if (kunit_alloc_resource(test, NULL, eptmmu_kunit_action_free,
					 GFP_KERNEL, a))
			return 0;
		kfree(a);
	}
	fn(ctx);
	return -ENOMEM;
}
#endif

#if LINUX_VERSION_CODE < KERNEL_VERSION(6, 6, 0)
/*
 * 6.1-6.5: no case attributes (6.6), so nothing can filter a case by
 * speed: a slow case is an ordinary one.
 */
#define KUNIT_CASE_SLOW(test_name) KUNIT_CASE(test_name)
#endif

#if LINUX_VERSION_CODE < KERNEL_VERSION(6, 10, 0)
/*
 * 6.1-6.9: no kunit_vm_mmap() (6.10), and a case runs in a kthread without
 * an mm.  6.10 gives the thread a fresh mm, with mm_alloc() and
 * arch_pick_mmap_layout(), neither of which 6.1 exports to modules.  The
 * suites borrow the mm of the process loading eptmmu_test.ko instead:
 * 6.1's KUnit runs a module's suites, and their suite_init, from the
 * module notifier in that process (insmod), which stays inside
 * init_module() until the last suite is done.  eptmmu_kunit_suite_init()
 * takes a reference on it; kunit_vm_mmap() attaches it to the case thread
 * (kthread_use_mm(); the thread's exit drops the reference taken for it)
 * and maps there.  A case's cleanup runs in the case thread or, after an
 * abort, back in insmod: both are in that mm, so the mapping is unmapped
 * as 6.10 would free it with the thread's own mm.  The suites run one at
 * a time, so one borrowed mm is enough.
 */
#define EPTMMU_KUNIT_BORROWS_MM
extern struct mm_struct *eptmmu_kunit_loader_mm;

static inline int eptmmu_kunit_suite_init(struct kunit_suite *suite)
{
	if (!current->mm)
		return -EINVAL;
	mmget(current->mm);
	eptmmu_kunit_loader_mm = current->mm;
	return 0;
}

static inline void eptmmu_kunit_suite_exit(struct kunit_suite *suite)
{
	mmput(eptmmu_kunit_loader_mm);
	eptmmu_kunit_loader_mm = NULL;
}

struct eptmmu_kunit_mapping {
	unsigned long addr;
	unsigned long len;
};

static inline void eptmmu_kunit_unmap(void *data)
{
	struct eptmmu_kunit_mapping *m = data;

	/*
	 * The race tests force yields with set_tsk_need_resched() alone,
	 * which leaves the copy x86 folds into preempt_count clear: 6.1's
	 * zap_pte_range() stops on need_resched() and its cond_resched()
	 * then does nothing, round and round.  6.10+ never unmaps in the
	 * case's thread; here, let the scheduler clear the flag first.
	 */
	if (test_tsk_need_resched(current))
		schedule();
	if (current->mm == eptmmu_kunit_loader_mm)
		vm_munmap(m->addr, m->len);
	kfree(m);
}

static inline unsigned long kunit_vm_mmap(struct kunit *test,
					  struct file *file,
					  unsigned long addr,
					  unsigned long len,
					  unsigned long prot,
					  unsigned long flag,
					  unsigned long offset)
{
	struct mm_struct *mm = eptmmu_kunit_loader_mm;
	struct eptmmu_kunit_mapping *m;

	if (!current->mm) {
		/* A suite without eptmmu_kunit_suite_init(). */
		if (WARN_ON_ONCE(!mm))
			return 0;
		mmget(mm);
		kthread_use_mm(mm);
	}
	m = kmalloc(sizeof(*m), GFP_KERNEL);
	if (!m)
		return 0;
	m->len = len;
	m->addr = vm_mmap(file, addr, len, prot, flag, offset);
	if (IS_ERR_VALUE(m->addr)) {
		kfree(m);
		return 0;
	}
	addr = m->addr;
	if (kunit_add_action_or_reset(test, eptmmu_kunit_unmap, m))
		return 0;
	return addr;
}
#else
/* The case thread has an mm of its own: nothing to borrow. */
static inline int eptmmu_kunit_suite_init(struct kunit_suite *suite)
{
	return 0;
}

static inline void eptmmu_kunit_suite_exit(struct kunit_suite *suite)
{
}
#endif
#endif /* EPTMMU_TEST && CONFIG_KUNIT */

#endif /* _EPTMMU_COMPAT_H */
