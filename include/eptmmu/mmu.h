/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The MMU room: VMs, memslots, EPT page-table pages, the iterator, the
 * slow page fault, zap / split / teardown and TLB-flush requests.
 *
 * Locks (Documentation/locking.rst has the rules and the races):
 *   vm->slots_lock (mutex)  memslot updates
 *   vm->srcu                memslot array readers
 *   vm->mmu_lock (rwlock)   page-table structure; read side for faults and
 *                           range operations, write side for teardown and
 *                           the invalidation bookkeeping
 *   RCU                     lockless walkers: page-table pages are freed
 *                           with call_rcu after they are unlinked
 */
#ifndef _EPTMMU_MMU_H
#define _EPTMMU_MMU_H

#include <linux/atomic.h>
#include <linux/mm.h>
#include <linux/mm_types.h>
#include <linux/mmu_notifier.h>
#include <linux/mutex.h>
#include <linux/rcupdate.h>
#include <linux/refcount.h>
#include <linux/rwsem.h>
#include <linux/spinlock.h>
#include <linux/srcu.h>
#include <linux/tracepoint-defs.h>
#include <linux/types.h>

#include <eptmmu/inject.h>
#include <eptmmu/spte.h>
#include "../uapi/eptmmu.h"

struct eptmmu_vcpu;

#define EPTMMU_NO_GUEST_CODE	U64_MAX

/*
 * Kernel-internal slot flag, never accepted from user space: the slot is
 * being deleted.  Invalidations still find it (its leaves are live until
 * the delete has zapped them); faults must not map it (R-MEMSLOT-DELETE).
 */
#define EPTMMU_SLOT_INVALID	BIT(31)

struct eptmmu_slot {
	u64 base_gfn;
	u64 npages;
	unsigned long userspace_addr;
	u32 flags;
	u32 id;
	/*
	 * One bit per page while the slot logs dirty pages; set with atomic
	 * bitops by faults and harvests, freed after an SRCU grace period.
	 */
	unsigned long *dirty_bitmap;
};

/* Copy-on-update: readers hold vm->srcu, writers vm->slots_lock. */
struct eptmmu_slots {
	u64 generation;
	int nr;
	struct eptmmu_slot slots[EPTMMU_MAX_MEMSLOTS];	/* by base_gfn */
	struct rcu_head rcu;
	/* Freed with the array: a bitmap only the array still names. */
	unsigned long *stale_bitmap;
	atomic_t *pending;	/* the VM's old_slots, for the deferred free */
};

/* One page-table page: page->private of its page points here. */
struct eptmmu_pt {
	u64 *spt;
	u64 base_gfn;
	int level;
	struct rcu_head rcu;
};

/* Each vCPU backend implements these; the MMU and vcpu/run.c call them. */
struct eptmmu_vcpu_ops {
	const char *name;
	/* Accesses must lie below this gpa. */
	u64 max_gpa;
	/* One checked guest access; EPTMMU_EXIT_*.  Under run_lock. */
	int (*access)(struct eptmmu_vcpu *vcpu, struct eptmmu_access *a,
		      u32 *exit_errno);
	/*
	 * EPTMMU_RUN_GUEST with checked @rg->regs; EPTMMU_EXIT_*.  Under
	 * run_lock.  NULL: the backend runs no guest code.
	 */
	int (*run_guest)(struct eptmmu_vcpu *vcpu,
			 struct eptmmu_run_guest *rg);
	/* The run is over: leave nothing of the vCPU on this CPU. */
	void (*run_end)(struct eptmmu_vcpu *vcpu);
	/* A consistent copy of the counters (under run_lock). */
	void (*read_stats)(struct eptmmu_vcpu *vcpu,
			   struct eptmmu_vcpu_stats *stats);
	/* Drop every cached translation; return when none can be used. */
	void (*flush_tlb)(struct eptmmu_vcpu *vcpu);
	/*
	 * PML: return when every page the vCPU logged before the call is
	 * in the dirty bitmaps (R-PML-DRAIN).  NULL without PML.
	 */
	void (*sync_dirty_log)(struct eptmmu_vcpu *vcpu);
	void (*destroy)(struct eptmmu_vcpu *vcpu);
};

