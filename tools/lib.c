// SPDX-License-Identifier: GPL-2.0
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>
#include <linux/kernel-page-flags.h>

#include "lib.h"
#include "guest/guest.h"

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

int get_spte(int vmfd, u64 gpa, struct eptmmu_spte *s)
{
	memset(s, 0, sizeof(*s));
	s->gpa = gpa;
	if (ioctl(vmfd, EPTMMU_GET_SPTE, s))
		return -errno;
	return s->level;
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

int dirty_log_ioctl(int vmfd, unsigned long cmd, u32 slot, u32 flags,
		    u64 first_page, u64 num_pages, const void *bitmap)
{
	struct eptmmu_dirty_log log = {
		.slot = slot,
		.flags = flags,
		.first_page = first_page,
		.num_pages = num_pages,
		.bitmap = (uintptr_t)bitmap,
	};

	return ioctl(vmfd, cmd, &log) ? -errno : 0;
}

size_t bitmap_count(const u64 *bm, size_t words)
{
	size_t i, n = 0;

	for (i = 0; i < words; i++)
		n += __builtin_popcountll(bm[i]);
	return n;
}

/* The guest programs compute the same values (guest/guest.h). */
u64 pat(u64 tag, u64 idx)
{
	return g_pat(tag, idx);
}

void fill(void *mem, size_t size, u64 tag)
{
	u64 *w = mem;
	size_t i;

	for (i = 0; i < size / 8; i++)
		w[i] = pat(tag, i);
}

/*
 * The vmx vCPU's guest code.  The vCPU enters it at its first byte for
 * every read or write access, in 32-bit protected mode with paging off
 * and flat segments, with EAX = kind << 8 | size, EBX = the gpa and
 * EDX:ECX = the value to write (low, high).  It makes exactly that one
 * access at (%ebx), so the EPT sees the access the batch asked for and
 * nothing else, and stops the guest with VMCALL, the exit the vCPU takes
 * as "done", a read's value in EDX (zero-extended) and, for 8 bytes, the
 * high half in ECX.  An 8-byte access is two 4-byte ones, low half first:
 * a 32-bit guest has no 8-byte general-purpose move.  ECX is cleared for
 * the smaller reads so the high half never carries the caller's value
 * back.  An EAX it does not know executes UD2: an exception exit reports
 * the bad call instead of making some other access.  HLT after VMCALL is
 * never reached; if the vCPU ever resumed the guest there, it would exit
 * again instead of running into whatever follows in the page.
 *
 * It uses no stack, data or descriptor table, none of which the vCPU
 * sets up.  The bytes live in .rodata and never run in this process;
 * setup_guest_code() copies them into a guest page.
 */
asm(
"	.pushsection .rodata.eptmmu_guest_code, \"a\"\n"
"	.globl	eptmmu_guest_code_start\n"
"	.globl	eptmmu_guest_code_end\n"
"	.type	eptmmu_guest_code_start, @object\n"
"	.code32\n"
"eptmmu_guest_code_start:\n"
"	cmpl	$0x008, %eax\n"		/* read 8 */
"	je	.Lgc_read8\n"
"	cmpl	$0x108, %eax\n"		/* write 8 */
"	je	.Lgc_write8\n"
"	cmpl	$0x101, %eax\n"
"	je	.Lgc_write1\n"
"	cmpl	$0x102, %eax\n"
"	je	.Lgc_write2\n"
"	cmpl	$0x104, %eax\n"
"	je	.Lgc_write4\n"
"	xorl	%ecx, %ecx\n"		/* reads under 8 bytes from here */
"	cmpl	$0x001, %eax\n"
"	je	.Lgc_read1\n"
"	cmpl	$0x002, %eax\n"
"	je	.Lgc_read2\n"
"	cmpl	$0x004, %eax\n"
"	je	.Lgc_read4\n"
"	ud2\n"
".Lgc_read1:\n"
"	movzbl	(%ebx), %edx\n"
"	jmp	.Lgc_done\n"
".Lgc_read2:\n"
"	movzwl	(%ebx), %edx\n"
"	jmp	.Lgc_done\n"
".Lgc_read4:\n"
"	movl	(%ebx), %edx\n"
"	jmp	.Lgc_done\n"
".Lgc_read8:\n"
"	movl	(%ebx), %edx\n"
"	movl	4(%ebx), %ecx\n"
"	jmp	.Lgc_done\n"
".Lgc_write1:\n"
"	movb	%dl, (%ebx)\n"
"	jmp	.Lgc_done\n"
".Lgc_write2:\n"
"	movw	%dx, (%ebx)\n"
"	jmp	.Lgc_done\n"
".Lgc_write4:\n"
"	movl	%edx, (%ebx)\n"
"	jmp	.Lgc_done\n"
".Lgc_write8:\n"
"	movl	%edx, (%ebx)\n"
"	movl	%ecx, 4(%ebx)\n"
".Lgc_done:\n"
"	vmcall\n"
"	hlt\n"
"eptmmu_guest_code_end:\n"
"	.size	eptmmu_guest_code_start, eptmmu_guest_code_end - eptmmu_guest_code_start\n"
"	.code64\n"
"	.popsection\n"
);

static void *guest_code_page;

/*
 * One page for every VM of the process: the slots are read-only and the
 * process maps it read-only too, so nothing can change the code under a
 * guest, and no page is left behind per VM (a slot's memory must outlive
 * the VM, which the caller may close at any time).
 */
static void guest_code_init(void)
{
	size_t len = eptmmu_guest_code_end - eptmmu_guest_code_start;
	void *p = xmap(PAGE_SIZE, PAGE_SIZE);

	/* A page of zeros after the code: never reached, and harmless. */
	if (len > PAGE_SIZE)
		die("guest code of %zu bytes does not fit in a page", len);
	memcpy(p, eptmmu_guest_code_start, len);
	if (mprotect(p, PAGE_SIZE, PROT_READ))
		die("mprotect guest code");
	guest_code_page = p;
}

int setup_guest_code(int vmfd, u32 slot, u64 gpa)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;
	struct eptmmu_guest_code gc = { .gpa = gpa };
	int r;

	pthread_once(&once, guest_code_init);
	r = set_memslot(vmfd, slot, EPTMMU_MEM_READONLY, gpa, PAGE_SIZE,
			guest_code_page);
	if (r)
		return r;
	if (ioctl(vmfd, EPTMMU_SET_GUEST_CODE, &gc)) {
		r = -errno;
		del_memslot(vmfd, slot);
	}
	return r;
}

