// SPDX-License-Identifier: GPL-2.0
/*
 * SPTE constructors, access tracking, the volatile-bits policy and the
 * write helpers.  Nothing above spte/ stores to an SPTE except through the
 * helpers at the bottom of this file.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/atomic.h>
#include <linux/bug.h>
#include <linux/module.h>
#include <linux/moduleparam.h>
#include <linux/string.h>

#include <eptmmu/export.h>
#include <eptmmu/inject.h>
#include <eptmmu/spte.h>
#include <eptmmu/trace.h>

bool eptmmu_ad_enabled __read_mostly;
EXPORT_SYMBOL_IF_KUNIT(eptmmu_ad_enabled);
u8 eptmmu_backend __read_mostly;
int eptmmu_max_leaf_level __read_mostly = PG_LEVEL_1G;

static char *ept_ad = "auto";
module_param(ept_ad, charp, 0444);
MODULE_PARM_DESC(ept_ad,
		 "EPT accessed/dirty bits: auto (what the backend offers), on, off (access tracking)");

#ifdef EPTMMU_TEST
struct eptmmu_inject eptmmu_inject;
EXPORT_SYMBOL_IF_KUNIT(eptmmu_inject);
bool eptmmu_broken_ran;
EXPORT_SYMBOL_IF_KUNIT(eptmmu_broken_ran);

/*
 * broken=knob[,knob...] sets broken variants at load time, for the
 * torture test (tools/eptmmu_torture.c), which has no other way into a
 * module it did not build.  Only the load-time value is taken: the
 * parameter is not writable, so nothing flips a knob under a running VM.
 */
#define EPTMMU_KNOB(name) { #name, offsetof(struct eptmmu_inject, name) }
static const struct {
	const char *name;
	size_t offset;
} eptmmu_knobs[] = {
	EPTMMU_KNOB(spte_plain_store),
	EPTMMU_KNOB(skip_flush),
	EPTMMU_KNOB(skip_invalidate_recheck),
	EPTMMU_KNOB(flush_from_snapshot),
	EPTMMU_KNOB(fast_plain_store),
	EPTMMU_KNOB(fast_mark_before_set),
	EPTMMU_KNOB(dirty_gfn_from_pfn),
	EPTMMU_KNOB(age_two_step),
	EPTMMU_KNOB(age_plain_rmw),
	EPTMMU_KNOB(age_never_young),
	EPTMMU_KNOB(delete_unpublish_first),
	EPTMMU_KNOB(zap_flush_own_only),
	EPTMMU_KNOB(wrprot_flush_from_spte),
	EPTMMU_KNOB(fault_replaces_leaf),
	EPTMMU_KNOB(no_host_dirty),
	EPTMMU_KNOB(zap_whole_subtrees),
	EPTMMU_KNOB(soft_ad_ignores_change),
	EPTMMU_KNOB(vmx_flush_no_kick),
	EPTMMU_KNOB(pml_no_drain),
	EPTMMU_KNOB(vmx_migrate_no_vmclear),
	EPTMMU_KNOB(vmx_mc_guest_error),
	EPTMMU_KNOB(vmx_host_seg_clobber),
	EPTMMU_KNOB(vmx_qual_no_gla),
	EPTMMU_KNOB(vmx_pm_ignored),
	EPTMMU_KNOB(dirty_log_no_yield),
	EPTMMU_KNOB(dirty_log_yield_noflush),
	EPTMMU_KNOB(ring_no_release),
	EPTMMU_KNOB(ring_reset_no_protect),
	EPTMMU_KNOB(ring_index_after_publish),
	EPTMMU_KNOB(spte_plain_access),
	EPTMMU_KNOB(pt_free_early),
	EPTMMU_KNOB(walk_takes_mmu_lock),
	EPTMMU_KNOB(soft_preempt_off),
};

