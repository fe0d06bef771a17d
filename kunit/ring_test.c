// SPDX-License-Identifier: GPL-2.0
/*
 * The dirty ring: the order in which a push publishes an entry, and the
 * soft-full gate at the fault entry.  The ordering case parks a vCPU's
 * push between its stores while a consumer on another CPU reads the entry
 * as user space would (flags with acquire, then the payload); the broken
 * variant publishes the flags first and must be caught.
 */
#include <kunit/test.h>
#include <linux/atomic.h>
#include <linux/mutex.h>

#include "test_env.h"

#define RING_ENTRIES	EPTMMU_DIRTY_RING_MIN_ENTRIES
/* What entry 0 holds before the push: a payload no push writes. */
#define JUNK_OFFSET	0xdeadULL
#define PAGE_WRITTEN	5

/* Give the env's one vCPU a ring, as if the VM had been created with one. */
static struct eptmmu_dirty_ring *ring_env(struct kunit *test, struct env *env)
{
	struct eptmmu_vm *vm = env->vm;

	mutex_lock(&vm->vcpus_lock);
	vm->dirty_ring_entries = RING_ENTRIES;
	KUNIT_ASSERT_EQ(test, eptmmu_dirty_ring_alloc(vm, env->vcpu), 0);
	mutex_unlock(&vm->vcpus_lock);
	return &env->vcpu->ring;
}

static struct {
	struct eptmmu_dirty_ring *ring;
	bool saw_flags, payload_ok;
	u64 offset;
} cons;

/*
 * The consumer, while the push is parked: what user space would collect
 * from entry 0 now.  It releases the push either way.
 */
static void consume_while_parked(struct worker *w)
{
	struct eptmmu_dirty_gfn *e = &cons.ring->gfns[0];

	w->result = wait_parked() ? 0 : -ETIMEDOUT;
	/* As dring_collect() in tools/lib.c: acquire, then the payload. */
	cons.saw_flags = smp_load_acquire(&e->flags) & EPTMMU_DIRTY_GFN_F_DIRTY;
	if (cons.saw_flags) {
		cons.offset = READ_ONCE(e->offset);
		cons.payload_ok = READ_ONCE(e->slot) == 0 &&
				  cons.offset == PAGE_WRITTEN;
	}
	atomic_set(&sp.release, 1);
}

/* R-RING-ORDER */
/*
 * A guest write to a page of a logging slot pushes entry 0, parked
 * between its first and its last store.  Return whether everything the
 * consumer could see then was right: no entry yet, or one whose payload
 * is the page written.
 */
static bool ring_publication_ok(struct kunit *test, bool broken)
{
	struct env *env = env_create(test, 64 * PAGE_SIZE, PAGE_SIZE,
				     EPTMMU_MEM_LOG_DIRTY_PAGES, true);
	struct worker w = { .fn = consume_while_parked };
	struct eptmmu_dirty_gfn *e;

	cons.ring = ring_env(test, env);
	cons.saw_flags = false;
	cons.payload_ok = false;
	e = &cons.ring->gfns[0];
	WRITE_ONCE(e->offset, JUNK_OFFSET);
	WRITE_ONCE(eptmmu_inject.ring_no_release, broken);
	arm_park(test, EPTMMU_PARK_RING_PUSH);
	start_worker(test, &w);
	guest_write(test, env, PAGE_WRITTEN * PAGE_SIZE, 1);
	finish_worker(test, &w);
	WRITE_ONCE(eptmmu_inject.ring_no_release, false);
	KUNIT_ASSERT_EQ(test, w.result, 0);
	/* Whatever the consumer saw, the entry is right once the push is. */
	KUNIT_EXPECT_EQ(test, READ_ONCE(e->flags), EPTMMU_DIRTY_GFN_F_DIRTY);
	KUNIT_EXPECT_EQ(test, READ_ONCE(e->offset), (u64)PAGE_WRITTEN);
	KUNIT_EXPECT_EQ(test, READ_ONCE(cons.ring->dirty_index), 1U);
	kunit_info(test, "consumer during the push: %s, offset %#llx\n",
		   cons.saw_flags ? "entry published" : "nothing published",
		   cons.offset);
	return !cons.saw_flags || cons.payload_ok;
}

static void push_publishes_payload_first(struct kunit *test)
{
	KUNIT_EXPECT_TRUE(test, ring_publication_ok(test, false));
}

static void push_publishes_payload_first_broken(struct kunit *test)
{
	KUNIT_EXPECT_FALSE(test, ring_publication_ok(test, true));
}

static struct {
	struct eptmmu_vm *vm;
	struct eptmmu_dirty_ring *ring;
	int collected, freed;
} rst;

/*
 * User space while the push is parked between its last two stores:
 * collect entry 0 if it is published, flag it F_RESET, and reset.
 */
