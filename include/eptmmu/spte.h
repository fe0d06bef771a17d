/* SPDX-License-Identifier: GPL-2.0 */
/*
 * EPT shadow page-table entries (SPTEs): format, predicates, constructors,
 * the volatile-bits policy and the helpers every writer above spte/ uses.
 *
 * Hardware bits come from <asm/vmx.h> (compat.h names those an older
 * kernel's copy lacks).  Software bits live only in bit
 * positions the CPU ignores in every EPT entry we build (we never enable
 * mode-based execute control, sub-page permissions, HLAT or #VE), and the
 * static_asserts below keep them apart from each other and from hardware.
 */
#ifndef _EPTMMU_SPTE_H
#define _EPTMMU_SPTE_H

#include <linux/bits.h>
#include <linux/build_bug.h>
#include <linux/compiler.h>
#include <linux/types.h>
#include <asm/msr-index.h>
#include <asm/page_types.h>
#include <asm/pgtable_types.h>
#include <asm/vmx.h>

#include <eptmmu/compat.h>

/* Hardware fields that asm/vmx.h does not name. */
#define SPTE_LARGE_MASK		BIT_ULL(7)	/* "page size" in a PDE/PDPTE */
#define SPTE_PFN_MASK		GENMASK_ULL(51, 12)

#define SPTE_HW_MASK	(VMX_EPT_RWX_MASK | VMX_EPT_MT_MASK |		\
			 VMX_EPT_IPAT_BIT | SPTE_LARGE_MASK |		\
			 VMX_EPT_ACCESS_BIT | VMX_EPT_DIRTY_BIT |	\
			 SPTE_PFN_MASK | VMX_EPT_SUPPRESS_VE_BIT)

/*
 * Software fields.  Bit 10 is "user execute" only with mode-based execute
 * control, which eptmmu never enables, so the CPU ignores it.
 *
 * SPTE_PRESENT: the entry maps something, even when an access-tracked leaf
 *	has RWX clear.  MMIO and frozen SPTEs never carry it.
 * SPTE_AD_DISABLED: this SPTE does not use EPT A/D bits; aging uses access
 *	tracking instead.  Per SPTE, so predicates never consult a global.
 * SPTE_HOST_WRITABLE: the host page may be written (GUP gave it writable).
 * SPTE_MMU_WRITABLE: the MMU allows W; only write tracking (dirty logging)
 *	clears W while keeping this, so the fast path may set W again.
 * SPTE_ACC_TRACKED: RWX were cleared for aging; R and X wait in SPTE_SAVED_*.
 * SPTE_MMIO_GEN: memslot generation an MMIO SPTE was created under.
 */
#define SPTE_AD_DISABLED	BIT_ULL(10)
#define SPTE_PRESENT		BIT_ULL(11)
#define SPTE_HOST_WRITABLE	BIT_ULL(52)
#define SPTE_MMU_WRITABLE	BIT_ULL(53)
#define SPTE_ACC_TRACKED	BIT_ULL(54)
#define SPTE_SAVED_R		BIT_ULL(55)
#define SPTE_SAVED_X		BIT_ULL(56)
#define SPTE_SAVED_MASK		(SPTE_SAVED_R | SPTE_SAVED_X)
#define SPTE_MMIO_GEN_SHIFT	57
#define SPTE_MMIO_GEN_MASK	GENMASK_ULL(62, SPTE_MMIO_GEN_SHIFT)
#define SPTE_MMIO_GEN_BITS	(63 - SPTE_MMIO_GEN_SHIFT)
#define SPTE_MMIO_GEN_MAX	((1u << SPTE_MMIO_GEN_BITS) - 1)

/*
 * An MMIO SPTE is W+X without R: the CPU reports an EPT misconfiguration
 * instead of a violation, which is how the MMIO path is entered.
 */
#define SPTE_MMIO_VALUE		VMX_EPT_MISCONFIG_WX_VALUE

/*
 * A frozen SPTE: non-present to the CPU (RWX clear), not MMIO, not
 * SPTE_PRESENT.  A zap on the read side writes it before tearing down the
 * child table, so other read-side writers see it and back off.
 */
#define SPTE_FROZEN		(BIT_ULL(5) | BIT_ULL(7) | BIT_ULL(9) | BIT_ULL(63))

#define SPTE_SW_MASK	(SPTE_AD_DISABLED | SPTE_PRESENT |		\
			 SPTE_HOST_WRITABLE | SPTE_MMU_WRITABLE |	\
			 SPTE_ACC_TRACKED | SPTE_SAVED_MASK |		\
			 SPTE_MMIO_GEN_MASK)

