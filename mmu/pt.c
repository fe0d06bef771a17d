// SPDX-License-Identifier: GPL-2.0
/*
 * EPT page-table pages, the iterator every walk uses, zapping with the
 * frozen-SPTE protocol, TLB-flush requests and teardown.
 */
#include <linux/gfp.h>
#include <linux/lockdep.h>
#include <linux/mm.h>
#include <linux/page-flags.h>
#include <linux/swap.h>
#include <linux/rcupdate.h>
#include <linux/sched.h>
#include <linux/slab.h>

#include <eptmmu/audit.h>
#include <eptmmu/export.h>
#include <eptmmu/inject.h>
#include <eptmmu/mmu.h>
#include <eptmmu/trace.h>

struct eptmmu_pt *eptmmu_pt_alloc(struct eptmmu_vm *vm, gfp_t gfp)
{
	struct eptmmu_pt *pt;
	struct page *page;

	pt = kzalloc(sizeof(*pt), gfp);
	if (!pt)
		return NULL;
	page = alloc_page(gfp | __GFP_ZERO);
	if (!page) {
		kfree(pt);
		return NULL;
	}
	pt->spt = page_address(page);
	set_page_private(page, (unsigned long)pt);
	return pt;
}

static void pt_release(struct eptmmu_pt *pt)
{
	set_page_private(virt_to_page(pt->spt), 0);
	free_page((unsigned long)pt->spt);
	kfree(pt);
}

/* For tables that were never linked into the tree. */
void eptmmu_pt_free(struct eptmmu_vm *vm, struct eptmmu_pt *pt)
{
	pt_release(pt);
}

/* stats.tables counts tables in the tree, not those waiting in caches. */
void eptmmu_pt_linked(struct eptmmu_vm *vm)
{
	atomic64_inc(&vm->stats.tables);
}

static void pt_free_rcu_cb(struct rcu_head *head)
{
	pt_release(container_of(head, struct eptmmu_pt, rcu));
}

/* An unlinked table may still be read by lockless walkers until a grace period. */
static void pt_free_rcu(struct eptmmu_vm *vm, struct eptmmu_pt *pt)
{
	atomic64_dec(&vm->stats.tables);
	call_rcu(&pt->rcu, pt_free_rcu_cb);
}

u64 eptmmu_pt_pfn(struct eptmmu_pt *pt)
{
	return page_to_pfn(virt_to_page(pt->spt));
}

static struct eptmmu_pt *spte_to_pt(u64 spte)
{
	return (struct eptmmu_pt *)page_private(pfn_to_page(spte_pfn(spte)));
}

u64 *eptmmu_spte_to_child(u64 spte)
{
	return page_address(pfn_to_page(spte_pfn(spte)));
}
EXPORT_SYMBOL_IF_KUNIT(eptmmu_spte_to_child);

/**
 * eptmmu_pt_cache_topup() - make sure a fault will not need to allocate
 * @vm: the VM
 * @c: the cache (owned by the faulting vCPU)
 *
 * mmu_lock is a spinning rwlock, so a fault cannot allocate under it.
 * One fault links at most one table per level below the root.
 *
 * Return: 0 or -ENOMEM.
 */
int eptmmu_pt_cache_topup(struct eptmmu_vm *vm, struct eptmmu_pt_cache *c)
{
	while (c->nr < EPTMMU_PT_CACHE_MIN) {
		struct eptmmu_pt *pt = eptmmu_pt_alloc(vm, GFP_KERNEL_ACCOUNT);

		if (!pt)
			return -ENOMEM;
		c->pts[c->nr++] = pt;
	}
	return 0;
}

struct eptmmu_pt *eptmmu_pt_cache_pop(struct eptmmu_pt_cache *c)
{
	if (WARN_ON_ONCE(!c->nr))
		return NULL;
	return c->pts[--c->nr];
}

/* Give back a table that lost its cmpxchg: it was never visible. */
void eptmmu_pt_cache_push(struct eptmmu_pt_cache *c, struct eptmmu_pt *pt)
{
	memset(pt->spt, 0, PAGE_SIZE);
	c->pts[c->nr++] = pt;
}

