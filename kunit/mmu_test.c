// SPDX-License-Identifier: GPL-2.0
/*
 * KUnit tests for mmu/ and the soft vCPU: structure (iterator, map, zap,
 * split, teardown), memslots, the invalidation-retry race, the stale-TLB
 * race, A/D behaviour and a multi-vCPU stress.
 *
 * The VMs map real process memory: kunit_vm_mmap() gives the test thread
 * an mm, and eptmmu_vm_create() registers its MMU notifier there, so
 * munmap in a test drives the real invalidation path.
 */
#include <kunit/test.h>
#include <linux/completion.h>
#include <linux/delay.h>
#include <linux/kthread.h>
#include <linux/mm.h>
#include <linux/mman.h>
#include <linux/random.h>
#include <linux/sched/mm.h>
#include <linux/uaccess.h>
#include <linux/vmalloc.h>

#include <eptmmu/inject.h>
#include <eptmmu/vcpu.h>

#include "test_env.h"

#define CHECK_SAMPLES	512

/*
 * Every leaf maps exactly the page the process has at that address.
 * Leaves are sampled under mmu_lock; the host side is looked up after it
 * is dropped, because GUP may sleep.
 */
static void check_tree(struct kunit *test, struct env *env)
{
	struct eptmmu_vm *vm = env->vm;
	u64 base = env->gpa >> PAGE_SHIFT, npages = env->size >> PAGE_SHIFT;
	u64 *gfns, *pfns, bad = 0, n = 0, i;
	struct eptmmu_iter it;

	gfns = kunit_kcalloc(test, CHECK_SAMPLES, sizeof(u64), GFP_KERNEL);
	pfns = kunit_kcalloc(test, CHECK_SAMPLES, sizeof(u64), GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, gfns);
	KUNIT_ASSERT_NOT_NULL(test, pfns);
	read_lock(&vm->mmu_lock);
	rcu_read_lock();
	for_each_eptmmu_spte(&it, vm, 0, EPTMMU_MAX_GPA >> PAGE_SHIFT,
			     PG_LEVEL_4K) {
		u64 span = SPTE_PAGES_PER(it.level);

		if (!spte_is_present_leaf(it.old_spte, it.level))
			continue;
		if (it.gfn < base || it.gfn + span > base + npages) {
			bad++;
			continue;
		}
		/* First and last page of each leaf. */
		for (i = 0; i < span && n < CHECK_SAMPLES; i += span - 1) {
			gfns[n] = it.gfn + i;
			pfns[n++] = spte_pfn(it.old_spte) + i;
			if (span == 1)
				break;
		}
	}
	rcu_read_unlock();
	read_unlock(&vm->mmu_lock);
	for (i = 0; i < n; i++)
		if (host_pfn(env->hva + ((gfns[i] - base) << PAGE_SHIFT)) != pfns[i])
			bad++;
	KUNIT_EXPECT_EQ(test, bad, 0ULL);
	KUNIT_EXPECT_GT(test, n, 0ULL);
}

static void map_and_data(struct kunit *test)
{
	struct env *env = env_create(test, 64 * PAGE_SIZE, PAGE_SIZE, 0, true);
	u64 v, off;

	for (off = 0; off < env->size; off += PAGE_SIZE)
		guest_write(test, env, off + 8, 0x1000 + off);
	/* Guest writes are in the process's memory ... */
	for (off = 0; off < env->size; off += PAGE_SIZE) {
		KUNIT_ASSERT_EQ(test, copy_from_user(&v, (void __user *)(env->hva + off + 8),
						     8), 0UL);
		KUNIT_EXPECT_EQ(test, v, 0x1000 + off);
	}
	/* ... and process writes are what the guest reads. */
	v = 0xfeedface;
	KUNIT_ASSERT_EQ(test, copy_to_user((void __user *)(env->hva + 3 * PAGE_SIZE),
					   &v, 8), 0UL);
	KUNIT_EXPECT_EQ(test, guest_read(test, env, 3 * PAGE_SIZE), 0xfeedfaceULL);
	check_tree(test, env);
	KUNIT_EXPECT_EQ(test, count_leaves(env->vm, 0, EPTMMU_MAX_GPA >> PAGE_SHIFT),
			64ULL);
}

