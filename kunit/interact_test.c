// SPDX-License-Identifier: GPL-2.0
/*
 * KUnit tests for the rules that live between agents: memslot delete
 * against munmap, two zaps against one TLB, reclaim against guest writes
 * the host never saw, aging against write protection, a slow fault
 * against a harvest, and a zap against the scheduler.  Each makes its
 * interleaving happen (park points, a second thread) and runs against a
 * broken variant that restores the old behaviour, which must be caught.
 */
#include <kunit/test.h>
#include <linux/completion.h>
#include <linux/delay.h>
#include <linux/kthread.h>
#include <linux/mm.h>
#include <linux/mman.h>
#include <linux/pagemap.h>
#include <linux/sched.h>
#include <linux/shmem_fs.h>
#include <linux/uaccess.h>

#include <eptmmu/audit.h>
#include <eptmmu/inject.h>
#include <eptmmu/vcpu.h>

#include "test_env.h"

/* ---- parking in sleepable context ---- */

static struct {
	enum eptmmu_park_point point;
	atomic_t armed;
	struct completion parked, resume;
} slp;

static void sleep_park(enum eptmmu_park_point point)
{
	if (point != slp.point || atomic_cmpxchg(&slp.armed, 1, 0) != 1)
		return;
	complete(&slp.parked);
	wait_for_completion_timeout(&slp.resume, 10 * HZ);
}

static void sleep_unpark(void *unused)
{
	atomic_set(&slp.armed, 0);
	complete_all(&slp.resume);
	unpark_all(NULL);
}

static void arm_sleep_park(struct kunit *test, enum eptmmu_park_point point)
{
	slp.point = point;
	init_completion(&slp.parked);
	init_completion(&slp.resume);
	atomic_set(&slp.armed, 1);
	WRITE_ONCE(eptmmu_inject.park, sleep_park);
	KUNIT_ASSERT_EQ(test, kunit_add_action_or_reset(test, sleep_unpark, NULL), 0);
}

static bool wait_sleep_parked(void)
{
	return wait_for_completion_timeout(&slp.parked, 10 * HZ);
}

/* ---- what the worker thread does ---- */

static void do_delete_slot0(struct worker *w)
{
	struct eptmmu_memslot del = { .slot = 0 };

	w->result = eptmmu_set_memslot(w->vm, &del);
}

/* Zap w->value pages at w->gpa, without yielding (one flush, at the end). */
static void do_zap(struct worker *w)
{
	u64 gfn = w->gpa >> PAGE_SHIFT;

	w->result = eptmmu_zap_gfn_range(w->vm, gfn, gfn + w->value, false);
}

static void do_slow_read(struct worker *w)
{
	w->result = eptmmu_slow_page_fault(w->vcpu, w->gpa,
					   EPT_VIOLATION_ACC_READ);
}

static int guest_rw(struct env *env, u64 off, int kind)
{
	u64 v = 0;

	return guest(env->vcpu, env->gpa + off, kind, &v);
}

/* ---- 1. memslot delete against munmap ---- */
/* R-MEMSLOT-DELETE */

/*
 * The guest has written a page; a delete is parked between taking the
 * slot from faults and zapping it; the process unmaps the page (the host
 * frees it).  Return whether a leaf still mapped the slot right after
 * the munmap.
 */
static bool delete_vs_munmap(struct kunit *test, bool broken)
{
	struct env *env = env_create(test, 4 * PAGE_SIZE, PAGE_SIZE, 0, true);
	u64 gfn = env->gpa >> PAGE_SHIFT, mapped, walks;
	struct worker w = { .fn = do_delete_slot0, .vm = env->vm };

	guest_write(test, env, 0, 42);
	KUNIT_ASSERT_NE(test, leaf_pfn(env->vm, gfn), 0ULL);
	arm_sleep_park(test, EPTMMU_PARK_DELETE_BEFORE_ZAP);
	WRITE_ONCE(eptmmu_inject.delete_unpublish_first, broken);
	/* The broken run leaves a leaf to a freed page: never touch it. */
	WRITE_ONCE(eptmmu_inject.no_host_dirty, broken);
	start_worker(test, &w);
	KUNIT_ASSERT_TRUE(test, wait_sleep_parked());

	/* The host frees the page: the kernel's own munmap path. */
	KUNIT_ASSERT_EQ(test, vm_munmap(env->hva, env->size), 0);
	mapped = count_leaves(env->vm, gfn, gfn + 4);
	/*
	 * The delete holds slots_lock: audit against the array it published.
	 * Broken: leaves of a slot no array has, over a page munmap freed.
	 */
	expect_audit_result(test, eptmmu_audit_published(env->vm), broken);
	if (!broken) {
		/*
		 * The vCPU's next access walks (its TLB was flushed) and
		 * finds nothing: the slot is going, so it exits as MMIO
		 * and nothing is mapped again.
		 */
		walks = env->vcpu->stats.walks;
		KUNIT_EXPECT_EQ(test, guest_rw(env, 0, EPTMMU_ACCESS_WRITE),
				EPTMMU_EXIT_MMIO);
		KUNIT_EXPECT_GT(test, env->vcpu->stats.walks, walks);
		KUNIT_EXPECT_EQ(test, count_leaves(env->vm, gfn, gfn + 4), 0ULL);
	}
	complete_all(&slp.resume);
	finish_worker(test, &w);
	KUNIT_EXPECT_EQ(test, w.result, 0);
	KUNIT_EXPECT_EQ(test, count_leaves(env->vm, gfn, gfn + 4), 0ULL);
	return mapped;
}

static void delete_keeps_slot_for_invalidations(struct kunit *test)
{
	KUNIT_EXPECT_FALSE(test, delete_vs_munmap(test, false));
}

static void delete_keeps_slot_for_invalidations_broken(struct kunit *test)
{
	KUNIT_EXPECT_TRUE(test, delete_vs_munmap(test, true));
}

/* ---- 2. two zaps, one flush ---- */
/* R-ZAP-FLUSH */

#define ZAP_PAGES	64	/* one soft-TLB entry per page */
#define ZAP_P		5

