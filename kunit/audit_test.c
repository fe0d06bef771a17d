// SPDX-License-Identifier: GPL-2.0
/*
 * KUnit tests of the MMU auditor itself (mmu/audit.c): it passes trees
 * the MMU really builds, in both SPTE modes, and fails each kind of wrong
 * entry, which the tests forge into a real tree and then put back.  The
 * broken variants that leave a wrong tree are caught in the race tests
 * that run them (expect_audit()); Documentation/locking.rst has the table.
 */
#include <kunit/test.h>
#include <linux/jiffies.h>
#include <linux/mm.h>
#include <linux/mman.h>
#include <linux/sizes.h>
#include <linux/uaccess.h>

#include <eptmmu/audit.h>
#include <eptmmu/fastpf.h>
#include <eptmmu/inject.h>
#include <eptmmu/vcpu.h>

#include "test_env.h"

/* Trees the MMU built: reads, writes, a 2M leaf, MMIO, a logging slot. */
static void audit_real_trees(struct kunit *test)
{
	bool ad = *(bool *)test->param_value;
	struct env *env = env_create(test, 2 * SZ_2M, SZ_2M, 0, ad);
	u64 v = 0, off;

	for (off = 0; off < env->size; off += 64 * PAGE_SIZE)
		guest_write(test, env, off, off);
	guest_read(test, env, env->size - PAGE_SIZE);
	/* No slot there: an MMIO SPTE. */
	KUNIT_EXPECT_EQ(test, guest(env->vcpu, env->gpa + SZ_1G,
				    EPTMMU_ACCESS_READ, &v), EPTMMU_EXIT_MMIO);
	KUNIT_EXPECT_EQ(test, eptmmu_audit(env->vm), 0L);
	/* Logging splits and protects; then a write is marked. */
	KUNIT_ASSERT_EQ(test, set_flags(env, EPTMMU_MEM_LOG_DIRTY_PAGES), 0);
	KUNIT_EXPECT_EQ(test, eptmmu_audit(env->vm), 0L);
	guest_write(test, env, PAGE_SIZE, 5);
	KUNIT_EXPECT_EQ(test, eptmmu_audit(env->vm), 0L);
	harvest(test, env, 0);
	KUNIT_EXPECT_EQ(test, eptmmu_audit(env->vm), 0L);
	KUNIT_ASSERT_EQ(test, set_flags(env, 0), 0);
	KUNIT_EXPECT_EQ(test, eptmmu_audit(env->vm), 0L);
}

static const bool ad_modes[] = { true, false };

static void ad_desc(const bool *ad, char *desc)
{
	strscpy(desc, *ad ? "ad" : "acctrack", KUNIT_PARAM_DESC_SIZE);
}

KUNIT_ARRAY_PARAM(ad_mode, ad_modes, ad_desc);

/* A forgery: the bits a wrong writer might have left in a 4K leaf. */
struct forgery {
	const char *name;
	u32 flags;		/* slot flags */
	bool ad;
	u64 (*forge)(struct env *env, u64 leaf);
};

static u64 w_no_mmu_writable(struct env *env, u64 leaf)
{
	return (leaf | VMX_EPT_WRITABLE_MASK) & ~SPTE_MMU_WRITABLE;
}

static u64 other_pfn(struct env *env, u64 leaf)
{
	return leaf ^ (1ULL << PAGE_SHIFT);
}

static u64 frozen(struct env *env, u64 leaf)
{
	return SPTE_FROZEN;
}

static u64 garbage(struct env *env, u64 leaf)
{
	return VMX_EPT_ACCESS_BIT | VMX_EPT_DIRTY_BIT;
}

static u64 ad_flipped(struct env *env, u64 leaf)
{
	return leaf ^ SPTE_AD_DISABLED;
}

static u64 tracked_keeps_rwx(struct env *env, u64 leaf)
{
	return leaf | SPTE_ACC_TRACKED | SPTE_SAVED_R;
}

static u64 tracked_saved_w(struct env *env, u64 leaf)
{
	return spte_mark_access_tracked(leaf) | VMX_EPT_WRITABLE_MASK;
}

static u64 mmio_in_slot(struct env *env, u64 leaf)
{
	return spte_make_mmio(0);
}