void eptmmu_pt_cache_free(struct eptmmu_vm *vm, struct eptmmu_pt_cache *c)
{
	while (c->nr)
		eptmmu_pt_free(vm, c->pts[--c->nr]);
}

static int link_pt(struct eptmmu_vm *vm, struct eptmmu_iter *it,
		   struct eptmmu_pt_cache *c, struct eptmmu_pt *pt)
{
	u64 nonleaf;

	if (!pt)
		return -ENOMEM;
	lockdep_assert_held(&vm->mmu_lock);
	nonleaf = spte_make_nonleaf(eptmmu_pt_pfn(pt), vm->ad);
	pt->level = it->level - 1;
	pt->base_gfn = it->gfn;
	if (!eptmmu_spte_try_cmpxchg(it->sptep, &it->old_spte, nonleaf)) {
		eptmmu_pt_cache_push(c, pt);
		return EPTMMU_FAULT_RETRY;
	}
	eptmmu_pt_linked(vm);
	it->old_spte = nonleaf;
	return 0;
}

/**
 * eptmmu_link_table() - link a fresh table from @c into the entry at @it
 * @vm: the VM
 * @it: the iterator, at a non-present entry above the 4K level
 * @c: where the table comes from (and goes back to if it loses the race)
 *
 * Return: 0, EPTMMU_FAULT_RETRY (the entry changed), -ENOMEM.
 */
int eptmmu_link_table(struct eptmmu_vm *vm, struct eptmmu_iter *it,
		      struct eptmmu_pt_cache *c)
{
	return link_pt(vm, it, c, eptmmu_pt_cache_pop(c));
}

/**
 * eptmmu_split_huge() - replace the huge leaf at @it with a table
 * @vm: the VM
 * @it: the iterator, at a present leaf above the 4K level
 * @c: where the table comes from
 *
 * The children map the same pages with the same permissions and software
 * bits, so no translation changes and no flush is needed.  If the CPU or
 * the fast path changes the huge leaf meanwhile, the cmpxchg fails and the
 * caller starts over.
 *
 * Return: 0, EPTMMU_FAULT_RETRY, -ENOMEM.
 */
int eptmmu_split_huge(struct eptmmu_vm *vm, struct eptmmu_iter *it,
		      struct eptmmu_pt_cache *c)
{
	struct eptmmu_pt *pt = eptmmu_pt_cache_pop(c);
	u64 huge = it->old_spte;
	unsigned int i;
	int r;

	if (!pt)
		return -ENOMEM;
	for (i = 0; i < SPTE_ENT_PER_PAGE; i++)
		pt->spt[i] = spte_make_split_child(it->old_spte, it->level, i);
	r = link_pt(vm, it, c, pt);
	if (!r) {
		atomic64_inc(&vm->stats.splits);
		atomic64_dec(&vm->stats.pages[it->level]);
		atomic64_add(SPTE_ENT_PER_PAGE, &vm->stats.pages[it->level - 1]);
		trace_eptmmu_split_huge(it->gfn, it->level, huge);
	}
	return r;
}

/* ---- the iterator ---- */

static void iter_read(struct eptmmu_iter *it)
{
	it->sptep = &it->pt[it->level][eptmmu_spte_index(it->gfn, it->level)];
	it->old_spte = READ_ONCE(*it->sptep);
}

/**
 * eptmmu_iter_restart() - walk again from the root, at it->next_gfn
 * @it: the iterator
 *
 * After a yield every table below the root may have been replaced, so
 * nothing but the position survives.
 */
void eptmmu_iter_restart(struct eptmmu_iter *it)
{
	it->yielded = false;
	it->level = SPTE_ROOT_LEVEL;
	it->pt[SPTE_ROOT_LEVEL] = it->vm->root->spt;
	it->gfn = eptmmu_gfn_round(it->next_gfn, SPTE_ROOT_LEVEL);
	it->valid = it->next_gfn < it->end;
	if (it->valid)
		iter_read(it);
}
EXPORT_SYMBOL_IF_KUNIT(eptmmu_iter_restart);