static void iterator_crosses_tables(struct kunit *test)
{
	/* 2M + 8 pages from a 4K-aligned address: crosses a 2M table boundary. */
	struct env *env = env_create(test, SZ_2M + 16 * PAGE_SIZE, PAGE_SIZE,
				     EPTMMU_MEM_LOG_DIRTY_PAGES, true);
	u64 base = env->gpa >> PAGE_SHIFT, prev = 0, off;
	struct eptmmu_iter it;
	int visited = 0, ok = 1;

	for (off = SZ_2M - 4 * PAGE_SIZE; off < SZ_2M + 4 * PAGE_SIZE;
	     off += PAGE_SIZE)
		guest_write(test, env, off, off);
	guest_write(test, env, 0, 1);

	read_lock(&env->vm->mmu_lock);
	rcu_read_lock();
	for_each_eptmmu_spte(&it, env->vm, base + 510, base + 514, PG_LEVEL_4K) {
		if (!spte_is_present_leaf(it.old_spte, it.level))
			continue;
		if (visited && it.gfn <= prev)
			ok = 0;		/* pre-order: leaves in gfn order */
		prev = it.gfn;
		visited++;
	}
	rcu_read_unlock();
	read_unlock(&env->vm->mmu_lock);
	KUNIT_EXPECT_EQ(test, visited, 4);
	KUNIT_EXPECT_TRUE(test, ok);
	KUNIT_EXPECT_EQ(test, count_leaves(env->vm, base, base + 1), 1ULL);
	KUNIT_EXPECT_EQ(test, count_leaves(env->vm, base + 1, base + 508), 0ULL);
}

static void zap_range_and_teardown(struct kunit *test)
{
	struct env *env = env_create(test, SZ_2M, SZ_2M,
				     EPTMMU_MEM_LOG_DIRTY_PAGES, true);
	u64 base = env->gpa >> PAGE_SHIFT, off;
	struct eptmmu_vm_stats st;

	for (off = 0; off < SZ_2M; off += PAGE_SIZE)
		guest_write(test, env, off, off);
	KUNIT_EXPECT_EQ(test, count_leaves(env->vm, base, base + 512), 512ULL);
	eptmmu_get_vm_stats(env->vm, &st);
	KUNIT_EXPECT_EQ(test, st.tables, 4ULL);	/* root + 3 levels */

	KUNIT_EXPECT_TRUE(test, eptmmu_zap_gfn_range(env->vm, base + 10,
						     base + 20, true));
	KUNIT_EXPECT_EQ(test, count_leaves(env->vm, base, base + 512), 502ULL);
	KUNIT_EXPECT_EQ(test, count_leaves(env->vm, base + 10, base + 20), 0ULL);
	/* The guest still sees its data, through fresh faults. */
	KUNIT_EXPECT_EQ(test, guest_read(test, env, 15 * PAGE_SIZE),
			15ULL * PAGE_SIZE);

	/* A whole table in range goes as one unit. */
	eptmmu_zap_gfn_range(env->vm, base, base + 512, true);
	eptmmu_get_vm_stats(env->vm, &st);
	KUNIT_EXPECT_EQ(test, st.tables, 3ULL);
	eptmmu_zap_gfn_range(env->vm, 0, EPTMMU_MAX_GPA >> PAGE_SHIFT, true);
	eptmmu_get_vm_stats(env->vm, &st);
	KUNIT_EXPECT_EQ(test, st.tables, 1ULL);
	KUNIT_EXPECT_EQ(test, count_leaves(env->vm, 0, EPTMMU_MAX_GPA >> PAGE_SHIFT),
			0ULL);
	KUNIT_EXPECT_GE(test, st.zapped, 512ULL);
}

static void huge_2m_leaf(struct kunit *test)
{
	struct env *env = env_create(test, 4 * SZ_2M, SZ_2M, 0, true);
	struct eptmmu_vm_stats st;
	int level = 0;

	guest_write(test, env, 5 * PAGE_SIZE, 77);
	KUNIT_ASSERT_NE(test, leaf_of(env->vm, (env->gpa >> PAGE_SHIFT) + 5, &level),
			0ULL);
	eptmmu_get_vm_stats(env->vm, &st);
	if (level != PG_LEVEL_2M)
		kunit_skip(test, "the host did not back the region with a THP");
	KUNIT_EXPECT_EQ(test, st.maps_2m, 1ULL);
	/* One leaf serves the whole 2M: no further slow faults. */
	KUNIT_EXPECT_EQ(test, guest_read(test, env, SZ_2M - 8), 0ULL);
	KUNIT_EXPECT_EQ(test, env->vcpu->stats.slow_faults, 1ULL);
	check_tree(test, env);
}