static void collect_and_reset_while_parked(struct worker *w)
{
	struct eptmmu_dirty_gfn *e = &rst.ring->gfns[0];

	w->result = wait_parked() ? 0 : -ETIMEDOUT;
	/* As user space: acquire the flags, release F_RESET (R-RING-ORDER). */
	if (smp_load_acquire(&e->flags) & EPTMMU_DIRTY_GFN_F_DIRTY) {
		rst.collected = 1;
		/* Pairs with the reset's load-acquire of the flags. */
		smp_store_release(&e->flags, EPTMMU_DIRTY_GFN_F_DIRTY |
				  EPTMMU_DIRTY_GFN_F_RESET);
	}
	rst.freed = eptmmu_reset_dirty_rings(rst.vm);
	atomic_set(&sp.release, 1);
}

/* R-RING-ORDER */
/*
 * Whatever user space collected, a reset frees: the push raises
 * dirty_index (below which the reset trusts entries) before it publishes
 * the entry.  Return whether the reset made during the push freed every
 * entry collected then.
 */
static bool ring_reset_frees_collected(struct kunit *test, bool broken)
{
	struct env *env = env_create(test, 64 * PAGE_SIZE, PAGE_SIZE,
				     EPTMMU_MEM_LOG_DIRTY_PAGES, true);
	struct worker w = { .fn = collect_and_reset_while_parked };

	rst.vm = env->vm;
	rst.ring = ring_env(test, env);
	rst.collected = 0;
	rst.freed = -1;
	WRITE_ONCE(eptmmu_inject.ring_index_after_publish, broken);
	arm_park(test, EPTMMU_PARK_RING_INDEX);
	start_worker(test, &w);
	guest_write(test, env, PAGE_WRITTEN * PAGE_SIZE, 1);
	finish_worker(test, &w);
	WRITE_ONCE(eptmmu_inject.ring_index_after_publish, false);
	KUNIT_ASSERT_EQ(test, w.result, 0);
	kunit_info(test, "during the push: %d collected, %d freed\n",
		   rst.collected, rst.freed);
	/* The entry not freed then is freed now, and the page is logged. */
	if (rst.freed < rst.collected)
		KUNIT_EXPECT_EQ(test, eptmmu_reset_dirty_rings(env->vm), 1);
	return rst.freed == rst.collected;
}

static void reset_frees_what_was_collected(struct kunit *test)
{
	KUNIT_EXPECT_TRUE(test, ring_reset_frees_collected(test, false));
}

static void reset_frees_what_was_collected_broken(struct kunit *test)
{
	KUNIT_EXPECT_FALSE(test, ring_reset_frees_collected(test, true));
}

/* R-RING-SOFT-FULL */
/*
 * The gate is at the fault entry too, not only before each access of a
 * run: a write that faults while the ring is soft-full is not handled
 * (nothing is logged, nothing mapped), and is once the ring has room.
 */
static void fault_refused_when_soft_full(struct kunit *test)
{
	struct env *env = env_create(test, 64 * PAGE_SIZE, PAGE_SIZE,
				     EPTMMU_MEM_LOG_DIRTY_PAGES, true);
	struct eptmmu_dirty_ring *ring = ring_env(test, env);
	u32 soft = RING_ENTRIES - EPTMMU_DIRTY_RING_RSVD_ENTRIES;
	u64 v = 7;

	/* As if @soft entries had been pushed and none reset. */
	WRITE_ONCE(ring->dirty_index, soft);
	KUNIT_EXPECT_TRUE(test, eptmmu_dirty_ring_soft_full(env->vcpu));
	KUNIT_EXPECT_EQ(test, guest(env->vcpu, env->gpa, EPTMMU_ACCESS_WRITE, &v),
			EPTMMU_EXIT_RING_FULL);
	KUNIT_EXPECT_EQ(test, leaf_of(env->vm, env->gpa >> PAGE_SHIFT, NULL), 0ULL);
	KUNIT_EXPECT_EQ(test, READ_ONCE(ring->dirty_index), soft);
	/* One entry reset: room again, and the write is logged. */
	smp_store_release(&ring->reset_index, 1);
	KUNIT_EXPECT_FALSE(test, eptmmu_dirty_ring_soft_full(env->vcpu));
	KUNIT_EXPECT_EQ(test, guest(env->vcpu, env->gpa, EPTMMU_ACCESS_WRITE, &v),
			EPTMMU_EXIT_DONE);
	KUNIT_EXPECT_EQ(test, READ_ONCE(ring->dirty_index), soft + 1);
	KUNIT_EXPECT_EQ(test, ring->gfns[soft & (RING_ENTRIES - 1)].offset, 0ULL);
	/* The audit at teardown wants the page in the ring: it is. */
}

static struct kunit_case ring_cases[] = {
	KUNIT_CASE(push_publishes_payload_first),
	KUNIT_CASE(push_publishes_payload_first_broken),
	KUNIT_CASE(reset_frees_what_was_collected),
	KUNIT_CASE(reset_frees_what_was_collected_broken),
	KUNIT_CASE(fault_refused_when_soft_full),
	{}
};

static struct kunit_suite ring_suite = {
	.name = "eptmmu_dirty_ring",
	.test_cases = ring_cases,
	.suite_init = eptmmu_kunit_suite_init,
	.suite_exit = eptmmu_kunit_suite_exit,
};

kunit_test_suites(&ring_suite);