/* All names are checked before any knob is set: a typo loads nothing. */
static int broken_set(const char *val, const struct kernel_param *kp)
{
	bool want[ARRAY_SIZE(eptmmu_knobs)] = {};
	const char *p = val;
	size_t i, len;

	while (*p) {
		len = strcspn(p, ",\n");
		for (i = 0; len && i < ARRAY_SIZE(eptmmu_knobs); i++) {
			if (strlen(eptmmu_knobs[i].name) == len &&
			    !strncmp(p, eptmmu_knobs[i].name, len))
				break;
		}
		if (len && i == ARRAY_SIZE(eptmmu_knobs)) {
			pr_err("broken=: no knob '%.*s'\n", (int)len, p);
			return -EINVAL;
		}
		if (len)
			want[i] = true;
		p += len;
		if (*p)
			p++;
	}
	for (i = 0; i < ARRAY_SIZE(eptmmu_knobs); i++) {
		if (!want[i])
			continue;
		WRITE_ONCE(*(bool *)((char *)&eptmmu_inject +
				     eptmmu_knobs[i].offset), true);
		pr_warn("broken variant %s on (test build)\n",
			eptmmu_knobs[i].name);
	}
	return param_set_charp(val, kp);
}

static const struct kernel_param_ops broken_ops = {
	.set = broken_set,
	.get = param_get_charp,
	.free = param_free_charp,
};

static char *broken;
module_param_cb(broken, &broken_ops, &broken, 0444);
MODULE_PARM_DESC(broken,
		 "test builds only: comma-separated broken variants to switch on (include/eptmmu/inject.h)");
#endif

/**
 * spte_make_leaf() - build a present leaf SPTE
 * @pfn: host page frame mapped (the first one, for a huge leaf)
 * @level: PG_LEVEL_4K, PG_LEVEL_2M or PG_LEVEL_1G
 * @access: VMX_EPT_{READABLE,WRITABLE,EXECUTABLE}_MASK bits to grant
 * @host_writable: the host page may be written
 * @memtype: EPT memory type (X86_MEMTYPE_*)
 * @ad: use EPT A/D bits (false: access tracking)
 *
 * W is granted only with @host_writable.  Every host-writable leaf is
 * MMU-writable, with W or without: a leaf mapped read-only by choice (a
 * read fault in a dirty-logging slot) or write-protected later gets W from
 * the fast path on its first write fault.  IPAT is set: eptmmu decides
 * the memory type, not the guest's PAT.
 * A and D start clear; the caller sets them when the access warrants it.
 *
 * Return: the SPTE.
 */
u64 spte_make_leaf(u64 pfn, int level, unsigned int access,
		   bool host_writable, u8 memtype, bool ad)
{
	u64 spte = SPTE_PRESENT | VMX_EPT_IPAT_BIT;

	if (WARN_ON_ONCE(level < PG_LEVEL_4K || level > PG_LEVEL_1G))
		level = PG_LEVEL_4K;
	spte |= ((u64)memtype << VMX_EPT_MT_EPTE_SHIFT) & VMX_EPT_MT_MASK;
	spte |= (pfn << PAGE_SHIFT) & SPTE_PFN_MASK;
	if (level > PG_LEVEL_4K)
		spte |= SPTE_LARGE_MASK;
	spte |= access & (VMX_EPT_READABLE_MASK | VMX_EPT_EXECUTABLE_MASK);
	if (host_writable)
		spte |= SPTE_HOST_WRITABLE | SPTE_MMU_WRITABLE;
	if (access & VMX_EPT_WRITABLE_MASK) {
		if (!WARN_ON_ONCE(!host_writable))
			spte |= VMX_EPT_WRITABLE_MASK;
	}
	if (!ad)
		spte |= SPTE_AD_DISABLED;
	return spte;
}
EXPORT_SYMBOL_IF_KUNIT(spte_make_leaf);

/**
 * spte_make_nonleaf() - build an entry that points to a child table
 * @child_pfn: page frame of the child table
 * @ad: A/D mode of the tree (the CPU sets A on non-leaf entries too)
 *
 * Non-leaf entries grant all of RWX: permissions are decided at the leaf.
 *
 * Return: the SPTE.
 */
u64 spte_make_nonleaf(u64 child_pfn, bool ad)
{
	u64 spte = SPTE_PRESENT | VMX_EPT_RWX_MASK;

	spte |= (child_pfn << PAGE_SHIFT) & SPTE_PFN_MASK;
	if (!ad)
		spte |= SPTE_AD_DISABLED;
	return spte;
}
EXPORT_SYMBOL_IF_KUNIT(spte_make_nonleaf);