static void split_keeps_mappings(struct kunit *test)
{
	struct env *env = env_create(test, SZ_2M, SZ_2M, 0, true);
	struct eptmmu_memslot req = {
		.slot = 0, .flags = EPTMMU_MEM_LOG_DIRTY_PAGES,
		.guest_phys_addr = env->gpa, .memory_size = env->size,
		.userspace_addr = env->hva,
	};
	u64 base = env->gpa >> PAGE_SHIFT, huge, i;
	struct eptmmu_vm_stats st;
	int level = 0;

	guest_write(test, env, 0, 1);
	huge = leaf_of(env->vm, base, &level);
	if (level != PG_LEVEL_2M)
		kunit_skip(test, "the host did not back the region with a THP");
	/* Dirty logging splits the huge leaf and write-protects the pieces. */
	KUNIT_ASSERT_EQ(test, eptmmu_set_memslot(env->vm, &req), 0);
	eptmmu_get_vm_stats(env->vm, &st);
	KUNIT_EXPECT_EQ(test, st.splits, 1ULL);
	KUNIT_EXPECT_EQ(test, count_leaves(env->vm, base, base + 512), 512ULL);

	/* A write to one piece makes that piece, and only it, writable. */
	guest_write(test, env, 100 * PAGE_SIZE, 2);
	for (i = 0; i < 512; i++) {
		u64 leaf = leaf_of(env->vm, base + i, &level);

		KUNIT_EXPECT_EQ(test, level, PG_LEVEL_4K);
		KUNIT_EXPECT_EQ(test, spte_pfn(leaf), spte_pfn(huge) + i);
		KUNIT_EXPECT_EQ(test, spte_is_writable(leaf), i == 100);
	}
	check_tree(test, env);
}

static void memslot_errnos(struct kunit *test)
{
	struct env *env = env_create(test, 16 * PAGE_SIZE, PAGE_SIZE, 0, true);
	struct eptmmu_vm_stats before, after;
	static const struct {
		u32 slot, flags;
		u64 gpa, size;
		s64 hva_delta;
		int err;
	} bad[] = {
		{ 1, 1u << 7, 0, PAGE_SIZE, 0, -EINVAL },
		{ EPTMMU_MAX_MEMSLOTS, 0, 0, PAGE_SIZE, 0, -EINVAL },
		{ 1, 0, 100, PAGE_SIZE, 0, -EINVAL },
		{ 1, 0, 0, 100, 0, -EINVAL },
		{ 1, 0, 0, PAGE_SIZE, 8, -EINVAL },
		{ 1, 0, 0, EPTMMU_MAX_MEMSLOT_SIZE + PAGE_SIZE, 0, -EINVAL },
		{ 1, 0, EPTMMU_MAX_GPA - PAGE_SIZE, 2 * PAGE_SIZE, 0, -EINVAL },
		{ 1, 0, -PAGE_SIZE, 2 * PAGE_SIZE, 0, -EINVAL },
		{ 1, 0, SLOT_GPA + PAGE_SIZE, PAGE_SIZE, 0, -EEXIST },
		{ 0, 0, SLOT_GPA, 2 * PAGE_SIZE, 0, -EBUSY },
		{ 0, EPTMMU_MEM_READONLY, SLOT_GPA, 16 * PAGE_SIZE, 0, -EBUSY },
		{ 5, 0, 0, 0, 0, -ENOENT },
	};
	unsigned int i;

	guest_write(test, env, 0, 42);
	eptmmu_get_vm_stats(env->vm, &before);
	for (i = 0; i < ARRAY_SIZE(bad); i++) {
		struct eptmmu_memslot req = {
			.slot = bad[i].slot, .flags = bad[i].flags,
			.guest_phys_addr = bad[i].gpa,
			.memory_size = bad[i].size,
			.userspace_addr = env->hva + bad[i].hva_delta,
		};

		KUNIT_EXPECT_EQ_MSG(test, eptmmu_set_memslot(env->vm, &req),
				    bad[i].err, "row %u", i);
	}
	{
		struct eptmmu_memslot kaddr = {
			.slot = 2, .guest_phys_addr = 0, .memory_size = PAGE_SIZE,
			.userspace_addr = 0xffff888000000000UL,
		};

		KUNIT_EXPECT_EQ(test, eptmmu_set_memslot(env->vm, &kaddr), -EFAULT);
	}
	eptmmu_get_vm_stats(env->vm, &after);
	KUNIT_EXPECT_EQ(test, after.memslot_generation, before.memslot_generation);
	KUNIT_EXPECT_EQ(test, after.zapped, before.zapped);
	KUNIT_EXPECT_EQ(test, guest_read(test, env, 0), 42ULL);
}

