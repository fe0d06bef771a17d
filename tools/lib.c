// SPDX-License-Identifier: GPL-2.0
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "lib.h"

static int tap_planned = -1;
static int tap_n;
static int tap_failed;

void die(const char *fmt, ...)
{
	int err = errno;
	va_list ap;

	/* In TAP mode the reason must reach the log the harness parses. */
	fflush(stdout);
	if (tap_planned >= 0)
		printf("Bail out! ");
	else
		fprintf(stderr, "%s: ", program_invocation_short_name);
	va_start(ap, fmt);
	vfprintf(tap_planned >= 0 ? stdout : stderr, fmt, ap);
	va_end(ap);
	fprintf(tap_planned >= 0 ? stdout : stderr, ": %s\n", strerror(err));
	exit(tap_planned >= 0 ? 2 : 1);
}

int xopen_dev(void)
{
	int fd = open("/dev/eptmmu", O_RDWR | O_CLOEXEC);

	if (fd < 0)
		die("open /dev/eptmmu (is eptmmu.ko loaded?)");
	return fd;
}

int xcreate_vm(int devfd)
{
	int fd = ioctl(devfd, EPTMMU_CREATE_VM, 0);

	if (fd < 0)
		die("EPTMMU_CREATE_VM");
	return fd;
}

int xcreate_vcpu(int vmfd)
{
	int fd = ioctl(vmfd, EPTMMU_CREATE_VCPU, 0);

	if (fd < 0)
		die("EPTMMU_CREATE_VCPU");
	return fd;
}

void xvm_stats(int vmfd, struct eptmmu_vm_stats *st)
{
	memset(st, 0, sizeof(*st));
	if (ioctl(vmfd, EPTMMU_GET_VM_STATS, st))
		die("EPTMMU_GET_VM_STATS");
}

/*
 * Anonymous read-write memory aligned to @align, so a test can ask for a
 * region a 2 MiB leaf could map (or make sure none can).
 */
void *xmap(size_t size, size_t align)
{
	size_t len = size + (align > PAGE_SIZE ? align : 0);
	uintptr_t p, a;

	p = (uintptr_t)mmap(NULL, len, PROT_READ | PROT_WRITE,
			    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if ((void *)p == MAP_FAILED)
		die("mmap %zu bytes", len);
	if (align <= PAGE_SIZE)
		return (void *)p;
	a = (p + align - 1) & ~(uintptr_t)(align - 1);
	if (a > p)
		munmap((void *)p, a - p);
	if (p + len > a + size)
		munmap((void *)(a + size), p + len - (a + size));
	return (void *)a;
}

int set_memslot(int vmfd, u32 slot, u32 flags, u64 gpa,
		u64 size, const void *hva)
{
	struct eptmmu_memslot ms = {
		.slot = slot,
		.flags = flags,
		.guest_phys_addr = gpa,
		.memory_size = size,
		.userspace_addr = (uintptr_t)hva,
	};

	return ioctl(vmfd, EPTMMU_SET_MEMSLOT, &ms) ? -errno : 0;
}

int del_memslot(int vmfd, u32 slot)
{
	return set_memslot(vmfd, slot, 0, 0, 0, NULL);
}

int run_vcpu(int vcpufd, struct eptmmu_access *acc, u32 count,
	     struct eptmmu_run *run)
{
	memset(run, 0, sizeof(*run));
	run->accesses = (uintptr_t)acc;
	run->count = count;
	return ioctl(vcpufd, EPTMMU_RUN, run) ? -errno : 0;
}

const char *exit_name(u32 reason)
{
	static const char *const names[] = {
		[EPTMMU_EXIT_DONE] = "DONE",
		[EPTMMU_EXIT_MMIO] = "MMIO",
		[EPTMMU_EXIT_FAULT] = "FAULT",
		[EPTMMU_EXIT_INTR] = "INTR",
	};

	return reason < ARRAY_SIZE(names) ? names[reason] : "?";
}

u64 now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (u64)ts.tv_sec * 1000000000ULL + ts.tv_nsec;
}

/* TAP goes through a pipe into the kernel log: line buffering keeps order. */
void tap_plan(int n)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	tap_planned = n;
	printf("TAP version 13\n1..%d\n", n);
}