/**
 * spte_make_split_child() - one entry of the table that replaces a huge leaf
 * @huge: the huge leaf
 * @huge_level: its level (PG_LEVEL_2M or PG_LEVEL_1G)
 * @index: entry index in the new child table, 0..511
 *
 * The child maps the matching slice of the huge page with the same
 * permissions, memory type, A/D state and software bits, so splitting
 * never changes what the guest can do.
 *
 * Return: the child SPTE.
 */
u64 spte_make_split_child(u64 huge, int huge_level, unsigned int index)
{
	int child_level = huge_level - 1;
	u64 pfn = spte_pfn(huge) + index * SPTE_PAGES_PER(child_level);
	u64 child = huge & ~SPTE_PFN_MASK;

	WARN_ON_ONCE(!spte_is_present_leaf(huge, huge_level) ||
		     huge_level == PG_LEVEL_4K || index >= SPTE_ENT_PER_PAGE);
	child |= (pfn << PAGE_SHIFT) & SPTE_PFN_MASK;
	if (child_level == PG_LEVEL_4K)
		child &= ~SPTE_LARGE_MASK;
	return child;
}
EXPORT_SYMBOL_IF_KUNIT(spte_make_split_child);

/**
 * spte_mark_access_tracked() - age an SPTE
 * @spte: a present leaf (anything else is returned unchanged)
 *
 * With A/D: clear A; the CPU sets it again on the next access.
 * Without A/D: move R and X to the saved field and clear RWX, so the next
 * access faults and the fast path learns the page is young.  W is not
 * saved: restoring it without a write fault would let a write go unseen by
 * dirty logging, so a write after aging takes the write-protect fast path.
 * Idempotent.
 *
 * Return: the aged SPTE.
 */
/* R-ACC-NOW: W is dropped, never saved. */
u64 spte_mark_access_tracked(u64 spte)
{
	u64 saved = 0;

	if (!spte_is_present(spte))
		return spte;
	if (spte_ad_enabled(spte))
		return spte & ~(u64)VMX_EPT_ACCESS_BIT;
	if (spte & SPTE_ACC_TRACKED)
		return spte;
	if (spte & VMX_EPT_READABLE_MASK)
		saved |= SPTE_SAVED_R;
	if (spte & VMX_EPT_EXECUTABLE_MASK)
		saved |= SPTE_SAVED_X;
	spte &= ~(VMX_EPT_RWX_MASK | SPTE_SAVED_MASK);
	return spte | saved | SPTE_ACC_TRACKED;
}
EXPORT_SYMBOL_IF_KUNIT(spte_mark_access_tracked);

/**
 * spte_restore_access() - undo spte_mark_access_tracked()
 * @spte: a present leaf (anything else is returned unchanged)
 *
 * With A/D this sets A, which is what the CPU would do on the access.
 * Without A/D it gives back R and X; W stays clear until a write fault.
 *
 * Return: the young SPTE.
 */
u64 spte_restore_access(u64 spte)
{
	if (!spte_is_present(spte))
		return spte;
	if (spte_ad_enabled(spte))
		return spte | VMX_EPT_ACCESS_BIT;
	if (!(spte & SPTE_ACC_TRACKED))
		return spte;
	if (spte & SPTE_SAVED_R)
		spte |= VMX_EPT_READABLE_MASK;
	if (spte & SPTE_SAVED_X)
		spte |= VMX_EPT_EXECUTABLE_MASK;
	return spte & ~(SPTE_SAVED_MASK | SPTE_ACC_TRACKED);
}
EXPORT_SYMBOL_IF_KUNIT(spte_restore_access);