/* R-MEMSLOT-SRCU */
static void memslot_delete_zaps(struct kunit *test)
{
	struct env *env = env_create(test, 16 * PAGE_SIZE, PAGE_SIZE, 0, true);
	struct eptmmu_memslot del = { .slot = 0 };
	u64 v = 0, base = env->gpa >> PAGE_SHIFT;

	guest_write(test, env, 0, 42);
	KUNIT_ASSERT_EQ(test, eptmmu_set_memslot(env->vm, &del), 0);
	KUNIT_EXPECT_EQ(test, count_leaves(env->vm, base, base + 16), 0ULL);
	KUNIT_EXPECT_EQ(test, guest(env->vcpu, env->gpa, EPTMMU_ACCESS_READ, &v),
			EPTMMU_EXIT_MMIO);
	/* The MMIO SPTE is there, and a new slot makes it go away. */
	KUNIT_EXPECT_EQ(test, env->vcpu->stats.mmio_exits, 1ULL);
	del.memory_size = 16 * PAGE_SIZE;
	del.guest_phys_addr = env->gpa;
	del.userspace_addr = env->hva;
	KUNIT_ASSERT_EQ(test, eptmmu_set_memslot(env->vm, &del), 0);
	KUNIT_EXPECT_EQ(test, guest_read(test, env, 0), 42ULL);
}

static void readonly_slot(struct kunit *test)
{
	struct env *env = env_create(test, 4 * PAGE_SIZE, PAGE_SIZE,
				     EPTMMU_MEM_READONLY, true);
	struct eptmmu_access a = {
		.gpa = env->gpa, .kind = EPTMMU_ACCESS_WRITE, .size = 8,
	};
	u32 err = 0;

	KUNIT_EXPECT_EQ(test, guest_read(test, env, 0), 0ULL);
	mutex_lock(&env->vcpu->run_lock);
	KUNIT_EXPECT_EQ(test, eptmmu_vcpu_access(env->vcpu, &a, &err),
			EPTMMU_EXIT_FAULT);
	mutex_unlock(&env->vcpu->run_lock);
	KUNIT_EXPECT_EQ(test, err, (u32)EACCES);
	KUNIT_EXPECT_FALSE(test, spte_is_host_writable(leaf_of(env->vm,
							       env->gpa >> PAGE_SHIFT,
							       NULL)));
}

static void soft_ad_bits(struct kunit *test)
{
	struct env *env = env_create(test, 4 * PAGE_SIZE, PAGE_SIZE, 0, true);
	u64 gfn = env->gpa >> PAGE_SHIFT, leaf, faults;

	guest_read(test, env, 0);
	leaf = leaf_of(env->vm, gfn, NULL);
	KUNIT_EXPECT_TRUE(test, leaf & VMX_EPT_ACCESS_BIT);
	KUNIT_EXPECT_FALSE(test, leaf & VMX_EPT_DIRTY_BIT);
	/* Clear A: the next access sets it again, with no fault. */
	eptmmu_flush_remote_tlbs(env->vm);
	faults = env->vcpu->stats.faults;
	write_lock(&env->vm->mmu_lock);
	{
		struct eptmmu_iter it;

		rcu_read_lock();
		for_each_eptmmu_spte(&it, env->vm, gfn, gfn + 1, PG_LEVEL_4K)
			if (it.level == PG_LEVEL_4K)
				eptmmu_spte_clear_bits(it.sptep, VMX_EPT_ACCESS_BIT);
		rcu_read_unlock();
	}
	write_unlock(&env->vm->mmu_lock);
	eptmmu_flush_remote_tlbs(env->vm);
	KUNIT_EXPECT_FALSE(test, leaf_of(env->vm, gfn, NULL) & VMX_EPT_ACCESS_BIT);
	guest_read(test, env, 0);
	KUNIT_EXPECT_TRUE(test, leaf_of(env->vm, gfn, NULL) & VMX_EPT_ACCESS_BIT);
	if (spte_is_writable(leaf)) {
		/* Writable already: the write sets D by the walk, not a fault. */
		guest_write(test, env, 0, 5);
		KUNIT_EXPECT_EQ(test, env->vcpu->stats.faults, faults);
	} else {
		guest_write(test, env, 0, 5);
	}
	KUNIT_EXPECT_TRUE(test, leaf_of(env->vm, gfn, NULL) & VMX_EPT_DIRTY_BIT);
}