/* Page-table pages a fault may need, allocated before mmu_lock. */
#define EPTMMU_PT_CACHE_MIN	(SPTE_ROOT_LEVEL)

struct eptmmu_pt_cache {
	int nr;
	struct eptmmu_pt *pts[EPTMMU_PT_CACHE_MIN];
};

/*
 * Fault counters under KVM's names, beside the ABI's struct
 * eptmmu_vcpu_stats (debugfs only, see mmu/stats.c).  Like @stats, written
 * only by the thread running the vCPU (eptmmu_vcpu_stat_inc()).
 *
 * @pf_fixed: faults that changed an SPTE to let the access through (fast
 *	or slow path)
 * @pf_spurious: faults that found the SPTE already allowing the access
 * @pf_fast: faults the fast path handled (fixed or spurious)
 * @pf_mmio_spte_created: MMIO SPTEs installed where there was none
 * @pf_guest_pt: EPT violations of the CPU's accesses to the guest's own
 *	paging structures (qualification: GLA valid, not a translation)
 * @pf_guest_linear: EPT violations of accesses to the translation of a
 *	guest-linear address (GLA valid and translated)
 * @pml_logged: PML entries drained into the dirty bitmaps (vmx, PML on)
 * @pml_full_exits: VM exits because the PML buffer was full
 */
struct eptmmu_vcpu_kstats {
	u64 pf_fixed;
	u64 pf_spurious;
	u64 pf_fast;
	u64 pf_mmio_spte_created;
	u64 pf_guest_pt;
	u64 pf_guest_linear;
	u64 pml_logged;
	u64 pml_full_exits;
};

/*
 * A vCPU's dirty ring (mmu/ring.c, R-RING-ORDER).  @gfns is shared with
 * user space.  @dirty_index is written only by the thread running the
 * vCPU, @reset_index only by EPTMMU_RESET_DIRTY_RINGS (under slots_lock);
 * both run freely, an entry is gfns[index & (entries - 1)].
 */
struct eptmmu_dirty_ring {
	struct eptmmu_dirty_gfn *gfns;	/* NULL: the VM logs into bitmaps */
	u32 entries;
	u32 dirty_index;
	u32 reset_index;
};

struct eptmmu_vcpu {
	struct eptmmu_vm *vm;
	const struct eptmmu_vcpu_ops *ops;
	int id;
	/* One EPTMMU_RUN at a time; also owns @cache. */
	struct mutex run_lock;
	struct eptmmu_pt_cache cache;	/* under run_lock */
	struct eptmmu_vcpu_stats stats;	/* written by the running thread */
	struct eptmmu_vcpu_kstats kstats;	/* written by the running thread */
	struct eptmmu_fault_latency latency;	/* under run_lock */
	int last_fault_level;		/* leaf level the slow path installed */
	u64 guest_rip;			/* vmx: where EPTMMU_EXIT_GUEST stopped */
	struct eptmmu_dirty_ring ring;
};

struct eptmmu_vm {
	refcount_t refs;		/* the VM fd and every vCPU */
	struct mm_struct *mm;		/* mmgrab'd creator's mm */
	bool ad;			/* SPTE A/D mode, fixed at creation */
	/*
	 * vmx vCPUs log by PML: a write-protection logging slot keeps its
	 * leaves writable and logs D updates instead (R-PML-DRAIN).  Fixed
	 * at creation.
	 */
	bool pml;
	u8 backend;			/* EPTMMU_BACKEND_*, fixed at creation */
	/* Entries of each vCPU's dirty ring, 0 for none; before any vCPU. */
	u32 dirty_ring_entries;
	/* Page of the vmx guest's code, or EPTMMU_NO_GUEST_CODE; any time. */
	u64 guest_code_gpa;