/*
 * A large zap has cleared every entry and is parked before its flush; a
 * small zap of page P finds P already cleared.  Return whether the
 * vCPU's next access to P, once the small zap returned, still hit its
 * TLB (a translation to a page the host may now free).
 */
static bool second_zap_returns_stale(struct kunit *test, bool broken)
{
	struct env *env = env_create(test, ZAP_PAGES * PAGE_SIZE, PAGE_SIZE,
				     0, true);
	u64 base = env->gpa >> PAGE_SHIFT, hits;
	struct worker w = {
		.fn = do_zap, .vm = env->vm, .gpa = env->gpa,
		.value = ZAP_PAGES,
	};
	int i;

	for (i = 0; i < ZAP_PAGES; i++)
		guest_read(test, env, i * PAGE_SIZE);
	hits = env->vcpu->stats.tlb_hits;
	guest_read(test, env, ZAP_P * PAGE_SIZE);
	KUNIT_ASSERT_EQ(test, env->vcpu->stats.tlb_hits, hits + 1);

	WRITE_ONCE(eptmmu_inject.zap_flush_own_only, broken);
	arm_park(test, EPTMMU_PARK_ZAP_BEFORE_FLUSH);
	start_worker(test, &w);
	KUNIT_ASSERT_TRUE(test, wait_parked());
	KUNIT_EXPECT_EQ(test, count_leaves(env->vm, base, base + ZAP_PAGES), 0ULL);

	/* Finds P cleared by the parked zap: nothing of its own to flush. */
	eptmmu_zap_gfn_range(env->vm, base + ZAP_P, base + ZAP_P + 1, true);
	hits = env->vcpu->stats.tlb_hits;
	guest_read(test, env, ZAP_P * PAGE_SIZE);
	hits = env->vcpu->stats.tlb_hits - hits;

	atomic_set(&sp.release, 1);
	finish_worker(test, &w);
	KUNIT_EXPECT_EQ(test, w.result, 1);
	return hits;
}

static void second_zap_flushes_for_first(struct kunit *test)
{
	KUNIT_EXPECT_FALSE(test, second_zap_returns_stale(test, false));
}

static void second_zap_flushes_for_first_broken(struct kunit *test)
{
	KUNIT_EXPECT_TRUE(test, second_zap_returns_stale(test, true));
}

/* ---- 3. the host learns what the guest wrote ---- */
/* R-HOST-DIRTY */

#define SHMEM_GPA	(SLOT_GPA + SZ_1G)

/*
 * Slot 1 at SHMEM_GPA, with @flags: @npages of a shared shmem file, as
 * VMMs back guest RAM.  Return its address.
 */
static unsigned long shmem_slot(struct kunit *test, struct env *env,
				u64 npages, u32 flags)
{
	struct eptmmu_memslot req = {
		.slot = 1, .guest_phys_addr = SHMEM_GPA,
		.memory_size = npages * PAGE_SIZE, .flags = flags,
	};
	struct file *file;
	unsigned long hva;

	file = shmem_file_setup("eptmmu-kunit", req.memory_size, 0);
	KUNIT_ASSERT_FALSE(test, IS_ERR(file));
	hva = vm_mmap(file, 0, req.memory_size, PROT_READ | PROT_WRITE,
		      MAP_SHARED, 0);
	fput(file);
	/* Unmapped with the test's mm (cleanup runs without it). */
	KUNIT_ASSERT_FALSE(test, IS_ERR_VALUE(hva));
	req.userspace_addr = hva;
	KUNIT_ASSERT_EQ(test, eptmmu_set_memslot(env->vm, &req), 0);
	return hva;
}

/*
 * Slot 1: one shared shmem page, read once by the guest.  The host PTE is
 * writable but clean, so the leaf is writable and the folio clean.
 * Return the folio, referenced.
 */
static struct folio *clean_shmem_leaf(struct kunit *test, struct env *env,
				      unsigned long *hvap)
{
	unsigned long hva = shmem_slot(test, env, 1, 0);
	struct folio *folio;
	u64 leaf, v = 0;

	KUNIT_ASSERT_EQ(test, guest(env->vcpu, SHMEM_GPA, EPTMMU_ACCESS_READ, &v),
			EPTMMU_EXIT_DONE);
	leaf = leaf_of(env->vm, SHMEM_GPA >> PAGE_SHIFT, NULL);
	KUNIT_ASSERT_TRUE(test, spte_is_writable(leaf));
	KUNIT_ASSERT_FALSE(test, env->vm->ad && (leaf & VMX_EPT_DIRTY_BIT));
	folio = page_folio(pfn_to_page(spte_pfn(leaf)));
	folio_get(folio);
	KUNIT_ASSERT_FALSE_MSG(test, folio_test_dirty(folio),
			       "a fresh shmem page read once is clean");
	if (hvap)
		*hvap = hva;
	return folio;
}

/*
 * A shared shmem page, as VMMs back guest RAM, mapped writable but clean:
 * the guest reads it (the host PTE is writable, so the leaf is), then
 * writes it through EPT only.  Then @zap zaps the leaf, or aging drops
 * its W.  Return whether the host's folio is dirty afterwards: if not,
 * reclaim drops the guest's data.
 */
static bool guest_write_reaches_host(struct kunit *test, bool ad, bool zap,
				     bool broken)
{
	struct env *env = env_create(test, PAGE_SIZE, PAGE_SIZE, 0, ad);
	u64 gfn = SHMEM_GPA >> PAGE_SHIFT, v;
	struct folio *folio = clean_shmem_leaf(test, env, NULL);
	bool dirty;
	int idx;

	v = 0x5a5a;
	KUNIT_ASSERT_EQ(test, guest(env->vcpu, SHMEM_GPA, EPTMMU_ACCESS_WRITE, &v),
			EPTMMU_EXIT_DONE);

	WRITE_ONCE(eptmmu_inject.no_host_dirty, broken);
	if (zap) {
		eptmmu_zap_gfn_range(env->vm, gfn, gfn + 1, true);
		KUNIT_EXPECT_EQ(test, leaf_of(env->vm, gfn, NULL), 0ULL);
	} else {
		idx = srcu_read_lock(&env->vm->srcu);
		eptmmu_age_gfn_range(env->vm, gfn, gfn + 1, true);
		srcu_read_unlock(&env->vm->srcu, idx);
		KUNIT_EXPECT_TRUE(test, spte_is_access_tracked(leaf_of(env->vm,
								       gfn, NULL)));
	}
	WRITE_ONCE(eptmmu_inject.no_host_dirty, false);
	dirty = folio_test_dirty(folio);
	folio_put(folio);
	return dirty;
}