static void soft_no_ad_bits(struct kunit *test)
{
	struct env *env = env_create(test, 4 * PAGE_SIZE, PAGE_SIZE, 0, false);
	u64 leaf;

	guest_write(test, env, 0, 5);
	guest_read(test, env, 8);
	leaf = leaf_of(env->vm, env->gpa >> PAGE_SHIFT, NULL);
	KUNIT_EXPECT_FALSE(test, spte_ad_enabled(leaf));
	KUNIT_EXPECT_EQ(test, leaf & (VMX_EPT_ACCESS_BIT | VMX_EPT_DIRTY_BIT), 0ULL);
	KUNIT_EXPECT_TRUE(test, spte_is_writable(leaf));
}

/*
 * A missing flush is observable: write-protect a leaf the vCPU has cached
 * writable; its next write must fault.  Returns the faults that write took.
 */
static u64 wrprot_then_write(struct kunit *test, struct env *env)
{
	u64 gfn = env->gpa >> PAGE_SHIFT, faults;
	struct eptmmu_iter it;
	bool flush = false;

	guest_write(test, env, 0, 1);
	guest_write(test, env, 0, 2);	/* now from the TLB */
	write_lock(&env->vm->mmu_lock);
	rcu_read_lock();
	for_each_eptmmu_spte(&it, env->vm, gfn, gfn + 1, PG_LEVEL_4K) {
		u64 old, new;

		if (it.level != PG_LEVEL_4K)
			continue;
		new = it.old_spte & ~(VMX_EPT_WRITABLE_MASK | SPTE_MMU_WRITABLE);
		old = eptmmu_spte_write_locked(it.sptep, it.old_spte, new, it.level);
		flush |= spte_needs_tlb_flush(old, new, it.level);
	}
	rcu_read_unlock();
	write_unlock(&env->vm->mmu_lock);
	KUNIT_EXPECT_TRUE(test, flush);
	if (flush)
		eptmmu_flush_remote_tlbs(env->vm);
	faults = env->vcpu->stats.faults;
	guest_write(test, env, 0, 3);
	return env->vcpu->stats.faults - faults;
}

/* R-FLUSH-SYNC */
static void stale_tlb_caught(struct kunit *test)
{
	struct env *env = env_create(test, 4 * PAGE_SIZE, PAGE_SIZE, 0, true);

	KUNIT_EXPECT_EQ(test, wrprot_then_write(test, env), 1ULL);
}

static void restore_skip_flush(void *unused)
{
	WRITE_ONCE(eptmmu_inject.skip_flush, false);
}

static void stale_tlb_caught_broken(struct kunit *test)
{
	struct env *env = env_create(test, 4 * PAGE_SIZE, PAGE_SIZE, 0, true);

	WRITE_ONCE(eptmmu_inject.skip_flush, true);
	KUNIT_ASSERT_EQ(test, kunit_add_action_or_reset(test, restore_skip_flush,
							NULL), 0);
	/* The write goes through the stale writable translation: no fault. */
	KUNIT_EXPECT_EQ(test, wrprot_then_write(test, env), 0ULL);
	restore_skip_flush(NULL);
	eptmmu_flush_remote_tlbs(env->vm);
}

/* ---- the invalidation-retry race ---- */
/* R-INVAL-SEQ */

struct park_ctx {
	struct completion parked, resume, done;
	struct env *env;
	struct mm_struct *mm;	/* the VM's mm, to fault in (GUP-fast), or NULL */
	int result;
};

static struct park_ctx *the_park;

static void park_here(enum eptmmu_park_point point)
{
	if (point != EPTMMU_PARK_SLOW_BEFORE_LOCK || !the_park)
		return;
	complete(&the_park->parked);
	wait_for_completion(&the_park->resume);
}

static int park_faulter(void *data)
{
	struct park_ctx *p = data;

	/* As a vCPU thread of the VM's process: GUP-fast may serve it. */
	if (p->mm)
		kthread_use_mm(p->mm);
	p->result = eptmmu_slow_page_fault(p->env->vcpu, p->env->gpa,
					   EPT_VIOLATION_ACC_WRITE);
	if (p->mm)
		kthread_unuse_mm(p->mm);
	complete(&p->done);
	return 0;
}

static void clear_park(void *unused)
{
	WRITE_ONCE(eptmmu_inject.park, NULL);
	WRITE_ONCE(eptmmu_inject.skip_invalidate_recheck, false);
	the_park = NULL;
}

/*
 * A fault resolves the host page, then (parked) the process replaces the
 * page with munmap + mmap.  When the fault goes on, the sequence it
 * snapshotted is stale: it must retry, not install the old page.
 * Returns whether the SPTE ended up mapping the old page.
 */