void eptmmu_iter_start(struct eptmmu_iter *it, struct eptmmu_vm *vm,
		       u64 start, u64 end, int min_level)
{
	it->vm = vm;
	it->start = start;
	it->end = min_t(u64, end, 1ULL << (SPTE_LEVEL_SHIFT(SPTE_ROOT_LEVEL) + 9));
	it->min_level = min_level;
	it->next_gfn = start;
	it->yielded_gfn = U64_MAX;
	eptmmu_iter_restart(it);
}
EXPORT_SYMBOL_IF_KUNIT(eptmmu_iter_start);

static bool iter_step_down(struct eptmmu_iter *it)
{
	if (it->level <= it->min_level)
		return false;
	/*
	 * Re-read: the entry may have been zapped or replaced since it was
	 * visited, and only what it holds now may be followed.
	 */
	it->old_spte = READ_ONCE(*it->sptep);
	if (!spte_is_present(it->old_spte) ||
	    spte_is_last(it->old_spte, it->level))
		return false;
	it->pt[it->level - 1] = eptmmu_spte_to_child(it->old_spte);
	it->level--;
	it->gfn = eptmmu_gfn_round(max(it->next_gfn, it->gfn), it->level);
	iter_read(it);
	return true;
}

static bool iter_step_side(struct eptmmu_iter *it)
{
	if (eptmmu_spte_index(it->gfn, it->level) == SPTE_ENT_PER_PAGE - 1)
		return false;
	it->gfn += SPTE_PAGES_PER(it->level);
	it->next_gfn = it->gfn;
	iter_read(it);
	return true;
}

static bool iter_step_up(struct eptmmu_iter *it)
{
	if (it->level == SPTE_ROOT_LEVEL)
		return false;
	it->level++;
	it->gfn = eptmmu_gfn_round(it->gfn, it->level);
	return true;
}

/* Pre-order: into a present table, else to the next entry. */
void eptmmu_iter_next(struct eptmmu_iter *it)
{
	if (it->yielded) {
		eptmmu_iter_restart(it);
		return;
	}
	if (iter_step_down(it))
		return;
	do {
		if (iter_step_side(it)) {
			it->valid = it->gfn < it->end;
			return;
		}
	} while (iter_step_up(it));
	it->valid = false;
}
EXPORT_SYMBOL_IF_KUNIT(eptmmu_iter_next);

/**
 * eptmmu_leaf_of() - the present leaf that maps a gfn now
 * @vm: the VM
 * @gfn: the guest frame
 * @level: set to the leaf's level when there is one (may be NULL)
 *
 * A lockless walk (R-RCU-PT): the caller is inside rcu_read_lock(), and
 * what it gets is a snapshot that a vCPU, the CPU or aging may change at
 * once.
 *
 * Return: the leaf SPTE, or 0 when nothing maps @gfn.
 */
u64 eptmmu_leaf_of(struct eptmmu_vm *vm, u64 gfn, int *level)
{
	struct eptmmu_iter it;

	RCU_LOCKDEP_WARN(!rcu_read_lock_held(), "leaf lookup outside RCU");
	for_each_eptmmu_spte(&it, vm, gfn, gfn + 1, PG_LEVEL_4K) {
		if (spte_is_present_leaf(it.old_spte, it.level)) {
			if (level)
				*level = it.level;
			return it.old_spte;
		}
	}
	return 0;
}
EXPORT_SYMBOL_IF_KUNIT(eptmmu_leaf_of);

static void mmu_unlock(struct eptmmu_vm *vm, bool shared)
	__releases(&vm->mmu_lock)
{
	if (shared)
		read_unlock(&vm->mmu_lock);
	else
		write_unlock(&vm->mmu_lock);
}

static void mmu_lock(struct eptmmu_vm *vm, bool shared)
	__acquires(&vm->mmu_lock)
{
	if (shared)
		read_lock(&vm->mmu_lock);
	else
		write_lock(&vm->mmu_lock);
}

/**
 * eptmmu_iter_cond_resched() - let others in during a long walk
 * @it: the iterator; inside rcu_read_lock() and mmu_lock
 * @shared: mmu_lock is held for read (else write)
 * @flush: pending flush of the caller; delivered before the locks go
 *
 * A pending flush is delivered before dropping the locks: once they are
 * dropped another thread may act on the new SPTEs as if every vCPU
 * already saw them, and the RCU grace period that frees tables unlinked
 * so far may end.
 *
 * Return: true if it yielded; the next eptmmu_iter_next() restarts.
 */