static void host_dirty_on_zap_ad(struct kunit *test)
{
	KUNIT_EXPECT_TRUE(test, guest_write_reaches_host(test, true, true, false));
}

static void host_dirty_on_zap_noad(struct kunit *test)
{
	KUNIT_EXPECT_TRUE(test, guest_write_reaches_host(test, false, true, false));
}

static void host_dirty_on_aging_noad(struct kunit *test)
{
	KUNIT_EXPECT_TRUE(test, guest_write_reaches_host(test, false, false, false));
}

static void host_dirty_on_zap_broken(struct kunit *test)
{
	KUNIT_EXPECT_FALSE(test, guest_write_reaches_host(test, true, true, true));
	KUNIT_EXPECT_FALSE(test, guest_write_reaches_host(test, false, false, true));
}

/*
 * Without A/D, a dirty-log CLEAR: slot 1 is 64 shmem pages logged by
 * write protection.  The guest reads each (the host PTE is writable and
 * clean, so is the folio) and writes it: the fast path grants W and
 * nothing tells the host.  The CLEAR of @mask takes W away again, the
 * only record of those writes: a whole word goes through the 64-leaf
 * re-protect, fewer bits one leaf at a time, both inline
 * (eptmmu_wrprot_settled*()).  Return how many of @mask's folios are
 * dirty afterwards; the pages outside @mask must keep W and stay clean.
 */
static unsigned int clear_noad_dirties_host(struct kunit *test, u64 mask,
					    bool broken)
{
	struct env *env = env_create(test, PAGE_SIZE, PAGE_SIZE, 0, false);
	unsigned long ubuf = map_aligned(test, PAGE_SIZE, PAGE_SIZE);
	struct eptmmu_dirty_log log = {
		.slot = 1, .bitmap = ubuf, .num_pages = 64,
	};
	u64 gfn = SHMEM_GPA >> PAGE_SHIFT, leaf, v, p;
	struct folio **folios = kunit_kcalloc(test, 64, sizeof(*folios),
					      GFP_KERNEL);
	unsigned int dirty = 0;

	KUNIT_ASSERT_NOT_NULL(test, folios);
	shmem_slot(test, env, 64, EPTMMU_MEM_LOG_DIRTY_PAGES);
	for (p = 0; p < 64; p++) {
		v = 0;
		KUNIT_ASSERT_EQ(test, guest(env->vcpu, SHMEM_GPA + p * PAGE_SIZE,
					    EPTMMU_ACCESS_READ, &v),
				EPTMMU_EXIT_DONE);
		v = p;
		KUNIT_ASSERT_EQ(test, guest(env->vcpu, SHMEM_GPA + p * PAGE_SIZE,
					    EPTMMU_ACCESS_WRITE, &v),
				EPTMMU_EXIT_DONE);
		leaf = leaf_of(env->vm, gfn + p, NULL);
		KUNIT_ASSERT_TRUE(test, spte_is_settled_noad(leaf, PG_LEVEL_4K));
		folios[p] = page_folio(pfn_to_page(spte_pfn(leaf)));
	}
	for (p = 0; p < 64; p++)
		KUNIT_ASSERT_FALSE_MSG(test, folio_test_dirty(folios[p]),
				       "page %llu: written through EPT only", p);
	KUNIT_ASSERT_EQ(test, copy_to_user((void __user *)ubuf, &mask,
					   sizeof(mask)), 0UL);
	WRITE_ONCE(eptmmu_inject.no_host_dirty, broken);
	KUNIT_EXPECT_EQ(test, eptmmu_clear_dirty_log(env->vm, &log), 0);
	WRITE_ONCE(eptmmu_inject.no_host_dirty, false);
	/* The slot's leaves hold the pages: no reference is needed. */
	for (p = 0; p < 64; p++) {
		bool in = mask & BIT_ULL(p);

		leaf = leaf_of(env->vm, gfn + p, NULL);
		KUNIT_EXPECT_EQ(test, spte_is_writable(leaf), !in);
		if (in)
			dirty += folio_test_dirty(folios[p]);
		else
			KUNIT_EXPECT_FALSE(test, folio_test_dirty(folios[p]));
	}
	return dirty;
}

static void host_dirty_on_clear_noad(struct kunit *test)
{
	KUNIT_EXPECT_EQ(test, clear_noad_dirties_host(test, ~0ULL, false), 64u);
	KUNIT_EXPECT_EQ(test, clear_noad_dirties_host(test, 0x8000000000000121ULL,
						      false), 4u);
}

static void host_dirty_on_clear_noad_broken(struct kunit *test)
{
	KUNIT_EXPECT_EQ(test, clear_noad_dirties_host(test, ~0ULL, true), 0u);
	KUNIT_EXPECT_EQ(test, clear_noad_dirties_host(test, 0x8000000000000121ULL,
						      true), 0u);
}

/* ---- 4. write protection after aging ---- */
/* R-WRPROT-FLUSH */

/*
 * Without A/D: the guest writes P (its TLB holds W), aging drops W with
 * no flush, dirty logging starts.  Return whether the guest's next write
 * faulted and the harvest reported P.
 */