	/* Memslot updates; never taken by notifier callbacks. */
	struct mutex slots_lock;
	struct srcu_struct srcu;
	struct eptmmu_slots __rcu *slots;
	/* Replaced arrays waiting for their readers (R-MEMSLOT-SRCU). */
	atomic_t old_slots;
	/*
	 * Slots of the published array that log by D bits; written under
	 * slots_lock, read under mmu_lock without it (R-DBIT-COUNT).
	 */
	int nr_dbit_slots;

	rwlock_t mmu_lock;
	struct eptmmu_pt *root;

	/* Invalidation protocol (acctrack/notifier.c, mmu/fault.c). */
	struct mmu_notifier mn;
	unsigned long mmu_invalidate_seq;
	long mmu_invalidate_in_progress;
	unsigned long mmu_invalidate_start;	/* hva range in progress */
	unsigned long mmu_invalidate_end;
	/*
	 * Operations that may have cleared entries and not yet flushed
	 * (R-ZAP-FLUSH): a zap that returns while another is in flight
	 * flushes for it.
	 */
	atomic_t zaps_unflushed;
	bool dead;			/* the mm has gone: only teardown left */
	struct dentry *debugfs;		/* the auditor's directory, or NULL */

	/*
	 * Read: an EPTMMU_RUN (or latency read) in flight.  Write: the
	 * auditor, which must see every vCPU stopped and must not make a
	 * RUN that comes meanwhile fail with EBUSY: the RUN waits instead.
	 */
	struct rw_semaphore audit_lock;
	struct mutex vcpus_lock;	/* vCPU creation */
	atomic_t nr_vcpus;
	struct eptmmu_vcpu *vcpus[EPTMMU_MAX_VCPUS];

	struct {
		atomic64_t tables, maps_4k, maps_2m, maps_1g, splits, zapped;
		atomic64_t tlb_flushes, invalidations;
		atomic64_t aging_passes, aged_young;
		/*
		 * Present leaves now in the tree, per level (KVM's
		 * pages_4k/2m/1g); changed by whoever installs or removes a
		 * leaf, under mmu_lock, through eptmmu_account_leaf().
		 */
		atomic64_t pages[PG_LEVEL_1G + 1];
		/* Slow faults served by GUP-fast, without mmap_lock. */
		atomic64_t gup_fast;
		/* Dirty ring: entries pushed, reset, full exits, hard fulls. */
		atomic64_t ring_pushed, ring_reset, ring_full_exits;
		atomic64_t ring_overflow;
	} stats;
};

/*
 * R-STATS-LOCKLESS: one writer per counter (the thread running the vCPU),
 * so a read-modify-write of two marked accesses loses no increment; a
 * reader from debugfs takes no lock and sees each u64 whole.
 */
static inline void eptmmu_vcpu_stat_inc(u64 *counter)
{
	WRITE_ONCE(*counter, *counter + 1);
}

/*
 * A leaf at @level went from @old to @new: count the present leaves
 * (stats.pages).  Atomic: installs and zaps run in parallel under the
 * read lock.
 */
static inline void eptmmu_account_leaf(struct eptmmu_vm *vm, u64 old, u64 new,
				       int level)
{
	int delta = (int)spte_is_present_leaf(new, level) -
		    (int)spte_is_present_leaf(old, level);

	if (delta && level <= PG_LEVEL_1G)
		atomic64_add(delta, &vm->stats.pages[level]);
}

/*
 * Iterator over the SPTEs covering [start, end) gfns, pre-order, never
 * below @min_level.  Valid inside rcu_read_lock(); the mmu_lock side is the
 * caller's.
 */
struct eptmmu_iter {
	struct eptmmu_vm *vm;
	u64 start, end;
	int min_level;
	int level;
	u64 gfn;		/* base gfn of the current entry */
	u64 next_gfn;		/* where to resume after a yield */
	u64 yielded_gfn;	/* next_gfn at the last yield */
	u64 *pt[SPTE_ROOT_LEVEL + 1];
	u64 *sptep;
	u64 old_spte;
	bool valid;
	bool yielded;
};

