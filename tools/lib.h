/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Helpers shared by the eptmmu user-space tools: thin ioctl wrappers, TAP
 * output and a clock.  The x*() wrappers exit on failure; they are for
 * set-up whose failure leaves nothing to test.  The others return 0 or a
 * negative errno so tests can check the error they expect.
 */
#ifndef _EPTMMU_TOOLS_LIB_H
#define _EPTMMU_TOOLS_LIB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "uapi/eptmmu.h"

typedef __u64 u64;
typedef __u32 u32;
typedef __u16 u16;
typedef __u8 u8;

#define ARRAY_SIZE(a)	(sizeof(a) / sizeof((a)[0]))
#define PAGE_SIZE	4096UL
#define SZ_2M		(2UL << 20)
#define SZ_1M		(1UL << 20)

#define __printf(a, b)	__attribute__((format(printf, a, b)))
#define __noreturn	__attribute__((noreturn))

void die(const char *fmt, ...) __printf(1, 2) __noreturn;

int xopen_dev(void);
int xcreate_vm(int devfd);
int xcreate_vcpu(int vmfd);
void xvm_stats(int vmfd, struct eptmmu_vm_stats *st);
void *xmap(size_t size, size_t align);

int set_memslot(int vmfd, u32 slot, u32 flags, u64 gpa,
		u64 size, const void *hva);
int del_memslot(int vmfd, u32 slot);
int run_vcpu(int vcpufd, struct eptmmu_access *acc, u32 count,
	     struct eptmmu_run *run);

static inline struct eptmmu_access access_of(u8 kind, u64 gpa,
					     u8 size, u64 value)
{
	struct eptmmu_access a = {
		.gpa = gpa, .kind = kind, .size = size, .value = value,
	};

	return a;
}

const char *exit_name(u32 reason);
/* A TAP diagnostic saying how EPTMMU_RUN ended (@r: its -errno or 0). */
void diag_run(const char *what, int r, const struct eptmmu_run *run);
/* Run @n accesses that must all complete; diagnose otherwise. */
bool run_all(int vcpu, struct eptmmu_access *a, u32 n, struct eptmmu_run *run,
	     const char *what);

u64 now_ns(void);
/*
 * A table of TAP tests, each printing exactly @ntap results.  Runs the
 * ones named in @names (all when @nnames is 0) after printing the plan
 * and opening /dev/eptmmu into *@devfd; a test that prints fewer lines is
 * padded with "not ok ... not reached", or with SKIPs carrying @skip_why
 * when the test left a reason there.  Returns the exit code (2 for an
 * unknown name).
 */
struct tap_test {
	const char *name;
	void (*fn)(void);
	int ntap;
	const char *what;
};

/* An "ok ... # SKIP why" line. */
void tap_skip(const char *why, const char *fmt, ...) __printf(2, 3);
void tap_list_tests(const struct tap_test *t, size_t n);
int tap_run_tests(const struct tap_test *t, size_t n, char *const *names,
		  int nnames, int *devfd, char *skip_why);

/* An option's value in [min, max], or exit 2 with a message. */
unsigned long parse_num(const char *s, unsigned long min, unsigned long max);

/* Cheap, seedable, thread-local randomness (xorshift64*). */
static inline u64 rand64(u64 *state)
{
	u64 x = *state;

	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	*state = x;
	return x * 0x2545F4914F6CDD1DULL;
}

void tap_plan(int n);
bool tap_ok(bool cond, const char *fmt, ...) __printf(2, 3);
void tap_diag(const char *fmt, ...) __printf(1, 2);
int tap_count(void);
int tap_done(void);

#endif /* _EPTMMU_TOOLS_LIB_H */