static bool wrprot_after_aging_logs(struct kunit *test, bool broken)
{
	struct env *env = env_create(test, PAGE_SIZE, PAGE_SIZE, 0, false);
	u64 gfn = env->gpa >> PAGE_SHIFT, faults, word;
	int idx;

	guest_write(test, env, 0, 1);
	guest_write(test, env, 0, 2);
	KUNIT_ASSERT_TRUE(test, spte_is_writable(leaf_of(env->vm, gfn, NULL)));
	idx = srcu_read_lock(&env->vm->srcu);
	eptmmu_age_gfn_range(env->vm, gfn, gfn + 1, true);
	srcu_read_unlock(&env->vm->srcu, idx);
	KUNIT_ASSERT_TRUE(test, spte_is_access_tracked(leaf_of(env->vm, gfn, NULL)));

	WRITE_ONCE(eptmmu_inject.wrprot_flush_from_spte, broken);
	KUNIT_ASSERT_EQ(test, set_flags(env, EPTMMU_MEM_LOG_DIRTY_PAGES), 0);
	WRITE_ONCE(eptmmu_inject.wrprot_flush_from_spte, false);
	faults = env->vcpu->stats.faults;
	guest_write(test, env, 0, 3);
	faults = env->vcpu->stats.faults - faults;
	word = harvest(test, env, 0);
	kunit_info(test, "write after start: %llu faults, harvest %#llx\n",
		   faults, word);
	return faults && word == 1;
}

static void wrprot_after_aging_flushes(struct kunit *test)
{
	KUNIT_EXPECT_TRUE(test, wrprot_after_aging_logs(test, false));
}

static void wrprot_after_aging_flushes_broken(struct kunit *test)
{
	KUNIT_EXPECT_FALSE(test, wrprot_after_aging_logs(test, true));
}

/* ---- 5. a slow read fault against a dirty writable leaf ---- */
/* R-FAULT-KEEP */

/*
 * D-bit logging.  vCPU A read-faults P and is parked before mmu_lock;
 * vCPU B write-faults P (W, D), a harvest collects and clears D, B writes
 * again (D set by the walk).  A goes on with its read-only leaf.  Return
 * whether the next harvest reports B's second write.
 */
static bool read_fault_keeps_d(struct kunit *test, bool broken)
{
	struct env *env = env_create(test, PAGE_SIZE, PAGE_SIZE,
				     EPTMMU_MEM_LOG_DIRTY_PAGES |
				     EPTMMU_MEM_DIRTY_LOG_DBIT, true);
	struct eptmmu_vcpu *a = eptmmu_soft_vcpu_create(env->vm);
	u64 gfn = env->gpa >> PAGE_SHIFT, leaf, word;
	struct worker w = { .fn = do_slow_read, .gpa = env->gpa };
	u64 zero = 0;

	KUNIT_ASSERT_FALSE(test, IS_ERR(a));
	w.vcpu = a;
	/*
	 * The host page exists before A looks it up, so B's write fault
	 * finds the same page and no invalidation makes A retry.
	 */
	KUNIT_ASSERT_EQ(test, copy_to_user((void __user *)env->hva, &zero, 8), 0UL);
	WRITE_ONCE(eptmmu_inject.fault_replaces_leaf, broken);
	arm_sleep_park(test, EPTMMU_PARK_SLOW_BEFORE_LOCK);
	start_worker(test, &w);
	KUNIT_ASSERT_TRUE(test, wait_sleep_parked());

	guest_write(test, env, 0, 1);
	KUNIT_ASSERT_EQ(test, harvest(test, env, 0), 1ULL);
	guest_write(test, env, 0, 2);
	leaf = leaf_of(env->vm, gfn, NULL);
	KUNIT_ASSERT_TRUE(test, spte_is_writable(leaf));
	KUNIT_ASSERT_TRUE(test, leaf & VMX_EPT_DIRTY_BIT);

	complete_all(&slp.resume);
	finish_worker(test, &w);
	KUNIT_EXPECT_EQ(test, w.result, 0);
	if (!broken)
		KUNIT_EXPECT_EQ(test, leaf_of(env->vm, gfn, NULL), leaf);
	word = harvest(test, env, 0);
	WRITE_ONCE(eptmmu_inject.fault_replaces_leaf, false);
	/* The process sees B's write whatever the log says. */
	KUNIT_EXPECT_EQ(test, guest_read(test, env, 0), 2ULL);
	return word == 1;
}

static void read_fault_keeps_dirty_leaf(struct kunit *test)
{
	KUNIT_EXPECT_TRUE(test, read_fault_keeps_d(test, false));
}

static void read_fault_keeps_dirty_leaf_broken(struct kunit *test)
{
	KUNIT_EXPECT_FALSE(test, read_fault_keeps_d(test, true));
}

/* ---- 6. a zap's work between two chances to yield ---- */
/* R-ZAP-BOUNDED */

#define SPAN_PAGES	1024	/* two 2M tables of 4K leaves */

static struct {
	struct eptmmu_vm *vm;
	s64 last, max;
} span;

/* Called by the zapping thread only (it is the test thread). */
static void span_hook(enum eptmmu_park_point point)
{
	s64 z;

	if (point != EPTMMU_PARK_ZAP_RESCHED &&
	    point != EPTMMU_PARK_ZAP_BEFORE_FLUSH)
		return;
	z = atomic64_read(&span.vm->stats.zapped);
	span.max = max(span.max, z - span.last);
	span.last = z;
}

/* SPAN_PAGES 4K leaves (a logging slot gets no huge ones), all mapped. */
static struct env *span_env(struct kunit *test)
{
	struct env *env = env_create(test, SPAN_PAGES * PAGE_SIZE, SZ_2M,
				     EPTMMU_MEM_LOG_DIRTY_PAGES, true);
	u64 base = env->gpa >> PAGE_SHIFT;
	int i;

	for (i = 0; i < SPAN_PAGES; i++)
		guest_read(test, env, (u64)i * PAGE_SIZE);
	KUNIT_ASSERT_EQ(test, count_leaves(env->vm, base, base + SPAN_PAGES),
			(u64)SPAN_PAGES);
	return env;
}

/*
 * 4K leaves over two 2M tables, then the zap a process exit does:
 * everything below the top of guest memory.  Return the most leaves
 * zapped with no chance to yield in between.
 */