int pfns_of(const void *addr, size_t npages, u64 *pfn)
{
	static int fd = -1;
	size_t i, len = npages * 8;
	off_t off = (uintptr_t)addr / PAGE_SIZE * 8;

	if (fd < 0)
		fd = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (pread(fd, pfn, len, off) != (ssize_t)len)
		return -EIO;
	for (i = 0; i < npages; i++)
		pfn[i] = pfn[i] & PM_PRESENT ? pfn[i] & PM_PFN_MASK : 0;
	return 0;
}

int pfns_present(const void *addr, size_t npages, u64 *pfn)
{
	int r = pfns_of(addr, npages, pfn);
	size_t i;

	for (i = 0; !r && i < npages; i++)
		if (!pfn[i])
			r = -ENOENT;
	return r;
}

/* Whether the host maps @addr with a THP (1 or 0); -errno if unknown. */
int host_thp(const void *addr)
{
	static int fd = -1;
	u64 pfn, flags;

	if (pfns_of(addr, 1, &pfn) || !pfn)
		return -ENOENT;
	if (fd < 0)
		fd = open("/proc/kpageflags", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (pread(fd, &flags, 8, pfn * 8) != 8)
		return -EIO;
	return !!(flags & (1ULL << KPF_THP));
}

/* One pwrite per bitmap word. */
int idle_mark(int fd, const u64 *pfn, size_t n)
{
	size_t i, j;

	for (i = 0; i < n; i++) {
		u64 word = pfn[i] / 64, bits = 0;

		for (j = 0; j < i && pfn[j] / 64 != word; j++)
			;
		if (j < i)
			continue;	/* written with an earlier page */
		for (j = i; j < n; j++)
			if (pfn[j] / 64 == word)
				bits |= 1ULL << (pfn[j] % 64);
		if (pwrite(fd, &bits, 8, word * 8) != 8)
			return -errno;
	}
	return 0;
}

/*
 * Each word is read once: a read ages the pages it reports (clearing idle
 * on young ones), so a second read of the same word would count aging
 * passes the checks do not expect.
 */
int idle_read(int fd, const u64 *pfn, size_t n, bool *idle)
{
	size_t i, j;
	u64 bits;

	for (i = 0; i < n; i++) {
		u64 word = pfn[i] / 64;

		for (j = 0; j < i && pfn[j] / 64 != word; j++)
			;
		if (j < i)
			continue;
		if (pread(fd, &bits, 8, word * 8) != 8)
			return -errno;
		for (j = i; j < n; j++)
			if (pfn[j] / 64 == word)
				idle[j] = bits >> (pfn[j] % 64) & 1;
	}
	return 0;
}

const char *exit_name(u32 reason)
{
	static const char *const names[] = {
		[EPTMMU_EXIT_DONE] = "DONE",
		[EPTMMU_EXIT_MMIO] = "MMIO",
		[EPTMMU_EXIT_FAULT] = "FAULT",
		[EPTMMU_EXIT_INTR] = "INTR",
		[EPTMMU_EXIT_GUEST] = "GUEST",
		[EPTMMU_EXIT_RING_FULL] = "RING_FULL",
		[EPTMMU_EXIT_UCALL] = "UCALL",
	};

	return reason < ARRAY_SIZE(names) && names[reason] ? names[reason] : "?";
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

/* ---- the MMU auditor ---- */

#define AUDIT_DIR	"/sys/kernel/debug/eptmmu"

static struct {
	int vms, bad, err;
	u64 ns;
} step_audit;

int audit_vm(int vmfd)
{
	char path[96], line[512];
	int bad = -EPROTO;
	FILE *f;

	snprintf(path, sizeof(path), AUDIT_DIR "/%d-%d/audit", getpid(), vmfd);
	f = fopen(path, "re");
	if (!f)
		return -errno;
	while (fgets(line, sizeof(line), f)) {
		char *tail = strstr(line, " bad ");

		line[strcspn(line, "\n")] = 0;
		/* The last line sums up: "tables ... bad N". */
		if (!strncmp(line, "tables ", 7) && tail)
			bad = atoi(tail + 5);
		if (bad)
			tap_diag("audit %d: %s", vmfd, line);
	}
	if (ferror(f))
		bad = -EIO;
	fclose(f);
	return bad;
}

int close_vm(int vmfd)
{
	u64 t0 = now_ns();
	int r = audit_vm(vmfd);

	step_audit.ns += now_ns() - t0;
	if (r < 0 && !step_audit.err)
		step_audit.err = r;
	else if (r >= 0)
		step_audit.vms++;
	if (r > 0)
		step_audit.bad += r;
	return close(vmfd);
}

void audit_step_report(const char *step)
{
	if (step_audit.err == -ENOENT && !step_audit.vms &&
	    access(AUDIT_DIR, F_OK))
		tap_skip("no " AUDIT_DIR " (debugfs not mounted?)",
			 "%s: MMU audit", step);
	else if (!step_audit.vms && !step_audit.err)
		tap_skip("no VM closed through close_vm()", "%s: MMU audit",
			 step);
	else if (step_audit.err)
		tap_ok(false, "%s: MMU audit: %s (after %d VMs)", step,
		       strerror(-step_audit.err), step_audit.vms);
	else
		tap_ok(!step_audit.bad, "%s: MMU audit of %d VMs: %d violations (%.2f ms)",
		       step, step_audit.vms, step_audit.bad,
		       step_audit.ns / 1e6);
	memset(&step_audit, 0, sizeof(step_audit));
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
		/* And one line for the audit of the test's VMs. */
		plan += want[i] ? t[i].ntap + 1 : 0;
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
		audit_step_report(t[i].name);
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
	else if (run->exit_reason == EPTMMU_EXIT_GUEST &&
		 run->exit_errno == EPTMMU_GUEST_NO_CODE)
		tap_diag("%s: EPTMMU_RUN done %u/%u exit GUEST: no guest code set",
			 what, run->done, run->count);
	else if (run->exit_reason == EPTMMU_EXIT_GUEST)
		/* Not an errno: a VMX exit reason, at the guest's rip. */
		tap_diag("%s: EPTMMU_RUN done %u/%u exit GUEST at rip %#llx: VMX exit reason %u%s",
			 what, run->done, run->count, run->exit_gpa,
			 run->exit_errno & 0xffff,
			 run->exit_errno & (1u << 31) ? " (VM entry failed)" : "");
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

bool g_read(int vcpu, u64 gpa, u8 size, u64 *val)
{
	struct eptmmu_access a = access_of(EPTMMU_ACCESS_READ, gpa, size, 0);
	char what[64];

	snprintf(what, sizeof(what), "read%u %#llx", size, gpa);
	if (!run_all(vcpu, &a, 1, NULL, what))
		return false;
	*val = a.value;
	return true;
}

bool g_write(int vcpu, u64 gpa, u8 size, u64 val)
{
	struct eptmmu_access a = access_of(EPTMMU_ACCESS_WRITE, gpa, size, val);
	char what[64];

	snprintf(what, sizeof(what), "write%u %#llx", size, gpa);
	return run_all(vcpu, &a, 1, NULL, what);
}

/* ---- small files (sysfs, procfs) ---- */

int write_file(const char *path, const char *s)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC), r = 0;

	if (fd < 0)
		return -errno;
	if (write(fd, s, strlen(s)) < 0)
		r = -errno;
	close(fd);
	return r;
}

int read_file(const char *path, char *buf, size_t size)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return -errno;
	n = read(fd, buf, size - 1);
	close(fd);
	if (n < 0)
		return -errno;
	buf[n] = 0;
	while (n > 0 && buf[n - 1] == '\n')
		buf[--n] = 0;
	return 0;
}

