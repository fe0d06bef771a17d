/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Fixtures shared by the KUnit suites: a VM over real process memory
 * (kunit_vm_mmap() gives the test thread an mm), a soft vCPU, guest
 * accesses, and lookups of what the EPT maps.
 */
#ifndef _EPTMMU_KUNIT_TEST_ENV_H
#define _EPTMMU_KUNIT_TEST_ENV_H

#include <kunit/test.h>
#include <linux/completion.h>

#include <eptmmu/inject.h>

#include <eptmmu/vcpu.h>

#define SLOT_GPA	BIT_ULL(30)

struct env {
	struct eptmmu_vm *vm;
	struct eptmmu_vcpu *vcpu;
	unsigned long hva;
	u64 gpa;
	u64 size;
};

unsigned long map_aligned(struct kunit *test, u64 size, u64 align);
struct env *env_create(struct kunit *test, u64 size, u64 align, u32 flags,
		       bool ad);
int guest(struct eptmmu_vcpu *vcpu, u64 gpa, int kind, u64 *value);
void guest_write(struct kunit *test, struct env *env, u64 off, u64 v);
u64 guest_read(struct kunit *test, struct env *env, u64 off);
u64 leaf_of(struct eptmmu_vm *vm, u64 gfn, int *level);
u64 leaf_pfn(struct eptmmu_vm *vm, u64 gfn);
u64 host_pfn(unsigned long hva);
u64 count_leaves(struct eptmmu_vm *vm, u64 start, u64 end);
int set_flags(struct env *env, u32 flags);
u64 harvest(struct kunit *test, struct env *env, u32 slot);
void expect_audit(struct kunit *test, struct env *env, bool wrong);
void expect_audit_result(struct kunit *test, long bad, bool wrong);

/*
 * Park points in atomic context: the parked thread spins (with a 5 s
 * limit) until released; one-shot per arm_park().
 */
struct spin_park {
	enum eptmmu_park_point point;
	atomic_t armed, parked, release;
};

extern struct spin_park sp;

void arm_park(struct kunit *test, enum eptmmu_park_point point);
bool wait_parked(void);
void unpark_all(void *unused);

/* A second thread, on another CPU than the (pinned) test thread. */
struct worker {
	struct completion done;
	void (*fn)(struct worker *w);
	struct eptmmu_vcpu *vcpu;
	struct eptmmu_vm *vm;
	u64 gpa, value;
	int result;
};

void start_worker(struct kunit *test, struct worker *w);
void finish_worker(struct kunit *test, struct worker *w);

#endif /* _EPTMMU_KUNIT_TEST_ENV_H */