static u64 w_unmarked(struct env *env, u64 leaf)
{
	return leaf | VMX_EPT_WRITABLE_MASK;
}

static u64 w_in_readonly(struct env *env, u64 leaf)
{
	return leaf | VMX_EPT_WRITABLE_MASK | SPTE_HOST_WRITABLE |
	       SPTE_MMU_WRITABLE;
}

static const struct forgery forgeries[] = {
	{ "w_no_mmu_writable", 0, true, w_no_mmu_writable },
	{ "other_pfn", 0, true, other_pfn },
	{ "frozen", 0, true, frozen },
	{ "garbage_nonpresent", 0, true, garbage },
	{ "ad_type_flipped", 0, true, ad_flipped },
	{ "tracked_keeps_rwx", 0, false, tracked_keeps_rwx },
	{ "tracked_saved_w", 0, false, tracked_saved_w },
	{ "mmio_in_slot", 0, true, mmio_in_slot },
	{ "w_unmarked_wp_log", EPTMMU_MEM_LOG_DIRTY_PAGES, true, w_unmarked },
	{ "w_in_readonly_slot", EPTMMU_MEM_READONLY, true, w_in_readonly },
};

static void forgery_desc(const struct forgery *f, char *desc)
{
	strscpy(desc, f->name, KUNIT_PARAM_DESC_SIZE);
}

KUNIT_ARRAY_PARAM(forgery, forgeries, forgery_desc);

/* Store @new over the 4K leaf (or the entry above it) that maps @gfn. */
static u64 poke(struct env *env, u64 gfn, int level, u64 new)
{
	struct eptmmu_vm *vm = env->vm;
	struct eptmmu_iter it;
	u64 old = 0;

	write_lock(&vm->mmu_lock);
	rcu_read_lock();
	for_each_eptmmu_spte(&it, vm, gfn, gfn + 1, level) {
		if (it.level == level) {
			old = it.old_spte;
			eptmmu_spte_write_locked(it.sptep, old, new, level);
			break;
		}
	}
	rcu_read_unlock();
	write_unlock(&vm->mmu_lock);
	return old;
}

static u64 peek(struct env *env, u64 gfn, int level)
{
	struct eptmmu_iter it;
	u64 spte = 0;

	read_lock(&env->vm->mmu_lock);
	rcu_read_lock();
	for_each_eptmmu_spte(&it, env->vm, gfn, gfn + 1, level)
		if (it.level == level)
			spte = it.old_spte;
	rcu_read_unlock();
	read_unlock(&env->vm->mmu_lock);
	return spte;
}

/*
 * The auditor can fail: each forged entry is a violation, and the tree
 * with the entry put back is clean again.
 */
static void audit_catches_forgery(struct kunit *test)
{
	const struct forgery *f = test->param_value;
	struct env *env = env_create(test, PAGE_SIZE, PAGE_SIZE, f->flags, f->ad);
	u64 gfn = env->gpa >> PAGE_SHIFT, leaf;

	guest_read(test, env, 0);
	leaf = leaf_of(env->vm, gfn, NULL);
	KUNIT_ASSERT_NE(test, leaf, 0ULL);
	KUNIT_ASSERT_EQ(test, eptmmu_audit(env->vm), 0L);
	poke(env, gfn, PG_LEVEL_4K, f->forge(env, leaf));
	KUNIT_EXPECT_GT(test, eptmmu_audit(env->vm), 0L);
	poke(env, gfn, PG_LEVEL_4K, leaf);
	KUNIT_EXPECT_EQ(test, eptmmu_audit(env->vm), 0L);
}

/*
 * R-PML-DRAIN: in a PML VM a logging slot's leaves stay writable, so an
 * unmarked W leaf with D clear is legal (unlike with write protection),
 * and one with D set is a lost log entry: the auditor runs with every
 * vCPU stopped, when every PML buffer has been drained.
 */