static s64 zap_span(struct kunit *test, bool broken)
{
	struct env *env = span_env(test);
	u64 base = env->gpa >> PAGE_SHIFT;

	span.vm = env->vm;
	span.max = 0;
	span.last = atomic64_read(&env->vm->stats.zapped);
	WRITE_ONCE(eptmmu_inject.zap_whole_subtrees, broken);
	WRITE_ONCE(eptmmu_inject.park, span_hook);
	KUNIT_ASSERT_EQ(test, kunit_add_action_or_reset(test, unpark_all, NULL), 0);
	eptmmu_zap_gfn_range(env->vm, 0, EPTMMU_MAX_GPA >> PAGE_SHIFT, true);
	WRITE_ONCE(eptmmu_inject.park, NULL);
	WRITE_ONCE(eptmmu_inject.zap_whole_subtrees, false);
	KUNIT_EXPECT_EQ(test, count_leaves(env->vm, base, base + SPAN_PAGES), 0ULL);
	kunit_info(test, "at most %lld leaves zapped between two chances to yield\n",
		   span.max);
	return span.max;
}

/*
 * A zap that is asked to yield at every step must still finish: each
 * yield resumes where the walk had got to, never before it, and a yield
 * comes only after progress.  Before, the resume point could go back to
 * the start of a root entry, and with the need to yield always set the
 * zap of a process exit span for ever (a soft lockup in exit_mmap()).
 */
static int resched_calls;

static void always_resched_hook(enum eptmmu_park_point point)
{
	if (point == EPTMMU_PARK_ZAP_RESCHED) {
		resched_calls++;
		set_tsk_need_resched(current);
	}
}

static void zap_progresses_when_always_yielding(struct kunit *test)
{
	struct env *env = span_env(test);
	u64 base = env->gpa >> PAGE_SHIFT;

	resched_calls = 0;
	WRITE_ONCE(eptmmu_inject.park, always_resched_hook);
	KUNIT_ASSERT_EQ(test, kunit_add_action_or_reset(test, unpark_all, NULL), 0);
	eptmmu_zap_gfn_range(env->vm, 0, EPTMMU_MAX_GPA >> PAGE_SHIFT, true);
	WRITE_ONCE(eptmmu_inject.park, NULL);
	KUNIT_EXPECT_EQ(test, count_leaves(env->vm, base, base + SPAN_PAGES), 0ULL);
	/* A few visits per entry and pass, not a walk round and round. */
	KUNIT_EXPECT_LT(test, resched_calls, 16 * SPAN_PAGES);
	kunit_info(test, "%d chances to yield for %d leaves\n", resched_calls,
		   SPAN_PAGES);
}

static void zap_yields_between_tables(struct kunit *test)
{
	KUNIT_EXPECT_LE(test, zap_span(test, false), (s64)SPTE_ENT_PER_PAGE);
}

static void zap_yields_between_tables_broken(struct kunit *test)
{
	KUNIT_EXPECT_GE(test, zap_span(test, true), (s64)SPAN_PAGES);
}

/* ---- 7. a harvest that yields ---- */
/* R-DIRTY-YIELD */

/*
 * Make the harvest yield at its first chance (after its first batch of
 * words, page 0's among them), and hold it there (sleep_park()).
 */
static void yield_hook(enum eptmmu_park_point point)
{
	if (point == EPTMMU_PARK_DIRTY_LOG_RESCHED)
		set_tsk_need_resched(current);
	else
		sleep_park(point);
}

/* While the harvest is parked with the lock dropped: write page 0. */
static void write_while_yielded(struct worker *w)
{
	u64 v = 7, faults = w->vcpu->stats.faults;

	if (!wait_sleep_parked()) {
		w->result = -ETIMEDOUT;
		return;
	}
	w->result = guest(w->vcpu, w->gpa, EPTMMU_ACCESS_WRITE, &v);
	w->value = w->vcpu->stats.faults - faults;
	complete(&slp.resume);
}

#define YIELD_WORDS	(2 * EPTMMU_DIRTY_LOG_YIELD_WORDS)

/* GET (auto clear) of slot 0 of @words words; return its first word. */
static u64 harvest_words(struct kunit *test, struct env *env, size_t words)
{
	unsigned long ubuf = map_aligned(test, words * 8, PAGE_SIZE);
	struct eptmmu_dirty_log log = { .slot = 0, .bitmap = ubuf };
	u64 word = ~0ULL;

	KUNIT_ASSERT_EQ(test, eptmmu_get_dirty_log(env->vm, &log), 0);
	KUNIT_ASSERT_EQ(test, copy_from_user(&word, (void __user *)ubuf, 8), 0UL);
	return word;
}

/*
 * Write protection, two batches of bitmap words (most of the slot never
 * touched).  The guest wrote page 0 (its TLB holds it writable); a
 * harvest collects word 0, re-protects page 0 and yields after its first
 * batch, where the guest writes page 0 again.  Return whether the next
 * harvest reports that write.
 */
static bool harvest_yield_keeps_invariant(struct kunit *test, bool broken)
{
	struct env *env = env_create(test, YIELD_WORDS * 64 * PAGE_SIZE,
				     PAGE_SIZE, EPTMMU_MEM_LOG_DIRTY_PAGES, true);
	struct worker w = { .fn = write_while_yielded, .vcpu = env->vcpu,
			    .gpa = env->gpa };
	u64 word;

	guest_write(test, env, 0, 1);
	guest_write(test, env, 0, 2);
	arm_sleep_park(test, EPTMMU_PARK_DIRTY_LOG_YIELDED);
	WRITE_ONCE(eptmmu_inject.dirty_log_yield_noflush, broken);
	WRITE_ONCE(eptmmu_inject.park, yield_hook);
	start_worker(test, &w);
	KUNIT_EXPECT_EQ(test, harvest_words(test, env, YIELD_WORDS), 1ULL);
	finish_worker(test, &w);
	WRITE_ONCE(eptmmu_inject.park, NULL);
	WRITE_ONCE(eptmmu_inject.dirty_log_yield_noflush, false);
	KUNIT_ASSERT_EQ(test, w.result, EPTMMU_EXIT_DONE);
	word = harvest_words(test, env, YIELD_WORDS);
	kunit_info(test, "write during the yield: %llu faults; next harvest %#llx\n",
		   w.value, word);
	return word == 1;
}