bool eptmmu_iter_cond_resched(struct eptmmu_iter *it, bool shared,
			      bool *flush)
	__must_hold(RCU) __must_hold(&it->vm->mmu_lock)
{
	struct eptmmu_vm *vm = it->vm;

	if (shared)
		lockdep_assert_held_read(&vm->mmu_lock);
	else
		lockdep_assert_held_write(&vm->mmu_lock);
	if (!need_resched() && !rwlock_needbreak(&vm->mmu_lock))
		return false;
	/*
	 * R-ZAP-BOUNDED: yield only after moving on since the last yield.
	 * With the need to yield always there (a busy CPU, a contended
	 * lock), restarting at the same place would go round for ever.
	 */
	if (it->next_gfn == it->yielded_gfn)
		return false;
	if (*flush) {
		eptmmu_flush_remote_tlbs(vm);
		*flush = false;
	}
	rcu_read_unlock();
	mmu_unlock(vm, shared);
	cond_resched();
	mmu_lock(vm, shared);
	rcu_read_lock();
	/*
	 * next_gfn never goes back: after a restart it->gfn is rounded
	 * down to the root's entry, and resuming there would walk again
	 * what was done.
	 */
	it->yielded_gfn = it->next_gfn;
	it->yielded = true;
	return true;
}

/* ---- writers ---- */

/*
 * With D-bit dirty logging the D bits are the log.  Whoever clears D
 * (a harvest) or drops the leaf (a zap) must move the D into the bitmap,
 * or the page is never reported.  SRCU nests inside mmu_lock and RCU.
 * Most VMs log by write protection or not at all: with no slot logging
 * by D bits there is no SRCU section and no slot search for every D leaf
 * a zap drops (R-DBIT-COUNT says why the count may be read here).
 */
/* R-DIRTY-DBIT */
static void note_lost_dirty(struct eptmmu_vm *vm, u64 gfn, u64 old, int level)
{
	struct eptmmu_slot *slot;
	u64 i;
	int idx;

	if (!spte_ad_enabled(old) || !(old & VMX_EPT_DIRTY_BIT))
		return;
	/* R-DBIT-COUNT */
	lockdep_assert_held(&vm->mmu_lock);
	if (!READ_ONCE(vm->nr_dbit_slots))
		return;
	idx = srcu_read_lock(&vm->srcu);
	slot = eptmmu_gfn_to_slot(srcu_dereference(vm->slots, &vm->srcu), gfn);
	if (slot && eptmmu_slot_logs_dbit(slot))
		for (i = 0; i < SPTE_PAGES_PER(level); i++)
			eptmmu_mark_dirty(slot, gfn + i);
	srcu_read_unlock(&vm->srcu, idx);
}

/*
 * Apply @fn to each folio of the pages a leaf of @level maps at @pfn.
 * Only pages the host mapped reach a leaf, so each has a struct page;
 * reserved ones (the zero page) carry no state worth recording.
 */
static void leaf_folios_apply(u64 pfn, int level,
			      void (*fn)(struct folio *folio))
{
	u64 end = pfn + SPTE_PAGES_PER(level);

	while (pfn < end) {
		struct page *page = pfn_to_page(pfn);
		struct folio *folio = page_folio(page);

		if (!PageReserved(page))
			fn(folio);
		pfn += folio_nr_pages(folio) - folio_page_idx(folio, page);
	}
}

/*
 * Only the flag: folio_mark_dirty() may call into the filesystem and
 * wants the folio's mapping held stable, neither of which a zap under
 * mmu_lock can promise.  Reclaim and writeback test the flag.
 */
static void set_folio_dirty(struct folio *folio)
{
	eptmmu_folio_set_dirty(folio);
}

static void set_folio_accessed(struct folio *folio)
{
	folio_mark_accessed(folio);
}

/**
 * eptmmu_host_page_dirty() - tell the host the guest may have written
 * @pfn: first host frame of a leaf
 * @level: the leaf's level
 *
 * The caller guarantees the pages are still mapped by the host: it holds
 * mmu_lock and removes or write-protects a present leaf (an invalidation
 * zaps before the host frees anything), or, for lockless aging, the
 * notifier's caller holds the host page-table lock of the range.
 */