static void audit_pml_logging(struct kunit *test)
{
	struct env *env = env_create(test, PAGE_SIZE, PAGE_SIZE,
				     EPTMMU_MEM_LOG_DIRTY_PAGES, true);
	u64 gfn = env->gpa >> PAGE_SHIFT, leaf;

	/* The soft vCPU has no PML buffer: nothing to drain. */
	env->vm->pml = true;
	/* A write fault: a writable leaf with D, its page marked. */
	guest_write(test, env, 0, 1);
	leaf = leaf_of(env->vm, gfn, NULL);
	KUNIT_ASSERT_TRUE(test, spte_is_writable(leaf));
	KUNIT_ASSERT_NE(test, leaf & VMX_EPT_DIRTY_BIT, 0ULL);
	KUNIT_ASSERT_EQ(test, eptmmu_audit(env->vm), 0L);
	/* A PML harvest takes the mark and D, and leaves W. */
	KUNIT_ASSERT_EQ(test, harvest(test, env, 0), 1ULL);
	KUNIT_EXPECT_EQ(test, leaf_of(env->vm, gfn, NULL),
			leaf & ~(u64)VMX_EPT_DIRTY_BIT);
	KUNIT_EXPECT_EQ(test, eptmmu_audit(env->vm), 0L);
	/* A D the CPU set whose PML entry never reached the bitmap. */
	poke(env, gfn, PG_LEVEL_4K, leaf);
	KUNIT_EXPECT_EQ(test, eptmmu_audit(env->vm), 1L);
	/* The same leaf under write protection: W unmarked is wrong too. */
	env->vm->pml = false;
	poke(env, gfn, PG_LEVEL_4K, leaf & ~(u64)VMX_EPT_DIRTY_BIT);
	KUNIT_EXPECT_EQ(test, eptmmu_audit(env->vm), 1L);
	poke(env, gfn, PG_LEVEL_4K, leaf & ~(u64)VMX_EPT_WRITABLE_MASK);
	KUNIT_EXPECT_EQ(test, eptmmu_audit(env->vm), 0L);
}

/* The same for what is not one leaf: the table and leaf counts, a table's place. */
static void audit_catches_structure(struct kunit *test)
{
	struct env *env = env_create(test, 64 * PAGE_SIZE, PAGE_SIZE, 0, true);
	u64 gfn = env->gpa >> PAGE_SHIFT, table;
	struct eptmmu_pt *pt;

	guest_read(test, env, 0);
	KUNIT_ASSERT_EQ(test, eptmmu_audit(env->vm), 0L);

	atomic64_inc(&env->vm->stats.tables);
	KUNIT_EXPECT_GT(test, eptmmu_audit(env->vm), 0L);
	atomic64_dec(&env->vm->stats.tables);
	/* The leaf counts of the debugfs stats (pages_4k, ...) too. */
	atomic64_inc(&env->vm->stats.pages[PG_LEVEL_4K]);
	KUNIT_EXPECT_GT(test, eptmmu_audit(env->vm), 0L);
	atomic64_dec(&env->vm->stats.pages[PG_LEVEL_4K]);

	/* The 2M entry points to the 4K table; say it sits elsewhere. */
	table = peek(env, gfn, PG_LEVEL_2M);
	KUNIT_ASSERT_TRUE(test, spte_is_present(table));
	KUNIT_ASSERT_FALSE(test, spte_is_last(table, PG_LEVEL_2M));
	pt = (struct eptmmu_pt *)page_private(pfn_to_page(spte_pfn(table)));
	write_lock(&env->vm->mmu_lock);
	pt->base_gfn += SPTE_ENT_PER_PAGE;
	write_unlock(&env->vm->mmu_lock);
	KUNIT_EXPECT_GT(test, eptmmu_audit(env->vm), 0L);
	write_lock(&env->vm->mmu_lock);
	pt->base_gfn -= SPTE_ENT_PER_PAGE;
	write_unlock(&env->vm->mmu_lock);
	KUNIT_EXPECT_EQ(test, eptmmu_audit(env->vm), 0L);
}

static void do_fast_write(struct worker *w)
{
	w->result = eptmmu_fast_page_fault(w->vcpu, w->gpa,
					   EPT_VIOLATION_ACC_WRITE);
}

/*
 * fast_plain_store, where the zap is an munmap's: the fast path holds a
 * write-protected leaf (parked before its store); the process unmaps the
 * page, whose invalidation zaps and flushes and whose host frees it; the
 * store then brings the leaf back.  race4_fast_vs_zap zaps with no host
 * change, so the leaf it brings back maps a page the host still has; here
 * it maps one the host has freed, and the auditor must say so.  The real
 * run's cmpxchg fails and leaves nothing.
 */