static void harvest_yield_flushes_first(struct kunit *test)
{
	KUNIT_EXPECT_TRUE(test, harvest_yield_keeps_invariant(test, false));
}

static void harvest_yield_flushes_first_broken(struct kunit *test)
{
	KUNIT_EXPECT_FALSE(test, harvest_yield_keeps_invariant(test, true));
}

/*
 * Bounded progress per lock hold: every chance to yield is made a real
 * one (need_resched forced), and the hook counts the words a harvest or
 * CLEAR gets through between two drops of the lock.
 */
static struct {
	int since_drop, most;
} hold;

static void hold_hook(enum eptmmu_park_point point)
{
	if (point == EPTMMU_PARK_DIRTY_LOG_RESCHED) {
		hold.most = max(hold.most, ++hold.since_drop);
		set_tsk_need_resched(current);
	} else if (point == EPTMMU_PARK_DIRTY_LOG_YIELDED) {
		hold.since_drop = 0;
	}
}

/* R-DIRTY-CURSOR */
/*
 * CLEAR keeps the 4K table it found last across words,
 * which is only good while the write lock is held.  The CLEAR is forced
 * to yield between words 1022 and 1023, which share a 4K table; during
 * the yield the table is zapped (unlinked, freed after a grace period)
 * and page P of word 1023 written again, which maps it in a new table,
 * writable.  The CLEAR names P: once it returns, P must be write-protected
 * in the new table (and the auditor finds it neither marked nor
 * writable, or fails the case).
 */
static void zap_and_write_while_yielded(struct worker *w)
{
	u64 gfn = w->gpa >> PAGE_SHIFT, v = 9;

	if (!wait_sleep_parked()) {
		w->result = -ETIMEDOUT;
		return;
	}
	eptmmu_zap_gfn_range(w->vm, eptmmu_gfn_round(gfn, PG_LEVEL_2M),
			     eptmmu_gfn_round(gfn, PG_LEVEL_2M) + 512, true);
	w->result = guest(w->vcpu, w->gpa, EPTMMU_ACCESS_WRITE, &v);
	complete(&slp.resume);
}

static void clear_yield_drops_cursor(struct kunit *test)
{
	struct env *env = env_create(test, YIELD_WORDS * 64 * PAGE_SIZE,
				     PAGE_SIZE, EPTMMU_MEM_LOG_DIRTY_PAGES, true);
	u64 p_off = (EPTMMU_DIRTY_LOG_YIELD_WORDS - 1) * 64 * PAGE_SIZE;
	unsigned long ubuf = map_aligned(test, YIELD_WORDS * 8, PAGE_SIZE);
	struct eptmmu_dirty_log log = {
		.slot = 0, .bitmap = ubuf, .num_pages = YIELD_WORDS * 64,
	};
	struct worker w = { .fn = zap_and_write_while_yielded,
			    .vcpu = env->vcpu, .vm = env->vm,
			    .gpa = env->gpa + p_off };
	u64 *ones = kunit_kmalloc(test, YIELD_WORDS * 8, GFP_KERNEL);

	KUNIT_ASSERT_NOT_NULL(test, ones);
	/* Words 1022 and 1023: the same 4K table, both sides of the yield. */
	guest_write(test, env, p_off - 64 * PAGE_SIZE, 1);
	guest_write(test, env, p_off, 1);
	memset(ones, 0xff, YIELD_WORDS * 8);
	KUNIT_ASSERT_EQ(test, copy_to_user((void __user *)ubuf, ones,
					   YIELD_WORDS * 8), 0UL);
	arm_sleep_park(test, EPTMMU_PARK_DIRTY_LOG_YIELDED);
	WRITE_ONCE(eptmmu_inject.park, yield_hook);
	start_worker(test, &w);
	KUNIT_EXPECT_EQ(test, eptmmu_clear_dirty_log(env->vm, &log), 0);
	finish_worker(test, &w);
	WRITE_ONCE(eptmmu_inject.park, NULL);
	KUNIT_ASSERT_EQ(test, w.result, EPTMMU_EXIT_DONE);
	KUNIT_EXPECT_FALSE(test, spte_is_writable(leaf_of(env->vm, w.gpa >> PAGE_SHIFT,
							  NULL)));
	expect_audit(test, env, false);
}

/* R-DIRTY-PEEK */
/*
 * A GET with NO_CLEAR of a write-protection logging slot takes no
 * mmu_lock: it completes while this thread holds the lock for read (a
 * GET that took it for write would spin until the lock is let go).
 */
static atomic_t peek_go;

static void do_peek(struct worker *w)
{
	struct eptmmu_dirty_log log = {
		.slot = 0, .flags = EPTMMU_DIRTY_LOG_NO_CLEAR, .bitmap = w->value,
	};

	kthread_use_mm(w->vm->mm);
	/* Only once the test thread holds the lock. */
	while (!atomic_read(&peek_go))
		cpu_relax();
	w->result = eptmmu_get_dirty_log(w->vm, &log);
	kthread_unuse_mm(w->vm->mm);
}

static void peek_takes_no_mmu_lock(struct kunit *test)
{
	struct env *env = env_create(test, 4 * PAGE_SIZE, PAGE_SIZE,
				     EPTMMU_MEM_LOG_DIRTY_PAGES, true);
	unsigned long ubuf = map_aligned(test, PAGE_SIZE, PAGE_SIZE);
	struct worker w = { .fn = do_peek, .vm = env->vm, .value = ubuf };
	bool done = false;
	u64 word = 0;
	int ms;

	guest_write(test, env, 2 * PAGE_SIZE, 1);
	atomic_set(&peek_go, 0);
	start_worker(test, &w);
	read_lock(&env->vm->mmu_lock);
	atomic_set(&peek_go, 1);
	for (ms = 0; ms < 1000 && !done; ms++) {
		mdelay(1);
		done = completion_done(&w.done);
	}
	read_unlock(&env->vm->mmu_lock);
	finish_worker(test, &w);
	KUNIT_EXPECT_TRUE_MSG(test, done, "GET NO_CLEAR waited for mmu_lock");
	KUNIT_EXPECT_EQ(test, w.result, 0);
	KUNIT_ASSERT_EQ(test, copy_from_user(&word, (void __user *)ubuf, 8), 0UL);
	KUNIT_EXPECT_EQ(test, word, 4ULL);
	/* Nothing consumed, nothing protected. */
	KUNIT_EXPECT_EQ(test, harvest(test, env, 0), 4ULL);
}

