// SPDX-License-Identifier: GPL-2.0
/*
 * KUnit tests for the fast page fault and dirty logging, and the five
 * races between them and the other writers of SPTEs.
 *
 * Each race test makes the bad interleaving happen on purpose: a park
 * point holds one thread between reading an SPTE and writing it (spinning:
 * it is in atomic context) while a vCPU thread on the other CPU does the
 * competing thing.  Each runs twice: against the real code, where nothing
 * is lost, and against a broken variant switched on by a test-only knob,
 * where the test asserts that the loss is seen.
 */
#include <kunit/test.h>
#include <linux/completion.h>
#include <linux/delay.h>
#include <linux/kthread.h>
#include <linux/mm.h>
#include <linux/mman.h>
#include <linux/uaccess.h>

#include <eptmmu/inject.h>
#include <eptmmu/vcpu.h>

#include "test_env.h"

static void do_guest_write(struct worker *w)
{
	u64 v = w->value;

	w->result = guest(w->vcpu, w->gpa, EPTMMU_ACCESS_WRITE, &v);
}

/* Wait until the worker parks, then let it go once @during has run. */
static void write_while_parked(struct worker *w)
{
	if (!wait_parked()) {
		w->result = -ETIMEDOUT;
		return;
	}
	do_guest_write(w);
	atomic_set(&sp.release, 1);
}

static void do_fast_fault(struct worker *w)
{
	w->result = eptmmu_fast_page_fault(w->vcpu, w->gpa,
					   EPT_VIOLATION_ACC_WRITE);
}

/* ---- dirty logging from the test thread ---- */

/* Written once and harvested: P is write-protected and clean. */
static void write_and_harvest(struct kunit *test, struct env *env, u64 v)
{
	guest_write(test, env, 0, v);
	KUNIT_ASSERT_EQ(test, harvest(test, env, 0), 1ULL);
	KUNIT_ASSERT_FALSE(test, spte_is_writable(leaf_of(env->vm,
							  env->gpa >> PAGE_SHIFT,
							  NULL)));
}

static u64 host_value(struct kunit *test, struct env *env, u64 off)
{
	u64 v = 0;

	KUNIT_EXPECT_EQ(test, copy_from_user(&v, (void __user *)(env->hva + off), 8),
			0UL);
	return v;
}

/* ---- the fast path on its own ---- */

/* R-FASTPF-WP */
static void fast_fixes_write_protect(struct kunit *test)
{
	struct env *env = env_create(test, 4 * PAGE_SIZE, PAGE_SIZE,
				     EPTMMU_MEM_LOG_DIRTY_PAGES, true);

	write_and_harvest(test, env, 1);
	guest_write(test, env, 0, 2);
	KUNIT_EXPECT_EQ(test, env->vcpu->stats.fast_fixed_wp, 1ULL);
	KUNIT_EXPECT_EQ(test, env->vcpu->stats.slow_faults, 1ULL);
	/* Each fault timed once, under the kind it ended as. */
	KUNIT_EXPECT_EQ(test, env->vcpu->latency.count[EPTMMU_FAULT_SLOW_4K], 1ULL);
	KUNIT_EXPECT_EQ(test, env->vcpu->latency.count[EPTMMU_FAULT_FAST_WP], 1ULL);
	KUNIT_EXPECT_EQ(test, harvest(test, env, 0), 1ULL);
	KUNIT_EXPECT_EQ(test, host_value(test, env, 0), 2ULL);
}

/* R-FASTPF-ACC */
static void fast_restores_access_tracked(struct kunit *test)
{
	struct env *env = env_create(test, 4 * PAGE_SIZE, PAGE_SIZE, 0, false);
	u64 gfn = env->gpa >> PAGE_SHIFT, leaf;
	struct eptmmu_iter it;

	guest_write(test, env, 0, 7);
	/* Age it, as aging without A/D does: RWX go, R/X are saved. */
	read_lock(&env->vm->mmu_lock);
	rcu_read_lock();
	for_each_eptmmu_spte(&it, env->vm, gfn, gfn + 1, PG_LEVEL_4K)
		if (it.level == PG_LEVEL_4K)
			eptmmu_spte_try_cmpxchg(it.sptep, &it.old_spte,
						spte_mark_access_tracked(it.old_spte));
	rcu_read_unlock();
	read_unlock(&env->vm->mmu_lock);
	eptmmu_flush_remote_tlbs(env->vm);

	KUNIT_EXPECT_EQ(test, guest_read(test, env, 0), 7ULL);
	KUNIT_EXPECT_EQ(test, env->vcpu->stats.fast_fixed_acc, 1ULL);
	leaf = leaf_of(env->vm, gfn, NULL);
	/* A read restores R/X only: W waits for a write fault. */
	KUNIT_EXPECT_FALSE(test, spte_is_access_tracked(leaf));
	KUNIT_EXPECT_FALSE(test, spte_is_writable(leaf));
	guest_write(test, env, 0, 8);
	KUNIT_EXPECT_EQ(test, env->vcpu->stats.fast_fixed_wp, 1ULL);
	KUNIT_EXPECT_EQ(test, env->vcpu->stats.slow_faults, 1ULL);
}