static void put_page_action(void *page)
{
	put_page(page);
}

static bool invalidation_race(struct kunit *test, bool broken, bool fast)
{
	struct env *env = env_create(test, PAGE_SIZE, PAGE_SIZE, 0, true);
	struct park_ctx *p = kunit_kzalloc(test, sizeof(*p), GFP_KERNEL);
	u64 gfn = env->gpa >> PAGE_SHIFT, old_pfn, new_pfn, mapped, gups;
	struct page *old_page;
	struct task_struct *t;
	unsigned long hva;
	u64 one = 1;

	KUNIT_ASSERT_NOT_NULL(test, p);
	init_completion(&p->parked);
	init_completion(&p->resume);
	init_completion(&p->done);
	p->env = env;
	p->mm = fast ? env->vm->mm : NULL;
	KUNIT_ASSERT_EQ(test, copy_to_user((void __user *)env->hva, &one, 8), 0UL);
	old_pfn = host_pfn(env->hva);
	/*
	 * The broken run maps the page munmap takes away: keep it
	 * allocated until that leaf is zapped, or the zap's host-dirty
	 * update lands on a free page (DEBUG_PAGEALLOC kernels report it).
	 */
	KUNIT_ASSERT_EQ(test, get_user_pages_fast(env->hva, 1, 0, &old_page), 1);
	KUNIT_ASSERT_EQ(test, kunit_add_action_or_reset(test, put_page_action,
							old_page), 0);

	the_park = p;
	KUNIT_ASSERT_EQ(test, kunit_add_action_or_reset(test, clear_park, NULL), 0);
	WRITE_ONCE(eptmmu_inject.skip_invalidate_recheck, broken);
	WRITE_ONCE(eptmmu_inject.park, park_here);
	gups = atomic64_read(&env->vm->stats.gup_fast);
	t = kthread_run(park_faulter, p, "eptmmu-parked");
	KUNIT_ASSERT_FALSE(test, IS_ERR(t));
	KUNIT_ASSERT_NE(test, wait_for_completion_timeout(&p->parked, 10 * HZ), 0UL);
	/* Which way the parked fault found the page: GUP-fast or GUP. */
	KUNIT_EXPECT_EQ(test, atomic64_read(&env->vm->stats.gup_fast) - gups,
			(s64)fast);

	/* The real invalidation path: the kernel's own munmap. */
	KUNIT_ASSERT_EQ(test, vm_munmap(env->hva, PAGE_SIZE), 0);
	hva = vm_mmap(NULL, env->hva, PAGE_SIZE, PROT_READ | PROT_WRITE,
		      MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, 0);
	KUNIT_ASSERT_EQ(test, hva, env->hva);
	KUNIT_ASSERT_EQ(test, copy_to_user((void __user *)hva, &one, 8), 0UL);
	new_pfn = host_pfn(hva);
	KUNIT_ASSERT_NE(test, new_pfn, old_pfn);

	complete(&p->resume);
	KUNIT_ASSERT_NE(test, wait_for_completion_timeout(&p->done, 10 * HZ), 0UL);
	WRITE_ONCE(eptmmu_inject.park, NULL);
	mapped = leaf_pfn(env->vm, gfn);
	/* Broken: the leaf maps the page munmap freed. */
	expect_audit(test, env, broken);
	/* Never leave a stale mapping behind, even in the broken run. */
	eptmmu_zap_gfn_range(env->vm, gfn, gfn + 1, true);
	/* The broken fault kept its reference to what it mapped stale. */
	if (broken && mapped == old_pfn)
		put_page(old_page);
	if (!broken) {
		KUNIT_EXPECT_EQ(test, p->result, EPTMMU_FAULT_RETRY);
		KUNIT_EXPECT_EQ(test, env->vcpu->stats.slow_retries, 1ULL);
		KUNIT_EXPECT_EQ(test, mapped, 0ULL);
		/* The retry maps the new page. */
		KUNIT_EXPECT_EQ(test, guest_read(test, env, 0), 1ULL);
		KUNIT_EXPECT_EQ(test, leaf_pfn(env->vm, gfn), new_pfn);
	}
	return mapped == old_pfn;
}

static void invalidation_retry(struct kunit *test)
{
	KUNIT_EXPECT_FALSE(test, invalidation_race(test, false, false));
}

static void invalidation_retry_broken(struct kunit *test)
{
	KUNIT_EXPECT_TRUE(test, invalidation_race(test, true, false));
}