/**
 * spte_has_volatile_bits() - may this SPTE change while mmu_lock is held?
 * @spte: the value a writer read
 * @level: where it was read
 *
 * A writer holding mmu_lock for write excludes every other locked writer,
 * but not the CPU, the soft vCPU or the fast page fault.  A plain store is
 * safe only if none of them can change @spte between the writer's read and
 * its store; otherwise the writer must xchg to learn what it replaced.
 * Each term names the lockless agent and the race it prevents:
 *
 *  - access-tracked: the fast path restores R/X (and maybe W).  A plain
 *    store would drop that restore and, worse, a W granted with it.
 *  - MMU-writable but not W: the fast path may set W and the guest then
 *    writes (and, with A/D, the CPU sets D).  A plain store from a
 *    read-only snapshot loses D, so the page never reaches the dirty log;
 *    a flush decided from the snapshot is skipped, so a stale writable TLB
 *    entry survives the write-protect.
 *  - A/D, A clear: the CPU sets A on the next access; losing it only
 *    makes a used page look idle, but aging would then evict hot pages.
 *  - A/D, W and D clear: the CPU sets D on the next write.  Losing D loses
 *    a dirty page.
 *
 * Non-present and non-leaf entries carry nothing we read back: false.
 *
 * Return: true if a writer must use an atomic exchange.
 */
bool spte_has_volatile_bits(u64 spte, int level)
{
	if (!spte_is_present_leaf(spte, level))
		return false;
	/* R-VOLATILE-TRACKED */
	if (spte & SPTE_ACC_TRACKED)
		return true;
	/* R-VOLATILE-MMUW */
	if (!spte_is_writable(spte) && spte_can_fast_set_w(spte))
		return true;
	if (spte_ad_enabled(spte)) {
		/* R-VOLATILE-A */
		if (!(spte & VMX_EPT_ACCESS_BIT))
			return true;
		/* R-VOLATILE-D */
		if (spte_is_writable(spte) && !(spte & VMX_EPT_DIRTY_BIT))
			return true;
	}
	return false;
}
EXPORT_SYMBOL_IF_KUNIT(spte_has_volatile_bits);

/**
 * spte_needs_tlb_flush() - does replacing @old by @new require a TLB flush?
 * @old: the value really replaced (as returned by a write helper)
 * @new: the value written
 * @level: level of the entry
 *
 * A vCPU may cache any translation @old allowed.  Flush when that cache
 * could now allow more than the SPTE does: a present leaf disappears or
 * maps another page, W is withdrawn (1->0), or MMU-writable is withdrawn.
 * With A/D, clearing D needs one too: a TLB entry that already recorded
 * the page as dirty lets later writes through without setting D again.
 * Aging never needs one: clearing A, or marking for access tracking
 * (which drops W but keeps MMU-writable), leaves at worst a young-looking
 * page; whoever write-protects it later flushes for MMU-writable or for a
 * dirty-log harvest.  Non-leaf changes are the caller's business: it
 * flushes when it unlinks a table.
 *
 * Return: true if the caller must flush before its operation returns.
 */
bool spte_needs_tlb_flush(u64 old, u64 new, int level)
{
	bool aging;

	if (!spte_is_present_leaf(old, level))
		return false;
	if (!spte_is_present_leaf(new, level) ||
	    spte_pfn(old) != spte_pfn(new))
		return true;
	if (spte_is_mmu_writable(old) && !spte_is_mmu_writable(new))
		return true;
	aging = !(old & SPTE_ACC_TRACKED) && (new & SPTE_ACC_TRACKED);
	if (spte_is_writable(old) && !spte_is_writable(new) && !aging)
		return true;
	if (spte_ad_enabled(old) && (old & VMX_EPT_DIRTY_BIT) &&
	    !(new & VMX_EPT_DIRTY_BIT))
		return true;
	return false;
}
EXPORT_SYMBOL_IF_KUNIT(spte_needs_tlb_flush);

/*
 * Every store of the helpers below is an eptmmu_spte_changed event; while
 * the event is off this is one patched-out jump.
 */
static __always_inline void trace_store(u64 *sptep, u64 old, u64 new)
{
	if (trace_eptmmu_spte_changed_enabled())
		eptmmu_trace_spte_write(sptep, old, new);
}

/**
 * eptmmu_spte_write_locked() - store an SPTE with mmu_lock held for write
 * @sptep: the entry
 * @old: what the caller read from @sptep under the lock
 * @new: the value to store
 * @level: level of the entry
 *
 * The caller holds mmu_lock for write (mmu/ asserts it).  If @old has
 * volatile bits, xchg so the returned value is what was really replaced.
 *
 * Return: the old value to base dirty, accessed and flush decisions on.
 */