static void fast_leaves_mmio_and_readonly(struct kunit *test)
{
	struct env *env = env_create(test, 4 * PAGE_SIZE, PAGE_SIZE,
				     EPTMMU_MEM_READONLY, true);

	KUNIT_EXPECT_EQ(test, eptmmu_fast_page_fault(env->vcpu, 0,
						     EPT_VIOLATION_ACC_READ),
			EPTMMU_FAST_FALLBACK);
	guest_read(test, env, 0);
	/* Present but not host-writable: a write is not the fast path's. */
	KUNIT_EXPECT_EQ(test, eptmmu_fast_page_fault(env->vcpu, env->gpa,
						     EPT_VIOLATION_ACC_WRITE),
			EPTMMU_FAST_FALLBACK);
}

/* R-FASTPF-HUGE */
static void dirty_log_start_splits_stop_recovers(struct kunit *test)
{
	struct env *env = env_create(test, SZ_2M, SZ_2M, 0, true);
	u64 base = env->gpa >> PAGE_SHIFT;
	struct eptmmu_vm_stats st;
	int level = 0;

	guest_write(test, env, 0, 1);
	leaf_of(env->vm, base, &level);
	if (level != PG_LEVEL_2M)
		kunit_skip(test, "the host did not back the region with a THP");
	KUNIT_ASSERT_EQ(test, set_flags(env, EPTMMU_MEM_LOG_DIRTY_PAGES), 0);
	leaf_of(env->vm, base + 3, &level);
	KUNIT_EXPECT_EQ(test, level, PG_LEVEL_4K);
	/* A huge leaf is never fast-fixed in a logging slot: it is gone. */
	guest_write(test, env, 3 * PAGE_SIZE, 2);
	KUNIT_EXPECT_EQ(test, env->vcpu->stats.fast_fixed_wp, 1ULL);
	KUNIT_ASSERT_EQ(test, set_flags(env, 0), 0);
	guest_write(test, env, 5 * PAGE_SIZE, 3);
	leaf_of(env->vm, base + 5, &level);
	KUNIT_EXPECT_EQ(test, level, PG_LEVEL_2M);
	eptmmu_get_vm_stats(env->vm, &st);
	KUNIT_EXPECT_EQ(test, st.maps_2m, 2ULL);
}

static void dirty_log_dbit_keeps_writable(struct kunit *test)
{
	struct env *env = env_create(test, 4 * PAGE_SIZE, PAGE_SIZE,
				     EPTMMU_MEM_LOG_DIRTY_PAGES |
				     EPTMMU_MEM_DIRTY_LOG_DBIT, true);
	u64 faults;

	guest_write(test, env, PAGE_SIZE, 1);
	KUNIT_EXPECT_EQ(test, harvest(test, env, 0), 2ULL);
	faults = env->vcpu->stats.faults;
	/* Still writable: the next write needs no fault, only D. */
	guest_write(test, env, PAGE_SIZE, 2);
	KUNIT_EXPECT_EQ(test, env->vcpu->stats.faults, faults);
	KUNIT_EXPECT_EQ(test, harvest(test, env, 0), 2ULL);
	KUNIT_EXPECT_EQ(test, harvest(test, env, 0), 0ULL);
}

/*
 * R-DIRTY-DBIT, R-DBIT-COUNT: a zapped D goes to the log, for a slot
 * created logging by D bits and for one switched to it later (the
 * per-VM count of such slots is what lets a zap skip the slot search).
 */
static void dirty_log_dbit_survives_zap(struct kunit *test)
{
	struct env *env = env_create(test, 4 * PAGE_SIZE, PAGE_SIZE,
				     EPTMMU_MEM_LOG_DIRTY_PAGES |
				     EPTMMU_MEM_DIRTY_LOG_DBIT, true);
	u64 base = env->gpa >> PAGE_SHIFT;
	int round;

	for (round = 0; round < 2; round++) {
		KUNIT_EXPECT_EQ(test, READ_ONCE(env->vm->nr_dbit_slots), 1);
		guest_write(test, env, 2 * PAGE_SIZE, 1);
		KUNIT_EXPECT_EQ(test, harvest(test, env, 0), 4ULL);
		guest_write(test, env, 2 * PAGE_SIZE, 2);	/* D only */
		eptmmu_zap_gfn_range(env->vm, base, base + 4, true);
		KUNIT_EXPECT_EQ(test, harvest(test, env, 0), 4ULL);
		/* Off, then on again by a flags update. */
		KUNIT_ASSERT_EQ(test, set_flags(env, 0), 0);
		KUNIT_EXPECT_EQ(test, READ_ONCE(env->vm->nr_dbit_slots), 0);
		KUNIT_ASSERT_EQ(test, set_flags(env, EPTMMU_MEM_LOG_DIRTY_PAGES |
						EPTMMU_MEM_DIRTY_LOG_DBIT), 0);
		harvest(test, env, 0);
	}
}