/* The same with the page from GUP-fast, without mmap_lock. */
static void invalidation_retry_gup_fast(struct kunit *test)
{
	KUNIT_EXPECT_FALSE(test, invalidation_race(test, false, true));
}

static void invalidation_retry_gup_fast_broken(struct kunit *test)
{
	KUNIT_EXPECT_TRUE(test, invalidation_race(test, true, true));
}

/*
 * Which slow faults GUP-fast serves, and what they map: a page the
 * process wrote (writable PTE) is mapped host-writable by a read fault;
 * an untouched page (no PTE) goes to GUP, which maps the zero page
 * read-only for a read and breaks COW for the write after it.
 * R-INVAL-SEQ: the COW break is an invalidation the write's fault sees.
 */
static void slow_fault_gup_fast(struct kunit *test)
{
	struct env *env = env_create(test, 2 * PAGE_SIZE, PAGE_SIZE, 0, true);
	u64 gfn = env->gpa >> PAGE_SHIFT, one = 1, gups, retries;

	KUNIT_ASSERT_EQ(test, copy_to_user((void __user *)env->hva, &one, 8), 0UL);
	gups = atomic64_read(&env->vm->stats.gup_fast);
	KUNIT_EXPECT_EQ(test, guest_read(test, env, 0), 1ULL);
	KUNIT_EXPECT_EQ(test, atomic64_read(&env->vm->stats.gup_fast), gups + 1);
	KUNIT_EXPECT_TRUE(test, spte_is_host_writable(leaf_of(env->vm, gfn, NULL)));
	KUNIT_EXPECT_EQ(test, leaf_pfn(env->vm, gfn), host_pfn(env->hva));

	KUNIT_EXPECT_EQ(test, guest_read(test, env, PAGE_SIZE), 0ULL);
	KUNIT_EXPECT_EQ(test, atomic64_read(&env->vm->stats.gup_fast), gups + 1);
	KUNIT_EXPECT_FALSE(test, spte_is_host_writable(leaf_of(env->vm, gfn + 1,
							       NULL)));
	/*
	 * GUP breaks COW, whose invalidation makes this fault retry; the
	 * retry finds the new, writable PTE with GUP-fast.
	 */
	retries = env->vcpu->stats.slow_retries;
	guest_write(test, env, PAGE_SIZE, 2);
	retries = env->vcpu->stats.slow_retries - retries;
	KUNIT_EXPECT_EQ(test, atomic64_read(&env->vm->stats.gup_fast),
			gups + 1 + retries);
	KUNIT_EXPECT_TRUE(test, spte_is_writable(leaf_of(env->vm, gfn + 1, NULL)));
	KUNIT_EXPECT_EQ(test, leaf_pfn(env->vm, gfn + 1),
			host_pfn(env->hva + PAGE_SIZE));
	KUNIT_EXPECT_EQ(test, copy_from_user(&one, (void __user *)(env->hva +
								   PAGE_SIZE), 8), 0UL);
	KUNIT_EXPECT_EQ(test, one, 2ULL);
}

/* ---- stress ---- */

#define STRESS_VCPUS	4
#define STRESS_SIZE	(64ULL << 20)
#define STRESS_ITERS	20000

struct stress_vcpu {
	struct env *env;
	struct eptmmu_vcpu *vcpu;
	int idx;
	u64 *shadow;		/* what this vCPU last wrote to its pages */
	u64 errors;
	struct completion done;
};

static int stress_fn(void *data)
{
	struct stress_vcpu *s = data;
	u64 npages = STRESS_SIZE >> PAGE_SHIFT;
	int i;

	for (i = 0; i < STRESS_ITERS; i++) {
		u64 page = get_random_u64() % npages, v;
		bool mine = page % STRESS_VCPUS == s->idx;

		if (mine && (get_random_u32() & 1)) {
			v = get_random_u64() | 1;
			if (guest(s->vcpu, s->env->gpa + (page << PAGE_SHIFT),
				  EPTMMU_ACCESS_WRITE, &v) != EPTMMU_EXIT_DONE)
				s->errors++;
			s->shadow[page / STRESS_VCPUS] = v;
		} else {
			v = 0;
			if (guest(s->vcpu, s->env->gpa + (page << PAGE_SHIFT),
				  EPTMMU_ACCESS_READ, &v) != EPTMMU_EXIT_DONE)
				s->errors++;
			/* Our own pages hold exactly what we last wrote. */
			if (mine && v != s->shadow[page / STRESS_VCPUS])
				s->errors++;
		}
	}
	complete(&s->done);
	return 0;
}

