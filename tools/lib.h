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

/* Linux 6.1's madvise(2) value; older libc headers lack it. */
#ifndef MADV_COLLAPSE
#define MADV_COLLAPSE	25
#endif

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

/*
 * Bits of an EPT entry (Intel SDM vol. 3, "EPT Paging-Structure
 * Entries"), as EPTMMU_GET_SPTE reports them.
 */
#define EPT_R		(1ULL << 0)
#define EPT_W		(1ULL << 1)
#define EPT_X		(1ULL << 2)
#define EPT_MT(s)	(((s) >> 3) & 7)
#define EPT_MT_WB	6
#define EPT_A		(1ULL << 8)
#define EPT_D		(1ULL << 9)
#define EPT_PFN(s)	(((s) >> 12) & ((1ULL << 40) - 1))

/* EPTMMU_GET_SPTE for @gpa: the leaf's level (0: none), or -errno. */
int get_spte(int vmfd, u64 gpa, struct eptmmu_spte *s);
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

/* A distinct, non-zero value for every (tag, index): splitmix64. */
u64 pat(u64 tag, u64 idx);
/* Bits set in @words 64-bit words of a dirty bitmap. */
size_t bitmap_count(const u64 *bm, size_t words);
/* Word i of @mem (@size bytes) becomes pat(@tag, i). */
void fill(void *mem, size_t size, u64 tag);

/*
 * The vmx vCPU's guest code (struct eptmmu_guest_code has its register
 * contract), between these two labels; lib.c explains it.  Only bytes to
 * copy into guest memory: it is 32-bit code and never runs here.
 */
extern const unsigned char eptmmu_guest_code_start[], eptmmu_guest_code_end[];

/*
 * Where the tools put the guest code unless a test needs it elsewhere:
 * the last page a vmx guest can reach, far from any test's data, in the
 * last slot, out of the way of tests that number their slots from 0.
 */
#define GUEST_CODE_GPA	0xfffff000ULL
#define GUEST_CODE_SLOT	(EPTMMU_MAX_MEMSLOTS - 1)

/*
 * Put the guest code in a read-only memslot @slot at @gpa and make it
 * the VM's guest code (EPTMMU_SET_GUEST_CODE).  Needed for any access on
 * a vmx vCPU, accepted and ignored by the soft one, so every VM can call
 * it.  All VMs of the process share one read-only page of code.
 * Returns 0 or -errno (of EPTMMU_SET_MEMSLOT, then of
 * EPTMMU_SET_GUEST_CODE, which leaves no slot behind).
 */
int setup_guest_code(int vmfd, u32 slot, u64 gpa);

/* EPTMMU_GET_DIRTY_LOG or EPTMMU_CLEAR_DIRTY_LOG; 0 or -errno. */
int dirty_log_ioctl(int vmfd, unsigned long cmd, u32 slot, u32 flags,
		    u64 first_page, u64 num_pages, const void *bitmap);

/* /proc/self/pagemap: admin-guide/mm/pagemap.rst */
#define PM_PRESENT	(1ULL << 63)
#define PM_PFN_MASK	((1ULL << 55) - 1)
/* Idle page tracking: admin-guide/mm/idle_page_tracking.rst */
#define PAGE_IDLE	"/sys/kernel/mm/page_idle/bitmap"

/*
 * PFN of each of @npages pages from @addr, 0 for a page not present.
 * pagemap walks the page tables without touching a PTE's accessed bit,
 * which idle tests rely on.  PFNs read as 0 without CAP_SYS_ADMIN.
 */
int pfns_of(const void *addr, size_t npages, u64 *pfn);
/* pfns_of(), but -ENOENT unless every page is present. */
int pfns_present(const void *addr, size_t npages, u64 *pfn);
/* Whether the host maps @addr with a THP (1 or 0); -errno if unknown. */
int host_thp(const void *addr);
/* Set the idle flag of the @n pages in @pfn through @fd (PAGE_IDLE). */
int idle_mark(int fd, const u64 *pfn, size_t n);
/* Read their idle flags into @idle; this ages them (see lib.c). */
int idle_read(int fd, const u64 *pfn, size_t n, bool *idle);

/* One guest access of @size bytes that must complete; diagnosed if not. */
bool g_read(int vcpu, u64 gpa, u8 size, u64 *val);
bool g_write(int vcpu, u64 gpa, u8 size, u64 val);

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

/*
 * The kernel's MMU auditor, through /sys/kernel/debug/eptmmu/<pid>-<vmfd>/
 * audit: audit_vm() runs it over one VM of this process and returns the
 * number of violations (each printed as a diagnostic) or -errno.
 * close_vm() audits, then closes, and counts the result for the step;
 * audit_step_report() prints the step's one TAP line for it (a SKIP when
 * the step audited no VM or debugfs is not there).  tap_run_tests() adds
 * that line to every test, and to its plan.
 */
int audit_vm(int vmfd);
int close_vm(int vmfd);
void audit_step_report(const char *step);

/* Write @s to @path (a sysfs or procfs file): 0 or -errno. */
int write_file(const char *path, const char *s);
/*
 * Read at most @size - 1 bytes of @path into @buf, NUL-terminated, without
 * its trailing newlines: 0 or -errno.
 */
int read_file(const char *path, char *buf, size_t size);

/*
 * A vCPU's dirty ring as user space maps it; @next is the first entry not
 * collected yet.
 */
struct dring {
	struct eptmmu_dirty_gfn *gfns;
	u32 entries;
	u32 next;
};

/* EPTMMU_ENABLE_DIRTY_RING: 0 or -errno. */
int enable_dirty_ring(int vmfd, u32 entries);
/* Map the ring of @vcpufd: 0 or -errno. */
int dring_map(struct dring *r, int vcpufd, u32 entries);
void dring_unmap(struct dring *r);
/* Hand each new entry to @fn, flag it F_RESET; return how many. */
u64 dring_collect(struct dring *r, void (*fn)(u32 slot, u64 offset, void *arg),
		  void *arg);
/* EPTMMU_RESET_DIRTY_RINGS: entries reset, or -errno. */
int reset_dirty_rings(int vmfd);
/* The VM's debugfs counter @name (abi.rst, "statistics"): 0 or -errno. */
int vm_stat(int vmfd, const char *name, u64 *val);

void tap_plan(int n);
bool tap_ok(bool cond, const char *fmt, ...) __printf(2, 3);
void tap_diag(const char *fmt, ...) __printf(1, 2);
int tap_count(void);
int tap_done(void);

#endif /* _EPTMMU_TOOLS_LIB_H */