void eptmmu_host_page_dirty(u64 pfn, int level)
{
	if (level == PG_LEVEL_4K)
		eptmmu_host_page_dirty_4k(pfn);
	else if (!eptmmu_broken(no_host_dirty))
		leaf_folios_apply(pfn, level, set_folio_dirty);
}

/**
 * eptmmu_leaf_changed() - account for what a leaf loses when it changes
 * @vm: the VM
 * @gfn: first gfn the leaf maps
 * @old: the leaf's real old value (what a write helper returned)
 * @new: what replaced it (0, or frozen, for a zap)
 * @level: its level
 *
 * The SPTE is the only record of a guest write: the CPU never dirties
 * the host's page tables.  When a leaf that may have been written loses
 * that evidence (a zap, W withdrawn without A/D, D cleared with A/D), the
 * host page is marked dirty, or reclaim sees a clean page and drops the
 * guest's data.  A young leaf that goes marks its page accessed, as the
 * host's own young PTE would have.  With D-bit logging a D that goes is
 * moved into the log.  Every writer that replaces a present leaf calls
 * this (R-HOST-DIRTY).
 */
/* R-HOST-DIRTY */
void eptmmu_leaf_changed(struct eptmmu_vm *vm, u64 gfn, u64 old, u64 new,
			 int level)
{
	bool same;

	if (!spte_is_present_leaf(old, level))
		return;
	same = spte_is_present_leaf(new, level) && spte_pfn(new) == spte_pfn(old);
	if (spte_is_dirty(old) && !(same && spte_is_dirty(new)))
		eptmmu_host_page_dirty(spte_pfn(old), level);
	if (spte_is_accessed(old) && !same && !eptmmu_broken(no_host_dirty))
		leaf_folios_apply(spte_pfn(old), level, set_folio_accessed);
	if (!(new & VMX_EPT_DIRTY_BIT) || !same)
		note_lost_dirty(vm, gfn, old, level);
}
EXPORT_SYMBOL_IF_KUNIT(eptmmu_leaf_changed);

/**
 * __eptmmu_set_leaf_locked() - change a leaf with mmu_lock held for write
 * @vm: the VM
 * @sptep: the entry
 * @gfn: first gfn the entry maps
 * @level: its level
 * @snap: what the caller read from @sptep
 * @new: the value to store
 * @flush: set when the change needs a TLB flush before the caller returns
 *
 * The write lock keeps other MMU writers out but not the CPU and the fast
 * path, so @snap may be stale by the time of the store.  The write helper
 * exchanges when the snapshot has volatile bits and returns the value
 * really replaced; the flush decision and the D bookkeeping use that
 * value, never the snapshot.  For walks that hold a table rather than an
 * iterator (a dirty-log CLEAR goes through a word's leaves in one pass);
 * eptmmu_set_spte_locked() is the same for an iterator.
 */
/* R-MMULOCK-WRITE, R-FLUSH-REALOLD: the one writer under the write lock. */
void __eptmmu_set_leaf_locked(struct eptmmu_vm *vm, u64 *sptep, u64 gfn,
			      int level, u64 snap, u64 new, bool *flush)
{
	u64 old;

	lockdep_assert_held_write(&vm->mmu_lock);
	eptmmu_park(EPTMMU_PARK_LOCKED_WRITE);
	old = eptmmu_spte_write_locked(sptep, snap, new, level);
	/* Frozen entries exist only under the read lock, inside a zap. */
	eptmmu_prove(spte_is_frozen(old));
	if (spte_needs_tlb_flush(eptmmu_broken(flush_from_snapshot) ? snap : old,
				 new, level))
		*flush = true;
	if (eptmmu_leaf_loses(old, new, level))
		eptmmu_leaf_changed(vm, gfn, old, new, level);
	eptmmu_account_leaf(vm, old, new, level);
}
EXPORT_SYMBOL_IF_KUNIT(__eptmmu_set_leaf_locked);