void eptmmu_iter_start(struct eptmmu_iter *it, struct eptmmu_vm *vm,
		       u64 start, u64 end, int min_level);
void eptmmu_iter_next(struct eptmmu_iter *it);
void eptmmu_iter_restart(struct eptmmu_iter *it);
bool eptmmu_iter_cond_resched(struct eptmmu_iter *it, bool shared,
			      bool *flush);

#define for_each_eptmmu_spte(_it, vm, start, end, min_level)		\
	for (eptmmu_iter_start(_it, vm, start, end, min_level);		\
	     (_it)->valid; eptmmu_iter_next(_it))

static inline u64 eptmmu_gfn_round(u64 gfn, int level)
{
	return gfn & ~(SPTE_PAGES_PER(level) - 1);
}

static inline unsigned int eptmmu_spte_index(u64 gfn, int level)
{
	return (gfn >> SPTE_LEVEL_SHIFT(level)) & (SPTE_ENT_PER_PAGE - 1);
}

u64 *eptmmu_spte_to_child(u64 spte);
u64 eptmmu_leaf_of(struct eptmmu_vm *vm, u64 gfn, int *level);

/* What the host maps at one address now (eptmmu_host_lookup()). */
struct eptmmu_host_map {
	u64 pfn;
	int level;
	bool writable;
};

bool eptmmu_host_lookup(struct mm_struct *mm, unsigned long hva,
			struct eptmmu_host_map *h);

/*
 * Where a scan of 2M ranges is in the host's tables
 * (eptmmu_host_level_2m()): the 1G range it last descended to, and what
 * it found there.  Zeroed to start, and again whenever mmap_lock was
 * dropped.
 */
struct eptmmu_host_cursor {
	bool valid;
	unsigned long top;	/* hva of that 1G range */
	pmd_t *pmd;		/* its PMD table, or NULL */
	int level;		/* without a PMD table: PG_LEVEL_1G or _4K */
};

int eptmmu_host_level_2m(struct mm_struct *mm, struct eptmmu_host_cursor *c,
			 unsigned long hva);

static inline bool eptmmu_slot_logs_dbit(const struct eptmmu_slot *slot)
{
	return (slot->flags & EPTMMU_MEM_LOG_DIRTY_PAGES) &&
	       (slot->flags & EPTMMU_MEM_DIRTY_LOG_DBIT);
}

/*
 * Does @slot log by PML?  A logging slot that has not asked for D-bit
 * logging, in a PML VM: its leaves stay writable, a harvest collects
 * what the vCPUs' PML buffers logged and clears D (R-PML-DRAIN).
 */
static inline bool eptmmu_slot_logs_pml(const struct eptmmu_vm *vm,
					const struct eptmmu_slot *slot)
{
	return vm->pml && (slot->flags & EPTMMU_MEM_LOG_DIRTY_PAGES) &&
	       !(slot->flags & EPTMMU_MEM_DIRTY_LOG_DBIT);
}

/*
 * Log a write made outside any vCPU's thread (a zap or a harvest taking
 * a D bit): into the slot's bitmap, in a ring VM too (R-RING-NOVCPU).
 */
static inline void eptmmu_mark_dirty(struct eptmmu_slot *slot, u64 gfn)
{
	if (slot->dirty_bitmap && gfn - slot->base_gfn < slot->npages)
		set_bit(gfn - slot->base_gfn, slot->dirty_bitmap);
}

void eptmmu_dirty_ring_push(struct eptmmu_vcpu *vcpu,
			    struct eptmmu_slot *slot, u64 offset);

/**
 * eptmmu_vcpu_mark_dirty() - log a write of the vCPU running on this thread
 * @vcpu: the vCPU; the caller runs it (holds its run_lock)
 * @slot: the memslot of @gfn, from an array the caller holds (SRCU)
 * @gfn: the page written
 *
 * Into @vcpu's dirty ring when the VM has rings, else the bitmap.  Any
 * context: takes no lock and does not sleep.  A page-modification-log
 * drain calls it for each gpa logged, from the vCPU's thread, and may log
 * at most 512 between two checks of eptmmu_dirty_ring_soft_full() (before
 * each access, at each fault): EPTMMU_DIRTY_RING_RSVD_ENTRIES keeps that
 * much room (R-RING-SOFT-FULL).
 */