/* R-DIRTY-INVARIANT */
static void dirty_log_clear_manual(struct kunit *test)
{
	struct env *env = env_create(test, 4 * PAGE_SIZE, PAGE_SIZE,
				     EPTMMU_MEM_LOG_DIRTY_PAGES, true);
	unsigned long ubuf = map_aligned(test, PAGE_SIZE, PAGE_SIZE);
	struct eptmmu_dirty_log log = {
		.slot = 0, .flags = EPTMMU_DIRTY_LOG_NO_CLEAR, .bitmap = ubuf,
	};
	u64 word = 0, faults;

	guest_write(test, env, 0, 1);
	guest_write(test, env, PAGE_SIZE, 1);
	KUNIT_ASSERT_EQ(test, eptmmu_get_dirty_log(env->vm, &log), 0);
	KUNIT_ASSERT_EQ(test, copy_from_user(&word, (void __user *)ubuf, 8), 0UL);
	KUNIT_EXPECT_EQ(test, word, 3ULL);
	/* Collected but not cleared: still writable, still in the log. */
	KUNIT_EXPECT_TRUE(test, spte_is_writable(leaf_of(env->vm,
							 env->gpa >> PAGE_SHIFT,
							 NULL)));
	word = 1;
	KUNIT_ASSERT_EQ(test, copy_to_user((void __user *)ubuf, &word, 8), 0UL);
	log.flags = 0;
	log.num_pages = 4;
	KUNIT_ASSERT_EQ(test, eptmmu_clear_dirty_log(env->vm, &log), 0);
	/* Page 0 re-protected and cleared, page 1 left alone. */
	faults = env->vcpu->stats.faults;
	guest_write(test, env, PAGE_SIZE, 2);
	KUNIT_EXPECT_EQ(test, env->vcpu->stats.faults, faults);
	guest_write(test, env, 0, 2);
	KUNIT_EXPECT_EQ(test, env->vcpu->stats.faults, faults + 1);
	KUNIT_EXPECT_EQ(test, harvest(test, env, 0), 3ULL);
}

/*
 * CLEAR's walk (mmu/dirty.c, reprotect_mask()): a second slot whose
 * pages do not start on a 64-page boundary of gfns, so bitmap words
 * straddle 4K tables; four 2M ranges, the third never touched (no table
 * there); a last word of 20 pages.  The masks are sparse, full and mixed.
 * After CLEAR exactly the pages it named are write-protected and
 * unmarked; after the writes that follow, exactly those fault again.
 */
#define WALK_BASE_GFN	((SLOT_GPA >> PAGE_SHIFT) + 1024 + 32)
#define WALK_PAGES	(3 * 512 + 20)
#define WALK_WORDS	DIV_ROUND_UP(WALK_PAGES, 64)

static bool walk_touched(u64 p)
{
	/*
	 * Slot pages 992..1503 are gfns 1024..1535 past the first 2M; of
	 * the others every fourth page and the last of each word (where
	 * the sparse masks have bits), about 400 faults.
	 */
	return (p < 992 || p >= 1504) && (p % 4 == 0 || p % 64 == 63);
}

static u64 walk_mask(unsigned int w)
{
	switch (w % 4) {
	case 0:
		return ~0ULL;
	case 1:
		return 0x8000000100000001ULL;
	case 2:
		return 0;
	default:
		return 0x00ff00f0f0f0f00fULL ^ ((u64)w << 40);
	}
}