/**
 * eptmmu_set_spte_locked() - change the leaf at an iterator, write lock held
 * @vm: the VM
 * @it: the iterator at the leaf; it->old_spte is what the caller read
 * @new: the value to store
 * @flush: set when the change needs a TLB flush before the caller returns
 *
 * eptmmu_set_leaf_locked() at the iterator's entry; it->old_spte becomes
 * @new.
 */
void eptmmu_set_spte_locked(struct eptmmu_vm *vm, struct eptmmu_iter *it,
			    u64 new, bool *flush)
{
	eptmmu_set_leaf_locked(vm, it->sptep, it->gfn, it->level, it->old_spte,
			       new, flush);
	it->old_spte = new;
}
EXPORT_SYMBOL_IF_KUNIT(eptmmu_set_spte_locked);

/* ---- zapping ---- */

/*
 * Freeze an entry of a table that is already unlinked.  Read-side writers
 * that found the table before it was unlinked may still cmpxchg into it;
 * freezing makes them fail, and the xchg-like loop sees bits the CPU set.
 */
static u64 freeze_orphan_spte(u64 *sptep)
{
	u64 old = READ_ONCE(*sptep);

	for (;;) {
		/* Another zapper owns it for a moment: wait for it to finish. */
		if (spte_is_frozen(old)) {
			cpu_relax();
			old = READ_ONCE(*sptep);
			continue;
		}
		if (eptmmu_spte_try_cmpxchg(sptep, &old, SPTE_FROZEN))
			return old;
	}
}

/* R-RCU-PT: freed by pt_free_rcu() only after the unlink. */
/* Tear down an unlinked table and everything below it. */
static void handle_removed_table(struct eptmmu_vm *vm, struct eptmmu_pt *pt,
				 bool *flush)
{
	int i;

	if (eptmmu_broken(pt_free_early)) {
		/*
		 * Detector check: the descriptor is freed before the
		 * teardown is done with it, and read once more.  The
		 * teardown goes on with a copy, so only KASAN notices.
		 */
		struct eptmmu_pt *gone = pt;

		pt = kmemdup(gone, sizeof(*gone), GFP_ATOMIC);
		kfree(gone);
		(void)READ_ONCE(gone->level);
		if (!pt)
			return;
	}
	for (i = 0; i < SPTE_ENT_PER_PAGE; i++) {
		u64 old = freeze_orphan_spte(&pt->spt[i]);

		if (!spte_is_present(old))
			continue;
		if (spte_is_last(old, pt->level)) {
			atomic64_inc(&vm->stats.zapped);
			eptmmu_account_leaf(vm, old, SPTE_FROZEN, pt->level);
			eptmmu_leaf_changed(vm, pt->base_gfn +
					    i * SPTE_PAGES_PER(pt->level),
					    old, SPTE_FROZEN, pt->level);
			*flush = true;
		} else {
			handle_removed_table(vm, spte_to_pt(old), flush);
		}
	}
	pt_free_rcu(vm, pt);
}

/**
 * eptmmu_freeze_and_clear() - zap the entry under the iterator
 * @vm: the VM
 * @it: the iterator, mmu_lock held for read or write, inside RCU
 * @flush: set when a flush is needed before the operation returns
 *
 * The frozen-SPTE protocol: cmpxchg the entry to SPTE_FROZEN, which every
 * other writer treats as "busy, back off"; tear down the child table if it
 * was one; only then make the entry non-present.  Without the freeze, a
 * fault on the read side could link a new table into the entry while the
 * old child is being torn down, or write into the child after it is freed.
 *
 * Return: false if the entry changed under us (it->old_spte is refreshed).
 */
/* R-FROZEN */
bool eptmmu_freeze_and_clear(struct eptmmu_vm *vm, struct eptmmu_iter *it,
			     bool *flush)
{
	u64 old = it->old_spte;

	lockdep_assert_held(&vm->mmu_lock);
	if (!eptmmu_spte_try_cmpxchg(it->sptep, &it->old_spte, SPTE_FROZEN))
		return false;
	if (spte_is_present(old)) {
		if (spte_is_last(old, it->level)) {
			atomic64_inc(&vm->stats.zapped);
			eptmmu_account_leaf(vm, old, SPTE_FROZEN, it->level);
			eptmmu_leaf_changed(vm, it->gfn, old, SPTE_FROZEN,
					    it->level);
			*flush = true;
		} else {
			handle_removed_table(vm, spte_to_pt(old), flush);
			/* Paging-structure caches may hold the table itself. */
			*flush = true;
		}
	}
	WRITE_ONCE(*it->sptep, 0);
	it->old_spte = 0;
	return true;
}