static inline void eptmmu_vcpu_mark_dirty(struct eptmmu_vcpu *vcpu,
					  struct eptmmu_slot *slot, u64 gfn)
{
	if (!vcpu->ring.gfns)
		eptmmu_mark_dirty(slot, gfn);
	else if (slot->dirty_bitmap && gfn - slot->base_gfn < slot->npages)
		eptmmu_dirty_ring_push(vcpu, slot, gfn - slot->base_gfn);
}

/* mmu/vm.c */
/* ept_pml= chose PML (vcpu/vmx.c); VMs created from then on use it. */
extern bool eptmmu_pml_enabled;
struct eptmmu_vm *eptmmu_vm_create(struct mm_struct *mm);
void eptmmu_vm_get(struct eptmmu_vm *vm);
void eptmmu_vm_put(struct eptmmu_vm *vm);
int eptmmu_set_memslot(struct eptmmu_vm *vm, const struct eptmmu_memslot *req);
struct eptmmu_slot *eptmmu_gfn_to_slot(struct eptmmu_slots *slots, u64 gfn);
struct eptmmu_slot *eptmmu_slot_by_id(struct eptmmu_slots *slots, u32 id);
void eptmmu_get_vm_stats(struct eptmmu_vm *vm, struct eptmmu_vm_stats *st);
int eptmmu_get_spte(struct eptmmu_vm *vm, struct eptmmu_spte *req);
int eptmmu_vm_add_vcpu(struct eptmmu_vm *vm, struct eptmmu_vcpu *vcpu);

static inline struct eptmmu_slots *eptmmu_slots(struct eptmmu_vm *vm)
{
	return srcu_dereference_check(vm->slots, &vm->srcu,
				      lockdep_is_held(&vm->slots_lock));
}

/* mmu/pt.c */
struct eptmmu_pt *eptmmu_pt_alloc(struct eptmmu_vm *vm, gfp_t gfp);
void eptmmu_pt_free(struct eptmmu_vm *vm, struct eptmmu_pt *pt);
void eptmmu_pt_linked(struct eptmmu_vm *vm);
int eptmmu_pt_cache_topup(struct eptmmu_vm *vm, struct eptmmu_pt_cache *c);
void eptmmu_pt_cache_free(struct eptmmu_vm *vm, struct eptmmu_pt_cache *c);
bool eptmmu_zap_gfn_range(struct eptmmu_vm *vm, u64 start, u64 end,
			  bool can_yield);
void eptmmu_zap_for_huge(struct eptmmu_vm *vm, u64 start, u64 end, int level);
void eptmmu_flush_remote_tlbs(struct eptmmu_vm *vm);
void eptmmu_free_all_tables(struct eptmmu_vm *vm);
bool eptmmu_freeze_and_clear(struct eptmmu_vm *vm, struct eptmmu_iter *it,
			     bool *flush);
void __eptmmu_set_leaf_locked(struct eptmmu_vm *vm, u64 *sptep, u64 gfn,
			      int level, u64 snap, u64 new, bool *flush);

/* trace_eptmmu_spte_changed_enabled(), without trace.h's events. */
#if defined(CONFIG_TRACEPOINTS) && !defined(NOTRACE)
DECLARE_TRACEPOINT(eptmmu_spte_changed);
#define eptmmu_leaf_event_on()	tracepoint_enabled(eptmmu_spte_changed)
#else
#define eptmmu_leaf_event_on()	false
#endif

/*
 * The folio's dirty flag, tested first: a folio found dirty ends up as a
 * set would leave it, and a clean racing the test could as well have come
 * right after a set (cleaning is safe at all only because a cleaner
 * unmaps the page first, and so zaps the leaf, which waits for mmu_lock).
 * Most folios a CLEAR meets are still dirty from the pass before: a test
 * is a load where a set is a locked write.
 */