static void dirty_log_clear_walk(struct kunit *test, bool ad)
{
	struct env *env = env_create(test, PAGE_SIZE, PAGE_SIZE, 0, ad);
	unsigned long ubuf = map_aligned(test, WALK_WORDS * 8, PAGE_SIZE);
	unsigned long hva = map_aligned(test, (u64)WALK_PAGES * PAGE_SIZE,
					PAGE_SIZE);
	struct eptmmu_memslot req = {
		.slot = 1, .flags = EPTMMU_MEM_LOG_DIRTY_PAGES,
		.guest_phys_addr = WALK_BASE_GFN << PAGE_SHIFT,
		.memory_size = (u64)WALK_PAGES * PAGE_SIZE,
		.userspace_addr = hva,
	};
	struct eptmmu_dirty_log log = {
		.slot = 1, .flags = EPTMMU_DIRTY_LOG_NO_CLEAR, .bitmap = ubuf,
	};
	u64 *words = kunit_kcalloc(test, WALK_WORDS, 8, GFP_KERNEL);
	u64 p, v, faults, wrong = 0;
	unsigned int w;

	KUNIT_ASSERT_NOT_NULL(test, words);
	KUNIT_ASSERT_EQ(test, eptmmu_set_memslot(env->vm, &req), 0);
	for (p = 0; p < WALK_PAGES; p++) {
		v = p;
		if (walk_touched(p))
			KUNIT_ASSERT_EQ(test, guest(env->vcpu,
						    (WALK_BASE_GFN + p) << PAGE_SHIFT,
						    EPTMMU_ACCESS_WRITE, &v),
					EPTMMU_EXIT_DONE);
	}
	for (w = 0; w < WALK_WORDS; w++)
		words[w] = walk_mask(w);
	KUNIT_ASSERT_EQ(test, copy_to_user((void __user *)ubuf, words,
					   WALK_WORDS * 8), 0UL);
	log.flags = 0;
	log.num_pages = WALK_PAGES;
	KUNIT_ASSERT_EQ(test, eptmmu_clear_dirty_log(env->vm, &log), 0);

	for (p = 0; p < WALK_PAGES; p++) {
		bool named = walk_mask(p / 64) & BIT_ULL(p % 64);
		u64 leaf = leaf_of(env->vm, WALK_BASE_GFN + p, NULL);

		if (!walk_touched(p))
			wrong += leaf != 0;
		else
			wrong += spte_is_writable(leaf) == named;
	}
	KUNIT_EXPECT_EQ_MSG(test, wrong, 0ULL,
			    "leaves whose W does not match the CLEAR mask");

	/* The log keeps what CLEAR did not name. */
	log.flags = EPTMMU_DIRTY_LOG_NO_CLEAR;
	log.num_pages = 0;
	KUNIT_ASSERT_EQ(test, eptmmu_get_dirty_log(env->vm, &log), 0);
	KUNIT_ASSERT_EQ(test, copy_from_user(words, (void __user *)ubuf,
					     WALK_WORDS * 8), 0UL);
	for (p = 0, wrong = 0; p < WALK_PAGES; p++) {
		bool want = walk_touched(p) &&
			    !(walk_mask(p / 64) & BIT_ULL(p % 64));

		wrong += !!(words[p / 64] & BIT_ULL(p % 64)) != want;
	}
	KUNIT_EXPECT_EQ_MSG(test, wrong, 0ULL, "bitmap after CLEAR");

	/* Each named page faults once on its next write, and only those. */
	faults = env->vcpu->stats.faults;
	for (p = 0, wrong = 0; p < WALK_PAGES; p++) {
		if (!walk_touched(p))
			continue;
		if (walk_mask(p / 64) & BIT_ULL(p % 64))
			wrong++;
		v = ~p;
		KUNIT_ASSERT_EQ(test, guest(env->vcpu,
					    (WALK_BASE_GFN + p) << PAGE_SHIFT,
					    EPTMMU_ACCESS_WRITE, &v),
				EPTMMU_EXIT_DONE);
	}
	KUNIT_EXPECT_EQ(test, env->vcpu->stats.faults - faults, wrong);
}

static void dirty_log_clear_walk_ad(struct kunit *test)
{
	dirty_log_clear_walk(test, true);
}

static void dirty_log_clear_walk_noad(struct kunit *test)
{
	dirty_log_clear_walk(test, false);
}

/*
 * R-DIRTY-INITIALLY-SET: logging turned on with the bitmap all set.  A
 * 2M slot the guest wrote (a huge leaf when the host gives a THP): after
 * the start every leaf is 4K and as writable as before, every page is in
 * the log; a write needs no fault.  CLEAR of the first 64 pages protects
 * exactly those: the next write to one of them faults and is logged.
 */