/* R-FROZEN, R-RCU-PT under load */
static void stress_vcpus_vs_zaps(struct kunit *test)
{
	struct env *env = env_create(test, STRESS_SIZE, SZ_2M, 0, true);
	u64 npages = STRESS_SIZE >> PAGE_SHIFT, base = env->gpa >> PAGE_SHIFT;
	struct stress_vcpu *s;
	u64 zaps = 0, bad = 0, p;
	int i, running;

	s = kunit_kcalloc(test, STRESS_VCPUS, sizeof(*s), GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, s);
	for (i = 0; i < STRESS_VCPUS; i++) {
		s[i].env = env;
		s[i].idx = i;
		s[i].vcpu = i ? eptmmu_soft_vcpu_create(env->vm) : env->vcpu;
		KUNIT_ASSERT_FALSE(test, IS_ERR(s[i].vcpu));
		s[i].shadow = vzalloc(npages / STRESS_VCPUS * sizeof(u64));
		KUNIT_ASSERT_NOT_NULL(test, s[i].shadow);
		init_completion(&s[i].done);
	}
	for (i = 0; i < STRESS_VCPUS; i++)
		KUNIT_ASSERT_FALSE(test, IS_ERR(kthread_run(stress_fn, &s[i],
							    "eptmmu-stress%d", i)));
	/* Zap random ranges, some inside huge leaves, while they run. */
	do {
		u64 start = base + get_random_u64() % npages;
		u64 len = 1 + get_random_u32_below(1024);

		eptmmu_zap_gfn_range(env->vm, start, start + len, true);
		zaps++;
		usleep_range(100, 300);
		for (running = 0, i = 0; i < STRESS_VCPUS; i++)
			running += !completion_done(&s[i].done);
	} while (running);

	for (i = 0; i < STRESS_VCPUS; i++) {
		KUNIT_EXPECT_EQ_MSG(test, s[i].errors, 0ULL, "vCPU %d", i);
		/* The process sees every page's final value. */
		for (p = i; p < npages; p += STRESS_VCPUS) {
			u64 v, want = s[i].shadow[p / STRESS_VCPUS];

			if (copy_from_user(&v, (void __user *)(env->hva + (p << PAGE_SHIFT)), 8) ||
			    v != want)
				bad++;
		}
		vfree(s[i].shadow);
	}
	KUNIT_EXPECT_EQ(test, bad, 0ULL);
	kunit_info(test, "%d vCPUs x %d accesses, %llu concurrent zaps\n",
		   STRESS_VCPUS, STRESS_ITERS, zaps);
	KUNIT_EXPECT_GT(test, zaps, 0ULL);
	check_tree(test, env);
}

static struct kunit_case mmu_structure_cases[] = {
	KUNIT_CASE(map_and_data),
	KUNIT_CASE(iterator_crosses_tables),
	KUNIT_CASE(zap_range_and_teardown),
	KUNIT_CASE(huge_2m_leaf),
	KUNIT_CASE(split_keeps_mappings),
	KUNIT_CASE(memslot_errnos),
	KUNIT_CASE(memslot_delete_zaps),
	KUNIT_CASE(readonly_slot),
	{}
};

static struct kunit_suite mmu_structure_suite = {
	.name = "eptmmu_mmu",
	.test_cases = mmu_structure_cases,
	.suite_init = eptmmu_kunit_suite_init,
	.suite_exit = eptmmu_kunit_suite_exit,
};

static struct kunit_case mmu_vcpu_cases[] = {
	KUNIT_CASE(soft_ad_bits),
	KUNIT_CASE(soft_no_ad_bits),
	KUNIT_CASE(stale_tlb_caught),
	KUNIT_CASE(stale_tlb_caught_broken),
	KUNIT_CASE(invalidation_retry),
	KUNIT_CASE(invalidation_retry_broken),
	KUNIT_CASE(invalidation_retry_gup_fast),
	KUNIT_CASE(invalidation_retry_gup_fast_broken),
	KUNIT_CASE(slow_fault_gup_fast),
	KUNIT_CASE_SLOW(stress_vcpus_vs_zaps),
	{}
};

static struct kunit_suite mmu_vcpu_suite = {
	.name = "eptmmu_mmu_races",
	.test_cases = mmu_vcpu_cases,
	.suite_init = eptmmu_kunit_suite_init,
	.suite_exit = eptmmu_kunit_suite_exit,
};

kunit_test_suites(&mmu_structure_suite, &mmu_vcpu_suite);