#define HOLD_WORDS	(2 * EPTMMU_DIRTY_LOG_YIELD_WORDS)

/* Return the most bitmap words one lock hold of GET, then CLEAR, covered. */
static int dirty_log_hold_words(struct kunit *test, bool broken)
{
	struct env *env = env_create(test, HOLD_WORDS * 64 * PAGE_SIZE,
				     PAGE_SIZE, EPTMMU_MEM_LOG_DIRTY_PAGES, true);
	unsigned long ubuf = map_aligned(test, HOLD_WORDS * 8, PAGE_SIZE);
	struct eptmmu_dirty_log log = { .slot = 0, .bitmap = ubuf };
	u64 *ones = kunit_kmalloc(test, HOLD_WORDS * 8, GFP_KERNEL);
	int i, most;

	KUNIT_ASSERT_NOT_NULL(test, ones);
	for (i = 0; i < HOLD_WORDS; i += EPTMMU_DIRTY_LOG_YIELD_WORDS / 2)
		guest_write(test, env, (u64)i * 64 * PAGE_SIZE, i);
	memset(ones, 0xff, HOLD_WORDS * 8);
	KUNIT_ASSERT_EQ(test, copy_to_user((void __user *)ubuf, ones,
					   HOLD_WORDS * 8), 0UL);
	hold.since_drop = 0;
	hold.most = 0;
	WRITE_ONCE(eptmmu_inject.dirty_log_no_yield, broken);
	WRITE_ONCE(eptmmu_inject.park, hold_hook);
	KUNIT_ASSERT_EQ(test, kunit_add_action_or_reset(test, unpark_all, NULL), 0);
	log.flags = EPTMMU_DIRTY_LOG_NO_CLEAR;
	KUNIT_EXPECT_EQ(test, eptmmu_get_dirty_log(env->vm, &log), 0);
	most = hold.most;
	KUNIT_ASSERT_EQ(test, copy_to_user((void __user *)ubuf, ones,
					   HOLD_WORDS * 8), 0UL);
	hold.since_drop = 0;
	hold.most = 0;
	log.flags = 0;
	log.num_pages = HOLD_WORDS * 64;
	KUNIT_EXPECT_EQ(test, eptmmu_clear_dirty_log(env->vm, &log), 0);
	most = max(most, hold.most);
	WRITE_ONCE(eptmmu_inject.park, NULL);
	WRITE_ONCE(eptmmu_inject.dirty_log_no_yield, false);
	kunit_info(test, "at most %d of %d bitmap words in one lock hold\n",
		   most, HOLD_WORDS);
	return most;
}

static void dirty_log_holds_bounded(struct kunit *test)
{
	KUNIT_EXPECT_LE(test, dirty_log_hold_words(test, false),
			EPTMMU_DIRTY_LOG_YIELD_WORDS);
}

static void dirty_log_holds_bounded_broken(struct kunit *test)
{
	KUNIT_EXPECT_GE(test, dirty_log_hold_words(test, true), HOLD_WORDS);
}

/* ---- 8. the soft vCPU's A/D update against a zap ---- */
/* R-SOFT-AD */

static struct {
	struct eptmmu_vm *vm;
	u64 gfn;
	bool done;
} az;

/*
 * At the park point the walk has read the leaf and not yet set A/D.  A
 * zap's freeze and clear happen here, at their atomic steps (the zap's
 * flush would wait for this access in flight, so it comes after).
 */
static void zap_before_ad(enum eptmmu_park_point point)
{
	struct eptmmu_iter it;

	if (point != EPTMMU_PARK_SOFT_BEFORE_AD || az.done)
		return;
	az.done = true;
	/* Inside the walk's RCU read section. */
	for_each_eptmmu_spte(&it, az.vm, az.gfn, az.gfn + 1, PG_LEVEL_4K) {
		if (!spte_is_present_leaf(it.old_spte, it.level))
			continue;
		if (eptmmu_spte_try_cmpxchg(it.sptep, &it.old_spte, SPTE_FROZEN)) {
			eptmmu_leaf_changed(az.vm, it.gfn, it.old_spte,
					    SPTE_FROZEN, it.level);
			eptmmu_account_leaf(az.vm, it.old_spte, SPTE_FROZEN,
					    it.level);
			WRITE_ONCE(*it.sptep, 0);
		}
		break;
	}
}

/*
 * A/D on, a clean shared shmem page mapped writable with D clear.  The
 * guest's write walks to the leaf; a zap takes the leaf before the walk
 * sets D (the zap sees D clear: nothing to tell the host).  Return
 * whether the host folio is dirty once the page's leaves are gone: if
 * not, reclaim drops the guest's write.
 */
static bool soft_write_vs_zap_dirty(struct kunit *test, bool broken)
{
	struct env *env = env_create(test, PAGE_SIZE, PAGE_SIZE, 0, true);
	u64 gfn = SHMEM_GPA >> PAGE_SHIFT, v, got = 0;
	unsigned long hva;
	struct folio *folio = clean_shmem_leaf(test, env, &hva);
	bool dirty;

	/* The write must walk: no writable-and-dirty TLB entry to hit. */
	eptmmu_flush_remote_tlbs(env->vm);

	az.vm = env->vm;
	az.gfn = gfn;
	az.done = false;
	WRITE_ONCE(eptmmu_inject.soft_ad_ignores_change, broken);
	WRITE_ONCE(eptmmu_inject.park, zap_before_ad);
	KUNIT_ASSERT_EQ(test, kunit_add_action_or_reset(test, unpark_all, NULL), 0);
	v = 0x77;
	KUNIT_EXPECT_EQ(test, guest(env->vcpu, SHMEM_GPA, EPTMMU_ACCESS_WRITE, &v),
			EPTMMU_EXIT_DONE);
	WRITE_ONCE(eptmmu_inject.park, NULL);
	WRITE_ONCE(eptmmu_inject.soft_ad_ignores_change, false);
	KUNIT_EXPECT_TRUE(test, az.done);
	/* The zap's flush, then whatever mapping the write left goes too. */
	eptmmu_flush_remote_tlbs(env->vm);
	eptmmu_zap_gfn_range(env->vm, gfn, gfn + 1, true);
	KUNIT_EXPECT_EQ(test, copy_from_user(&got, (void __user *)hva, 8), 0UL);
	KUNIT_EXPECT_EQ(test, got, 0x77ULL);
	dirty = folio_test_dirty(folio);
	folio_put(folio);
	return dirty;
}