static void dirty_log_initially_set(struct kunit *test, bool ad, u32 mode)
{
	struct env *env = env_create(test, SZ_2M, SZ_2M, 0, ad);
	unsigned long ubuf = map_aligned(test, PAGE_SIZE, PAGE_SIZE);
	struct eptmmu_dirty_log log = {
		.slot = 0, .flags = EPTMMU_DIRTY_LOG_NO_CLEAR, .bitmap = ubuf,
	};
	u64 base = env->gpa >> PAGE_SHIFT, words[8], faults, p, wrong = 0;
	u32 flags = EPTMMU_MEM_LOG_DIRTY_PAGES | mode;
	int level = 0, w;

	for (p = 0; p < 512; p += 64)
		guest_write(test, env, p * PAGE_SIZE, p);
	/*
	 * Page 70 takes the writes below.  Without THP (the RT kernel) only
	 * the pages written here have leaves: give it one too, so a fault
	 * there can only mean protection.
	 */
	guest_write(test, env, 70 * PAGE_SIZE, 0);
	leaf_of(env->vm, base, &level);
	kunit_info(test, "before logging: a %s leaf\n",
		   level == PG_LEVEL_2M ? "2M" : "4K");
	/* Errnos: INITIALLY_SET needs logging; no switch while logging. */
	KUNIT_EXPECT_EQ(test, set_flags(env, EPTMMU_MEM_DIRTY_LOG_INITIALLY_SET),
			-EINVAL);
	KUNIT_ASSERT_EQ(test, set_flags(env, flags), 0);
	KUNIT_EXPECT_EQ(test, set_flags(env, flags &
					~EPTMMU_MEM_DIRTY_LOG_INITIALLY_SET),
			-EBUSY);
	for (p = 0; p < 512; p += 64) {
		u64 leaf = leaf_of(env->vm, base + p, &level);

		wrong += level != PG_LEVEL_4K || !spte_is_writable(leaf);
	}
	KUNIT_EXPECT_EQ_MSG(test, wrong, 0ULL, "leaves not 4K and writable");
	KUNIT_ASSERT_EQ(test, eptmmu_get_dirty_log(env->vm, &log), 0);
	KUNIT_ASSERT_EQ(test, copy_from_user(words, (void __user *)ubuf,
					     sizeof(words)), 0UL);
	for (w = 0; w < 8; w++)
		KUNIT_EXPECT_EQ(test, words[w], ~0ULL);

	faults = env->vcpu->stats.faults;
	guest_write(test, env, 70 * PAGE_SIZE, 1);
	KUNIT_EXPECT_EQ(test, env->vcpu->stats.faults, faults);

	words[0] = ~0ULL;
	KUNIT_ASSERT_EQ(test, copy_to_user((void __user *)ubuf, words, 8), 0UL);
	log.flags = 0;
	log.num_pages = 64;
	KUNIT_ASSERT_EQ(test, eptmmu_clear_dirty_log(env->vm, &log), 0);
	guest_write(test, env, 70 * PAGE_SIZE, 2);
	if (mode & EPTMMU_MEM_DIRTY_LOG_DBIT) {
		/* D-bit logging: writable throughout; D is the log. */
		guest_write(test, env, 0, 3);
		KUNIT_EXPECT_EQ(test, env->vcpu->stats.faults, faults);
	} else {
		KUNIT_EXPECT_EQ(test, env->vcpu->stats.faults, faults);
		guest_write(test, env, 0, 3);
		KUNIT_EXPECT_EQ(test, env->vcpu->stats.faults, faults + 1);
	}
	log.flags = EPTMMU_DIRTY_LOG_NO_CLEAR;
	log.num_pages = 0;
	KUNIT_ASSERT_EQ(test, eptmmu_get_dirty_log(env->vm, &log), 0);
	KUNIT_ASSERT_EQ(test, copy_from_user(words, (void __user *)ubuf,
					     sizeof(words)), 0UL);
	KUNIT_EXPECT_EQ(test, words[0], 1ULL);
	for (w = 1; w < 8; w++)
		KUNIT_EXPECT_EQ(test, words[w], ~0ULL);
}

static void dirty_log_initially_set_ad(struct kunit *test)
{
	dirty_log_initially_set(test, true, EPTMMU_MEM_DIRTY_LOG_INITIALLY_SET);
}

static void dirty_log_initially_set_noad(struct kunit *test)
{
	dirty_log_initially_set(test, false, EPTMMU_MEM_DIRTY_LOG_INITIALLY_SET);
}

static void dirty_log_initially_set_dbit(struct kunit *test)
{
	dirty_log_initially_set(test, true, EPTMMU_MEM_DIRTY_LOG_INITIALLY_SET |
				EPTMMU_MEM_DIRTY_LOG_DBIT);
}

/* ---- race 1: the dirty bit lost to a plain store ---- */
/* R-MMULOCK-WRITE, R-VOLATILE-MMUW, R-DIRTY-DBIT */

/*
 * D-bit logging.  A harvest (mmu_lock for write) reads a read-only,
 * accessed, MMU-writable leaf and parks.  The vCPU writes: the fast path
 * sets W, the CPU sets D.  The harvest stores its D-clear value.  The
 * xchg shows the D it replaced and the page is logged; a plain store
 * loses the D and the write is never reported.
 * Returns whether the written page was reported.
 */