/**
 * eptmmu_zap_begin() - an operation may now clear entries under the read lock
 * @vm: the VM
 *
 * Zaps run in parallel under the read lock, and each flushes once, at
 * its end.  A second zap that finds an entry already cleared (or frozen)
 * by the first cannot tell whether that one has flushed yet: returning
 * without a flush would let the host free a page a vCPU still reaches
 * through its TLB.  So every operation that clears entries under the read
 * lock announces itself before its first clear, and one that ends while
 * another is announced flushes as well (R-ZAP-FLUSH).
 */
/* R-ZAP-FLUSH */
void eptmmu_zap_begin(struct eptmmu_vm *vm)
{
	atomic_inc(&vm->zaps_unflushed);
	/* Before any entry we clear can be seen cleared. */
	smp_mb__after_atomic();
}

/**
 * eptmmu_zap_end() - flush for this operation, and for any still in flight
 * @vm: the VM
 * @flush: this operation cleared something and has not flushed it
 *
 * Called with the same mmu_lock and RCU the operation held.
 */
void eptmmu_zap_end(struct eptmmu_vm *vm, bool flush)
{
	/*
	 * Pairs with eptmmu_zap_begin(): an entry we read cleared was
	 * cleared after its zapper's increment, and that zapper decrements
	 * only after its own flush.
	 */
	smp_mb();
	if (flush || (atomic_read(&vm->zaps_unflushed) > 1 &&
		      !eptmmu_broken(zap_flush_own_only)))
		eptmmu_flush_remote_tlbs(vm);
	/* Our flush is done before anyone can see us no longer counted. */
	smp_mb__before_atomic();
	atomic_dec(&vm->zaps_unflushed);
}

/*
 * One pass of a range zap: present leaves anywhere, and tables wholly in
 * the range whose entry is at @zap_level or below; larger tables are
 * entered instead.  The iterator never goes below @min_level.
 */
static bool zap_pass(struct eptmmu_vm *vm, u64 start, u64 end, int min_level,
		     int zap_level, bool can_yield, bool *flush)
{
	struct eptmmu_iter it;
	bool any = false;

	for_each_eptmmu_spte(&it, vm, start, end, min_level) {
retry:
		if (can_yield) {
			eptmmu_park(EPTMMU_PARK_ZAP_RESCHED);
			if (eptmmu_iter_cond_resched(&it, true, flush))
				continue;
		}
		if (!it.old_spte || spte_is_frozen(it.old_spte))
			continue;
		if (spte_is_present(it.old_spte) &&
		    !spte_is_last(it.old_spte, it.level)) {
			/* A table only partly in the range: zap inside it. */
			if (it.gfn < start ||
			    it.gfn + SPTE_PAGES_PER(it.level) > end)
				continue;
			/* Too much to tear down at once: go in, one part at a time. */
			if (it.level > zap_level)
				continue;
		}
		if (!eptmmu_freeze_and_clear(vm, &it, flush))
			goto retry;
		any = true;
	}
	return any;
}

/* Does [start, end) hold a whole entry of @level? */
static bool covers_entry(u64 start, u64 end, int level)
{
	u64 n = SPTE_PAGES_PER(level);

	return round_up(start, n) + n <= end;
}

/**
 * eptmmu_zap_gfn_range() - remove every mapping of [start, end)
 * @vm: the VM
 * @start: first gfn
 * @end: gfn past the range
 * @can_yield: the caller may sleep
 *
 * Takes mmu_lock for read: zaps run in parallel with faults, and the
 * frozen-SPTE protocol keeps them apart.  MMIO SPTEs in the range go too.
 * Every vCPU has stopped using translations into the range when it
 * returns, whichever zap cleared them (R-ZAP-FLUSH).
 *
 * A table torn down whole is work done without a chance to yield: 512
 * entries of a 2M table are fine, the 512^3 leaves under a 512G entry
 * are a soft lockup.  So a zap that may yield first removes what lies
 * in 2M tables, then the (by now empty) tables above, level by level,
 * yielding between entries (R-ZAP-BOUNDED).
 *
 * Return: true if anything was zapped.
 */
