// SPDX-License-Identifier: GPL-2.0
/*
 * KUnit tests for aging (acctrack/age.c): the lockless access-tracking
 * rules, in both A/D modes, each race made to happen on purpose and run
 * against a broken variant too.
 */
#include <kunit/test.h>
#include <linux/kthread.h>
#include <linux/uaccess.h>

#include <eptmmu/inject.h>
#include <eptmmu/vcpu.h>

#include "test_env.h"

static bool age(struct env *env, bool clear)
{
	u64 gfn = env->gpa >> PAGE_SHIFT;
	bool young;
	int idx = srcu_read_lock(&env->vm->srcu);

	young = eptmmu_age_gfn_range(env->vm, gfn, gfn + (env->size >> PAGE_SHIFT),
				     clear);
	srcu_read_unlock(&env->vm->srcu, idx);
	return young;
}

static u64 leaf0(struct env *env)
{
	return leaf_of(env->vm, env->gpa >> PAGE_SHIFT, NULL);
}

/* An access-tracked leaf hides R/X in the saved bits; a young one does not. */
static bool leaf_consistent(u64 spte)
{
	bool tracked = spte & SPTE_ACC_TRACKED;

	if (!spte_is_present(spte))
		return true;
	if (tracked)
		return !(spte & VMX_EPT_RWX_MASK) && (spte & SPTE_SAVED_MASK);
	return spte & VMX_EPT_RWX_MASK;
}

/* R-AGE-NOFLUSH */
static void age_ad_clears_a_without_flush(struct kunit *test)
{
	struct env *env = env_create(test, PAGE_SIZE, PAGE_SIZE, 0, true);
	struct eptmmu_vm_stats before, after;

	guest_write(test, env, 0, 1);
	eptmmu_get_vm_stats(env->vm, &before);
	KUNIT_EXPECT_TRUE(test, age(env, true));
	KUNIT_EXPECT_FALSE(test, leaf0(env) & VMX_EPT_ACCESS_BIT);
	KUNIT_EXPECT_TRUE(test, leaf0(env) & VMX_EPT_DIRTY_BIT);
	KUNIT_EXPECT_FALSE(test, age(env, false));
	eptmmu_get_vm_stats(env->vm, &after);
	KUNIT_EXPECT_EQ(test, after.tlb_flushes, before.tlb_flushes);
	KUNIT_EXPECT_EQ(test, after.aging_passes, before.aging_passes + 2);
	/* Through the cached translation the access sets nothing ... */
	guest_read(test, env, 0);
	KUNIT_EXPECT_FALSE(test, age(env, false));
	/* ... after a walk it is young again, with no fault. */
	eptmmu_flush_remote_tlbs(env->vm);
	guest_read(test, env, 0);
	KUNIT_EXPECT_TRUE(test, age(env, false));
	KUNIT_EXPECT_EQ(test, env->vcpu->stats.faults, 1ULL);
}

/* R-ACC-NOW, R-FASTPF-ACC */
/*
 * Without A/D, aging hides R and X; a read restores them and never W;
 * the write after it takes the write-protect fast path and is logged.
 */
static void age_noad_read_never_restores_w(struct kunit *test)
{
	struct env *env = env_create(test, PAGE_SIZE, PAGE_SIZE,
				     EPTMMU_MEM_LOG_DIRTY_PAGES, false);
	unsigned long ubuf = map_aligned(test, PAGE_SIZE, PAGE_SIZE);
	struct eptmmu_dirty_log log = { .slot = 0, .bitmap = ubuf };
	u64 leaf, word = 0;

	guest_write(test, env, 0, 1);
	guest_write(test, env, 0, 2);
	KUNIT_ASSERT_TRUE(test, spte_is_writable(leaf0(env)));
	KUNIT_EXPECT_TRUE(test, age(env, true));
	leaf = leaf0(env);
	KUNIT_EXPECT_TRUE(test, spte_is_access_tracked(leaf));
	KUNIT_EXPECT_TRUE(test, leaf_consistent(leaf));
	KUNIT_ASSERT_EQ(test, eptmmu_get_dirty_log(env->vm, &log), 0);

	/* A harvest flushed: the read walks, faults, is restored R/X only. */
	KUNIT_EXPECT_EQ(test, guest_read(test, env, 0), 2ULL);
	KUNIT_EXPECT_EQ(test, env->vcpu->stats.fast_fixed_acc, 1ULL);
	KUNIT_EXPECT_EQ(test, env->vcpu->latency.count[EPTMMU_FAULT_FAST_ACC], 1ULL);
	leaf = leaf0(env);
	KUNIT_EXPECT_FALSE(test, spte_is_access_tracked(leaf));
	KUNIT_EXPECT_FALSE(test, spte_is_writable(leaf));
	KUNIT_ASSERT_EQ(test, eptmmu_get_dirty_log(env->vm, &log), 0);
	KUNIT_ASSERT_EQ(test, copy_from_user(&word, (void __user *)ubuf, 8), 0UL);
	KUNIT_EXPECT_EQ(test, word, 0ULL);

	guest_write(test, env, 0, 3);
	KUNIT_EXPECT_EQ(test, env->vcpu->stats.fast_fixed_wp, 1ULL);
	KUNIT_ASSERT_EQ(test, eptmmu_get_dirty_log(env->vm, &log), 0);
	KUNIT_ASSERT_EQ(test, copy_from_user(&word, (void __user *)ubuf, 8), 0UL);
	KUNIT_EXPECT_EQ(test, word, 1ULL);
}

static void do_age(struct worker *w)
{
	struct env *env = (struct env *)w->vm;

	w->result = age(env, true);
}