static bool race_dirty_bit(struct kunit *test, bool broken)
{
	struct env *env = env_create(test, PAGE_SIZE, PAGE_SIZE,
				     EPTMMU_MEM_LOG_DIRTY_PAGES |
				     EPTMMU_MEM_DIRTY_LOG_DBIT, true);
	struct worker w = { .fn = write_while_parked, .vcpu = env->vcpu,
			    .gpa = env->gpa, .value = 0x5eed };
	u64 leaf, reported = 1;

	/* Written by the process (host-writable), then mapped by a read. */
	KUNIT_ASSERT_EQ(test, copy_to_user((void __user *)env->hva, &reported, 8),
			0UL);
	/* Mapped by a read: R only, MMU-writable, A set, D clear. */
	guest_read(test, env, 0);
	leaf = leaf_of(env->vm, env->gpa >> PAGE_SHIFT, NULL);
	KUNIT_ASSERT_FALSE(test, spte_is_writable(leaf));
	KUNIT_ASSERT_TRUE(test, spte_can_fast_set_w(leaf));
	KUNIT_ASSERT_EQ(test, harvest(test, env, 0), 0ULL);

	WRITE_ONCE(eptmmu_inject.spte_plain_store, broken);
	arm_park(test, EPTMMU_PARK_LOCKED_WRITE);
	start_worker(test, &w);
	reported = harvest(test, env, 0);
	finish_worker(test, &w);
	KUNIT_ASSERT_EQ(test, w.result, EPTMMU_EXIT_DONE);
	unpark_all(NULL);
	reported |= harvest(test, env, 0);
	KUNIT_EXPECT_EQ(test, host_value(test, env, 0), 0x5eedULL);
	return reported & 1;
}

static void race1_dirty_bit(struct kunit *test)
{
	KUNIT_EXPECT_TRUE(test, race_dirty_bit(test, false));
}

static void race1_dirty_bit_broken(struct kunit *test)
{
	KUNIT_EXPECT_FALSE(test, race_dirty_bit(test, true));
}

/* ---- race 2: the flush after the fast path's W ---- */
/* R-MMULOCK-WRITE, R-FLUSH-REALOLD */

/*
 * Turning dirty logging on write-protects every MMU-writable leaf under
 * mmu_lock (write).  Between its read (read-only) and its store the fast
 * path makes the page writable and the vCPU caches that.  The real old
 * value from the xchg says W was set: flush.  Deciding from the snapshot
 * skips the flush, and the vCPU keeps writing through its TLB to a page
 * the MMU believes write-protected.
 * Returns the faults the vCPU's next write took (1 right, 0 stale).
 */
static u64 race_flush(struct kunit *test, bool broken)
{
	struct env *env = env_create(test, PAGE_SIZE, PAGE_SIZE,
				     EPTMMU_MEM_LOG_DIRTY_PAGES, true);
	struct worker w = { .fn = write_while_parked, .vcpu = env->vcpu,
			    .gpa = env->gpa, .value = 1 };
	u64 faults;

	write_and_harvest(test, env, 1);
	/* Logging off leaves it read-only and MMU-writable (lazy W). */
	KUNIT_ASSERT_EQ(test, set_flags(env, 0), 0);

	WRITE_ONCE(eptmmu_inject.flush_from_snapshot, broken);
	/*
	 * R-WRPROT-FLUSH would flush for this MMU-writable leaf anyway and
	 * hide the breakage: the broken run leaves the decision to the
	 * locked writer alone.
	 */
	WRITE_ONCE(eptmmu_inject.wrprot_flush_from_spte, broken);
	arm_park(test, EPTMMU_PARK_LOCKED_WRITE);
	start_worker(test, &w);
	KUNIT_ASSERT_EQ(test, set_flags(env, EPTMMU_MEM_LOG_DIRTY_PAGES), 0);
	finish_worker(test, &w);
	KUNIT_ASSERT_EQ(test, w.result, EPTMMU_EXIT_DONE);
	KUNIT_EXPECT_EQ(test, w.vcpu->stats.fast_fixed_wp, 1ULL);
	KUNIT_EXPECT_FALSE(test, spte_is_writable(leaf_of(env->vm,
							  env->gpa >> PAGE_SHIFT,
							  NULL)));
	unpark_all(NULL);
	faults = env->vcpu->stats.faults;
	guest_write(test, env, 0, 2);
	faults = env->vcpu->stats.faults - faults;
	/* Leave no stale translation behind. */
	eptmmu_flush_remote_tlbs(env->vm);
	return faults;
}

static void race2_flush_after_fast_w(struct kunit *test)
{
	KUNIT_EXPECT_EQ(test, race_flush(test, false), 1ULL);
}

static void race2_flush_after_fast_w_broken(struct kunit *test)
{
	KUNIT_EXPECT_EQ(test, race_flush(test, true), 0ULL);
}

/* ---- race 3: the ABA ---- */
/* R-ABA */

/*
 * Slots A and B map the same host page.  The fast path reads A's leaf
 * (pfn X) for a write and parks.  A is zapped; B maps X; A maps X again
 * with a bit-identical leaf.  The cmpxchg succeeds: the dirty mark must go
 * to A, the SPTE's position, not to some gfn found from X.
 * Returns the dirty bits of A (bit 0) and B (bit 1).
 */