/* R-ZAP-BOUNDED */
bool eptmmu_zap_gfn_range(struct eptmmu_vm *vm, u64 start, u64 end,
			  bool can_yield)
{
	bool flush = false, any = false;
	int level;

	read_lock(&vm->mmu_lock);
	rcu_read_lock();
	eptmmu_zap_begin(vm);
	if (!can_yield || eptmmu_broken(zap_whole_subtrees)) {
		any = zap_pass(vm, start, end, PG_LEVEL_4K, SPTE_ROOT_LEVEL,
			       can_yield, &flush);
	} else {
		any = zap_pass(vm, start, end, PG_LEVEL_4K, PG_LEVEL_2M, true,
			       &flush);
		for (level = PG_LEVEL_1G; level <= SPTE_ROOT_LEVEL; level++)
			if (covers_entry(start, end, level))
				any |= zap_pass(vm, start, end, level - 1,
						level, true, &flush);
	}
	eptmmu_park(EPTMMU_PARK_ZAP_BEFORE_FLUSH);
	eptmmu_zap_end(vm, flush);
	rcu_read_unlock();
	read_unlock(&vm->mmu_lock);
	trace_eptmmu_zap_range(start, end, any);
	return any;
}
EXPORT_SYMBOL_IF_KUNIT(eptmmu_zap_gfn_range);

/**
 * eptmmu_zap_for_huge() - zap [start, end) so that huge leaves come back
 * @vm: the VM
 * @start: first gfn
 * @end: gfn past the range
 * @level: the leaf size the range may have again
 *
 * eptmmu_zap_gfn_range() (it may yield), as an eptmmu_huge_recreate
 * event: the faults that follow map the range with leaves of @level.
 */
void eptmmu_zap_for_huge(struct eptmmu_vm *vm, u64 start, u64 end, int level)
{
	trace_eptmmu_huge_recreate(start, end, level);
	eptmmu_zap_gfn_range(vm, start, end, true);
}

/**
 * eptmmu_flush_remote_tlbs() - make every vCPU drop cached translations
 * @vm: the VM
 *
 * Synchronous: when it returns, no vCPU of @vm can use a translation it
 * cached before the call.  Callable in atomic context (under mmu_lock).
 */
/* R-FLUSH-SYNC */
void eptmmu_flush_remote_tlbs(struct eptmmu_vm *vm)
{
	int i, n;

	if (eptmmu_broken(skip_flush))
		return;
	/* Pairs with the release in eptmmu_vm_add_vcpu(). */
	n = atomic_read_acquire(&vm->nr_vcpus);
	for (i = 0; i < n; i++) {
		struct eptmmu_vcpu *vcpu = READ_ONCE(vm->vcpus[i]);

		vcpu->ops->flush_tlb(vcpu);
	}
	atomic64_inc(&vm->stats.tlb_flushes);
	trace_eptmmu_tlb_flush(n);
}
EXPORT_SYMBOL_IF_KUNIT(eptmmu_flush_remote_tlbs);

/* R-ZAP-BOUNDED: one table at a time, with a chance to sleep after each. */
static void free_subtree(struct eptmmu_vm *vm, struct eptmmu_pt *pt)
{
	int i;

	for (i = 0; i < SPTE_ENT_PER_PAGE; i++) {
		u64 spte = pt->spt[i];

		if (spte_is_present(spte) && !spte_is_last(spte, pt->level))
			free_subtree(vm, spte_to_pt(spte));
	}
	atomic64_dec(&vm->stats.tables);
	pt_release(pt);
	cond_resched();
}

/*
 * VM teardown: no vCPU, notifier or ioctl can reach the tables any more,
 * so they go at once, without RCU.  Process context, no lock held: a
 * 1 TiB slot's tables take long enough to free that it yields.
 */
void eptmmu_free_all_tables(struct eptmmu_vm *vm)
{
	if (vm->root)
		free_subtree(vm, vm->root);
	vm->root = NULL;
}