static __always_inline void eptmmu_folio_set_dirty(struct folio *folio)
{
	if (!folio_test_dirty(folio))
		folio_set_dirty(folio);
}

/**
 * eptmmu_host_page_dirty_4k() - eptmmu_host_page_dirty() for one 4K page
 * @pfn: the host frame a 4K leaf maps
 *
 * Inline, for the re-protects a CLEAR without A/D makes for every page
 * the guest wrote.  Same contract as eptmmu_host_page_dirty().
 */
static __always_inline void eptmmu_host_page_dirty_4k(u64 pfn)
{
	struct page *page = pfn_to_page(pfn);

	if (!eptmmu_broken(no_host_dirty) && !PageReserved(page))
		eptmmu_folio_set_dirty(page_folio(page));
}

/*
 * Which settled form @snap is, as a leaf of @level: SPTE_SETTLED_AD,
 * SPTE_SETTLED_NOAD (4K only: a huge leaf's pages go through the
 * out-of-line writer), or 0.
 */
static __always_inline u64 eptmmu_settled_form(u64 snap, int level)
{
	if (spte_is_settled(snap, level))
		return SPTE_SETTLED_AD;
	if (level == PG_LEVEL_4K && spte_is_settled_noad(snap, level))
		return SPTE_SETTLED_NOAD;
	return 0;
}

/**
 * eptmmu_wrprot_settled() - withdraw W from a settled leaf, inline
 * @vm: the VM, mmu_lock held for write
 * @sptep: the entry
 * @snap: what the caller read from @sptep
 * @level: its level
 *
 * The one case a CLEAR or a harvest repeats for every page the guest
 * wrote: W withdrawn from a settled leaf, with A/D (spte_is_settled()) or
 * without (spte_is_settled_noad(), 4K).  Nothing but aging writes either
 * meanwhile, so @snap is what is replaced, up to what aging did, and a
 * plain store does.  With A/D it loses neither the page nor D, so there
 * is nothing to record or count.  Without A/D W was the only record of a
 * write, so the host page is marked dirty (R-HOST-DIRTY), as the
 * out-of-line writer would; nothing else is recorded there either (no D,
 * no count changes).  Withdrawing W always needs the flush, which the
 * caller owes.  With the leaf event on, the out-of-line writer is left to
 * trace it.
 *
 * Return: true if the store was made; false if the caller must go through
 * __eptmmu_set_leaf_locked().
 */
/* R-MMULOCK-WRITE, R-FLUSH-REALOLD: the settled re-protect, inline. */
static __always_inline bool eptmmu_wrprot_settled(struct eptmmu_vm *vm,
						  u64 *sptep, u64 snap,
						  int level)
{
	u64 form = eptmmu_settled_form(snap, level);

	if (!form || eptmmu_leaf_event_on())
		return false;
	lockdep_assert_held_write(&vm->mmu_lock);
	eptmmu_park(EPTMMU_PARK_LOCKED_WRITE);
	WRITE_ONCE(*sptep, snap & ~(u64)VMX_EPT_WRITABLE_MASK);
	if (form == SPTE_SETTLED_NOAD)
		eptmmu_host_page_dirty_4k(spte_pfn(snap));
	return true;
}

/**
 * eptmmu_wrprot_settled_word() - eptmmu_wrprot_settled() for 64 leaves
 * @vm: the VM, mmu_lock held for write
 * @sptep: the first of 64 consecutive entries of a 4K table
 *
 * A dense CLEAR's whole bitmap word, if every one of its leaves is
 * settled in the form of the first: one pass reads them all and tests
 * once, a second withdraws W from each, neither with a branch per entry;
 * without A/D a third marks their host pages dirty.  The argument for one
 * leaf holds for as long as the passes last: nothing but aging changes a
 * settled leaf without mmu_lock, and the write lock keeps the other
 * writers out.  What aging does between the passes the second pass keeps
 * or undoes as for one leaf (Documentation/locking.rst,
 * R-MMULOCK-WRITE).  A word whose first leaf is settled in neither form
 * is not read twice.  Under TCG, where the bench runs, each conditional
 * branch ends a translation block; on a CPU the passes have none to
 * mispredict.
 *
 * Return: true if the stores were made; false if the caller must take the
 * leaves one at a time.
 */