static void audit_catches_fast_plain_store(struct kunit *test)
{
	bool broken = *(bool *)test->param_value;
	struct env *env = env_create(test, PAGE_SIZE, PAGE_SIZE,
				     EPTMMU_MEM_LOG_DIRTY_PAGES, true);
	struct worker w = { .fn = do_fast_write, .vcpu = env->vcpu,
			    .gpa = env->gpa };
	u64 gfn = env->gpa >> PAGE_SHIFT;

	guest_write(test, env, 0, 1);
	KUNIT_ASSERT_EQ(test, harvest(test, env, 0), 1ULL);
	KUNIT_ASSERT_FALSE(test, spte_is_writable(leaf_of(env->vm, gfn, NULL)));
	WRITE_ONCE(eptmmu_inject.fast_plain_store, broken);
	arm_park(test, EPTMMU_PARK_FAST_BEFORE_CMPXCHG);
	start_worker(test, &w);
	KUNIT_ASSERT_TRUE(test, wait_parked());
	KUNIT_ASSERT_EQ(test, vm_munmap(env->hva, PAGE_SIZE), 0);
	atomic_set(&sp.release, 1);
	finish_worker(test, &w);
	unpark_all(NULL);
	/* The broken run's leaf maps a freed page: never touch it. */
	WRITE_ONCE(eptmmu_inject.no_host_dirty, broken);
	KUNIT_EXPECT_EQ(test, w.result, broken ? EPTMMU_FAST_FIXED :
						 EPTMMU_FAST_FALLBACK);
	expect_audit(test, env, broken);
	eptmmu_zap_gfn_range(env->vm, gfn, gfn + 1, true);
	WRITE_ONCE(eptmmu_inject.no_host_dirty, false);
	KUNIT_EXPECT_EQ(test, leaf_of(env->vm, gfn, NULL), 0ULL);
}

static const bool broken_runs[] = { false, true };

static void broken_desc(const bool *broken, char *desc)
{
	strscpy(desc, *broken ? "broken" : "real", KUNIT_PARAM_DESC_SIZE);
}

KUNIT_ARRAY_PARAM(broken_run, broken_runs, broken_desc);

/*
 * What one audit costs: 64 MiB of 4K leaves (a logging slot), written
 * through, audited a few times.  The figure goes to the log (the clock
 * under QEMU may tick in jiffies: hence several rounds).
 */
static void audit_cost(struct kunit *test)
{
	struct env *env = env_create(test, SZ_64M, SZ_2M,
				     EPTMMU_MEM_LOG_DIRTY_PAGES, true);
	unsigned long t0;
	u64 off, ns;
	int i;

	for (off = 0; off < env->size; off += PAGE_SIZE)
		guest_write(test, env, off, off);
	KUNIT_ASSERT_EQ(test, count_leaves(env->vm, env->gpa >> PAGE_SHIFT,
					   (env->gpa + env->size) >> PAGE_SHIFT),
			env->size >> PAGE_SHIFT);
	t0 = jiffies;
	for (i = 0; i < 8; i++)
		KUNIT_EXPECT_EQ(test, eptmmu_audit(env->vm), 0L);
	ns = jiffies_to_nsecs(jiffies - t0) / 8;
	kunit_info(test, "one audit of %llu 4K leaves: ~%llu us (%llu ns a leaf)\n",
		   env->size >> PAGE_SHIFT, ns / 1000,
		   ns / (env->size >> PAGE_SHIFT));
}

static struct kunit_case audit_cases[] = {
	KUNIT_CASE_PARAM(audit_real_trees, ad_mode_gen_params),
	KUNIT_CASE_PARAM(audit_catches_forgery, forgery_gen_params),
	KUNIT_CASE(audit_catches_structure),
	KUNIT_CASE(audit_pml_logging),
	KUNIT_CASE_PARAM(audit_catches_fast_plain_store, broken_run_gen_params),
	KUNIT_CASE(audit_cost),
	{}
};

static struct kunit_suite audit_suite = {
	.name = "eptmmu_audit",
	.test_cases = audit_cases,
	.suite_init = eptmmu_kunit_suite_init,
	.suite_exit = eptmmu_kunit_suite_exit,
};

kunit_test_suites(&audit_suite);