static_assert(!(SPTE_SW_MASK & SPTE_HW_MASK));
static_assert(!(SPTE_AD_DISABLED & (SPTE_PRESENT | SPTE_HOST_WRITABLE |
				    SPTE_MMU_WRITABLE | SPTE_ACC_TRACKED |
				    SPTE_SAVED_MASK | SPTE_MMIO_GEN_MASK)));
static_assert(!(SPTE_PRESENT & (SPTE_HOST_WRITABLE | SPTE_MMU_WRITABLE |
				SPTE_ACC_TRACKED | SPTE_SAVED_MASK |
				SPTE_MMIO_GEN_MASK)));
static_assert(!((SPTE_HOST_WRITABLE | SPTE_MMU_WRITABLE) &
		(SPTE_ACC_TRACKED | SPTE_SAVED_MASK | SPTE_MMIO_GEN_MASK)));
static_assert(!(SPTE_HOST_WRITABLE & SPTE_MMU_WRITABLE));
static_assert(!(SPTE_ACC_TRACKED & (SPTE_SAVED_MASK | SPTE_MMIO_GEN_MASK)));
static_assert(!(SPTE_SAVED_MASK & SPTE_MMIO_GEN_MASK));
static_assert(!(SPTE_FROZEN & (VMX_EPT_RWX_MASK | SPTE_PRESENT)));
static_assert(SPTE_FROZEN != 0);

/* Entries per table and pages mapped by one entry at @level. */
#define SPTE_ENT_PER_PAGE	512
#define SPTE_LEVEL_SHIFT(level)	(((level) - 1) * 9)
#define SPTE_PAGES_PER(level)	(1ULL << SPTE_LEVEL_SHIFT(level))
#define SPTE_ROOT_LEVEL		PG_LEVEL_512G

static __always_inline bool spte_is_present(u64 spte)
{
	return spte & SPTE_PRESENT;
}

static __always_inline bool spte_is_frozen(u64 spte)
{
	return spte == SPTE_FROZEN;
}

static __always_inline bool spte_is_last(u64 spte, int level)
{
	return level == PG_LEVEL_4K || (spte & SPTE_LARGE_MASK);
}

static __always_inline bool spte_is_present_leaf(u64 spte, int level)
{
	return spte_is_present(spte) && spte_is_last(spte, level);
}

static __always_inline bool spte_ad_enabled(u64 spte)
{
	return !(spte & SPTE_AD_DISABLED);
}

static __always_inline bool spte_is_writable(u64 spte)
{
	return spte & VMX_EPT_WRITABLE_MASK;
}

static __always_inline bool spte_is_host_writable(u64 spte)
{
	return spte & SPTE_HOST_WRITABLE;
}

static __always_inline bool spte_is_mmu_writable(u64 spte)
{
	return spte & SPTE_MMU_WRITABLE;
}

static __always_inline bool spte_is_access_tracked(u64 spte)
{
	return spte_is_present(spte) && (spte & SPTE_ACC_TRACKED);
}

static __always_inline bool spte_is_mmio(u64 spte)
{
	return !spte_is_present(spte) &&
	       (spte & VMX_EPT_RWX_MASK) == SPTE_MMIO_VALUE;
}

/* Young: A set, or (without A/D) not yet marked for access tracking. */
static __always_inline bool spte_is_accessed(u64 spte)
{
	if (!spte_is_present(spte))
		return false;
	if (spte_ad_enabled(spte))
		return spte & VMX_EPT_ACCESS_BIT;
	return !(spte & SPTE_ACC_TRACKED);
}

/* Without A/D the only evidence of a write is that W was granted. */
static __always_inline bool spte_is_dirty(u64 spte)
{
	if (!spte_is_present(spte))
		return false;
	if (spte_ad_enabled(spte))
		return spte & VMX_EPT_DIRTY_BIT;
	return spte_is_writable(spte);
}

/* The fast path may set W on this SPTE without mmu_lock. */
static __always_inline bool spte_can_fast_set_w(u64 spte)
{
	return (spte & (SPTE_HOST_WRITABLE | SPTE_MMU_WRITABLE)) ==
	       (SPTE_HOST_WRITABLE | SPTE_MMU_WRITABLE);
}

/* What a settled leaf's deciding bits are, with A/D and without. */
#define SPTE_SETTLED_AD		(SPTE_PRESENT | VMX_EPT_WRITABLE_MASK | \
				 VMX_EPT_ACCESS_BIT | VMX_EPT_DIRTY_BIT)