u64 eptmmu_spte_write_locked(u64 *sptep, u64 old, u64 new, int level)
{
	if (spte_has_volatile_bits(old, level) &&
	    !eptmmu_broken(spte_plain_store) &&
	    !eptmmu_broken(spte_plain_access))
		old = xchg(sptep, new);
	else if (eptmmu_broken(spte_plain_access))
		*sptep = new;
	else
		WRITE_ONCE(*sptep, new);
	trace_store(sptep, old, new);
	return old;
}
EXPORT_SYMBOL_IF_KUNIT(eptmmu_spte_write_locked);

/**
 * eptmmu_spte_try_cmpxchg() - store an SPTE without exclusive access
 * @sptep: the entry
 * @old: in: the value the caller based @new on; out on failure: current
 * @new: the value to store
 *
 * For writers holding mmu_lock for read and for lockless writers: every
 * one of them can race another, so each store must prove it replaced what
 * it read.
 *
 * Return: true if @new was stored.
 */
bool eptmmu_spte_try_cmpxchg(u64 *sptep, u64 *old, u64 new)
{
	if (!try_cmpxchg64(sptep, old, new))
		return false;
	trace_store(sptep, *old, new);
	return true;
}
EXPORT_SYMBOL_IF_KUNIT(eptmmu_spte_try_cmpxchg);

/**
 * eptmmu_spte_clear_bits() - atomically clear bits in an SPTE
 * @sptep: the entry
 * @bits: bits to clear
 *
 * For lockless aging with A/D: clear A without losing a D the CPU sets
 * at the same moment.
 *
 * Return: the value before the clear.
 */
u64 eptmmu_spte_clear_bits(u64 *sptep, u64 bits)
{
	u64 old = (u64)atomic64_fetch_and(~bits, (atomic64_t *)sptep);

	trace_store(sptep, old, old & ~bits);
	return old;
}
EXPORT_SYMBOL_IF_KUNIT(eptmmu_spte_clear_bits);

/**
 * eptmmu_spte_set_bits() - atomically set bits in an SPTE
 * @sptep: the entry
 * @bits: bits to set
 *
 * What the CPU does when it sets A or D: a locked OR, never a store.
 *
 * Return: the value before the update.
 */
u64 eptmmu_spte_set_bits(u64 *sptep, u64 bits)
{
	u64 old = (u64)atomic64_fetch_or(bits, (atomic64_t *)sptep);

	trace_store(sptep, old, old | bits);
	return old;
}
EXPORT_SYMBOL_IF_KUNIT(eptmmu_spte_set_bits);

/**
 * eptmmu_spte_init() - choose the SPTE mode for the backend that runs
 * @hw: what the backend's EPT offers
 *
 * Return: 0, or -EINVAL for a bad ept_ad= value or ept_ad=on without A/D.
 */
int eptmmu_spte_init(const struct eptmmu_ept_hw *hw)
{
	const char *why;

	if (!strcmp(ept_ad, "auto")) {
		eptmmu_ad_enabled = hw->ad;
		why = hw->ad ? "the backend offers EPT A/D" :
			       "the backend has no EPT A/D";
	} else if (!strcmp(ept_ad, "on")) {
		if (!hw->ad) {
			pr_err("ept_ad=on, but the %s backend has no EPT A/D bits\n",
			       hw->name);
			return -EINVAL;
		}
		eptmmu_ad_enabled = true;
		why = "ept_ad=on";
	} else if (!strcmp(ept_ad, "off")) {
		eptmmu_ad_enabled = false;
		why = "ept_ad=off";
	} else {
		pr_err("ept_ad=%s: expected auto, on or off\n", ept_ad);
		return -EINVAL;
	}
	eptmmu_backend = hw->backend;
	eptmmu_max_leaf_level = hw->max_leaf_level;
	pr_info("SPTE mode: %s (%s; %s backend; leaves up to %s)\n",
		eptmmu_ad_enabled ? "EPT A/D bits" :
				    "access tracking without A/D bits",
		why, hw->name, hw->max_leaf_level == PG_LEVEL_1G ? "1G" :
		hw->max_leaf_level == PG_LEVEL_2M ? "2M" : "4K");
	return 0;
}