static void soft_ad_rewalks_after_zap(struct kunit *test)
{
	KUNIT_EXPECT_TRUE(test, soft_write_vs_zap_dirty(test, false));
}

static void soft_ad_rewalks_after_zap_broken(struct kunit *test)
{
	KUNIT_EXPECT_FALSE(test, soft_write_vs_zap_dirty(test, true));
}

/* ---- 9. dirty-log stop against a fault still on the old array ---- */
/* R-MEMSLOT-SRCU */

static struct env *stop_env;

static void do_log_stop(struct worker *w)
{
	w->result = set_flags(stop_env, 0);
}

/*
 * This thread plays a fault in flight: in an SRCU read section, holding
 * the logging slot it found.  Dirty logging stops meanwhile.  The stop
 * must not wait for the fault (@returned: done within 5 s while the
 * reader is in), and the old array, with the bitmap the fault may still
 * mark, must wait for it instead (@waited: still pending).  The reader
 * then marks a page, as a fault would; the debug kernels' KASAN sees a
 * mark into freed memory.
 */
static void stop_vs_reader(struct kunit *test, bool broken, bool *returned,
			   bool *waited)
{
	struct env *env = env_create(test, 64 * PAGE_SIZE, PAGE_SIZE,
				     EPTMMU_MEM_LOG_DIRTY_PAGES, true);
	struct worker w = { .fn = do_log_stop, .vm = env->vm };
	struct eptmmu_slot *slot;
	int idx, i;

	guest_write(test, env, 0, 1);
	stop_env = env;
	WRITE_ONCE(eptmmu_inject.stop_free_now, broken);
	idx = srcu_read_lock(&env->vm->srcu);
	/* The VM's only slot. */
	slot = &eptmmu_slots(env->vm)->slots[0];
	start_worker(test, &w);
	for (i = 0; i < 250 && !completion_done(&w.done); i++)
		msleep(20);
	*returned = completion_done(&w.done);
	*waited = atomic_read(&env->vm->old_slots) == 1;
	/* Broken, the slot is gone with its array: never touch it. */
	if (*returned && *waited)
		eptmmu_mark_dirty(slot, slot->base_gfn + 1);
	srcu_read_unlock(&env->vm->srcu, idx);
	finish_worker(test, &w);
	WRITE_ONCE(eptmmu_inject.stop_free_now, false);
	KUNIT_EXPECT_EQ(test, w.result, 0);
	/* Once the reader is out, the array goes. */
	srcu_barrier(&env->vm->srcu);
	KUNIT_EXPECT_EQ(test, atomic_read(&env->vm->old_slots), 0);
}

static void log_stop_outlives_reader(struct kunit *test)
{
	bool returned, waited;

	stop_vs_reader(test, false, &returned, &waited);
	KUNIT_EXPECT_TRUE_MSG(test, returned, "the stop waited for the reader");
	KUNIT_EXPECT_TRUE_MSG(test, waited, "the array went under its reader");
}

static void log_stop_outlives_reader_broken(struct kunit *test)
{
	bool returned, waited;

	stop_vs_reader(test, true, &returned, &waited);
	KUNIT_EXPECT_TRUE(test, returned);
	KUNIT_EXPECT_FALSE(test, waited);
}

static struct kunit_case interact_cases[] = {
	KUNIT_CASE(delete_keeps_slot_for_invalidations),
	KUNIT_CASE(delete_keeps_slot_for_invalidations_broken),
	KUNIT_CASE(second_zap_flushes_for_first),
	KUNIT_CASE(second_zap_flushes_for_first_broken),
	KUNIT_CASE(host_dirty_on_zap_ad),
	KUNIT_CASE(host_dirty_on_zap_noad),
	KUNIT_CASE(host_dirty_on_aging_noad),
	KUNIT_CASE(host_dirty_on_zap_broken),
	KUNIT_CASE(host_dirty_on_clear_noad),
	KUNIT_CASE(host_dirty_on_clear_noad_broken),
	KUNIT_CASE(wrprot_after_aging_flushes),
	KUNIT_CASE(wrprot_after_aging_flushes_broken),
	KUNIT_CASE(read_fault_keeps_dirty_leaf),
	KUNIT_CASE(read_fault_keeps_dirty_leaf_broken),
	KUNIT_CASE(zap_yields_between_tables),
	KUNIT_CASE(zap_yields_between_tables_broken),
	KUNIT_CASE(zap_progresses_when_always_yielding),
	KUNIT_CASE(harvest_yield_flushes_first),
	KUNIT_CASE(harvest_yield_flushes_first_broken),
	KUNIT_CASE(clear_yield_drops_cursor),
	KUNIT_CASE(peek_takes_no_mmu_lock),
	KUNIT_CASE(dirty_log_holds_bounded),
	KUNIT_CASE(dirty_log_holds_bounded_broken),
	KUNIT_CASE(soft_ad_rewalks_after_zap),
	KUNIT_CASE(soft_ad_rewalks_after_zap_broken),
	KUNIT_CASE(log_stop_outlives_reader),
	KUNIT_CASE(log_stop_outlives_reader_broken),
	{}
};

static struct kunit_suite interact_suite = {
	.name = "eptmmu_interactions",
	.test_cases = interact_cases,
	.suite_init = eptmmu_kunit_suite_init,
	.suite_exit = eptmmu_kunit_suite_exit,
};

kunit_test_suites(&interact_suite);