static int race_aba(struct kunit *test, bool broken)
{
	/* Without A/D, so the re-created leaf is bit-identical. */
	struct env *env = env_create(test, PAGE_SIZE, PAGE_SIZE,
				     EPTMMU_MEM_LOG_DIRTY_PAGES, false);
	struct eptmmu_memslot alias = {
		.slot = 1, .flags = EPTMMU_MEM_LOG_DIRTY_PAGES,
		.guest_phys_addr = env->gpa + SZ_1M, .memory_size = PAGE_SIZE,
		.userspace_addr = env->hva,
	};
	struct eptmmu_vcpu *other = eptmmu_soft_vcpu_create(env->vm);
	struct worker w = { .fn = do_fast_fault, .vcpu = env->vcpu,
			    .gpa = env->gpa };
	u64 gfn = env->gpa >> PAGE_SHIFT, before, v = 0;
	int bits;

	KUNIT_ASSERT_FALSE(test, IS_ERR(other));
	KUNIT_ASSERT_EQ(test, eptmmu_set_memslot(env->vm, &alias), 0);
	KUNIT_ASSERT_EQ(test, copy_to_user((void __user *)env->hva, &v, 8), 0UL);
	/* This thread owns the mm: the read maps it host- and MMU-writable. */
	guest_read(test, env, 0);
	before = leaf_of(env->vm, gfn, NULL);
	KUNIT_ASSERT_TRUE(test, spte_can_fast_set_w(before));
	KUNIT_ASSERT_FALSE(test, spte_is_writable(before));

	WRITE_ONCE(eptmmu_inject.dirty_gfn_from_pfn, broken);
	arm_park(test, EPTMMU_PARK_FAST_BEFORE_CMPXCHG);
	start_worker(test, &w);
	KUNIT_ASSERT_TRUE(test, wait_parked());
	eptmmu_zap_gfn_range(env->vm, gfn, gfn + 1, true);
	KUNIT_ASSERT_EQ(test, guest(other, alias.guest_phys_addr,
				    EPTMMU_ACCESS_READ, &v), EPTMMU_EXIT_DONE);
	KUNIT_ASSERT_EQ(test, guest(other, env->gpa, EPTMMU_ACCESS_READ, &v),
			EPTMMU_EXIT_DONE);
	KUNIT_ASSERT_EQ(test, leaf_of(env->vm, gfn, NULL), before);
	atomic_set(&sp.release, 1);
	finish_worker(test, &w);
	KUNIT_EXPECT_EQ(test, w.result, EPTMMU_FAST_FIXED);
	unpark_all(NULL);
	/* Broken: A's leaf is writable and B got A's mark. */
	expect_audit(test, env, broken);

	bits = harvest(test, env, 0) & 1;
	bits |= (harvest(test, env, 1) & 1) << 1;
	return bits;
}

static void race3_aba(struct kunit *test)
{
	KUNIT_EXPECT_EQ(test, race_aba(test, false), 1);
}

static void race3_aba_broken(struct kunit *test)
{
	KUNIT_EXPECT_EQ(test, race_aba(test, true), 2);
}

/* ---- race 4: the fast path against a zap ---- */
/* R-FROZEN, R-RCU-PT */

/*
 * The fast path reads a leaf and parks; a zap freezes and clears it.
 * The cmpxchg must fail and the fault go to the slow path; a plain store
 * would bring the zapped leaf back to life.
 * Returns the SPTE after the fast path returned.
 */
static u64 race_zap(struct kunit *test, bool broken, int *result)
{
	struct env *env = env_create(test, PAGE_SIZE, PAGE_SIZE,
				     EPTMMU_MEM_LOG_DIRTY_PAGES, true);
	struct worker w = { .fn = do_fast_fault, .vcpu = env->vcpu,
			    .gpa = env->gpa };
	u64 gfn = env->gpa >> PAGE_SHIFT, after;

	write_and_harvest(test, env, 1);
	WRITE_ONCE(eptmmu_inject.fast_plain_store, broken);
	arm_park(test, EPTMMU_PARK_FAST_BEFORE_CMPXCHG);
	start_worker(test, &w);
	KUNIT_ASSERT_TRUE(test, wait_parked());
	KUNIT_ASSERT_TRUE(test, eptmmu_zap_gfn_range(env->vm, gfn, gfn + 1, true));
	atomic_set(&sp.release, 1);
	finish_worker(test, &w);
	unpark_all(NULL);
	after = leaf_of(env->vm, gfn, NULL);
	*result = w.result;
	eptmmu_zap_gfn_range(env->vm, gfn, gfn + 1, true);
	return after;
}