#define SPTE_SETTLED_NOAD	(SPTE_PRESENT | VMX_EPT_WRITABLE_MASK | \
				 SPTE_AD_DISABLED)

/*
 * Zero if and only if @spte, as a leaf, has the bits @set of a settled leaf
 * (SPTE_SETTLED_AD: spte_is_settled(); SPTE_SETTLED_NOAD:
 * spte_is_settled_noad()) and no other of those that decide it.
 * Arithmetic, so that a caller can OR it over many leaves and test once.
 */
static __always_inline u64 spte_settled_diff_as(u64 spte, u64 set)
{
	return (spte & (set | SPTE_AD_DISABLED | SPTE_ACC_TRACKED)) ^ set;
}

static __always_inline u64 spte_settled_diff(u64 spte)
{
	return spte_settled_diff_as(spte, SPTE_SETTLED_AD);
}

/*
 * A writable A/D leaf whose A and D are set and that is not access-tracked:
 * nothing without mmu_lock changes it.  The CPU and the soft vCPU only set
 * A and D, which are set; the fast path only grants W or restores access,
 * and it has W and access.  So spte_has_volatile_bits() is false for it
 * (kunit/spte_test.c checks every combination against its model), and it
 * is what a dirty-log CLEAR mostly re-protects: a page the guest wrote.
 */
static __always_inline bool spte_is_settled(u64 spte, int level)
{
	/* Present, as spte_settled_diff() requires. */
	return spte_is_last(spte, level) && !spte_settled_diff(spte);
}

/*
 * The same without A/D: a writable leaf that is not access-tracked.  The
 * CPU and the soft vCPU never write a leaf without A/D, and the fast path
 * has nothing to give it.  Unlike the A/D form, aging may replace it
 * without mmu_lock (young to tracked, one cmpxchg: R-AGE-ATOMIC), which
 * spte_has_volatile_bits() does not count either; it is what a CLEAR
 * without A/D re-protects, and losing its W loses the only record of a
 * write (R-HOST-DIRTY).
 */
static __always_inline bool spte_is_settled_noad(u64 spte, int level)
{
	return spte_is_last(spte, level) &&
	       !spte_settled_diff_as(spte, SPTE_SETTLED_NOAD);
}

static __always_inline u64 spte_pfn(u64 spte)
{
	return (spte & SPTE_PFN_MASK) >> PAGE_SHIFT;
}

static inline unsigned int spte_mmio_gen(u64 spte)
{
	return (spte & SPTE_MMIO_GEN_MASK) >> SPTE_MMIO_GEN_SHIFT;
}

static inline u64 spte_make_mmio(unsigned int gen)
{
	return SPTE_MMIO_VALUE |
	       (((u64)gen << SPTE_MMIO_GEN_SHIFT) & SPTE_MMIO_GEN_MASK);
}

u64 spte_make_leaf(u64 pfn, int level, unsigned int access,
		   bool host_writable, u8 memtype, bool ad);
u64 spte_make_nonleaf(u64 child_pfn, bool ad);
u64 spte_make_split_child(u64 huge, int huge_level, unsigned int index);
u64 spte_mark_access_tracked(u64 spte);
u64 spte_restore_access(u64 spte);
bool spte_has_volatile_bits(u64 spte, int level);
bool spte_needs_tlb_flush(u64 old, u64 new, int level);

u64 eptmmu_spte_write_locked(u64 *sptep, u64 old, u64 new, int level);
bool eptmmu_spte_try_cmpxchg(u64 *sptep, u64 *old, u64 new);
u64 eptmmu_spte_clear_bits(u64 *sptep, u64 bits);
u64 eptmmu_spte_set_bits(u64 *sptep, u64 bits);

/* What the vCPU backend's EPT accepts; given to eptmmu_spte_init(). */
struct eptmmu_ept_hw {
	const char *name;	/* backend name, for the log */
	u8 backend;		/* EPTMMU_BACKEND_* */
	bool ad;		/* EPT A/D bits */
	int max_leaf_level;	/* largest leaf: PG_LEVEL_4K .. PG_LEVEL_1G */
};

/* Chosen once at module init (ept_ad=auto|on|off, backend=). */
extern bool eptmmu_ad_enabled;
extern u8 eptmmu_backend;
extern int eptmmu_max_leaf_level;
int eptmmu_spte_init(const struct eptmmu_ept_hw *hw);

#endif /* _EPTMMU_SPTE_H */