/* R-MMULOCK-WRITE, R-FLUSH-REALOLD: the settled re-protect, 64 at a time. */
static __always_inline bool eptmmu_wrprot_settled_word(struct eptmmu_vm *vm,
						       u64 *sptep)
{
	u64 form = eptmmu_settled_form(READ_ONCE(*sptep), PG_LEVEL_4K);
	u64 diff = 0;
	unsigned int i;

	if (!form || eptmmu_leaf_event_on())
		return false;
	/* Unrolled: the loop's own compare and branch cost as much as a leaf. */
#pragma GCC unroll 8
	for (i = 0; i < 64; i++)
		diff |= spte_settled_diff_as(READ_ONCE(sptep[i]), form);
	if (diff)
		return false;
	lockdep_assert_held_write(&vm->mmu_lock);
	eptmmu_park(EPTMMU_PARK_LOCKED_WRITE);
#pragma GCC unroll 8
	for (i = 0; i < 64; i++)
		WRITE_ONCE(sptep[i],
			   READ_ONCE(sptep[i]) & ~(u64)VMX_EPT_WRITABLE_MASK);
	/* Aging keeps the frame: the entry still names the page written. */
	if (form == SPTE_SETTLED_NOAD)
		for (i = 0; i < 64; i++)
			eptmmu_host_page_dirty_4k(spte_pfn(READ_ONCE(sptep[i])));
	return true;
}

/**
 * eptmmu_set_leaf_locked() - change a leaf with mmu_lock held for write
 * @vm: the VM
 * @sptep: the entry
 * @gfn: first gfn the entry maps
 * @level: its level
 * @snap: what the caller read from @sptep
 * @new: the value to store
 * @flush: set when the change needs a TLB flush before the caller returns
 *
 * See __eptmmu_set_leaf_locked(); a settled re-protect takes
 * eptmmu_wrprot_settled() instead, without a call.
 */
static __always_inline void eptmmu_set_leaf_locked(struct eptmmu_vm *vm,
						   u64 *sptep, u64 gfn,
						   int level, u64 snap, u64 new,
						   bool *flush)
{
	if (new == (snap & ~(u64)VMX_EPT_WRITABLE_MASK) &&
	    eptmmu_wrprot_settled(vm, sptep, snap, level)) {
		*flush = true;
		return;
	}
	__eptmmu_set_leaf_locked(vm, sptep, gfn, level, snap, new, flush);
}

void eptmmu_set_spte_locked(struct eptmmu_vm *vm, struct eptmmu_iter *it,
			    u64 new, bool *flush);
void eptmmu_leaf_changed(struct eptmmu_vm *vm, u64 gfn, u64 old, u64 new,
			 int level);

/*
 * Whether replacing leaf @old by @new loses anything eptmmu_leaf_changed()
 * records: the page, a D, or (without A/D) a W.  Plain bit tests, always
 * inlined: every locked store asks, and one that loses nothing (a
 * re-protect that keeps D) should pay for no call at all, not even to the
 * predicates a size-optimised kernel leaves out of line.
 */
static __always_inline bool eptmmu_leaf_loses(u64 old, u64 new, int level)
{
	u64 lost = old & ~new;

	if (!(old & SPTE_PRESENT) ||
	    (level > PG_LEVEL_4K && !(old & SPTE_LARGE_MASK)))
		return false;
	if ((lost & (SPTE_PRESENT | SPTE_LARGE_MASK | VMX_EPT_DIRTY_BIT)) ||
	    ((old ^ new) & SPTE_PFN_MASK))
		return true;
	/* Without A/D, W is the only sign of a write (spte_is_dirty()). */
	return (old & SPTE_AD_DISABLED) && (lost & VMX_EPT_WRITABLE_MASK);
}