static void race4_fast_vs_zap(struct kunit *test)
{
	int result;

	KUNIT_EXPECT_EQ(test, race_zap(test, false, &result), 0ULL);
	KUNIT_EXPECT_EQ(test, result, EPTMMU_FAST_FALLBACK);
}

static void race4_fast_vs_zap_broken(struct kunit *test)
{
	int result;

	KUNIT_EXPECT_NE(test, race_zap(test, true, &result), 0ULL);
	KUNIT_EXPECT_EQ(test, result, EPTMMU_FAST_FIXED);
}

/* ---- race 5: the fast path against a harvest ---- */
/* R-DIRTY-MARK-AFTER-W */

/*
 * The fast path, about to make a logged page writable, parks; a harvest
 * runs to completion; then the write goes through.  The page must show up
 * in some harvest.  Marking before the cmpxchg lets the first harvest take
 * the mark and re-protect the page, the cmpxchg then grants W anyway, and
 * the write is in no harvest.
 * Returns whether the write was reported by either harvest.
 */
static bool race_harvest(struct kunit *test, bool broken)
{
	struct env *env = env_create(test, PAGE_SIZE, PAGE_SIZE,
				     EPTMMU_MEM_LOG_DIRTY_PAGES, true);
	struct worker w = { .fn = do_guest_write, .vcpu = env->vcpu,
			    .gpa = env->gpa, .value = 0xfeed };
	u64 reported;

	write_and_harvest(test, env, 1);
	WRITE_ONCE(eptmmu_inject.fast_mark_before_set, broken);
	arm_park(test, EPTMMU_PARK_FAST_BEFORE_CMPXCHG);
	start_worker(test, &w);
	KUNIT_ASSERT_TRUE(test, wait_parked());
	reported = harvest(test, env, 0);
	/* In the broken run that harvest saw the early mark: not the write. */
	atomic_set(&sp.release, 1);
	finish_worker(test, &w);
	KUNIT_ASSERT_EQ(test, w.result, EPTMMU_EXIT_DONE);
	unpark_all(NULL);
	/* Broken: writable, and the harvest took the only mark. */
	expect_audit(test, env, broken);
	KUNIT_EXPECT_EQ(test, host_value(test, env, 0), 0xfeedULL);
	if (broken)
		reported = 0;	/* reported before the write happened */
	return (reported | harvest(test, env, 0)) & 1;
}

static void race5_fast_vs_harvest(struct kunit *test)
{
	KUNIT_EXPECT_TRUE(test, race_harvest(test, false));
}

static void race5_fast_vs_harvest_broken(struct kunit *test)
{
	KUNIT_EXPECT_FALSE(test, race_harvest(test, true));
}

static struct kunit_case fastpf_cases[] = {
	KUNIT_CASE(fast_fixes_write_protect),
	KUNIT_CASE(fast_restores_access_tracked),
	KUNIT_CASE(fast_leaves_mmio_and_readonly),
	KUNIT_CASE(dirty_log_start_splits_stop_recovers),
	KUNIT_CASE(dirty_log_dbit_keeps_writable),
	KUNIT_CASE(dirty_log_dbit_survives_zap),
	KUNIT_CASE(dirty_log_clear_manual),
	KUNIT_CASE(dirty_log_clear_walk_ad),
	KUNIT_CASE(dirty_log_clear_walk_noad),
	KUNIT_CASE(dirty_log_initially_set_ad),
	KUNIT_CASE(dirty_log_initially_set_noad),
	KUNIT_CASE(dirty_log_initially_set_dbit),
	{}
};

static struct kunit_suite fastpf_suite = {
	.name = "eptmmu_fastpf",
	.test_cases = fastpf_cases,
	.suite_init = eptmmu_kunit_suite_init,
	.suite_exit = eptmmu_kunit_suite_exit,
};

static struct kunit_case dirty_race_cases[] = {
	KUNIT_CASE(race1_dirty_bit),
	KUNIT_CASE(race1_dirty_bit_broken),
	KUNIT_CASE(race2_flush_after_fast_w),
	KUNIT_CASE(race2_flush_after_fast_w_broken),
	KUNIT_CASE(race3_aba),
	KUNIT_CASE(race3_aba_broken),
	KUNIT_CASE(race4_fast_vs_zap),
	KUNIT_CASE(race4_fast_vs_zap_broken),
	KUNIT_CASE(race5_fast_vs_harvest),
	KUNIT_CASE(race5_fast_vs_harvest_broken),
	{}
};

static struct kunit_suite dirty_race_suite = {
	.name = "eptmmu_dirty_races",
	.test_cases = dirty_race_cases,
	.suite_init = eptmmu_kunit_suite_init,
	.suite_exit = eptmmu_kunit_suite_exit,
};

kunit_test_suites(&fastpf_suite, &dirty_race_suite);