/* R-AGE-ATOMIC */
/*
 * Aging races the fast path's restore.  One cmpxchg means the leaf is
 * only ever young or fully tracked.  Marking in two atomic steps opens a
 * window where RWX are clear and nothing is saved: a fault there finds
 * neither a present nor a tracked leaf.  The broken run parks in that
 * window and the test looks; the real run is sampled while aging runs.
 * Returns how many inconsistent leaves were seen.
 */
static int aging_hole(struct kunit *test, bool broken)
{
	struct env *env = env_create(test, PAGE_SIZE, PAGE_SIZE, 0, false);
	struct worker w = { .fn = do_age, .vm = (struct eptmmu_vm *)env };
	int holes = 0, i;

	guest_read(test, env, 0);
	if (broken) {
		WRITE_ONCE(eptmmu_inject.age_two_step, true);
		arm_park(test, EPTMMU_PARK_AGE_MID);
		start_worker(test, &w);
		KUNIT_ASSERT_TRUE(test, wait_parked());
		holes += !leaf_consistent(leaf0(env));
		/* Aging is lockless: the audit looks into its window too. */
		expect_audit(test, env, true);
		atomic_set(&sp.release, 1);
		finish_worker(test, &w);
		unpark_all(NULL);
		return holes;
	}
	for (i = 0; i < 2000; i++) {
		start_worker(test, &w);
		/* Non-preemptible kernels: let this CPU's RCU kthread in. */
		while (!completion_done(&w.done)) {
			holes += !leaf_consistent(leaf0(env));
			cond_resched();
		}
		finish_worker(test, &w);
		holes += !leaf_consistent(leaf0(env));
		/* The fast path restores it for the next round. */
		eptmmu_flush_remote_tlbs(env->vm);
		guest_read(test, env, 0);
	}
	KUNIT_EXPECT_GE(test, env->vcpu->stats.fast_fixed_acc, 1000ULL);
	return holes;
}

static void aging_vs_restore(struct kunit *test)
{
	KUNIT_EXPECT_EQ(test, aging_hole(test, false), 0);
}

static void aging_vs_restore_broken(struct kunit *test)
{
	KUNIT_EXPECT_EQ(test, aging_hole(test, true), 1);
}

static void write_while_aging(struct worker *w)
{
	u64 v = 9;

	if (!wait_parked())
		return;
	w->result = guest(w->vcpu, w->gpa, EPTMMU_ACCESS_WRITE, &v);
	atomic_set(&sp.release, 1);
}

/*
 * With A/D, aging clears A while the CPU may be setting D.  An atomic AND
 * keeps the D; a plain read-modify-write stores the D-less value it read.
 * The broken run parks between its read and its store while the vCPU
 * writes; the real run has no such gap, so the same write lands wherever
 * it lands and D must survive.
 * Returns whether D survived.
 */
static bool aging_keeps_d(struct kunit *test, bool broken)
{
	struct env *env = env_create(test, PAGE_SIZE, PAGE_SIZE, 0, true);
	struct worker w = { .fn = write_while_aging, .vcpu = env->vcpu,
			    .gpa = env->gpa, .result = -1 };
	u64 one = 1;

	/* Host-writable, mapped by a read: W granted, A set, D clear. */
	KUNIT_ASSERT_EQ(test, copy_to_user((void __user *)env->hva, &one, 8), 0UL);
	guest_read(test, env, 0);
	KUNIT_ASSERT_TRUE(test, spte_is_writable(leaf0(env)));
	KUNIT_ASSERT_FALSE(test, leaf0(env) & VMX_EPT_DIRTY_BIT);
	eptmmu_flush_remote_tlbs(env->vm);

	if (broken) {
		WRITE_ONCE(eptmmu_inject.age_plain_rmw, true);
		arm_park(test, EPTMMU_PARK_AGE_MID);
		start_worker(test, &w);
		KUNIT_EXPECT_TRUE(test, age(env, true));
		finish_worker(test, &w);
		KUNIT_EXPECT_EQ(test, w.result, EPTMMU_EXIT_DONE);
		unpark_all(NULL);
	} else {
		KUNIT_EXPECT_TRUE(test, age(env, true));
		guest_write(test, env, 0, 9);
		KUNIT_EXPECT_TRUE(test, age(env, true));
	}
	KUNIT_EXPECT_FALSE(test, leaf0(env) & VMX_EPT_ACCESS_BIT);
	return leaf0(env) & VMX_EPT_DIRTY_BIT;
}

static void aging_keeps_dirty(struct kunit *test)
{
	KUNIT_EXPECT_TRUE(test, aging_keeps_d(test, false));
}

static void aging_keeps_dirty_broken(struct kunit *test)
{
	KUNIT_EXPECT_FALSE(test, aging_keeps_d(test, true));
}

static struct kunit_case acctrack_cases[] = {
	KUNIT_CASE(age_ad_clears_a_without_flush),
	KUNIT_CASE(age_noad_read_never_restores_w),
	KUNIT_CASE_SLOW(aging_vs_restore),
	KUNIT_CASE(aging_vs_restore_broken),
	KUNIT_CASE(aging_keeps_dirty),
	KUNIT_CASE(aging_keeps_dirty_broken),
	{}
};

static struct kunit_suite acctrack_suite = {
	.name = "eptmmu_acctrack",
	.test_cases = acctrack_cases,
	.suite_init = eptmmu_kunit_suite_init,
	.suite_exit = eptmmu_kunit_suite_exit,
};

kunit_test_suite(acctrack_suite);