/* ---- the dirty ring ---- */

int enable_dirty_ring(int vmfd, u32 entries)
{
	struct eptmmu_dirty_ring_config cfg = { .entries = entries };

	return ioctl(vmfd, EPTMMU_ENABLE_DIRTY_RING, &cfg) ? -errno : 0;
}

int dring_map(struct dring *r, int vcpufd, u32 entries)
{
	void *p = mmap(NULL, (size_t)entries * sizeof(*r->gfns),
		       PROT_READ | PROT_WRITE, MAP_SHARED, vcpufd, 0);

	if (p == MAP_FAILED)
		return -errno;
	r->gfns = p;
	r->entries = entries;
	r->next = 0;
	return 0;
}

void dring_unmap(struct dring *r)
{
	if (r->gfns)
		munmap(r->gfns, (size_t)r->entries * sizeof(*r->gfns));
	r->gfns = NULL;
}

/*
 * The flags word is the entry's lock: acquire before reading slot and
 * offset (the kernel stores flags last, with release), release when
 * handing the entry back with F_RESET (the kernel's reset reads flags
 * with acquire before it reads slot and offset).  An entry still flagged
 * F_RESET is one collected in an earlier lap, not yet reset.
 */
u64 dring_collect(struct dring *r, void (*fn)(u32 slot, u64 offset, void *arg),
		  void *arg)
{
	u64 n = 0;

	for (;; n++) {
		struct eptmmu_dirty_gfn *e = &r->gfns[r->next & (r->entries - 1)];
		u32 f = __atomic_load_n(&e->flags, __ATOMIC_ACQUIRE);

		if (!(f & EPTMMU_DIRTY_GFN_F_DIRTY) ||
		    (f & EPTMMU_DIRTY_GFN_F_RESET))
			return n;
		fn(e->slot, e->offset, arg);
		__atomic_store_n(&e->flags, f | EPTMMU_DIRTY_GFN_F_RESET,
				 __ATOMIC_RELEASE);
		r->next++;
	}
}

int reset_dirty_rings(int vmfd)
{
	int r = ioctl(vmfd, EPTMMU_RESET_DIRTY_RINGS, 0);

	return r < 0 ? -errno : r;
}

int vm_stat(int vmfd, const char *name, u64 *val)
{
	char path[128], buf[32];
	int r;

	snprintf(path, sizeof(path), AUDIT_DIR "/%d-%d/%s", getpid(), vmfd,
		 name);
	r = read_file(path, buf, sizeof(buf));
	if (r)
		return r;
	*val = strtoull(buf, NULL, 10);
	return 0;
}