void eptmmu_host_page_dirty(u64 pfn, int level);
void eptmmu_zap_begin(struct eptmmu_vm *vm);
void eptmmu_zap_end(struct eptmmu_vm *vm, bool flush);
struct eptmmu_pt *eptmmu_pt_cache_pop(struct eptmmu_pt_cache *c);
int eptmmu_link_table(struct eptmmu_vm *vm, struct eptmmu_iter *it,
		      struct eptmmu_pt_cache *c);
int eptmmu_split_huge(struct eptmmu_vm *vm, struct eptmmu_iter *it,
		      struct eptmmu_pt_cache *c);
void eptmmu_pt_cache_push(struct eptmmu_pt_cache *c, struct eptmmu_pt *pt);
u64 eptmmu_pt_pfn(struct eptmmu_pt *pt);

/* mmu/stats.c */
void eptmmu_stat_installed(struct eptmmu_vcpu *vcpu, u64 old, u64 new,
			   int level);
void eptmmu_stat_mmio_created(struct eptmmu_vcpu *vcpu, u64 old);
void eptmmu_stats_debugfs_add(struct eptmmu_vm *vm, struct dentry *dir);

/* mmu/fault.c */
#define EPTMMU_FAULT_RETRY	1	/* state changed: try the access again */
#define EPTMMU_FAULT_MMIO	2	/* no memslot: an MMIO exit */
#define EPTMMU_FAULT_RING_FULL	3	/* the dirty ring is soft-full: exit */

int eptmmu_slow_page_fault(struct eptmmu_vcpu *vcpu, u64 gpa, u64 exit_qual);
int eptmmu_slot_max_level(const struct eptmmu_slot *slot, u64 gfn);

/* mmu/dirty.c */
/* GET/CLEAR_DIRTY_LOG may yield once per this many 64-page words. */
#define EPTMMU_DIRTY_LOG_YIELD_WORDS	1024
int eptmmu_dirty_log_alloc(struct eptmmu_slot *slot);
void eptmmu_dirty_log_start(struct eptmmu_vm *vm, struct eptmmu_slot *slot);
void eptmmu_dirty_log_stop(struct eptmmu_vm *vm, struct eptmmu_slot *slot);
int eptmmu_get_dirty_log(struct eptmmu_vm *vm, struct eptmmu_dirty_log *log);
int eptmmu_clear_dirty_log(struct eptmmu_vm *vm, struct eptmmu_dirty_log *log);
void eptmmu_dirty_log_sync(struct eptmmu_vm *vm);

/* mmu/ring.c */
int eptmmu_enable_dirty_ring(struct eptmmu_vm *vm,
			     const struct eptmmu_dirty_ring_config *cfg);
int eptmmu_dirty_ring_alloc(struct eptmmu_vm *vm, struct eptmmu_vcpu *vcpu);
void eptmmu_dirty_ring_free(struct eptmmu_vcpu *vcpu);
bool eptmmu_dirty_ring_soft_full(struct eptmmu_vcpu *vcpu);
int eptmmu_reset_dirty_rings(struct eptmmu_vm *vm);
int eptmmu_dirty_ring_mmap(struct eptmmu_vcpu *vcpu, struct vm_area_struct *vma);
bool eptmmu_dirty_ring_holds(struct eptmmu_vm *vm, u32 slot, u64 offset);
void eptmmu_dirty_log_clear_pages(struct eptmmu_vm *vm,
				  const struct eptmmu_dirty_gfn *pages,
				  size_t n);

/* acctrack/notifier.c */
int eptmmu_notifier_register(struct eptmmu_vm *vm);
void eptmmu_notifier_unregister(struct eptmmu_vm *vm);
bool eptmmu_hva_to_gfns(const struct eptmmu_slot *s, unsigned long start,
			unsigned long end, u64 *first, u64 *last);

/* acctrack/age.c */
bool eptmmu_age_gfn_range(struct eptmmu_vm *vm, u64 start, u64 end,
			  bool clear);

#endif /* _EPTMMU_MMU_H */