bool tap_ok(bool cond, const char *fmt, ...)
{
	va_list ap;

	tap_n++;
	if (!cond)
		tap_failed++;
	printf("%sok %d - ", cond ? "" : "not ", tap_n);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
	return cond;
}

void tap_diag(const char *fmt, ...)
{
	va_list ap;

	fputs("# ", stdout);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
}

int tap_count(void)
{
	return tap_n;
}

int tap_done(void)
{
	if (tap_n != tap_planned)
		tap_diag("planned %d tests but ran %d", tap_planned, tap_n);
	tap_diag("%d passed, %d failed", tap_n - tap_failed, tap_failed);
	return tap_failed || tap_n != tap_planned;
}

unsigned long parse_num(const char *s, unsigned long min, unsigned long max)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 0);
	if (errno || *end || !*s || v < min || v > max) {
		fprintf(stderr, "%s: '%s' is not a number in %lu..%lu\n",
			program_invocation_short_name, s, min, max);
		exit(2);
	}
	return v;
}

void tap_skip(const char *why, const char *fmt, ...)
{
	char name[200];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(name, sizeof(name), fmt, ap);
	va_end(ap);
	tap_ok(true, "%s # SKIP %s", name, why);
}

void tap_list_tests(const struct tap_test *t, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		printf("%-18s %2d  %s\n", t[i].name, t[i].ntap, t[i].what);
}

int tap_run_tests(const struct tap_test *t, size_t n, char *const *names,
		  int nnames, int *devfd, char *skip_why)
{
	bool want[64] = { false };
	int plan = 0, k;
	size_t i;

	if (n > ARRAY_SIZE(want))
		die("too many tests");
	for (k = 0; k < nnames; k++) {
		for (i = 0; i < n; i++)
			if (!strcmp(names[k], t[i].name))
				break;
		if (i == n) {
			fprintf(stderr, "%s: no test '%s' (-l lists them)\n",
				program_invocation_short_name, names[k]);
			return 2;
		}
		want[i] = true;
	}
	for (i = 0; i < n; i++) {
		want[i] |= !nnames;
		plan += want[i] ? t[i].ntap : 0;
	}

	tap_plan(plan);
	*devfd = xopen_dev();	/* "Bail out!" and exit 2 without the module */
	for (i = 0; i < n; i++) {
		int start = tap_count(), ran;
		u64 t0;

		if (!want[i])
			continue;
		tap_diag("%s: %s", t[i].name, t[i].what);
		if (skip_why)
			skip_why[0] = 0;
		t0 = now_ns();
		t[i].fn();
		ran = tap_count() - start;
		if (ran > t[i].ntap)
			tap_diag("test %s printed %d results, declared %d: fix its ntap",
				 t[i].name, ran, t[i].ntap);
		for (; ran < t[i].ntap; ran++) {
			if (skip_why && skip_why[0])
				tap_skip(skip_why, "%s: line %d of %d", t[i].name,
					 ran + 1, t[i].ntap);
			else
				tap_ok(false, "%s: not reached (see the diagnostics above)",
				       t[i].name);
		}
		tap_diag("%s: %.1f ms", t[i].name, (now_ns() - t0) / 1e6);
	}
	close(*devfd);
	return tap_done();
}

void diag_run(const char *what, int r, const struct eptmmu_run *run)
{
	if (r)
		tap_diag("%s: EPTMMU_RUN failed: %s (errno %d)", what,
			 strerror(-r), -r);
	else
		tap_diag("%s: EPTMMU_RUN done %u/%u exit %s gpa %#llx errno %u%s%s",
			 what, run->done, run->count,
			 exit_name(run->exit_reason), run->exit_gpa,
			 run->exit_errno, run->exit_errno ? " " : "",
			 run->exit_errno ? strerror(run->exit_errno) : "");
}

bool run_all(int vcpu, struct eptmmu_access *a, u32 n, struct eptmmu_run *run,
	     const char *what)
{
	struct eptmmu_run tmp;
	int r;

	if (!run)
		run = &tmp;
	r = run_vcpu(vcpu, a, n, run);
	if (!r && run->exit_reason == EPTMMU_EXIT_DONE && run->done == n)
		return true;
	diag_run(what, r, run);
	return false;
}
