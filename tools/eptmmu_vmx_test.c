// SPDX-License-Identifier: GPL-2.0
/*
 * eptmmu_vmx_test - the ABI seen through whichever vCPU backend the module
 * runs.  On the vmx backend every access is a real guest instruction (the
 * guest code of tools/lib.c), so the checks here are made by the CPU's
 * own walks of our EPT: guest writes land in process memory, hardware D
 * bits feed dirty logging, hardware A bits (or access tracking and the
 * fast path without them) feed aging, an munmap makes the guest fault
 * again.  On the soft backend the same program checks the software
 * walker, so a difference between the two shows up as a failure on one.
 *
 * Every VM gets the guest code first (setup_guest_code()), as any user of
 * a vmx vCPU must; the soft vCPU accepts and ignores it.  All data lies
 * below 4 GiB, where the vmx vCPU's 32-bit guest reaches.  Sizes are
 * small: the vmx runs are in Bochs, at some 100 MIPS.
 *
 *   eptmmu_vmx_test [--backend soft|vmx] [--ad 0|1] [--pml 0|1] [-s seed]
 *                   [-v] [-l] [test...]
 *
 * --backend and --ad say what stats.backend and stats.ept_ad must be,
 * --pml whether the module logs by PML (its ept_pml parameter reads "on");
 * without them either is accepted and a diagnostic says which it is.
 * With PML the write-protection dirty-log cases log by PML instead and
 * check what PML promises (no fault, D bits), under the name dirty_pml.
 * Output is TAP; exit 0 iff no test failed.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <asm/ldt.h>
#include <sys/auxv.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "g64.h"
#include "lib.h"

/* Test data: below 4 GiB, and far from the guest code at its top. */
#define GPA_DATA	0x10000000ULL
/* A second slot: no leaf and no TLB entry is shared with the first. */
#define GPA_FAR		0x40000000ULL
/* In no memslot unless a test puts one there. */
#define GPA_HOLE	0x80000000ULL
/* Deliberately bad guest code (guest_error), in its own slot. */
#define GPA_BAD_CODE	0x20000000ULL
#define BAD_CODE_SLOT	(GUEST_CODE_SLOT - 1)
#define WORDS		(PAGE_SIZE / 8)

/* VMX basic exit reasons, for EPTMMU_EXIT_GUEST's exit_errno (SDM C). */
#define VMX_EXIT_EXCEPTION_NMI	0
#define VMX_EXIT_HLT		12
#define VMX_EXIT_EPT_VIOLATION	48

static struct {
	int backend;		/* EPTMMU_BACKEND_*, or -1: either */
	int ad;			/* expected stats.ept_ad, or -1: not checked */
	int pml;		/* expected ept_pml (1: on), or -1: not checked */
	u64 seed;
	bool verbose;
} opt = {
	.backend = -1,
	.ad = -1,
	.pml = -1,
	.seed = 1,
};

static int devfd;

#define vdiag(...)	do { if (opt.verbose) tap_diag(__VA_ARGS__); } while (0)

/*
 * Why the running test stopped early on purpose (a backend or kernel
 * feature it needs is absent): the runner reports its remaining lines as
 * SKIP with this reason instead of "not reached".
 */
static char skip_why[200];

static void __printf(1, 2) skip_rest(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(skip_why, sizeof(skip_why), fmt, ap);
	va_end(ap);
}

/* ---- small helpers ---- */

static u64 mask_of(u8 size)
{
	return size == 8 ? ~0ULL : (1ULL << (size * 8)) - 1;
}

/* The @size bytes at @p as the little-endian value an access sees. */
static u64 load_le(const u8 *p, u8 size)
{
	u64 v = 0;

	memcpy(&v, p, size);
	return v;
}

static void store_le(u8 *p, u8 size, u64 v)
{
	memcpy(p, &v, size);
}

/* Per-test random state: the same -s gives the same run. */
static u64 seed_for(u64 tag)
{
	return pat(opt.seed, tag);
}

static const char *backend_name(u64 b)
{
	return b == EPTMMU_BACKEND_SOFT ? "soft" :
	       b == EPTMMU_BACKEND_VMX ? "vmx" : "unknown";
}

static int set_code(int fd, u64 gpa, u64 flags)
{
	struct eptmmu_guest_code gc = { .gpa = gpa, .flags = flags };

	return ioctl(fd, EPTMMU_SET_GUEST_CODE, &gc) ? -errno : 0;
}

/* A VM with the guest code in place, as every VM of this test has. */
static int new_vm(void)
{
	int vm = xcreate_vm(devfd);
	int r = setup_guest_code(vm, GUEST_CODE_SLOT, GUEST_CODE_GPA);

	if (r) {
		/* No access can work on a vmx vCPU: nothing left to test. */
		errno = -r;
		die("setup_guest_code (EPTMMU_SET_GUEST_CODE at %#llx)",
		    GUEST_CODE_GPA);
	}
	return vm;
}

/* What the module runs, from a VM's stats; probed once. */
static struct {
	bool probed;
	u64 backend;
	u64 ept_ad;
	bool pml;	/* logging slots without DBIT log by PML */
} hw;

#define EPT_PML_PARAM	"/sys/module/eptmmu/parameters/ept_pml"

static void probe(void)
{
	struct eptmmu_vm_stats st;
	char buf[16];
	int vm;

	if (hw.probed)
		return;
	vm = new_vm();
	xvm_stats(vm, &st);
	close_vm(vm);
	hw.backend = st.backend;
	hw.ept_ad = st.ept_ad;
	/* Reads back what the module chose; a module without it has none. */
	hw.pml = !read_file(EPT_PML_PARAM, buf, sizeof(buf)) &&
		 !strcmp(buf, "on") && st.backend == EPTMMU_BACKEND_VMX;
	hw.probed = true;
}

static bool is_vmx(void)
{
	probe();
	return hw.backend == EPTMMU_BACKEND_VMX;
}

static void diag_vm_stats(const char *what, const struct eptmmu_vm_stats *s)
{
	tap_diag("%s: maps_4k %llu zapped %llu flushes %llu invalidations %llu ept_ad %llu aging_passes %llu aged_young %llu backend %llu",
		 what, s->maps_4k, s->zapped, s->tlb_flushes, s->invalidations,
		 s->ept_ad, s->aging_passes, s->aged_young, s->backend);
}

static void diag_vcpu_delta(const char *what, const struct eptmmu_vcpu_stats *a,
			    const struct eptmmu_vcpu_stats *b)
{
	tap_diag("%s: accesses +%llu faults +%llu fast_wp +%llu fast_acc +%llu fast_fallbacks +%llu slow +%llu slow_retries +%llu mmio +%llu tlb_flushes +%llu",
		 what, b->accesses - a->accesses, b->faults - a->faults,
		 b->fast_fixed_wp - a->fast_fixed_wp,
		 b->fast_fixed_acc - a->fast_fixed_acc,
		 b->fast_fallbacks - a->fast_fallbacks,
		 b->slow_faults - a->slow_faults,
		 b->slow_retries - a->slow_retries,
		 b->mmio_exits - a->mmio_exits,
		 b->tlb_flushes - a->tlb_flushes);
}

/* ---- a VM with one data slot and one vCPU ---- */

struct fix {
	int vm;
	int vcpu;
	u8 *mem;
	size_t npages;
};

static void fix_fini(struct fix *f)
{
	close(f->vcpu);
	close_vm(f->vm);
	munmap(f->mem, f->npages * PAGE_SIZE);
}

/*
 * Slot 0 at GPA_DATA over @npages pages the process has written (tag
 * @tag): every page present and anonymous, every byte known.  4 KiB
 * leaves only, so counts of faults and leaves are per page.
 */
static bool fix_init(struct fix *f, size_t npages, u32 flags, u64 tag)
{
	size_t size = npages * PAGE_SIZE;
	int r;

	f->vm = new_vm();
	f->vcpu = xcreate_vcpu(f->vm);
	f->npages = npages;
	f->mem = xmap(size, PAGE_SIZE);
	if (madvise(f->mem, size, MADV_NOHUGEPAGE))
		vdiag("MADV_NOHUGEPAGE: %s", strerror(errno));
	fill(f->mem, size, tag);
	r = set_memslot(f->vm, 0, flags, GPA_DATA, size, f->mem);
	if (!r)
		return true;
	tap_diag("EPTMMU_SET_MEMSLOT slot 0, %zu pages, flags %#x: %s",
		 npages, flags, strerror(-r));
	fix_fini(f);
	return false;
}

static u64 *word_ptr(struct fix *f, size_t page, size_t word)
{
	return (u64 *)(f->mem + page * PAGE_SIZE) + word;
}

static u64 word_gpa(size_t page, size_t word)
{
	return GPA_DATA + page * PAGE_SIZE + word * 8;
}

/* ---- 1: backend ---- */

static void t_backend(void)
{
	struct eptmmu_access a[4];
	struct eptmmu_run run;
	struct fix f;
	int v;
	bool ok;

	v = ioctl(devfd, EPTMMU_GET_API_VERSION, 0);
	tap_ok(v == EPTMMU_API_VERSION, "backend: API version is %d (got %d)",
	       EPTMMU_API_VERSION, v);

	probe();
	tap_diag("backend: the VM's vCPUs are %s (stats.backend %llu), SPTEs use %s (stats.ept_ad %llu)",
		 backend_name(hw.backend), hw.backend,
		 hw.ept_ad ? "EPT A/D bits" : "access tracking", hw.ept_ad);
	if (opt.backend < 0)
		tap_ok(hw.backend == EPTMMU_BACKEND_SOFT ||
		       hw.backend == EPTMMU_BACKEND_VMX,
		       "backend: stats.backend is a known backend (%s; no --backend, either accepted)",
		       backend_name(hw.backend));
	else
		tap_ok(hw.backend == (u64)opt.backend,
		       "backend: stats.backend is %s as --backend says (got %llu)",
		       backend_name(opt.backend), hw.backend);
	if (opt.ad < 0)
		tap_ok(hw.ept_ad <= 1,
		       "backend: stats.ept_ad is 0 or 1 (%llu; no --ad, not compared)",
		       hw.ept_ad);
	else
		tap_ok(hw.ept_ad == (u64)opt.ad,
		       "backend: stats.ept_ad is %d as --ad says (got %llu)",
		       opt.ad, hw.ept_ad);
	if (opt.pml < 0)
		tap_ok(true, "backend: dirty logging by PML is %s (no --pml, not compared)",
		       hw.pml ? "on" : "off");
	else
		tap_ok(hw.pml == opt.pml,
		       "backend: dirty logging by PML is %s as --pml says (ept_pml reads %s)",
		       opt.pml ? "on" : "off", hw.pml ? "on" : "off");

	/*
	 * The counters tell the backends apart too: the CPU walks and
	 * caches without telling, so a vmx vCPU counts no walk and no TLB
	 * hit, while the soft walker counts each.
	 */
	if (!fix_init(&f, 4, 0, 1))
		return;
	a[0] = access_of(EPTMMU_ACCESS_WRITE, word_gpa(1, 3), 8, pat(2, 0));
	a[1] = access_of(EPTMMU_ACCESS_READ, word_gpa(1, 3), 8, 0);
	a[2] = access_of(EPTMMU_ACCESS_READ, word_gpa(1, 4), 8, 0);
	a[3] = access_of(EPTMMU_ACCESS_READ, word_gpa(2, 0), 8, 0);
	ok = run_all(f.vcpu, a, 4, &run, "four accesses");
	if (ok && is_vmx())
		ok = run.stats.walks == 0 && run.stats.tlb_hits == 0;
	else if (ok)
		ok = run.stats.walks > 0 && run.stats.tlb_hits > 0;
	ok = ok && run.stats.accesses == 4 && a[1].value == pat(2, 0);
	if (!ok)
		tap_diag("backend: accesses %llu walks %llu tlb_hits %llu faults %llu; read back %#llx want %#llx",
			 run.stats.accesses, run.stats.walks,
			 run.stats.tlb_hits, run.stats.faults, a[1].value,
			 pat(2, 0));
	tap_ok(ok, "backend: the vCPU's counters fit the %s backend (%s)",
	       backend_name(hw.backend),
	       is_vmx() ? "walks and tlb_hits stay 0" :
			  "the walker counts walks and TLB hits");
	fix_fini(&f);
}

/* ---- 2: EPTMMU_SET_GUEST_CODE errors ---- */

static void t_guest_code_errnos(void)
{
	static const struct {
		u64 gpa, flags;
		const char *what;
	} bad[] = {
		{ GUEST_CODE_GPA + 8, 0, "gpa not 4 KiB aligned" },
		{ 0x1234, 0, "gpa not 4 KiB aligned" },
		{ EPTMMU_VMX_MAX_GPA, 0, "gpa at 4 GiB" },
		{ EPTMMU_VMX_MAX_GPA + PAGE_SIZE, 0, "gpa above 4 GiB" },
		{ ~(u64)(PAGE_SIZE - 1), 0, "gpa at the top of u64" },
		{ GUEST_CODE_GPA, 1, "flags 1" },
		{ GUEST_CODE_GPA, 1ULL << 63, "flags bit 63" },
	};
	struct eptmmu_access a[2];
	struct eptmmu_run run;
	struct fix f;
	size_t i;
	int r, vm, vcpu;
	u8 *mem;
	bool ok = true;
	u64 v = 0;

	if (!fix_init(&f, 4, 0, 3))
		return;
	for (i = 0; i < ARRAY_SIZE(bad); i++) {
		r = set_code(f.vm, bad[i].gpa, bad[i].flags);
		if (r != -EINVAL) {
			tap_diag("SET_GUEST_CODE gpa %#llx flags %#llx (%s): %s, want EINVAL",
				 bad[i].gpa, bad[i].flags, bad[i].what,
				 r ? strerror(-r) : "accepted");
			ok = false;
		}
	}
	r = set_code(devfd, GUEST_CODE_GPA, 0);
	if (r != -ENOTTY) {
		tap_diag("SET_GUEST_CODE on /dev/eptmmu: %s, want ENOTTY",
			 r ? strerror(-r) : "accepted");
		ok = false;
	}
	r = set_code(f.vcpu, GUEST_CODE_GPA, 0);
	if (r != -ENOTTY) {
		tap_diag("SET_GUEST_CODE on a vCPU: %s, want ENOTTY",
			 r ? strerror(-r) : "accepted");
		ok = false;
	}
	/* The refused calls changed nothing: the code is where it was. */
	if (!g_write(f.vcpu, word_gpa(1, 7), 8, pat(4, 0)) ||
	    !g_read(f.vcpu, word_gpa(1, 7), 8, &v) || v != pat(4, 0) ||
	    *word_ptr(&f, 1, 7) != pat(4, 0)) {
		tap_diag("after the refused calls a write and read-back failed (read %#llx, want %#llx)",
			 v, pat(4, 0));
		ok = false;
	}
	r = set_code(f.vm, GUEST_CODE_GPA, 0);
	if (r) {
		tap_diag("SET_GUEST_CODE at %#llx again: %s", GUEST_CODE_GPA,
			 strerror(-r));
		ok = false;
	}
	tap_ok(ok, "guest_code_errnos: SET_GUEST_CODE refuses unaligned gpa, gpa >= 4 GiB and flags with EINVAL (ENOTTY on other fds), changing nothing");

	if (!is_vmx()) {
		tap_skip("the soft vCPU runs no guest code",
			 "guest_code_errnos: a run without guest code exits GUEST with EPTMMU_GUEST_NO_CODE");
	} else {
		vm = xcreate_vm(devfd);
		vcpu = xcreate_vcpu(vm);
		mem = xmap(PAGE_SIZE, PAGE_SIZE);
		fill(mem, PAGE_SIZE, 5);
		r = set_memslot(vm, 0, 0, GPA_DATA, PAGE_SIZE, mem);
		a[0] = access_of(EPTMMU_ACCESS_READ, GPA_DATA + 16, 8, 0);
		ok = !r;
		if (r)
			tap_diag("SET_MEMSLOT: %s", strerror(-r));
		r = ok ? run_vcpu(vcpu, a, 1, &run) : -EINVAL;
		ok = ok && !r && run.exit_reason == EPTMMU_EXIT_GUEST &&
		     run.exit_errno == EPTMMU_GUEST_NO_CODE && run.done == 0;
		if (!ok)
			diag_run("read without guest code", r, &run);
		r = setup_guest_code(vm, GUEST_CODE_SLOT, GUEST_CODE_GPA);
		if (r)
			tap_diag("setup_guest_code afterwards: %s", strerror(-r));
		ok = ok && !r && g_read(vcpu, GPA_DATA + 16, 8, &v) &&
		     v == pat(5, 2);
		tap_ok(ok, "guest_code_errnos: a run without guest code exits GUEST with EPTMMU_GUEST_NO_CODE, and works once the code is set");
		close(vcpu);
		close_vm(vm);
		munmap(mem, PAGE_SIZE);
	}

	if (!is_vmx()) {
		tap_skip("the soft vCPU reaches EPTMMU_MAX_GPA",
			 "guest_code_errnos: accesses at or above 4 GiB are refused with EINVAL");
	} else {
		static const u64 far[] = {
			EPTMMU_VMX_MAX_GPA, EPTMMU_VMX_MAX_GPA + PAGE_SIZE,
			EPTMMU_MAX_GPA - 8,
		};

		ok = true;
		for (i = 0; i < ARRAY_SIZE(far); i++) {
			/* A good access first: the whole batch is refused. */
			a[0] = access_of(EPTMMU_ACCESS_WRITE, word_gpa(2, 0), 8,
					 pat(6, i));
			a[1] = access_of(EPTMMU_ACCESS_READ, far[i], 8, 0);
			r = run_vcpu(f.vcpu, a, 2, &run);
			if (r != -EINVAL || *word_ptr(&f, 2, 0) == pat(6, i)) {
				tap_diag("batch with a read at %#llx: %s, the good write %s",
					 far[i], r ? strerror(-r) : "accepted",
					 *word_ptr(&f, 2, 0) == pat(6, i) ?
					 "was made" : "was not made");
				ok = false;
			}
		}
		/* The last 8 bytes below 4 GiB are the code page's zeros. */
		if (!g_read(f.vcpu, EPTMMU_VMX_MAX_GPA - 8, 8, &v) || v) {
			tap_diag("read at %#llx: %#llx, want 0",
				 EPTMMU_VMX_MAX_GPA - 8, v);
			ok = false;
		}
		tap_ok(ok, "guest_code_errnos: accesses at or above 4 GiB are refused with EINVAL (the whole batch), 4 GiB - 8 is fine");
	}
	fix_fini(&f);
}

/* ---- 3: guest writes and reads of every size ---- */

#define WL_PAGES	64
/* Four accesses of each size per page, and one at a page edge. */
#define WL_PER_PAGE	5
#define WL_N		(WL_PAGES * WL_PER_PAGE)

struct loc {
	u64 off;	/* from the start of the slot */
	u8 size;
};

/*
 * Access @k of @page.  k 0-3 use every size once, in 16-byte areas 1-254
 * that differ for each k of a page; the offset in the area varies with
 * the page, so each size is tried at several alignments.  k 4 is the
 * first or the last bytes of the page, the areas k 0-3 never use.
 */
static struct loc wl_loc(size_t page, unsigned int k)
{
	struct loc l;
	u64 area;

	if (k == 4) {
		l.size = 1 << (page / 2 % 4);
		l.off = page % 2 ? 0 : PAGE_SIZE - l.size;
	} else {
		l.size = 1 << ((page + k) % 4);
		area = 1 + (page * 37 + k * 61) % 254;
		l.off = area * 16 + ((page + k) * l.size) % 16;
	}
	l.off += page * PAGE_SIZE;
	return l;
}

/* Report up to four bytes where @mem and @want differ; how many do. */
static size_t diff_bytes(const char *what, const u8 *mem, const u8 *want,
			 size_t len)
{
	size_t i, n = 0;

	for (i = 0; i < len; i++) {
		if (mem[i] == want[i])
			continue;
		if (n++ < 4)
			tap_diag("%s: page %zu byte %#zx is %#04x, want %#04x",
				 what, i / PAGE_SIZE, i % PAGE_SIZE, mem[i],
				 want[i]);
	}
	if (n)
		tap_diag("%s: %zu bytes differ", what, n);
	return n;
}

static void t_writes_land(void)
{
	static struct eptmmu_access a[WL_N];
	size_t size = WL_PAGES * PAGE_SIZE, i, bad = 0;
	struct fix f;
	u8 *want;
	bool ok;

	if (!fix_init(&f, WL_PAGES, 0, 10))
		return;
	want = malloc(size);
	if (!want)
		die("malloc");
	memcpy(want, f.mem, size);
	for (i = 0; i < WL_N; i++) {
		struct loc l = wl_loc(i / WL_PER_PAGE, i % WL_PER_PAGE);
		/* Every byte changes, so no lost byte can pass unseen. */
		u64 v = (load_le(want + l.off, l.size) ^
			 (pat(11, i) | 0x0101010101010101ULL)) &
			mask_of(l.size);

		store_le(want + l.off, l.size, v);
		a[i] = access_of(EPTMMU_ACCESS_WRITE, GPA_DATA + l.off, l.size,
				 v);
	}
	ok = run_all(f.vcpu, a, WL_N, NULL, "guest writes");
	ok = ok && !diff_bytes("after guest writes", f.mem, want, size);
	tap_ok(ok, "writes_land: %d guest writes of 1, 2, 4 and 8 bytes over %d pages land exactly, neighbouring bytes untouched",
	       WL_N, WL_PAGES);

	/* Fresh data from the process; the guest must see each byte. */
	fill(f.mem, size, 12);
	for (i = 0; i < WL_N; i++) {
		struct loc l = wl_loc(i / WL_PER_PAGE, i % WL_PER_PAGE);

		/* A value to overwrite: the read must replace all of it. */
		a[i] = access_of(EPTMMU_ACCESS_READ, GPA_DATA + l.off, l.size,
				 ~0ULL);
	}
	ok = run_all(f.vcpu, a, WL_N, NULL, "guest reads");
	for (i = 0; ok && i < WL_N; i++) {
		struct loc l = wl_loc(i / WL_PER_PAGE, i % WL_PER_PAGE);
		u64 w = load_le(f.mem + l.off, l.size);

		if (a[i].value != w && bad++ < 4)
			tap_diag("read%u at page %llu offset %#llx: %#llx, process holds %#llx",
				 l.size, l.off / PAGE_SIZE, l.off % PAGE_SIZE,
				 a[i].value, w);
	}
	if (bad)
		tap_diag("%zu of %d reads differ", bad, WL_N);
	ok = ok && !bad;
	tap_ok(ok, "writes_land: guest reads of 1, 2, 4 and 8 bytes see the process's writes, zero-extended");
	free(want);
	fix_fini(&f);
}

/* ---- 4: fetch ---- */

#define FETCH_PAGES	4
#define FETCH_MAX	1024

/*
 * One-byte instructions that touch registers and flags only: on a vmx
 * vCPU a FETCH executes the instruction at its gpa (single-stepped), so
 * the bytes must be something the guest may run.  No ESP, no STI/CLI.
 */
static const u8 harmless[] = {
	0x90, 0xf8, 0xf9, 0xf5, 0xfc, 0x40, 0x41, 0x42, 0x43, 0x46, 0x47,
	0x48, 0x49, 0x4a, 0x4b, 0x4e, 0x4f, 0x91, 0x92, 0x93, 0x96, 0x97,
	0x98, 0x99, 0x9e, 0x9f,
};

static void t_fetch(void)
{
	static struct eptmmu_access fe[FETCH_MAX], rd[FETCH_MAX];
	size_t size = FETCH_PAGES * PAGE_SIZE, i, n = 0, bad = 0;
	struct fix f;
	u8 *before;
	u8 s;
	bool ok;

	if (!fix_init(&f, FETCH_PAGES, 0, 20))
		return;
	/* Page 0 all NOPs; page 1 a mix; pages 2-3 stay data, unfetched. */
	memset(f.mem, 0x90, PAGE_SIZE);
	for (i = 0; i < PAGE_SIZE; i++)
		f.mem[PAGE_SIZE + i] = harmless[pat(21, i) % sizeof(harmless)];
	before = malloc(size);
	if (!before)
		die("malloc");
	memcpy(before, f.mem, size);

	for (i = 0; i < 8; i++)
		fe[n++] = access_of(EPTMMU_ACCESS_FETCH, word_gpa(0, i * 61),
				    8, 0);
	for (i = 0; i < WORDS; i++)
		fe[n++] = access_of(EPTMMU_ACCESS_FETCH, word_gpa(1, i), 8, 0);
	for (s = 1; s <= 4; s *= 2)
		for (i = 0; i < 64; i++)
			fe[n++] = access_of(EPTMMU_ACCESS_FETCH,
					    GPA_DATA + PAGE_SIZE +
					    (i * 67 % (PAGE_SIZE / s)) * s, s, 0);
	for (i = 0; i < n; i++) {
		rd[i] = fe[i];
		rd[i].kind = EPTMMU_ACCESS_READ;
	}
	ok = run_all(f.vcpu, fe, n, NULL, "fetches") &&
	     run_all(f.vcpu, rd, n, NULL, "reads");
	for (i = 0; ok && i < n; i++) {
		u64 off = fe[i].gpa - GPA_DATA;
		u64 w = load_le(f.mem + off, fe[i].size);

		if ((fe[i].value != rd[i].value || fe[i].value != w) &&
		    bad++ < 4)
			tap_diag("%u bytes at %#llx: FETCH %#llx, READ %#llx, process holds %#llx",
				 fe[i].size, fe[i].gpa, fe[i].value,
				 rd[i].value, w);
	}
	if (bad)
		tap_diag("%zu of %zu fetches differ", bad, n);
	tap_ok(ok && !bad, "fetch: %zu FETCHes of 1-8 bytes return what READ returns and the process holds",
	       n);
	tap_ok(ok && !diff_bytes("after fetches", f.mem, before, size),
	       "fetch: the fetched instructions changed no memory");
	free(before);
	fix_fini(&f);
}

/* ---- 5: MMIO ---- */

static bool expect_exit(const char *what, int r, const struct eptmmu_run *run,
			u32 reason, u32 done, u64 gpa)
{
	if (!r && run->exit_reason == reason && run->done == done &&
	    run->exit_gpa == gpa)
		return true;
	diag_run(what, r, run);
	tap_diag("%s: want exit %s after %u accesses at %#llx", what,
		 exit_name(reason), done, gpa);
	return false;
}

static void t_mmio(void)
{
	struct eptmmu_run run, r0, r1;
	struct eptmmu_access a[3];
	const u64 g_read8 = GPA_HOLE + 0x128;
	const u64 g_write4 = GPA_HOLE + PAGE_SIZE + 0x804;
	const u64 g_fetch1 = GPA_HOLE + 3;
	u64 w1 = pat(31, 1), v;
	struct fix f;
	u8 *hole;
	bool ok;
	int r;

	if (!fix_init(&f, 4, 0, 30))
		return;
	/* Counters before: the run of a read that must work anyway. */
	ok = g_read(f.vcpu, word_gpa(0, 0), 8, &v);
	a[0] = access_of(EPTMMU_ACCESS_READ, word_gpa(0, 1), 8, 0);
	ok = ok && run_all(f.vcpu, a, 1, &r0, "read");

	a[0] = access_of(EPTMMU_ACCESS_WRITE, word_gpa(0, 0), 8, pat(31, 0));
	a[1] = access_of(EPTMMU_ACCESS_READ, g_read8, 8, 0);
	a[2] = access_of(EPTMMU_ACCESS_WRITE, word_gpa(1, 0), 8, w1);
	r = run_vcpu(f.vcpu, a, 3, &run);
	ok = expect_exit("read8 in no slot", r, &run, EPTMMU_EXIT_MMIO, 1,
			 g_read8) && ok;
	if (*word_ptr(&f, 0, 0) != pat(31, 0) || *word_ptr(&f, 1, 0) == w1) {
		tap_diag("the access before the MMIO exit was %s, the one after it %s",
			 *word_ptr(&f, 0, 0) == pat(31, 0) ? "made" : "not made",
			 *word_ptr(&f, 1, 0) == w1 ? "made" : "not made");
		ok = false;
	}
	a[0] = access_of(EPTMMU_ACCESS_WRITE, g_write4, 4, 0x12345678);
	r = run_vcpu(f.vcpu, a, 1, &run);
	ok = expect_exit("write4 in no slot", r, &run, EPTMMU_EXIT_MMIO, 0,
			 g_write4) && ok;
	a[0] = access_of(EPTMMU_ACCESS_FETCH, g_fetch1, 1, 0);
	r = run_vcpu(f.vcpu, a, 1, &r1);
	ok = expect_exit("fetch1 in no slot", r, &r1, EPTMMU_EXIT_MMIO, 0,
			 g_fetch1) && ok;
	tap_ok(ok, "mmio: a read, a write and a fetch in no memslot exit MMIO at their exact gpa; accesses after one are not made");

	ok = !r && r1.stats.mmio_exits - r0.stats.mmio_exits == 3;
	if (!ok)
		diag_vcpu_delta("mmio", &r0.stats, &r1.stats);
	tap_ok(ok, "mmio: stats.mmio_exits counts the three (+%llu)",
	       r1.stats.mmio_exits - r0.stats.mmio_exits);

	/*
	 * A slot where the MMIO exits were: whatever the failed accesses
	 * left in the EPT must give way to the memory.  A NOP at the fetched
	 * byte, since a vmx vCPU executes it.
	 */
	hole = xmap(2 * PAGE_SIZE, PAGE_SIZE);
	fill(hole, 2 * PAGE_SIZE, 32);
	memset(hole, 0x90, 8);
	r = set_memslot(f.vm, 1, 0, GPA_HOLE, 2 * PAGE_SIZE, hole);
	ok = !r;
	if (r)
		tap_diag("SET_MEMSLOT at the hole: %s", strerror(-r));
	a[0] = access_of(EPTMMU_ACCESS_READ, g_read8, 8, 0);
	a[1] = access_of(EPTMMU_ACCESS_WRITE, g_write4, 4, 0x12345678);
	a[2] = access_of(EPTMMU_ACCESS_FETCH, g_fetch1, 1, 0);
	ok = ok && run_all(f.vcpu, a, 3, NULL, "accesses in the new slot");
	if (ok && (a[0].value != load_le(hole + 0x128, 8) ||
		   load_le(hole + PAGE_SIZE + 0x804, 4) != 0x12345678 ||
		   a[2].value != 0x90)) {
		tap_diag("new slot: read %#llx (process %#llx), write left %#llx, fetch %#llx",
			 a[0].value, load_le(hole + 0x128, 8),
			 load_le(hole + PAGE_SIZE + 0x804, 4), a[2].value);
		ok = false;
	}
	tap_ok(ok, "mmio: after a memslot is created there, the same accesses reach its memory");
	fix_fini(&f);
	munmap(hole, 2 * PAGE_SIZE);
}

/* ---- 6: guest code that cannot make the access ---- */

static bool expect_guest(int vcpu, u64 code, u32 why, const char *what)
{
	struct eptmmu_access a = access_of(EPTMMU_ACCESS_WRITE, word_gpa(0, 0),
					   8, pat(41, code));
	struct eptmmu_run run;
	int r = run_vcpu(vcpu, &a, 1, &run);

	if (!r && run.exit_reason == EPTMMU_EXIT_GUEST && run.done == 0 &&
	    run.exit_errno == why && run.exit_gpa == code)
		return true;
	diag_run(what, r, &run);
	tap_diag("%s: want exit GUEST, VMX exit reason %u at rip %#llx",
		 what, why, code);
	return false;
}

static void t_guest_error(void)
{
	const u64 hlt_page = GPA_BAD_CODE, ud2_page = GPA_BAD_CODE + PAGE_SIZE;
	struct fix f;
	u8 *bad;
	size_t i;
	bool ok;
	u64 v;
	int r;

	if (!fix_init(&f, 4, 0, 40))
		return;
	bad = xmap(2 * PAGE_SIZE, PAGE_SIZE);
	memset(bad, 0xf4, PAGE_SIZE);			/* hlt */
	for (i = 0; i < PAGE_SIZE; i += 2) {
		bad[PAGE_SIZE + i] = 0x0f;		/* ud2 */
		bad[PAGE_SIZE + i + 1] = 0x0b;
	}
	r = set_memslot(f.vm, BAD_CODE_SLOT, EPTMMU_MEM_READONLY, GPA_BAD_CODE,
			2 * PAGE_SIZE, bad);
	if (r) {
		tap_diag("SET_MEMSLOT for the bad code: %s", strerror(-r));
		goto out;
	}

	if (!is_vmx()) {
		const char *why = "the soft vCPU runs no guest code";

		tap_skip(why, "guest_error: code that executes HLT exits GUEST with VMX exit reason 12 at its rip");
		tap_skip(why, "guest_error: code that executes UD2 exits GUEST with VMX exit reason 0 at its rip");
		tap_skip(why, "guest_error: code in no memslot exits GUEST with VMX exit reason 48 at its rip");
		/* It accepts and ignores the setting: accesses still work. */
		ok = !set_code(f.vm, hlt_page, 0) &&
		     g_write(f.vcpu, word_gpa(0, 0), 8, pat(42, 0)) &&
		     g_read(f.vcpu, word_gpa(0, 0), 8, &v) && v == pat(42, 0) &&
		     *word_ptr(&f, 0, 0) == pat(42, 0);
		tap_ok(ok, "guest_error: the soft vCPU ignores the guest code: with a page of HLT set, accesses work");
		goto out;
	}

	ok = !set_code(f.vm, hlt_page, 0) &&
	     expect_guest(f.vcpu, hlt_page, VMX_EXIT_HLT, "HLT page");
	tap_ok(ok, "guest_error: code that executes HLT exits GUEST with VMX exit reason 12 at its rip");
	ok = !set_code(f.vm, ud2_page, 0) &&
	     expect_guest(f.vcpu, ud2_page, VMX_EXIT_EXCEPTION_NMI, "UD2 page");
	tap_ok(ok, "guest_error: code that executes UD2 exits GUEST with VMX exit reason 0 at its rip");
	ok = !set_code(f.vm, GPA_HOLE, 0) &&
	     expect_guest(f.vcpu, GPA_HOLE, VMX_EXIT_EPT_VIOLATION,
			  "code in no slot");
	tap_ok(ok, "guest_error: code in no memslot exits GUEST with VMX exit reason 48 at its rip");

	ok = *word_ptr(&f, 0, 0) == pat(40, 0);
	if (!ok)
		tap_diag("a write that exited GUEST changed memory to %#llx",
			 *word_ptr(&f, 0, 0));
	r = set_code(f.vm, GUEST_CODE_GPA, 0);
	ok = ok && !r && g_write(f.vcpu, word_gpa(0, 0), 8, pat(42, 0)) &&
	     g_read(f.vcpu, word_gpa(0, 0), 8, &v) && v == pat(42, 0) &&
	     *word_ptr(&f, 0, 0) == pat(42, 0);
	tap_ok(ok, "guest_error: none of them wrote memory, and with good code set again the vCPU works");
out:
	fix_fini(&f);
	munmap(bad, 2 * PAGE_SIZE);
}

/* ---- 7, 8: dirty logging ---- */

#define DL_PAGES	128
#define DL_WORDS	(DL_PAGES / 64)
#define DL_ROUNDS	5

/* Diagnose pages in @got but not @want (extra) and the reverse (lost). */
static bool same_pages(const char *what, const u64 *got, const u64 *want)
{
	size_t p, lost = 0, extra = 0;

	for (p = 0; p < DL_PAGES; p++) {
		bool g = got[p / 64] >> (p % 64) & 1;
		bool w = want[p / 64] >> (p % 64) & 1;

		if (g == w)
			continue;
		if ((w ? lost++ : extra++) < 4)
			tap_diag("%s: page %zu %s", what, p,
				 w ? "written but not reported" :
				     "reported but not written");
	}
	if (lost || extra)
		tap_diag("%s: %zu written, %zu reported: %zu lost, %zu extra",
			 what, bitmap_count(want, DL_WORDS),
			 bitmap_count(got, DL_WORDS), lost, extra);
	return !lost && !extra;
}

/*
 * @dbit: log by D bits, else by write protection.  The guest first writes
 * every page with logging off, so every page has a writable leaf when
 * logging starts: then a round's writes fault only if the log is built
 * by write protection, and not at all with D bits.
 */
/*
 * Whether bit @bit of each of the first @npages pages' leaves is set
 * exactly where @want says (a bitmap); the first differences as diags.
 */
static bool sptes_match(struct fix *f, size_t npages, u64 bit,
			const u64 *want, const char *what)
{
	struct eptmmu_spte s;
	size_t p, bad = 0;
	bool w;
	int r;

	for (p = 0; p < npages; p++) {
		w = want[p / 64] >> (p % 64) & 1;
		r = get_spte(f->vm, word_gpa(p, 0), &s);
		if (r == 1 && !!(s.spte & bit) == w)
			continue;
		if (bad++ < 3)
			tap_diag("%s: page %zu: level %d spte %#llx, want bit %#llx %s",
				 what, p, r, s.spte, bit, w ? "set" : "clear");
	}
	return !bad;
}

static void dirty_rounds(bool dbit)
{
	u32 flags = EPTMMU_MEM_LOG_DIRTY_PAGES |
		    (dbit ? EPTMMU_MEM_DIRTY_LOG_DBIT : 0);
	static struct eptmmu_access a[DL_PAGES];
	u64 want[DL_WORDS], got[DL_WORDS + 1], seed = seed_for(dbit ? 7 : 8);
	struct eptmmu_run run, prev, first;
	bool exact = true, clean = true, stats_ok = true, sptes = true;
	const char *name;
	char what[64];
	unsigned int round;
	bool pml, dlike;
	size_t i, n, p;
	struct fix f;
	u64 bit;
	int r;

	probe();
	/* PML keeps the leaves writable and logs what sets D. */
	pml = !dbit && hw.pml;
	dlike = dbit || pml;
	name = dbit ? "dirty_dbit" : pml ? "dirty_pml" : "dirty_wp";
	bit = dlike ? EPT_D : EPT_W;
	if (dbit && !hw.ept_ad) {
		skip_rest("the VM has no EPT A/D bits (stats.ept_ad 0): D-bit logging needs them");
		return;
	}
	if (!fix_init(&f, DL_PAGES, 0, 50))
		return;
	for (p = 0; p < DL_PAGES; p++)
		a[p] = access_of(EPTMMU_ACCESS_WRITE, word_gpa(p, p % WORDS), 8,
				 pat(51, p));
	if (!run_all(f.vcpu, a, DL_PAGES, &prev, "writes before logging"))
		goto out;
	r = set_memslot(f.vm, 0, flags, GPA_DATA, DL_PAGES * PAGE_SIZE, f.mem);
	if (r) {
		tap_diag("turning logging on (flags %#x): %s", flags,
			 strerror(-r));
		goto out;
	}
	/*
	 * What the first harvest holds of the writes made before logging
	 * started, the ABI does not say (D-bit logging reports them, write
	 * protection does not): drain it, the rounds start from here.
	 */
	r = dirty_log_ioctl(f.vm, EPTMMU_GET_DIRTY_LOG, 0, 0, 0, 0, got);
	if (r) {
		tap_diag("first GET_DIRTY_LOG: %s", strerror(-r));
		goto out;
	}
	tap_diag("%s: the first harvest reports %zu of the %d pages written before logging started",
		 name, bitmap_count(got, DL_WORDS), DL_PAGES);
	first = prev;

	for (round = 1; round <= DL_ROUNDS; round++) {
		snprintf(what, sizeof(what), "round %u", round);
		memset(want, 0, sizeof(want));
		for (p = 0, n = 0; p < DL_PAGES; p++) {
			u64 x = rand64(&seed);
			u8 size = 1 << (x % 4);
			u64 off = (x >> 8) % (PAGE_SIZE / size) * size;

			/* About a third of the pages, never none. */
			if ((x >> 40) % 3 && !(p == DL_PAGES - 1 && !n))
				continue;
			want[p / 64] |= 1ULL << (p % 64);
			/* Every byte changes: a lost write cannot pass. */
			off += p * PAGE_SIZE;
			a[n++] = access_of(EPTMMU_ACCESS_WRITE, GPA_DATA + off,
					   size,
					   (load_le(f.mem + off, size) ^
					    (pat(52 + round, p) |
					     0x0101010101010101ULL)) &
					   mask_of(size));
		}
		if (!run_all(f.vcpu, a, n, &run, what)) {
			exact = false;
			break;
		}
		for (i = 0; i < n; i++) {
			u64 off = a[i].gpa - GPA_DATA;

			if (load_le(f.mem + off, a[i].size) != a[i].value) {
				tap_diag("%s: the write at %#llx did not land",
					 what, a[i].gpa);
				exact = false;
				break;
			}
		}
		/* Before the harvest: set exactly on the pages written. */
		if (!sptes_match(&f, DL_PAGES, bit, want, what))
			sptes = false;
		got[DL_WORDS] = 0x5a5a5a5a5a5a5a5aULL;
		r = dirty_log_ioctl(f.vm, EPTMMU_GET_DIRTY_LOG, 0, 0, 0, 0, got);
		if (r) {
			tap_diag("%s: GET_DIRTY_LOG: %s", what, strerror(-r));
			exact = false;
			break;
		}
		if (got[DL_WORDS] != 0x5a5a5a5a5a5a5a5aULL) {
			tap_diag("%s: GET_DIRTY_LOG wrote past %d words", what,
				 DL_WORDS);
			exact = false;
		}
		if (!same_pages(what, got, want))
			exact = false;
		vdiag("%s: %zu pages written and harvested", what, n);

		/* Nothing written since: the next round starts clean. */
		memset(want, 0, sizeof(want));
		r = dirty_log_ioctl(f.vm, EPTMMU_GET_DIRTY_LOG, 0, 0, 0, 0, got);
		if (r || !same_pages("harvest after a harvest", got, want)) {
			if (r)
				tap_diag("GET_DIRTY_LOG: %s", strerror(-r));
			clean = false;
		}
		if (!sptes_match(&f, DL_PAGES, bit, want, "after the harvest"))
			sptes = false;

		if (dlike && (run.stats.faults != prev.stats.faults ||
			      run.stats.fast_fixed_wp != prev.stats.fast_fixed_wp)) {
			diag_vcpu_delta(what, &prev.stats, &run.stats);
			stats_ok = false;
		} else if (!dlike &&
			   (run.stats.fast_fixed_wp == prev.stats.fast_fixed_wp ||
			    run.stats.fast_fixed_wp - prev.stats.fast_fixed_wp +
			    run.stats.slow_faults - prev.stats.slow_faults < n)) {
			diag_vcpu_delta(what, &prev.stats, &run.stats);
			tap_diag("%s: %zu pages written: each should have taken a write-protection fault",
				 what, n);
			stats_ok = false;
		} else if (opt.verbose) {
			diag_vcpu_delta(what, &prev.stats, &run.stats);
		}
		prev = run;
	}
	tap_ok(exact, "%s: %d rounds: each harvest reports exactly the pages the guest wrote, and the writes landed",
	       name, DL_ROUNDS);
	tap_ok(exact && clean, "%s: a harvest right after a harvest is empty (each round starts clean)",
	       name);
	if (dlike)
		tap_ok(exact && stats_ok, "%s: the guest's writes took no fault (faults +%llu): the %s %s what the log is built from",
		       name, prev.stats.faults - first.stats.faults,
		       is_vmx() ? "CPU's" : "walker's",
		       pml ? "PML entries are" : "D bits are");
	else
		tap_ok(exact && stats_ok, "%s: every page written after a harvest took a write-protection fault, fixed by the fast path (fast_fixed_wp +%llu)",
		       name, prev.stats.fast_fixed_wp - first.stats.fast_fixed_wp);
	tap_ok(sptes, "%s: GET_SPTE shows %s set on exactly the pages written before each harvest and on none after it",
	       name, dlike ? "the D bit" : "W");
out:
	fix_fini(&f);
}

static void t_dirty_dbit(void)
{
	dirty_rounds(true);
}

/*
 * R-VMX-FLUSH: after each harvest the pages are write-protected again and
 * every write must fault; a CPU that kept its writable translation (no
 * INVEPT) would let writes escape the log.  Bochs empties its TLB at
 * every VM entry, so only real hardware with eptmmu_detect.ko
 * fault=skip_flush can show this test failing.
 */
static void t_dirty_wp(void)
{
	dirty_rounds(false);
}

/* ---- 8b: write-protection logging against concurrent writers ---- */

#define DR_THREADS	2
#define DR_BATCHES	80
#define DR_BATCH	8
#define DR_MAGIC	0xd1d1000000000000ULL

struct dr_ctx {
	int vcpu;
	unsigned int id;
	u64 seed;
	atomic_uint *epoch;
	atomic_int *running;
	pthread_barrier_t *start;
	unsigned long writes;
	char why[160];
};

/* A quarter of the pages is never written: no harvest may report them. */
static bool dr_writable(u64 page)
{
	return pat(60, page) >> 8 & 3;
}

/*
 * Thread @id writes word 0 of random pages it owns (page % DR_THREADS ==
 * id, and only some of them, so the others prove nothing extra is
 * reported) with the harvest epoch it read before the batch: once the
 * writers are done, each page says after which harvest it was last
 * written, and a harvest from then on must have reported it.
 */
static void *dr_thread(void *arg)
{
	struct eptmmu_access a[DR_BATCH];
	struct dr_ctx *c = arg;
	struct eptmmu_run run;
	unsigned int b, i;
	int r;

	pthread_barrier_wait(c->start);
	for (b = 0; b < DR_BATCHES; b++) {
		u64 e;

		/*
		 * At most two batches per harvest, so the harvests really
		 * race the writes wherever the scheduler puts the threads.
		 */
		while (atomic_load(c->epoch) < b / 2)
			sched_yield();
		e = atomic_load(c->epoch);

		for (i = 0; i < DR_BATCH; i++) {
			u64 p;

			do {
				p = rand64(&c->seed) % (DL_PAGES / DR_THREADS) *
				    DR_THREADS + c->id;
			} while (!dr_writable(p));
			a[i] = access_of(EPTMMU_ACCESS_WRITE, word_gpa(p, 0), 8,
					 DR_MAGIC | (u64)c->id << 32 | e);
		}
		r = run_vcpu(c->vcpu, a, DR_BATCH, &run);
		if (r || run.exit_reason != EPTMMU_EXIT_DONE ||
		    run.done != DR_BATCH) {
			snprintf(c->why, sizeof(c->why),
				 "vCPU %u: EPTMMU_RUN %s done %u exit %s gpa %#llx errno %u",
				 c->id, r ? strerror(-r) : "ok", run.done,
				 exit_name(run.exit_reason), run.exit_gpa,
				 run.exit_errno);
			break;
		}
		c->writes += DR_BATCH;
	}
	atomic_fetch_sub(c->running, 1);
	return NULL;
}

static void t_dirty_wp_race(void)
{
	struct dr_ctx ctx[DR_THREADS];
	pthread_t th[DR_THREADS];
	atomic_uint epoch = 0;
	int last[DL_PAGES];
	u64 bm[DL_WORDS];
	unsigned int t, h, harvests = 0;
	size_t p, lost = 0, extra = 0, written = 0, reported = 0;
	pthread_barrier_t start;
	atomic_int running;
	bool ok = true;
	struct fix f;
	int r;

	if (!fix_init(&f, DL_PAGES, EPTMMU_MEM_LOG_DIRTY_PAGES, 61))
		return;
	for (p = 0; p < DL_PAGES; p++) {
		*word_ptr(&f, p, 0) = 0;
		last[p] = -1;
	}
	atomic_init(&running, DR_THREADS);
	if (pthread_barrier_init(&start, NULL, DR_THREADS + 1))
		die("pthread_barrier_init");
	for (t = 0; t < DR_THREADS; t++) {
		ctx[t] = (struct dr_ctx){
			.vcpu = xcreate_vcpu(f.vm),
			.id = t,
			.seed = seed_for(100 + t),
			.epoch = &epoch,
			.running = &running,
			.start = &start,
		};
		if (pthread_create(&th[t], NULL, dr_thread, &ctx[t]))
			die("pthread_create");
	}
	/*
	 * Harvest while they write.  Epoch h + 1 is published only after
	 * harvest h returned, so a write tagged h + 1 came after it.  Each
	 * harvest yields, so on one CPU the writers run between harvests.
	 */
	pthread_barrier_wait(&start);
	for (h = 0;; h++) {
		/* Seen before the harvest: it follows every write. */
		bool last_one = !atomic_load(&running);

		r = dirty_log_ioctl(f.vm, EPTMMU_GET_DIRTY_LOG, 0, 0, 0, 0, bm);
		if (r) {
			tap_diag("harvest %u: %s", h, strerror(-r));
			ok = false;
		}
		for (p = 0; !r && p < DL_PAGES; p++)
			if (bm[p / 64] >> (p % 64) & 1)
				last[p] = h;
		harvests++;
		atomic_store(&epoch, h + 1);
		if (last_one)
			break;
		sched_yield();
	}
	for (t = 0; t < DR_THREADS; t++) {
		pthread_join(th[t], NULL);
		close(ctx[t].vcpu);
		if (ctx[t].why[0]) {
			tap_diag("%s", ctx[t].why);
			ok = false;
		}
	}
	pthread_barrier_destroy(&start);
	for (p = 0; p < DL_PAGES; p++) {
		u64 v = *word_ptr(&f, p, 0);

		reported += last[p] >= 0;
		if (!v || !dr_writable(p)) {
			if (v) {
				tap_diag("page %zu is not to be written but holds %#llx",
					 p, v);
				ok = false;
			}
			if (last[p] >= 0 && extra++ < 4)
				tap_diag("page %zu was never written but harvest %d reported it",
					 p, last[p]);
			continue;
		}
		written++;
		if ((v & ~0xffffffffULL) != (DR_MAGIC | (u64)(p % DR_THREADS) << 32)) {
			tap_diag("page %zu holds %#llx, not a value its writer writes",
				 p, v);
			ok = false;
		} else if (last[p] < (int)(u32)v && lost++ < 4) {
			tap_diag("page %zu was last written after harvest %u but the last harvest reporting it is %d",
				 p, (u32)v - 1, last[p]);
		}
	}
	tap_diag("dirty_wp_race: %u harvests, %lu + %lu writes by %d vCPUs, %zu pages written, %zu reported, %zu lost, %zu extra",
		 harvests, ctx[0].writes, ctx[1].writes, DR_THREADS, written,
		 reported, lost, extra);
	tap_ok(ok && !lost && written,
	       "dirty_wp_race: with harvests racing 2 writing vCPUs, every page's last write is reported by a later harvest (no page lost)");
	tap_ok(ok && !extra,
	       "dirty_wp_race: no page the vCPUs never wrote is reported");
	fix_fini(&f);
}

/* ---- 9: aging through idle page tracking ---- */

#define AGE_PAGES	64
#define FLUSH_SLOT	1
#define GPA_FLUSH	GPA_FAR

/*
 * Make every vCPU drop the translations it caches.  Aging never flushes
 * (R-AGE-NOFLUSH), so a vCPU could go on using a translation from before
 * the pages were marked idle and never set A (or take the access-tracking
 * fault) again: the page would look idle although the guest used it.
 * User space has no flush ioctl, but a harvest that finds a page dirty
 * flushes every vCPU before it returns; the guest dirties one page of a
 * logging slot for it.
 */
static bool flush_vcpus(struct fix *f, struct eptmmu_run *run)
{
	struct eptmmu_access a = access_of(EPTMMU_ACCESS_WRITE, GPA_FLUSH, 8,
					   pat(70, 0));
	u64 bm[1] = { 0 };
	int r;

	if (!run_all(f->vcpu, &a, 1, run, "write to the flush slot"))
		return false;
	r = dirty_log_ioctl(f->vm, EPTMMU_GET_DIRTY_LOG, FLUSH_SLOT, 0, 0, 0,
			    bm);
	if (r || bm[0] != 1) {
		tap_diag("flush harvest: %s, bitmap %#llx (want 1)",
			 r ? strerror(-r) : "ok", bm[0]);
		return false;
	}
	return true;
}

/*
 * After aging and a guest read of the even pages: with A/D bits the even
 * leaves have A (set by the CPU, or the soft walker) and the odd ones do
 * not; without, the even leaves were restored and the odd ones are still
 * access-tracked (no R/W/X).
 */
static bool aged_sptes(struct fix *f)
{
	struct eptmmu_spte s;
	size_t i, bad = 0;
	bool even, good;
	int r;

	for (i = 0; i < AGE_PAGES; i++) {
		even = !(i % 2);
		r = get_spte(f->vm, word_gpa(i, 1), &s);
		if (hw.ept_ad)
			good = r == 1 && !!(s.spte & EPT_A) == even;
		else
			good = r == 1 &&
			       !(s.flags & EPTMMU_SPTE_ACCESS_TRACKED) == even &&
			       !!(s.spte & EPT_R) == even;
		if (!good && bad++ < 3)
			tap_diag("aged page %zu (%s): level %d spte %#llx flags %#x",
				 i, even ? "re-read" : "untouched", r, s.spte,
				 s.flags);
	}
	return !bad;
}

static void t_aging(void)
{
	struct eptmmu_access a[AGE_PAGES];
	struct eptmmu_vm_stats s0, s1, s2, s3;
	struct eptmmu_run r0, r1;
	u64 pfn[AGE_PAGES], *ev = NULL;
	bool idle[AGE_PAGES], marked[AGE_PAGES];
	size_t i, n, bad, n_idle = 0;
	cpu_set_t oldmask, one;
	bool pinned, ok, sptes_ok;
	struct fix f;
	int fd, r;

	probe();
	fd = open(PAGE_IDLE, O_RDWR | O_CLOEXEC);
	if (fd < 0) {
		skip_rest("%s: %s", PAGE_IDLE, strerror(errno));
		return;
	}
	/*
	 * idle_mark() only sees pages on an LRU list, and a freshly faulted
	 * page waits in its CPU's lru_add batch first.  Staying on one CPU
	 * and faulting the flush slot's pages after the test pages pushes
	 * every test page out of that batch (as eptmmu_mm_test's idle does).
	 */
	pinned = !sched_getaffinity(0, sizeof(oldmask), &oldmask);
	if (pinned) {
		CPU_ZERO(&one);
		CPU_SET(sched_getcpu(), &one);
		pinned = !sched_setaffinity(0, sizeof(one), &one);
	}
	if (!fix_init(&f, AGE_PAGES, 0, 71))
		goto out_unpin;
	ev = xmap(AGE_PAGES * PAGE_SIZE, PAGE_SIZE);
	madvise(ev, AGE_PAGES * PAGE_SIZE, MADV_NOHUGEPAGE);
	fill(ev, AGE_PAGES * PAGE_SIZE, 72);
	r = set_memslot(f.vm, FLUSH_SLOT, EPTMMU_MEM_LOG_DIRTY_PAGES,
			GPA_FLUSH, PAGE_SIZE, ev);
	if (r) {
		tap_diag("SET_MEMSLOT for the flush slot: %s", strerror(-r));
		goto out;
	}
	tap_diag("aging: %s vCPU, %s", backend_name(hw.backend),
		 hw.ept_ad ? "EPT A/D bits" : "access tracking (no A/D bits)");

	/* Every page gets a leaf the guest has just made young. */
	for (i = 0; i < AGE_PAGES; i++)
		a[i] = access_of(EPTMMU_ACCESS_WRITE, word_gpa(i, 1), 8,
				 pat(73, i));
	if (!run_all(f.vcpu, a, AGE_PAGES, NULL, "guest writes"))
		goto out;
	r = pfns_present(f.mem, AGE_PAGES, pfn);
	if (r) {
		skip_rest("no PFN in /proc/self/pagemap (%s; not root?)",
			  strerror(-r));
		goto out;
	}

	/* From here the process must not touch f.mem: it would make pages young. */
	xvm_stats(f.vm, &s0);
	r = idle_mark(fd, pfn, AGE_PAGES);
	xvm_stats(f.vm, &s1);
	if (r) {
		skip_rest("writing %s: %s", PAGE_IDLE, strerror(-r));
		goto out;
	}
	ok = s1.aging_passes > s0.aging_passes &&
	     s1.aged_young - s0.aged_young >= AGE_PAGES;
	if (!ok || opt.verbose) {
		diag_vm_stats("before marking", &s0);
		diag_vm_stats("after marking", &s1);
	}
	tap_ok(ok, "aging: marking idle ran the aging notifier (aging_passes +%llu) and found the %d guest-written pages young (aged_young +%llu)",
	       s1.aging_passes - s0.aging_passes, AGE_PAGES,
	       s1.aged_young - s0.aged_young);

	memset(marked, 0, sizeof(marked));
	r = idle_read(fd, pfn, AGE_PAGES, marked);
	for (i = 0; i < AGE_PAGES; i++)
		n_idle += marked[i];
	if (r || n_idle < AGE_PAGES)
		tap_diag("%zu of %d pages read back idle (%s); a page off the LRU cannot be marked",
			 n_idle, AGE_PAGES, r ? strerror(-r) : "read ok");
	tap_ok(!r && n_idle == AGE_PAGES,
	       "aging: all %d pages read back idle right after marking",
	       AGE_PAGES);

	if (!flush_vcpus(&f, &r0))
		goto out;
	for (i = 0; i < AGE_PAGES / 2; i++)
		a[i] = access_of(EPTMMU_ACCESS_READ, word_gpa(2 * i, 1), 8, 0);
	if (!run_all(f.vcpu, a, AGE_PAGES / 2, &r1, "even page reads"))
		goto out;
	/* Before the read-back ages them again. */
	sptes_ok = aged_sptes(&f);
	for (i = 0, bad = 0; i < AGE_PAGES / 2; i++)
		if (a[i].value != pat(73, 2 * i) && bad++ < 3)
			tap_diag("even page %zu read %#llx, want %#llx", 2 * i,
				 a[i].value, pat(73, 2 * i));

	xvm_stats(f.vm, &s2);
	r = idle_read(fd, pfn, AGE_PAGES, idle);
	xvm_stats(f.vm, &s3);
	if (r)
		tap_diag("reading %s: %s", PAGE_IDLE, strerror(-r));
	/*
	 * A slow fault would clear the idle flag through GUP's
	 * folio_mark_accessed(), hiding broken aging: there must be none.
	 */
	if (r1.stats.slow_faults != r0.stats.slow_faults) {
		tap_diag("the re-reads took slow faults");
		bad++;
	}
	for (i = 0, n = 0; !r && i < AGE_PAGES; i += 2) {
		n += marked[i];
		if (marked[i] && idle[i] && bad++ < 4)
			tap_diag("even page %zu pfn %#llx still idle", i, pfn[i]);
	}
	if (bad || opt.verbose)
		diag_vcpu_delta("even page reads", &r0.stats, &r1.stats);
	tap_ok(!r && n && !bad, "aging: pages the guest read again are young (%zu checked), their data intact, no slow fault",
	       n);
	for (i = 1, bad = 0, n = 0; !r && i < AGE_PAGES; i += 2) {
		n += marked[i];
		if (marked[i] && !idle[i] && bad++ < 4)
			tap_diag("odd page %zu pfn %#llx not idle", i, pfn[i]);
	}
	tap_ok(!r && n && !bad, "aging: pages nobody touched stay idle (%zu checked, %zu not idle)",
	       n, bad);

	ok = s3.aging_passes > s2.aging_passes &&
	     s3.aged_young - s2.aged_young >= AGE_PAGES / 2;
	if (!ok || opt.verbose) {
		diag_vm_stats("before read-back", &s2);
		diag_vm_stats("after read-back", &s3);
	}
	tap_ok(ok, "aging: the read-back aged through the notifier (aging_passes +%llu) and found the %d re-read pages young (aged_young +%llu)",
	       s3.aging_passes - s2.aging_passes, AGE_PAGES / 2,
	       s3.aged_young - s2.aged_young);

	if (!hw.ept_ad) {
		ok = r1.stats.fast_fixed_acc - r0.stats.fast_fixed_acc >=
		     AGE_PAGES / 2;
		if (!ok)
			diag_vcpu_delta("even page reads", &r0.stats, &r1.stats);
		tap_ok(ok, "aging: without A/D bits each re-read of an aged page was a fault the fast path fixed by restoring access (fast_fixed_acc +%llu, want >= %d)",
		       r1.stats.fast_fixed_acc - r0.stats.fast_fixed_acc,
		       AGE_PAGES / 2);
	} else {
		ok = r1.stats.faults == r0.stats.faults;
		if (!ok)
			diag_vcpu_delta("even page reads", &r0.stats, &r1.stats);
		tap_ok(ok, "aging: with A/D bits the re-reads of aged pages took no fault: the %s set A",
		       is_vmx() ? "CPU" : "walker");
	}
	tap_ok(sptes_ok, "aging: GET_SPTE shows the re-read pages %s and the others %s",
	       hw.ept_ad ? "with A set" : "restored", hw.ept_ad ? "with A clear" : "still access-tracked");
out:
	if (ev)
		munmap(ev, AGE_PAGES * PAGE_SIZE);
	fix_fini(&f);
out_unpin:
	if (pinned)
		sched_setaffinity(0, sizeof(oldmask), &oldmask);
	close(fd);
}

/* ---- EPTMMU_GET_SPTE: the entries the CPU walks ---- */

#define SP_PAGES	4

static bool spte_errnos(struct fix *f)
{
	struct eptmmu_spte s = { .gpa = GPA_DATA, .flags = 1 };
	bool ok = true;

	if (ioctl(f->vm, EPTMMU_GET_SPTE, &s) != -1 || errno != EINVAL ||
	    s.flags != 1 || s.level || s.spte) {
		tap_diag("flags 1: %s, level %u", strerror(errno), s.level);
		ok = false;
	}
	if (get_spte(f->vm, EPTMMU_MAX_GPA, &s) != -EINVAL) {
		tap_diag("gpa EPTMMU_MAX_GPA: not EINVAL");
		ok = false;
	}
	if (get_spte(f->vcpu, GPA_DATA, &s) != -ENOTTY) {
		tap_diag("on a vCPU fd: not ENOTTY");
		ok = false;
	}
	return ok;
}

static void t_spte(void)
{
	struct eptmmu_access a[2];
	struct eptmmu_spte s;
	u64 pfn = 0, want;
	struct fix f;
	bool ok;
	int i, r;

	probe();
	if (!fix_init(&f, SP_PAGES, 0, 90))
		return;
	tap_ok(spte_errnos(&f), "spte: GET_SPTE refuses flags and gpa >= EPTMMU_MAX_GPA with EINVAL (ENOTTY on a vCPU fd)");

	for (i = 0, ok = true; i < SP_PAGES; i++) {
		r = get_spte(f.vm, word_gpa(i, 0), &s);
		if (r || s.spte || s.flags) {
			tap_diag("page %d before any access: level %d spte %#llx flags %#x",
				 i, r, s.spte, s.flags);
			ok = false;
		}
	}
	r = get_spte(f.vm, 0x7000000000ULL, &s);
	ok = ok && !r && !s.spte;
	tap_ok(ok, "spte: no leaf maps a page before the guest touches it, nor a gpa in no memslot");

	a[0] = access_of(EPTMMU_ACCESS_WRITE, word_gpa(0, 3), 8, pat(91, 0));
	a[1] = access_of(EPTMMU_ACCESS_READ, word_gpa(1, 3), 8, 0);
	ok = run_all(f.vcpu, a, 2, NULL, "a write and a read");
	if (pfns_present(f.mem, 1, &pfn))
		pfn = 0;
	r = get_spte(f.vm, word_gpa(0, 3), &s);
	want = EPT_R | EPT_W | (hw.ept_ad ? EPT_A | EPT_D : 0);
	if (!ok || r != 1 || (s.spte & want) != want ||
	    EPT_MT(s.spte) != EPT_MT_WB ||
	    !!(s.flags & EPTMMU_SPTE_AD_ENABLED) != !!hw.ept_ad ||
	    (s.flags & EPTMMU_SPTE_ACCESS_TRACKED) ||
	    (pfn && EPT_PFN(s.spte) != pfn)) {
		tap_diag("written page: level %d spte %#llx flags %#x (want bits %#llx, WB, pfn %#llx)",
			 r, s.spte, s.flags, want, pfn);
		ok = false;
	}
	r = get_spte(f.vm, word_gpa(1, 3), &s);
	want = EPT_R | (hw.ept_ad ? EPT_A : 0);
	if (r != 1 || (s.spte & want) != want) {
		tap_diag("read page: level %d spte %#llx (want bits %#llx)",
			 r, s.spte, want);
		ok = false;
	}
	tap_ok(ok, "spte: after a guest write and read, 4K leaves map them: R/W%s, WB, the process's page (pfn %#llx)",
	       hw.ept_ad ? ", A and D set" : "", pfn);
	fix_fini(&f);
}

/* ---- 10: munmap and a fresh page under the guest ---- */

#define RF_PAGES	16
#define RF_PAGE		5
#define RF_WORD		77

static void t_munmap_refault(void)
{
	struct eptmmu_vm_stats s0, s1;
	struct eptmmu_access a[3];
	struct eptmmu_run r0, r1;
	const u64 gpa = word_gpa(RF_PAGE, RF_WORD);
	u64 A, B = pat(81, 0);
	struct fix f;
	u8 *p;
	bool ok;

	if (!fix_init(&f, RF_PAGES, 0, 80))
		return;
	A = *word_ptr(&f, RF_PAGE, RF_WORD);
	p = f.mem + RF_PAGE * PAGE_SIZE;
	/* The page mapped in the EPT and, on a vmx vCPU, cached by the CPU. */
	a[0] = access_of(EPTMMU_ACCESS_READ, gpa, 8, 0);
	if (!run_all(f.vcpu, a, 1, &r0, "read before munmap"))
		goto out;
	if (a[0].value != A) {
		tap_diag("before munmap: read %#llx, want %#llx", a[0].value, A);
		goto out;
	}

	xvm_stats(f.vm, &s0);
	if (munmap(p, PAGE_SIZE))
		die("munmap");
	if (mmap(p, PAGE_SIZE, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0) != p)
		die("mmap MAP_FIXED");
	*word_ptr(&f, RF_PAGE, RF_WORD) = B;
	xvm_stats(f.vm, &s1);
	ok = s1.invalidations > s0.invalidations;
	if (!ok || opt.verbose) {
		diag_vm_stats("before munmap", &s0);
		diag_vm_stats("after mmap", &s1);
	}
	tap_ok(ok, "munmap_refault: munmap of a page the guest mapped invalidates (invalidations +%llu)",
	       s1.invalidations - s0.invalidations);

	a[0] = access_of(EPTMMU_ACCESS_READ, gpa, 8, 0);
	a[1] = access_of(EPTMMU_ACCESS_WRITE, gpa + 8, 8, pat(81, 1));
	a[2] = access_of(EPTMMU_ACCESS_READ, word_gpa(RF_PAGE + 1, RF_WORD), 8,
			 0);
	ok = run_all(f.vcpu, a, 3, &r1, "accesses after mmap");
	if (ok && (a[0].value != B ||
		   *word_ptr(&f, RF_PAGE, RF_WORD + 1) != pat(81, 1) ||
		   a[2].value != *word_ptr(&f, RF_PAGE + 1, RF_WORD))) {
		tap_diag("after mmap: read %#llx (old %#llx, new %#llx); write left %#llx; neighbour read %#llx",
			 a[0].value, A, B, *word_ptr(&f, RF_PAGE, RF_WORD + 1),
			 a[2].value);
		ok = false;
	}
	tap_ok(ok, "munmap_refault: the guest reads the new page's value and its write lands there, not in the old page");

	ok = ok && r1.stats.slow_faults > r0.stats.slow_faults;
	if (!ok || opt.verbose)
		diag_vcpu_delta("after mmap", &r0.stats, &r1.stats);
	tap_ok(ok, "munmap_refault: the guest's access after the munmap took a slow fault (slow_faults +%llu)",
	       r1.stats.slow_faults - r0.stats.slow_faults);
out:
	fix_fini(&f);
}

/* ---- 11: two vCPUs in two threads ---- */

#define TH_THREADS	2
#define TH_PAGES	32
#define TH_PAIRS	2000
#define TH_BATCH	100	/* write + read-back pairs per run */

struct th_ctx {
	int vcpu;
	unsigned int id;
	u64 gpa;		/* its first page in the guest */
	u8 *shadow;		/* what its pages must hold */
	u64 seed;
	unsigned long pairs, bad;
	char why[2][160];
	int finished;		/* set (atomically) when the thread is done */
};

static void *th_main(void *arg)
{
	struct eptmmu_access a[2 * TH_BATCH];
	struct th_ctx *c = arg;
	struct eptmmu_run run;
	unsigned int b, j;
	int r;

	for (b = 0; b < TH_PAIRS / TH_BATCH; b++) {
		for (j = 0; j < TH_BATCH; j++) {
			u64 x = rand64(&c->seed);
			u8 size = 1 << (x % 4);
			u64 off = (x >> 8) % (TH_PAGES * PAGE_SIZE / size) * size;
			u64 v = rand64(&c->seed) & mask_of(size);

			a[2 * j] = access_of(EPTMMU_ACCESS_WRITE, c->gpa + off,
					     size, v);
			a[2 * j + 1] = access_of(EPTMMU_ACCESS_READ,
						 c->gpa + off, size, ~v);
			store_le(c->shadow + off, size, v);
		}
		r = run_vcpu(c->vcpu, a, 2 * TH_BATCH, &run);
		if (r || run.exit_reason != EPTMMU_EXIT_DONE ||
		    run.done != 2 * TH_BATCH) {
			snprintf(c->why[0], sizeof(c->why[0]),
				 "vCPU %u batch %u: EPTMMU_RUN %s done %u exit %s gpa %#llx errno %u",
				 c->id, b, r ? strerror(-r) : "ok", run.done,
				 exit_name(run.exit_reason), run.exit_gpa,
				 run.exit_errno);
			c->bad++;
			break;
		}
		for (j = 0; j < TH_BATCH; j++) {
			if (a[2 * j + 1].value == a[2 * j].value)
				continue;
			if (!c->bad++)
				snprintf(c->why[1], sizeof(c->why[1]),
					 "vCPU %u: wrote %#llx (%u bytes) at %#llx, read back %#llx",
					 c->id, a[2 * j].value, a[2 * j].size,
					 a[2 * j].gpa, a[2 * j + 1].value);
		}
		c->pairs += TH_BATCH;
	}
	__atomic_store_n(&c->finished, 1, __ATOMIC_RELEASE);
	return NULL;
}

/*
 * R-VMX-VMCS: move the vCPU threads between CPUs while they run, so their
 * VMCSs are VMCLEARed on one CPU (by IPI) and loaded on another in the
 * middle of a run.  Returns how many moves were made (0 on one CPU).
 */
static unsigned long th_migrate(pthread_t *th, struct th_ctx *c)
{
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	unsigned long moves = 0;
	unsigned int t, k = 0;

	for (;;) {
		bool all_done = true;

		for (t = 0; t < TH_THREADS; t++) {
			cpu_set_t set;

			if (__atomic_load_n(&c[t].finished, __ATOMIC_ACQUIRE))
				continue;
			all_done = false;
			if (ncpu < 2)
				continue;
			CPU_ZERO(&set);
			CPU_SET((k + t) % ncpu, &set);
			if (!pthread_setaffinity_np(th[t], sizeof(set), &set))
				moves++;
		}
		if (all_done)
			return moves;
		k++;
		usleep(2000);
	}
}

static void t_threads(void)
{
	struct th_ctx c[TH_THREADS];
	pthread_t th[TH_THREADS];
	size_t region = TH_PAGES * PAGE_SIZE;
	unsigned long bad = 0;
	unsigned int t, i;
	struct fix f;
	size_t diff = 0;

	if (!fix_init(&f, TH_THREADS * TH_PAGES, 0, 90))
		return;
	for (t = 0; t < TH_THREADS; t++) {
		c[t] = (struct th_ctx){
			.vcpu = xcreate_vcpu(f.vm),
			.id = t,
			.gpa = GPA_DATA + t * region,
			.shadow = malloc(region),
			.seed = seed_for(200 + t),
		};
		if (!c[t].shadow)
			die("malloc");
		memcpy(c[t].shadow, f.mem + t * region, region);
		if (pthread_create(&th[t], NULL, th_main, &c[t]))
			die("pthread_create");
	}
	tap_diag("threads: moved the vCPU threads between CPUs %lu times while they ran",
		 th_migrate(th, c));
	for (t = 0; t < TH_THREADS; t++) {
		pthread_join(th[t], NULL);
		for (i = 0; i < ARRAY_SIZE(c[t].why); i++)
			if (c[t].why[i][0])
				tap_diag("%s", c[t].why[i]);
		bad += c[t].bad;
		tap_diag("threads: vCPU %u made %lu write + read-back pairs", t,
			 c[t].pairs);
	}
	tap_ok(!bad && c[0].pairs == TH_PAIRS && c[1].pairs == TH_PAIRS,
	       "threads: %d vCPUs in %d threads made %d write + read-back pairs each over their own %d pages, every read-back right",
	       TH_THREADS, TH_THREADS, TH_PAIRS, TH_PAGES);
	for (t = 0; t < TH_THREADS; t++) {
		char what[32];

		snprintf(what, sizeof(what), "vCPU %u's pages", t);
		diff += diff_bytes(what, f.mem + t * region, c[t].shadow,
				   region);
		free(c[t].shadow);
		close(c[t].vcpu);
	}
	tap_ok(!bad && !diff, "threads: the process's memory holds every vCPU's last writes, byte for byte");
	fix_fini(&f);
}

/* ---- 12: 2M leaves walked by the CPU ---- */

#define HUGE_SIZE	(2 * SZ_2M)

/*
 * A THP-backed region gets 2M leaves (never 1G: the region is smaller,
 * and the vmx backend caps leaves at what the CPU's EPT has); the guest
 * reads every 4 KiB page of it through them, byte-exact.
 */
static void t_huge(void)
{
	const size_t npages = HUGE_SIZE / PAGE_SIZE;
	struct eptmmu_vm_stats s0, s1;
	struct eptmmu_access *a;
	size_t i, bad = 0;
	int vm, vcpu, thp, r;
	u8 *mem;

	a = calloc(npages, sizeof(*a));
	if (!a)
		die("calloc");
	vm = new_vm();
	vcpu = xcreate_vcpu(vm);
	mem = xmap(HUGE_SIZE, SZ_2M);
	/* THP=always does not need it; THP=madvise does. */
	madvise(mem, HUGE_SIZE, MADV_HUGEPAGE);
	fill(mem, HUGE_SIZE, 300);
	thp = host_thp(mem);
	/* No THP at the first touch (fragmented memory): ask for a collapse. */
	if (!thp && !madvise(mem, HUGE_SIZE, MADV_COLLAPSE))
		thp = host_thp(mem);
	r = set_memslot(vm, 0, 0, GPA_DATA, HUGE_SIZE, mem);
	if (r) {
		/* The runner counts the lines not reached as failures. */
		tap_diag("EPTMMU_SET_MEMSLOT: %s", strerror(-r));
		goto out;
	}
	xvm_stats(vm, &s0);
	for (i = 0; i < npages; i++)
		a[i] = access_of(EPTMMU_ACCESS_READ,
				 GPA_DATA + i * PAGE_SIZE + (i % 512) * 8, 8, 0);
	if (!run_all(vcpu, a, npages, NULL, "guest reads"))
		goto out;
	xvm_stats(vm, &s1);
	for (i = 0; i < npages; i++)
		if (a[i].value != load_le(mem + i * PAGE_SIZE + (i % 512) * 8, 8) &&
		    !bad++)
			tap_diag("huge: page %zu read %#llx, memory holds %#llx", i,
				 a[i].value,
				 load_le(mem + i * PAGE_SIZE + (i % 512) * 8, 8));
	tap_diag("huge: host THP %s; maps_2m +%llu maps_4k +%llu maps_1g +%llu",
		 thp > 0 ? "yes" : thp == 0 ? "no" : strerror(-thp),
		 s1.maps_2m - s0.maps_2m, s1.maps_4k - s0.maps_4k,
		 s1.maps_1g - s0.maps_1g);
	tap_ok(!bad, "huge: the guest read all %zu pages of a %u MiB region right",
	       npages, (unsigned int)(HUGE_SIZE >> 20));
	if (s1.maps_2m > s0.maps_2m)
		tap_ok(s1.maps_1g == s0.maps_1g,
		       "huge: THP-backed memory was mapped with 2M leaves (and no 1G one)");
	else if (thp > 0)
		tap_ok(false, "huge: THP-backed memory was mapped with 2M leaves (and no 1G one)");
	else
		tap_skip(thp ? "host THP state unknown and no 2M leaf" :
			 "the host did not back the region with a THP",
			 "huge: THP-backed memory was mapped with 2M leaves (and no 1G one)");
out:
	close(vcpu);
	close_vm(vm);
	munmap(mem, HUGE_SIZE);
	free(a);
}

/* ---- 13: host segment state across VM exits (R-VMX-HOSTSEG) ---- */

#ifndef HWCAP2_FSGSBASE
#define HWCAP2_FSGSBASE		(1 << 1)
#endif
#define USER_DS_SEL		0x2b	/* the kernel's __USER_DS */
#define LDT0_SEL		0x7	/* LDT entry 0, RPL 3 */
#define HS_GS_BASE		0x5a5a5a5a000ULL

/* EPTMMU_RUN without libc: errno is TLS, reached through FS. */
static long raw_run(int fd, struct eptmmu_run *run)
{
	long r;

	asm volatile("syscall"
		     : "=a" (r)
		     : "0" ((long)SYS_ioctl), "D" ((long)fd),
		       "S" ((long)EPTMMU_RUN), "d" (run)
		     : "rcx", "r11", "memory");
	return r;
}

struct hs_probe {
	long r;
	unsigned long fs_sel, gs_sel, fs_base, gs_base;
	bool ldt_ok;
};

/*
 * Load @sel into GS (and, with FSGSBASE, into FS, putting glibc's TLS
 * base back at once, and an odd base into GS), run the vCPU, and read
 * what the process finds afterwards.  Then back to null selectors and
 * the TLS base.  Nothing in between may use TLS.
 */
static void hs_run(int vcpu, struct eptmmu_run *run, u16 sel, bool fsgs,
		   struct hs_probe *p)
{
	unsigned long tls = 0, zero = 0;
	u32 ar;

	if (fsgs)
		asm volatile("rdfsbase %0" : "=r" (tls));
	asm volatile("mov %0, %%gs" : : "r" ((unsigned long)sel));
	if (fsgs)
		asm volatile("wrgsbase %1\n\t"
			     "mov %0, %%fs\n\t"
			     "wrfsbase %2"
			     : : "r" ((unsigned long)sel), "r" (HS_GS_BASE),
			       "r" (tls));
	p->r = raw_run(vcpu, run);
	asm volatile("mov %%fs, %0" : "=r" (p->fs_sel));
	asm volatile("mov %%gs, %0" : "=r" (p->gs_sel));
	if (fsgs)
		asm volatile("rdfsbase %0\n\trdgsbase %1"
			     : "=r" (p->fs_base), "=r" (p->gs_base));
	/* LAR sets ZF iff the selector names a usable descriptor. */
	asm volatile("lar %[sel], %[ar]\n\tsetz %[ok]"
		     : [ar] "=r" (ar), [ok] "=qm" (p->ldt_ok)
		     : [sel] "r" ((u32)LDT0_SEL) : "cc");
	asm volatile("mov %0, %%gs" : : "r" (zero));
	if (fsgs)
		asm volatile("mov %0, %%fs\n\t"
			     "wrfsbase %1\n\t"
			     "wrgsbase %0"
			     : : "r" (zero), "r" (tls));
}

/*
 * A VM exit leaves LDTR unusable and loads the FS/GS bases from the VMCS;
 * what the process had there must be what it finds when EPTMMU_RUN
 * returns: its LDT, its FS/GS selectors, and with FSGSBASE bases that
 * differ from their descriptors' (glibc's TLS base in FS).
 */
static void t_host_segments(void)
{
	bool fsgs = getauxval(AT_HWCAP2) & HWCAP2_FSGSBASE;
	struct user_desc d = {
		.entry_number = 0,
		.base_addr = 0x1000,
		.limit = 0xfffff,
		.seg_32bit = 1,
		.limit_in_pages = 1,
		.useable = 1,
	};
	struct eptmmu_access a[2];
	struct eptmmu_run run;
	struct hs_probe p = {};
	bool ldt, ran;
	struct fix f;
	u16 sel;

	if (!fix_init(&f, 1, 0, 95))
		return;
	ldt = !syscall(SYS_modify_ldt, 1, &d, sizeof(d));
	if (!ldt)
		tap_diag("host_segments: modify_ldt: %s (the kernel has no MODIFY_LDT_SYSCALL?): GDT selector %#x instead",
			 strerror(errno), USER_DS_SEL);
	sel = ldt ? LDT0_SEL : USER_DS_SEL;
	a[0] = access_of(EPTMMU_ACCESS_WRITE, word_gpa(0, 3), 8, 0x1234);
	a[1] = access_of(EPTMMU_ACCESS_READ, word_gpa(0, 3), 8, 0);
	memset(&run, 0, sizeof(run));
	run.accesses = (uintptr_t)a;
	run.count = 2;
	hs_run(f.vcpu, &run, sel, fsgs, &p);
	ran = !p.r && run.exit_reason == EPTMMU_EXIT_DONE && run.done == 2 &&
	      a[1].value == 0x1234;
	if (!ran)
		diag_run("host_segments", (int)p.r, &run);
	tap_diag("host_segments: selector %#x, FSGSBASE %s; after the run FS %#lx GS %#lx, FS base %#lx GS base %#lx, LDT %s",
		 sel, fsgs ? "yes" : "no", p.fs_sel, p.gs_sel, p.fs_base,
		 p.gs_base, p.ldt_ok ? "usable" : "unusable");
	tap_ok(ran && p.gs_sel == sel && (!fsgs || p.fs_sel == sel),
	       "host_segments: the guest ran, and GS%s hold the selector the process loaded",
	       fsgs ? " and FS" : "");
	if (fsgs)
		tap_ok(ran && p.gs_base == HS_GS_BASE && p.fs_base != 0 &&
		       p.fs_base != 0x1000,
		       "host_segments: the GS base set by WRGSBASE and glibc's TLS base in FS survive, though their selectors were reloaded");
	else
		tap_skip("the CPU or kernel has no FSGSBASE: a base always matches its descriptor",
			 "host_segments: the GS base set by WRGSBASE and glibc's TLS base in FS survive, though their selectors were reloaded");
	if (ldt)
		tap_ok(ran && p.ldt_ok, "host_segments: the process's LDT is still loaded after the VM exits");
	else
		tap_skip("no modify_ldt() in this kernel",
			 "host_segments: the process's LDT is still loaded after the VM exits");
	fix_fini(&f);
}

/* ---- 14: machine checks and NMIs in the guest (R-VMX-EVENT) ---- */

#define FAKE_EXITS	"/sys/module/eptmmu/parameters/vmx_fake_exits"
#define MONARCH		"/sys/devices/system/machinecheck/machinecheck0/monarch_timeout"
#define HE_FAKES	6	/* in turn: MC at entry, #MC, NMI */
#define HE_PAIRS	16

/* One row of /proc/interrupts ("NMI", "MCE") summed over CPUs, or -1. */
static long irq_row(const char *name)
{
	FILE *fp = fopen("/proc/interrupts", "r");
	char line[4096];
	long sum = -1;

	if (!fp)
		return -1;
	while (fgets(line, sizeof(line), fp)) {
		char *p = line, *end;

		while (*p == ' ')
			p++;
		if (strncmp(p, name, strlen(name)) || p[strlen(name)] != ':')
			continue;
		p += strlen(name) + 1;
		for (sum = 0;; p = end) {
			long v = strtol(p, &end, 10);

			if (end == p)
				break;
			sum += v;
		}
		break;
	}
	fclose(fp);
	return sum;
}

/*
 * A machine check during VM entry (exit reason 41), a machine-check
 * exception and an NMI in the guest are the host's: its handlers run and
 * the guest goes on.  Bochs raises none of them in a guest, so a test
 * build's vmx_fake_exits reports real VM exits as such; the handlers'
 * counters in /proc/interrupts show they ran.
 */
static void t_host_events(void)
{
	struct eptmmu_access a[2 * HE_PAIRS];
	long nmi0, mce0, nmi1, mce1;
	char buf[32], monarch[32];
	bool ok;
	struct fix f;
	int i;

	if (!is_vmx()) {
		skip_rest("machine checks and NMIs in the guest exist on the vmx backend only");
		return;
	}
	if (access(FAKE_EXITS, F_OK)) {
		skip_rest("a production build: no vmx_fake_exits to report exits as events");
		return;
	}
	/*
	 * A fake machine check has no error in any bank.  Broadcast
	 * handling (the kernel's default on CPUs without LMCE, Bochs's)
	 * would wait for every CPU to join and then panic on finding
	 * nothing, as it must for a real one: without the rendezvous the
	 * handler looks at this CPU's banks only.
	 */
	if (read_file(MONARCH, monarch, sizeof(monarch)) < 0 ||
	    write_file(MONARCH, "0")) {
		skip_rest("no %s to take the machine-check rendezvous out", MONARCH);
		return;
	}
	if (!fix_init(&f, 1, 0, 96))
		goto out;
	for (i = 0; i < HE_PAIRS; i++) {
		a[2 * i] = access_of(EPTMMU_ACCESS_WRITE, word_gpa(0, i), 8,
				     pat(97, i));
		a[2 * i + 1] = access_of(EPTMMU_ACCESS_READ, word_gpa(0, i), 8, 0);
	}
	nmi0 = irq_row("NMI");
	mce0 = irq_row("MCE");
	snprintf(buf, sizeof(buf), "%d", HE_FAKES);
	if (write_file(FAKE_EXITS, buf))
		die("write %s", FAKE_EXITS);
	ok = run_all(f.vcpu, a, 2 * HE_PAIRS, NULL, "accesses with fake events");
	nmi1 = irq_row("NMI");
	mce1 = irq_row("MCE");
	for (i = 0; ok && i < HE_PAIRS; i++)
		ok = a[2 * i + 1].value == pat(97, i) &&
		     *word_ptr(&f, 0, i) == pat(97, i);
	if (read_file(FAKE_EXITS, buf, sizeof(buf)) < 0)
		die("read %s", FAKE_EXITS);
	tap_diag("host_events: vmx_fake_exits left %s; /proc/interrupts NMI %ld -> %ld, MCE %ld -> %ld",
		 buf, nmi0, nmi1, mce0, mce1);
	write_file(FAKE_EXITS, "0");
	tap_ok(ok && atoi(buf) == 0,
	       "host_events: %d VM exits reported as machine checks and NMIs, and all %d guest accesses completed right",
	       HE_FAKES, 2 * HE_PAIRS);
	tap_ok(mce0 >= 0 && nmi0 >= 0 && mce1 - mce0 >= HE_FAKES * 2 / 3 &&
	       nmi1 - nmi0 >= HE_FAKES / 3,
	       "host_events: the host's machine-check handler ran %d times and its NMI handler %d times",
	       HE_FAKES * 2 / 3, HE_FAKES / 3);
	fix_fini(&f);
out:
	write_file(MONARCH, monarch);
}

/* ---- 15: a CPU offline during a flush (R-VMX-LIFE) ---- */

#define HP_PAGES	16
#define CPU1_ONLINE	"/sys/devices/system/cpu/cpu1/online"

static bool pin_to(int cpu)
{
	cpu_set_t set;

	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	if (sched_setaffinity(0, sizeof(set), &set)) {
		tap_diag("sched_setaffinity(CPU %d): %s", cpu, strerror(errno));
		return false;
	}
	return sched_getcpu() == cpu;
}

/* One write to each page, all different from what the page holds. */
static bool hp_write_all(struct fix *f, u64 tag, const char *what)
{
	struct eptmmu_access a[HP_PAGES];
	size_t p;

	for (p = 0; p < HP_PAGES; p++)
		a[p] = access_of(EPTMMU_ACCESS_WRITE, word_gpa(p, 5), 8,
				 pat(tag, p));
	if (!run_all(f->vcpu, a, HP_PAGES, NULL, what))
		return false;
	for (p = 0; p < HP_PAGES; p++)
		if (*word_ptr(f, p, 5) != pat(tag, p))
			return false;
	return true;
}

/*
 * The vCPU enters the guest on CPU 1 (which joins its ran_on), CPU 1
 * goes offline (VMCLEAR, VMXOFF: else INIT is blocked and it could not
 * come back), a harvest write-protects the pages and flushes while it is
 * out (the flush IPI cannot reach it), CPU 1 comes back (VMXON, then an
 * all-context INVEPT before any guest) and the vCPU writes every page
 * there again: every write must fault and be logged.  Bochs empties its
 * TLB at each VM entry, so it shows the lifecycle, not the INVEPT.
 */
static void t_cpu_hotplug(void)
{
	u64 got[1], all = (1ULL << HP_PAGES) - 1;
	bool off = false, on = false, ok;
	char buf[8];
	struct fix f;
	int r;

	/*
	 * The soft vCPU has no VMX operation to lose.  (Run on it under
	 * QEMU, this test was followed once by a 3 s soft lockup on the
	 * re-onlined CPU in the next step, holds.sh, whose watchdog is at
	 * 2 s: not worth the noise where it proves nothing.)
	 */
	if (!is_vmx()) {
		skip_rest("VMX operation across CPU hotplug is the vmx vCPU's");
		return;
	}
	if (sysconf(_SC_NPROCESSORS_ONLN) < 2 || access(CPU1_ONLINE, W_OK)) {
		skip_rest("needs CPU 1, online and hot-pluggable");
		return;
	}
	if (!fix_init(&f, HP_PAGES, EPTMMU_MEM_LOG_DIRTY_PAGES, 98))
		return;
	ok = pin_to(1) && hp_write_all(&f, 99, "writes on CPU 1");
	r = dirty_log_ioctl(f.vm, EPTMMU_GET_DIRTY_LOG, 0, 0, 0, 0, got);
	ok = ok && !r;
	ok = ok && pin_to(0) && hp_write_all(&f, 100, "writes on CPU 0");
	off = !write_file(CPU1_ONLINE, "0");
	/* Write-protects all pages and flushes: CPU 1 is not there. */
	r = dirty_log_ioctl(f.vm, EPTMMU_GET_DIRTY_LOG, 0, 0, 0, 0, got);
	ok = ok && !r && got[0] == all;
	on = off && !write_file(CPU1_ONLINE, "1") &&
	     !read_file(CPU1_ONLINE, buf, sizeof(buf)) && buf[0] == '1';
	tap_ok(off && on, "cpu_hotplug: CPU 1 went offline and came back while the module kept VMX operation on");
	ok = ok && on && pin_to(1) && hp_write_all(&f, 101, "writes on CPU 1 again");
	r = dirty_log_ioctl(f.vm, EPTMMU_GET_DIRTY_LOG, 0, 0, 0, 0, got);
	if (r)
		tap_diag("cpu_hotplug: GET_DIRTY_LOG: %s", strerror(-r));
	else
		tap_diag("cpu_hotplug: pages logged after the writes on CPU 1: %#llx of %#llx",
			 got[0], all);
	tap_ok(ok && !r && got[0] == all,
	       "cpu_hotplug: after CPU 1 missed a flush offline, the vCPU's writes there all faulted and were logged (%d pages)",
	       HP_PAGES);
	if (off && !on)
		write_file(CPU1_ONLINE, "1");
	pin_to(0);
	fix_fini(&f);
}

/* ---- 64-bit guest programs in C (EPTMMU_RUN_GUEST, g64.c) ---- */

/* Where the guest programs see their data: high, its own PML4 entry. */
#define G64_DATA_GVA	0x7f0000000000ULL
#define G64_PAGES	4

struct g64_fix {
	struct fix f;
	struct g64 g;
};

/*
 * A fix whose slot 0 (@npages at GPA_DATA, @flags) the guest sees at G64_DATA_GVA
 * through page tables in a slot with @pt_flags; PTEs get @pte_extra.
 * False, with the rest of the test skipped, on the soft vCPU.
 */
static bool g64_fix_init(struct g64_fix *x, size_t npages, u32 flags,
			 u64 tag, u32 pt_flags, u64 pte_extra)
{
	int r;

	if (!is_vmx()) {
		skip_rest("the soft vCPU runs no guest code");
		return false;
	}
	if (!fix_init(&x->f, npages, flags, tag))
		return false;
	r = g64_init(&x->g, x->f.vm, pt_flags);
	if (r) {
		tap_diag("g64_init: %s", strerror(-r));
		fix_fini(&x->f);
		return false;
	}
	x->g.pte_extra = pte_extra;
	if (!g64_map(&x->g, G64_DATA_GVA, GPA_DATA, npages * PAGE_SIZE))
		die("g64_map: page-table slot full");
	return true;
}

static void g64_fix_fini(struct g64_fix *x)
{
	fix_fini(&x->f);
	g64_fini(&x->g);
}

/* EPTMMU_RUN_GUEST with @rg; -errno or 0. */
static int run_guest_raw(int vcpu, struct eptmmu_run_guest *rg)
{
	return ioctl(vcpu, EPTMMU_RUN_GUEST, rg) ? -errno : 0;
}

/* ---- 16: a flush reaches a guest that never exits (R-VMX-FLUSH) ---- */

#define RF_TRIALS	5
#define RF_SPIN_NS	2000000000ULL

/*
 * The guest (G_PROG_SPIN, guest/guest.c) writes a counter into the dword
 * at GPA_DATA until the one at the next page is non-zero: a loop with no
 * VM exit of its own.  Its page tables map slot 0 1:1.
 */
struct rf_ctx {
	struct g64 *g;
	int vcpu;
	u64 gpa;	/* the page it writes (the flag: the next), or GPA_DATA */
	bool ok;
	struct g64_exit e;
};

static void *rf_thread(void *arg)
{
	struct rf_ctx *c = arg;
	u64 gpa = c->gpa ? c->gpa : GPA_DATA;

	c->ok = pin_to(1) &&
		g64_call(c->g, c->vcpu, 0, G_PROG_SPIN, gpa, gpa + PAGE_SIZE,
			 0, 0, &c->e, "the looping guest");
	return NULL;
}

/* Spin until the guest changes *p from @v; false after RF_SPIN_NS. */
static bool rf_wait_change(volatile u32 *p, u32 v)
{
	u64 t0 = now_ns();

	while (*p == v)
		if (now_ns() - t0 > RF_SPIN_NS)
			return false;
	return true;
}

/* Where a test's own guest code goes (own_code()), in a slot of its own. */
#define OWN_CODE_GPA	0x30000000ULL
#define OWN_CODE_SLOT	(GUEST_CODE_SLOT - 2)

/*
 * Guest code of a test's own in place of the access code: @len bytes at
 * OWN_CODE_GPA, in a read-only slot.  Return the page (unmapped by the
 * caller after fix_fini()), or NULL after a diagnostic.
 */
static u8 *own_code(struct fix *f, const u8 *insns, size_t len,
		    const char *who)
{
	u8 *code = xmap(PAGE_SIZE, PAGE_SIZE);
	int r;

	memcpy(code, insns, len);
	r = set_memslot(f->vm, OWN_CODE_SLOT, EPTMMU_MEM_READONLY, OWN_CODE_GPA,
			PAGE_SIZE, code);
	r = r ? r : set_code(f->vm, OWN_CODE_GPA, 0);
	if (!r)
		return code;
	tap_diag("%s: the guest code: %s", who, strerror(-r));
	munmap(code, PAGE_SIZE);
	return NULL;
}

/*
 * A guest on CPU 1 writes one page in a loop that never exits on its own;
 * from CPU 0 a harvest write-protects the page.  Once the harvest has
 * returned, every write the guest makes must fault and be logged: the
 * flush kicked it out of the guest (an IPI to a CPU in ran_on) and its
 * stale writable translation went with the kick.  Without the kick the
 * guest goes on writing through it until its next VM exit, and a write
 * made then escapes the log.  (A kick without the INVEPT is invisible
 * here: Bochs empties its TLB at every VM entry.)
 */
static void t_remote_flush(void)
{
	u64 got[1];
	unsigned int trial, lost = 0, ran = 0;
	struct rf_ctx c;
	pthread_t th;
	struct g64_fix x;
	int r;

	if (!is_vmx()) {
		skip_rest("a guest that loops without exiting needs the vmx vCPU");
		return;
	}
	if (sysconf(_SC_NPROCESSORS_ONLN) < 2) {
		skip_rest("needs two CPUs: the guest's and the flusher's");
		return;
	}
	if (!g64_fix_init(&x, 2, EPTMMU_MEM_LOG_DIRTY_PAGES, 110, 0, 0))
		return;
	if (!g64_map(&x.g, GPA_DATA, GPA_DATA, 2 * PAGE_SIZE))
		die("g64_map");
	pin_to(0);
	for (trial = 0; trial < RF_TRIALS; trial++) {
		volatile u32 *page = (volatile u32 *)x.f.mem;
		volatile u32 *flag = (volatile u32 *)(x.f.mem + PAGE_SIZE);
		bool moved;
		u32 v;

		*flag = 0;
		*page = 0;
		c = (struct rf_ctx){ .g = &x.g, .vcpu = x.f.vcpu };
		if (pthread_create(&th, NULL, rf_thread, &c))
			die("pthread_create");
		moved = rf_wait_change(page, 0);
		/* Write-protects the page and flushes; the guest runs on. */
		r = dirty_log_ioctl(x.f.vm, EPTMMU_GET_DIRTY_LOG, 0, 0, 0, 0, got);
		v = *page;
		moved = moved && !r && rf_wait_change(page, v);
		*flag = 1;
		pthread_join(th, NULL);
		if (!c.ok)
			break;
		r = dirty_log_ioctl(x.f.vm, EPTMMU_GET_DIRTY_LOG, 0, 0, 0, 0, got);
		if (!moved || r) {
			tap_diag("remote_flush: trial %u: the guest %s", trial,
				 r ? "harvest failed" : "stopped writing");
			break;
		}
		ran++;
		if (!(got[0] & 1)) {
			lost++;
			tap_diag("remote_flush: trial %u: the guest wrote %#x then %#x after the harvest, yet the page is not in the next one",
				 trial, v, *page);
		}
	}
	tap_ok(ran == RF_TRIALS,
	       "remote_flush: %u times a guest looping on CPU 1 went on writing after a harvest from CPU 0",
	       ran);
	tap_ok(ran == RF_TRIALS && !lost,
	       "remote_flush: each time its writes after the harvest were logged (%u lost)",
	       lost);
	g64_fix_fini(&x);
}

/*
 * The same looping guest, and from CPU 0 a zap: the memslot it writes is
 * deleted.  Once the delete has returned, not one more write may reach
 * the page: the zap's flush kicked the guest out of its translation
 * (R-MEMSLOT-DELETE, R-VMX-FLUSH), and its next access finds no memslot
 * (an MMIO exit ends the run).  Without the kick it writes on into the
 * page, which the process still maps, until its next VM exit.  A zap by
 * munmap() cannot show this: the host's own TLB shootdown for the mm
 * interrupts the CPU that runs the guest, kick or not.
 */
#define RZ_GPA		(GPA_DATA + 0x1000000ULL)
#define RZ_SLOT		2
#define RZ_WATCH_NS	200000000ULL

static void t_remote_zap(void)
{
	unsigned int trial, stale = 0, ran = 0;
	volatile u32 *page, *flag;
	struct g64_fix x;
	struct rf_ctx c;
	pthread_t th;
	u8 *a;

	if (!is_vmx()) {
		skip_rest("a guest that loops without exiting needs the vmx vCPU");
		return;
	}
	if (sysconf(_SC_NPROCESSORS_ONLN) < 2) {
		skip_rest("needs two CPUs: the guest's and the zapper's");
		return;
	}
	if (!g64_fix_init(&x, 1, 0, 112, 0, 0))
		return;
	a = xmap(2 * PAGE_SIZE, PAGE_SIZE);
	page = (volatile u32 *)a;
	flag = (volatile u32 *)(a + PAGE_SIZE);
	if (!g64_map(&x.g, RZ_GPA, RZ_GPA, 2 * PAGE_SIZE))
		die("remote_zap: g64_map");
	pin_to(0);
	for (trial = 0; trial < RF_TRIALS; trial++) {
		u64 t0;
		u32 v;
		bool moved;
		int r;

		*flag = 0;
		*page = 0;
		if (set_memslot(x.f.vm, RZ_SLOT, 0, RZ_GPA, 2 * PAGE_SIZE, a))
			die("remote_zap: the slot: %s", strerror(errno));
		c = (struct rf_ctx){ .g = &x.g, .vcpu = x.f.vcpu, .gpa = RZ_GPA };
		if (pthread_create(&th, NULL, rf_thread, &c))
			die("pthread_create");
		moved = rf_wait_change(page, 0);
		/* The zap: every leaf of the slot, and the flush. */
		r = set_memslot(x.f.vm, RZ_SLOT, 0, RZ_GPA, 0, NULL);
		v = *page;
		/* Any write from here on went through a stale translation. */
		for (t0 = now_ns(); *page == v && now_ns() - t0 < RZ_WATCH_NS; )
			;
		if (*page != v) {
			stale++;
			tap_diag("remote_zap: trial %u: the guest wrote the page (%#x, then %#x) after its memslot was deleted",
				 trial, v, *page);
		}
		*flag = 1;
		/* The run ends at the guest's next access: no memslot. */
		pthread_join(th, NULL);
		if (!moved || r) {
			tap_diag("remote_zap: trial %u: %s", trial,
				 r ? "the delete failed" : "the guest did not write");
			break;
		}
		ran++;
	}
	tap_ok(ran == RF_TRIALS,
	       "remote_zap: %u times a memslot was deleted under a guest writing it from CPU 1",
	       ran);
	tap_ok(ran == RF_TRIALS && !stale,
	       "remote_zap: no write reached the page after the delete returned (%u trials with stale writes)",
	       stale);
	munmap(a, 2 * PAGE_SIZE);
	g64_fix_fini(&x);
}

/* ---- 17-21: 64-bit guest programs in C ---- */

/* The first guest: one write through its page tables, then DONE. */
static void t_g64_hello(void)
{
	struct eptmmu_run_guest rg, bad;
	struct g64_exit e;
	struct g64_fix x;
	u64 v = pat(170, 1), got = 0;
	bool refused = true;
	int i, r;

	if (!is_vmx()) {
		struct fix f;

		/* The soft vCPU cannot run code: a documented errno. */
		if (!fix_init(&f, 1, 0, 170))
			return;
		memset(&rg, 0, sizeof(rg));
		r = run_guest_raw(f.vcpu, &rg);
		tap_ok(r == -EOPNOTSUPP, "g64_hello: EPTMMU_RUN_GUEST on the soft vCPU: %s (want EOPNOTSUPP)",
		       strerror(-r));
		fix_fini(&f);
		skip_rest("the soft vCPU runs no guest code");
		return;
	}
	if (!g64_fix_init(&x, 1, 0, 170, 0, 0))
		return;
	g64_start(&x.g, &rg, 0, G_PROG_HELLO, G64_DATA_GVA + 8, v, 0, 0);
	for (i = 0; i < 3; i++) {
		bad = rg;
		if (i == 0)
			bad.flags = 1;
		else if (i == 1)
			bad.regs.rflags |= 0x100;	/* TF */
		else
			bad.regs.cr3 |= 0x800;
		r = run_guest_raw(x.f.vcpu, &bad);
		if (r != -EINVAL) {
			tap_diag("g64_hello: bad request %d: %s", i, strerror(-r));
			refused = false;
		}
	}
	tap_ok(refused && *word_ptr(&x.f, 0, 1) == pat(170, 1),
	       "g64_hello: bad flags, RFLAGS.TF, CR3 low bits: EINVAL, the guest not run");
	tap_ok(g64_call(&x.g, x.f.vcpu, 0, G_PROG_HELLO, G64_DATA_GVA + 8, v,
			0, 0, &e, "g64_hello") &&
	       e.arg[0] == v && *word_ptr(&x.f, 0, 1) == v,
	       "g64_hello: a 64-bit guest wrote %#llx through its own page tables",
	       v);
	/* The 32-bit access path and the 64-bit guest take turns. */
	tap_ok(g_read(x.f.vcpu, GPA_DATA + 8, 8, &got) && got == v &&
	       g64_call(&x.g, x.f.vcpu, 0, G_PROG_HELLO, G64_DATA_GVA + 16,
			v + 1, 0, 0, &e, "g64_hello") &&
	       g_write(x.f.vcpu, GPA_DATA + 24, 8, v + 2) &&
	       *word_ptr(&x.f, 0, 2) == v + 1 && *word_ptr(&x.f, 0, 3) == v + 2,
	       "g64_hello: EPTMMU_RUN and EPTMMU_RUN_GUEST alternate on one vCPU");
	g64_fix_fini(&x);
}

/*
 * The pattern program over G64_PAGES pages (guest/guest.c): its writes
 * land where its page tables say, it reads the host's writes back; its
 * first run faults in the page tables themselves, which the fault path
 * tells apart by the qualification (pf_guest_pt / pf_guest_linear).
 */
static void t_g64_pattern(void)
{
	u64 n = G64_PAGES * WORDS, tag = 171, i, bad = 0, pt = 0, lin = 0;
	struct eptmmu_run_guest rg;
	struct g64_exit e;
	struct g64_fix x;
	bool ok;

	if (!g64_fix_init(&x, G64_PAGES, 0, 172, 0, 0))
		return;
	g64_start(&x.g, &rg, 0, G_PROG_PATTERN, G64_DATA_GVA, n, tag, 0);
	ok = g64_run(&x.g, x.f.vcpu, &rg, &e, "g64_pattern");
	while (ok && e.ucall == G_UCALL_SYNC && e.arg[0] <= 2) {
		u64 *w = (u64 *)x.f.mem, stage = e.arg[0];

		for (i = 0; i < n; i++) {
			if (w[i] != g_pat(tag + stage - 1, i) && bad++ < 4)
				tap_diag("g64_pattern: stage %llu word %llu: %#llx, want %#llx",
					 stage, i, w[i], g_pat(tag + stage - 1, i));
			w[i] = g_pat(tag + stage, i);
		}
		ok = g64_run(&x.g, x.f.vcpu, &rg, &e, "g64_pattern");
	}
	tap_ok(ok && e.ucall == G_UCALL_DONE && e.arg[0] == n && !bad,
	       "g64_pattern: %llu words written and read back through 4-level guest paging (%llu wrong)",
	       n, bad);
	if (vm_stat(x.f.vm, "pf_guest_pt", &pt) ||
	    vm_stat(x.f.vm, "pf_guest_linear", &lin))
		tap_diag("g64_pattern: debugfs pf_guest_pt / pf_guest_linear not readable");
	/* The PML4, PDPT, PD and PT of the code at least; data, stack. */
	tap_ok(pt >= 4 && lin >= 3,
	       "g64_pattern: EPT violations on guest paging structures (%llu) and on translations (%llu) told apart",
	       pt, lin);
	g64_fix_fini(&x);
}

/* A failed GUEST_ASSERT_EQ reaches the host with file, line and values. */
static void t_g64_assert(void)
{
	struct g64_exit e;
	struct g64_fix x;
	bool got;

	if (!g64_fix_init(&x, 1, 0, 173, 0, 0))
		return;
	got = g64_call(&x.g, x.f.vcpu, 0, G_PROG_ASSERT, 1, 2, 0, 0, &e,
		       "g64_assert (a failure is expected)");
	tap_ok(!got && e.ucall == G_UCALL_ASSERT &&
	       strstr(e.why, "guest.c:") && strstr(e.why, "a0 == a1") &&
	       e.arg[3] == 1 && e.arg[4] == 2,
	       "g64_assert: the guest's assertion reached the host: %s", e.why);
	got = g64_call(&x.g, x.f.vcpu, 0, G_PROG_ASSERT, 5, 5, 0, 0, &e,
		       "g64_assert");
	tap_ok(got, "g64_assert: a true assertion runs to DONE");
	g64_fix_fini(&x);
}

/*
 * How a 64-bit run ends when the guest cannot go on by itself: a #PF on
 * a linear address its tables do not map (EXIT_GUEST with the vector), a
 * gpa in no memslot (EXIT_MMIO; once a slot is there the same run goes
 * on), and HLT after its DONE (EXIT_GUEST, exit reason HLT).
 */
static void t_g64_exits(void)
{
	u64 unmapped = G64_DATA_GVA + 64 * PAGE_SIZE, hole_gva = unmapped +
		       PAGE_SIZE, v = pat(176, 0);
	struct eptmmu_run_guest rg;
	struct g64_exit e;
	struct g64_fix x;
	u64 *hole;
	int r;

	if (!g64_fix_init(&x, 1, 0, 176, 0, 0))
		return;
	g64_call(&x.g, x.f.vcpu, 0, G_PROG_HELLO, unmapped, v, 0, 0, &e,
		 "g64_exits (a #PF is expected)");
	tap_ok(!e.r && e.rg.exit_reason == EPTMMU_EXIT_GUEST &&
	       e.rg.exit_errno == VMX_EXIT_EXCEPTION_NMI &&
	       (e.rg.exit_intr & 0x800000ff) == (0x80000000 | 14) &&
	       e.rg.exit_qual == unmapped,
	       "g64_exits: a store to an unmapped address exits GUEST with #PF at %#llx (intr %#x, qual %#llx)",
	       unmapped, e.rg.exit_intr, e.rg.exit_qual);

	if (!g64_map(&x.g, hole_gva, GPA_HOLE, PAGE_SIZE))
		die("g64_map");
	hole = xmap(PAGE_SIZE, PAGE_SIZE);
	g64_start(&x.g, &rg, 0, G_PROG_HELLO, hole_gva + 8, v, 0, 0);
	g64_run(&x.g, x.f.vcpu, &rg, &e, "g64_exits (MMIO is expected)");
	r = e.rg.exit_reason == EPTMMU_EXIT_MMIO && e.rg.exit_gpa == GPA_HOLE + 8 ?
	    set_memslot(x.f.vm, 1, 0, GPA_HOLE, PAGE_SIZE, hole) : -EPROTO;
	tap_ok(!r && g64_run(&x.g, x.f.vcpu, &rg, &e, "g64_exits") &&
	       e.ucall == G_UCALL_DONE && hole[1] == v,
	       "g64_exits: a store to a gpa in no memslot exits MMIO there; with a slot added the run goes on and the store lands");

	/* Past its DONE the entry stub halts. */
	r = run_guest_raw(x.f.vcpu, &rg);
	tap_ok(!r && rg.exit_reason == EPTMMU_EXIT_GUEST &&
	       rg.exit_errno == VMX_EXIT_HLT,
	       "g64_exits: run again after DONE, the guest halts: exit GUEST, HLT (%s, exit %u)",
	       exit_name(rg.exit_reason), rg.exit_errno);
	g64_fix_fini(&x);
	munmap(hole, PAGE_SIZE);
}

static void g64_on_signal(int sig)
{
	(void)sig;
}

struct g64_kick {
	pthread_t target;
	volatile u32 *page;
};

/* Once the guest has started writing, a signal for the vCPU's thread. */
static void *g64_kicker(void *arg)
{
	struct g64_kick *k = arg;

	rf_wait_change(k->page, 0);
	pthread_kill(k->target, SIGUSR1);
	return NULL;
}

/*
 * A guest that never makes a ucall by itself (G_PROG_SPIN) is stopped by
 * a signal for its thread: EXIT_INTR, with its registers where it was in
 * the loop; run again, it goes on from there and ends when told to.
 */
static void t_g64_intr(void)
{
	struct sigaction sa = { .sa_handler = g64_on_signal };
	struct eptmmu_run_guest rg;
	struct g64_kick k;
	struct g64_exit e;
	struct g64_fix x;
	volatile u32 *page, *flag;
	pthread_t th;
	bool ok;
	u32 v;
	int r;

	if (!g64_fix_init(&x, 2, 0, 177, 0, 0))
		return;
	if (!g64_map(&x.g, GPA_DATA, GPA_DATA, 2 * PAGE_SIZE))
		die("g64_map");
	page = (volatile u32 *)x.f.mem;
	flag = (volatile u32 *)(x.f.mem + PAGE_SIZE);
	*page = 0;
	*flag = 0;
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGUSR1, &sa, NULL))
		die("sigaction");
	k = (struct g64_kick){ .target = pthread_self(), .page = page };
	if (pthread_create(&th, NULL, g64_kicker, &k))
		die("pthread_create");
	g64_start(&x.g, &rg, 0, G_PROG_SPIN, GPA_DATA, GPA_DATA + PAGE_SIZE,
		  0, 0);
	r = run_guest_raw(x.f.vcpu, &rg);
	pthread_join(th, NULL);
	v = *page;
	tap_ok(!r && rg.exit_reason == EPTMMU_EXIT_INTR && v &&
	       rg.regs.rip > G_IMG_GPA && rg.regs.rip < G_IMG_GPA + G_CODE_MAX,
	       "g64_intr: a signal stops the looping guest: %s, exit %s, rip %#llx, %u writes",
	       r ? strerror(-r) : "ran", exit_name(rg.exit_reason),
	       rg.regs.rip, v);
	*flag = 1;
	ok = !r && g64_run(&x.g, x.f.vcpu, &rg, &e, "g64_intr");
	tap_ok(ok && e.ucall == G_UCALL_DONE && e.arg[0] >= v &&
	       *page == e.arg[0],
	       "g64_intr: run again, it goes on counting from %u and stops when told (at %llu)",
	       v, ok ? e.arg[0] : 0);
	signal(SIGUSR1, SIG_DFL);
	g64_fix_fini(&x);
}

struct g64_smp_ctx {
	struct g64 *g;
	int vcpu;
	unsigned int idx, nr;
	bool ok;
	bool pinned;
	struct g64_exit e;
};

static void *g64_smp_thread(void *arg)
{
	struct g64_smp_ctx *c = arg;
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);

	c->pinned = pin_to(c->idx % ncpu);
	c->ok = g64_call(c->g, c->vcpu, c->idx, G_PROG_SMP, G64_DATA_GVA,
			 G64_PAGES * WORDS, c->nr,
			 G64_DATA_GVA + G64_PAGES * PAGE_SIZE, &c->e, "g64_smp");
	return NULL;
}

/*
 * One vCPU of one VM per CPU (two at least), one thread each, pinned to
 * its CPU: each writes its share of the words, and a barrier in guest
 * memory lets none go on until all have arrived, so the run ends only if
 * they ran side by side (or, on one CPU, in turns the host's scheduler
 * gave them at the guests' timer exits).
 */
static void t_g64_smp(void)
{
	struct g64_smp_ctx c[G_MAX_VCPUS];
	pthread_t th[G_MAX_VCPUS];
	u64 n = G64_PAGES * WORDS, i, bad = 0;
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN), nr = ncpu;
	bool ok = true, pinned = true;
	struct g64_fix x;
	unsigned int k;

	nr = nr < 2 ? 2 : nr > (long)G_MAX_VCPUS ? (long)G_MAX_VCPUS : nr;
	/* One more page: the barrier's counter. */
	if (!g64_fix_init(&x, G64_PAGES + 1, 0, 174, 0, 0))
		return;
	if (!g64_map(&x.g, G64_DATA_GVA + G64_PAGES * PAGE_SIZE,
		     GPA_DATA + G64_PAGES * PAGE_SIZE, PAGE_SIZE))
		die("g64_map");
	*word_ptr(&x.f, G64_PAGES, 0) = 0;
	for (k = 0; k < nr; k++) {
		c[k] = (struct g64_smp_ctx){ .g = &x.g, .idx = k, .nr = nr,
			.vcpu = k ? xcreate_vcpu(x.f.vm) : x.f.vcpu };
		if (pthread_create(&th[k], NULL, g64_smp_thread, &c[k]))
			die("pthread_create");
	}
	for (k = 0; k < nr; k++) {
		pthread_join(th[k], NULL);
		ok = ok && c[k].ok && c[k].e.arg[0] == n;
		pinned = pinned && c[k].pinned;
		if (k)
			close(c[k].vcpu);
	}
	for (i = 0; i < n; i++)
		if (*word_ptr(&x.f, 0, i) != g_pat(G_SMP_TAG(i % nr), i))
			bad++;
	tap_ok(ok, "g64_smp: %ld vCPUs of one VM ran the guest at once%s, each checked all %llu words",
	       nr, !pinned ? "" : ncpu >= nr ? " on their own CPUs" :
	       " (time-shared: fewer CPUs)", n);
	tap_ok(ok && !bad && *word_ptr(&x.f, G64_PAGES, 0) == 2ULL * nr,
	       "g64_smp: the host sees every vCPU's words (%llu wrong) and the barrier count",
	       bad);
	pin_to(0);
	g64_fix_fini(&x);
}

/*
 * Guest page tables in a dirty-logging slot, their A (and leaf D) bits
 * set beforehand so the guest's walks need not write them.  With EPT
 * A/D the CPU treats its accesses to guest paging structures as writes
 * (SDM "Accessed and Dirty Flags for EPT"): the D-bit log shows the
 * tables a read-only run walked.  Without A/D, under write protection,
 * the same walks are reads, and the log stays empty.
 */
static void t_g64_dirty_pt(void)
{
	u64 bm[1] = { 0 };
	struct g64_exit e;
	struct g64_fix x;
	u32 flags = EPTMMU_MEM_LOG_DIRTY_PAGES;
	bool ad, ok;
	int dirty, r;

	probe();
	ad = hw.ept_ad;
	if (ad)
		flags |= EPTMMU_MEM_DIRTY_LOG_DBIT;
	if (!g64_fix_init(&x, G64_PAGES, 0, 175, flags, PTE_A | PTE_D))
		return;
	ok = g64_call(&x.g, x.f.vcpu, 0, G_PROG_READ, G64_DATA_GVA,
		      G64_PAGES * WORDS, 0, 0, &e, "g64_dirty_pt");
	r = dirty_log_ioctl(x.f.vm, EPTMMU_GET_DIRTY_LOG, G64_PT_SLOT, 0, 0,
			    0, bm);
	vdiag("g64_dirty_pt: first run's log %#llx", bm[0]);
	ok = ok && !r && g64_call(&x.g, x.f.vcpu, 0, G_PROG_READ, G64_DATA_GVA,
				  G64_PAGES * WORDS, 0, 0, &e, "g64_dirty_pt");
	r = r ? r : dirty_log_ioctl(x.f.vm, EPTMMU_GET_DIRTY_LOG, G64_PT_SLOT,
				    0, 0, 0, bm);
	dirty = bitmap_count(bm, 1);
	tap_ok(ok && !r, "g64_dirty_pt: two read-only runs over page tables in a %s-logging slot",
	       ad ? "D-bit" : "write-protection");
	/* Code, stack and data walks: every one of the x.g.pt_used tables. */
	if (ad)
		tap_ok(ok && !r && dirty == (int)x.g.pt_used,
		       "g64_dirty_pt: with EPT A/D the CPU's walks dirtied the %d page-table pages (log %#llx, %u tables)",
		       dirty, bm[0], x.g.pt_used);
	else
		tap_ok(ok && !r && !dirty,
		       "g64_dirty_pt: without EPT A/D the walks wrote no page-table page (log %#llx)",
		       bm[0]);
	g64_fix_fini(&x);
}

/* ---- 17: PML: a harvest drains a running guest's log (R-PML-DRAIN) ---- */

#define PD_TRIALS	3

/*
 * A guest on CPU 1 writes a page whose D is clear and loops without
 * exiting: the CPU logs the write in the vCPU's PML buffer, where only
 * the vCPU itself drains it, at its next VM exit.  A harvest from CPU 0
 * while it runs must report the page: it kicks the vCPU out and waits for
 * the drain before it reads the bitmap.  A harvest that does not
 * (broken=pml_no_drain) reads a bitmap without the page, and the entry
 * reaches the bitmap only after the harvest returned.  Between trials the
 * guest is stopped and a harvest clears D again.
 */
static void t_pml_drain(void)
{
	struct eptmmu_access w[2];
	struct eptmmu_run run;
	unsigned int trial, lost = 0, ran = 0;
	u64 got[1];
	struct rf_ctx c;
	pthread_t th;
	struct g64_fix x;
	int r;

	probe();
	if (!is_vmx() || !hw.pml) {
		skip_rest("needs the vmx vCPU logging by PML (ept_pml on)");
		return;
	}
	if (sysconf(_SC_NPROCESSORS_ONLN) < 2) {
		skip_rest("needs two CPUs: the guest's and the harvester's");
		return;
	}
	if (!g64_fix_init(&x, 2, EPTMMU_MEM_LOG_DIRTY_PAGES, 120, 0, 0))
		return;
	if (!g64_map(&x.g, GPA_DATA, GPA_DATA, 2 * PAGE_SIZE))
		die("g64_map");
	pin_to(0);
	/*
	 * The page's leaf present and writable, and the flag's mapped,
	 * before the loop runs: its only exits are then the kicks.
	 */
	w[0] = access_of(EPTMMU_ACCESS_WRITE, GPA_DATA, 4, 0);
	w[1] = access_of(EPTMMU_ACCESS_READ, GPA_DATA + PAGE_SIZE, 4, 0);
	if (!run_all(x.f.vcpu, w, 2, &run, "pml_drain: first accesses")) {
		g64_fix_fini(&x);
		return;
	}
	for (trial = 0; trial < PD_TRIALS; trial++) {
		volatile u32 *page = (volatile u32 *)x.f.mem;
		volatile u32 *flag = (volatile u32 *)(x.f.mem + PAGE_SIZE);
		bool moved;

		*flag = 0;
		*page = 0;
		/* The guest is stopped: this clears the page's D. */
		r = dirty_log_ioctl(x.f.vm, EPTMMU_GET_DIRTY_LOG, 0, 0, 0, 0, got);
		if (r) {
			tap_diag("pml_drain: trial %u: harvest: %s", trial,
				 strerror(-r));
			break;
		}
		c = (struct rf_ctx){ .g = &x.g, .vcpu = x.f.vcpu };
		if (pthread_create(&th, NULL, rf_thread, &c))
			die("pthread_create");
		/* It wrote: D set, the gpa in its PML buffer, no exit. */
		moved = rf_wait_change(page, 0);
		r = dirty_log_ioctl(x.f.vm, EPTMMU_GET_DIRTY_LOG, 0, 0, 0, 0, got);
		*flag = 1;
		pthread_join(th, NULL);
		if (!c.ok)
			break;
		if (!moved || r) {
			tap_diag("pml_drain: trial %u: %s", trial,
				 r ? "harvest failed" : "the guest did not write");
			break;
		}
		ran++;
		if (!(got[0] & 1)) {
			lost++;
			tap_diag("pml_drain: trial %u: the guest had written the page, yet the harvest made while it ran did not report it",
				 trial);
		}
	}
	tap_ok(ran == PD_TRIALS,
	       "pml_drain: %u times a guest looping on CPU 1 wrote a page whose D was clear",
	       ran);
	tap_ok(ran == PD_TRIALS && !lost,
	       "pml_drain: each time the harvest made while it ran reported the page (%u lost)",
	       lost);
	g64_fix_fini(&x);
}

/* ---- 18: PML: a full log exits, drains and goes on ---- */

/*
 * The start of a PML test that needs no second CPU: without PML, skip;
 * else slot 0 over @npages pages, not logging yet, each written once by
 * the guest (word 1), so that every page has a writable leaf with D set.
 * False if the test cannot go on.
 */
static bool pml_fix_init(struct fix *f, size_t npages, u64 tag,
			 struct eptmmu_access *a, struct eptmmu_run *run)
{
	size_t p;

	probe();
	if (!is_vmx() || !hw.pml) {
		skip_rest("needs the vmx vCPU logging by PML (ept_pml on)");
		return false;
	}
	if (!fix_init(f, npages, 0, tag))
		return false;
	for (p = 0; p < npages; p++)
		a[p] = access_of(EPTMMU_ACCESS_WRITE, word_gpa(p, 1), 8,
				 pat(tag, p));
	if (run_all(f->vcpu, a, npages, run, "writes before logging"))
		return true;
	fix_fini(f);
	return false;
}

#define PF_PAGES	1024	/* two PML buffers' worth (512 entries each) */
#define PF_TRIES	3

/*
 * Guest code for one "access" that writes EAX to the first dword of ECX
 * pages from EBX on, in one VM entry, then VMCALLs:
 *   0: mov [ebx], eax   2: add ebx, 0x1000   8: dec ecx   9: jnz 0
 *   b: vmcall
 */
static const u8 pf_loop[] = {
	0x89, 0x03, 0x81, 0xc3, 0x00, 0x10, 0x00, 0x00, 0x49, 0x75, 0xf5,
	0x0f, 0x01, 0xc1,
};

/* A per-VM counter from debugfs (mmu/stats.c), or -1. */
static long long vm_counter(int vmfd, const char *name)
{
	u64 v;

	return vm_stat(vmfd, name, &v) ? -1 : (long long)v;
}

/*
 * With D clear on PF_PAGES writable pages, one guest run writes them all:
 * the 513th write that sets a D finds the buffer full and exits (reason
 * 62), the vCPU drains and enters again, and the access starts over (the
 * pages it wrote have D set now and are not logged again).  Any other exit
 * (a timer interrupt) drains early and may leave fewer than 512 new D
 * bits for the rest of the run, so the run is made again, after a
 * harvest cleared every D, until one has taken a log-full exit.  Each
 * harvest must report every page; the debugfs counter shows the exit.
 */
static void t_pml_full(void)
{
	static struct eptmmu_access a[PF_PAGES];
	u32 want = EPTMMU_ACCESS_WRITE << 8 | 4;
	u64 got[PF_PAGES / 64];
	struct eptmmu_run run;
	long long full = 0, start;
	size_t p, landed = 0, reported = PF_PAGES;
	unsigned int tries;
	bool ok;
	u8 *code;
	struct fix f;
	int r;

	if (!pml_fix_init(&f, PF_PAGES, 130, a, &run))
		return;
	ok = true;
	/* Logging starts with every D clear; the first GET reports nothing. */
	r = set_memslot(f.vm, 0, EPTMMU_MEM_LOG_DIRTY_PAGES, GPA_DATA,
			PF_PAGES * PAGE_SIZE, f.mem);
	r = r ? r : dirty_log_ioctl(f.vm, EPTMMU_GET_DIRTY_LOG, 0, 0, 0, 0, got);
	start = vm_counter(f.vm, "pml_full_exits");
	if (!ok || r || start < 0) {
		tap_diag("pml_full: setting up: %s", r ? strerror(-r) :
			 ok ? "no debugfs pml_full_exits" : "writes failed");
		fix_fini(&f);
		return;
	}
	code = own_code(&f, pf_loop, sizeof(pf_loop), "pml_full");
	if (!code) {
		fix_fini(&f);
		return;
	}
	for (tries = 0; ok && !full && tries < PF_TRIES; tries++) {
		for (p = 0; p < PF_PAGES; p++)
			*(u32 *)word_ptr(&f, p, 0) = 0;
		a[0] = access_of(EPTMMU_ACCESS_WRITE, GPA_DATA, 4,
				 (u64)PF_PAGES << 32);
		ok = run_all(f.vcpu, a, 1, &run, "pml_full: the loop");
		for (landed = 0, p = 0; ok && p < PF_PAGES; p++)
			landed += *(u32 *)word_ptr(&f, p, 0) == want;
		ok = ok && landed == PF_PAGES;
		/* Clears every D again for the next try. */
		r = dirty_log_ioctl(f.vm, EPTMMU_GET_DIRTY_LOG, 0, 0, 0, 0, got);
		if (r) {
			tap_diag("pml_full: GET_DIRTY_LOG: %s", strerror(-r));
			ok = false;
			break;
		}
		if (bitmap_count(got, PF_PAGES / 64) < reported)
			reported = bitmap_count(got, PF_PAGES / 64);
		full = vm_counter(f.vm, "pml_full_exits") - start;
		tap_diag("pml_full: run %u: %zu pages landed, %zu reported; log-full exits so far %lld, PML entries drained %lld",
			 tries + 1, landed, bitmap_count(got, PF_PAGES / 64),
			 full, vm_counter(f.vm, "pml_logged"));
	}
	tap_ok(ok, "pml_full: each guest run wrote all %d pages in one access, more than a PML buffer holds",
	       PF_PAGES);
	tap_ok(ok && full > 0 && reported == PF_PAGES,
	       "pml_full: a log-full exit drained and the guest went on; every harvest reported all %d pages (fewest %zu)",
	       PF_PAGES, reported);
	munmap(code, PAGE_SIZE);
	fix_fini(&f);
}

/* ---- 19: PML with manual protect and a log that starts all set ---- */

/*
 * Manual protect over PML (what eptmmu_migrate does), with logging turned
 * on initially set over pages the guest wrote before (R-PML-DRAIN,
 * R-DIRTY-INITIALLY-SET): every page is in the first log and keeps its D;
 * a CLEAR of the first 64 pages clears their D and leaves them writable;
 * a guest write to one of them then takes no fault, sets D again, and the
 * next GET reports it (through the PML buffer) beside the 64 pages never
 * cleared.
 */
static void t_pml_manual(void)
{
	static struct eptmmu_access a[DL_PAGES];
	u64 got[DL_WORDS], want[DL_WORDS], all[DL_WORDS];
	u32 flags = EPTMMU_MEM_LOG_DIRTY_PAGES |
		    EPTMMU_MEM_DIRTY_LOG_INITIALLY_SET;
	struct eptmmu_run run, before;
	bool ok, first = false, cleared = false;
	size_t p, bad = 0;
	struct fix f;
	int r;

	if (!pml_fix_init(&f, DL_PAGES, 140, a, &run))
		return;
	r = set_memslot(f.vm, 0, flags, GPA_DATA, DL_PAGES * PAGE_SIZE, f.mem);
	r = r ? r : dirty_log_ioctl(f.vm, EPTMMU_GET_DIRTY_LOG, 0,
				    EPTMMU_DIRTY_LOG_NO_CLEAR, 0, 0, got);
	memset(all, 0xff, sizeof(all));
	first = !r && !memcmp(got, all, sizeof(got));
	tap_ok(first, "pml_manual: logging on, initially set: the first GET reports all %d pages (%zu)",
	       DL_PAGES, r ? 0 : bitmap_count(got, DL_WORDS));
	memset(want, 0, sizeof(want));
	want[0] = ~0ULL;
	r = r ? r : dirty_log_ioctl(f.vm, EPTMMU_CLEAR_DIRTY_LOG, 0, 0, 0, 64,
				    want);
	for (p = 0; !r && p < DL_PAGES; p++) {
		struct eptmmu_spte sp;
		bool d_want = p >= 64;

		if (get_spte(f.vm, word_gpa(p, 0), &sp) != 1 ||
		    !(sp.spte & EPT_W) || !!(sp.spte & EPT_D) != d_want) {
			if (bad++ < 3)
				tap_diag("pml_manual: page %zu after the CLEAR: spte %#llx, want W and D %s",
					 p, sp.spte, d_want ? "set" : "clear");
		}
	}
	cleared = !r && !bad;
	tap_ok(cleared, "pml_manual: CLEAR of pages 0-63 clears their D and leaves them writable; pages 64-%d keep D",
	       DL_PAGES - 1);
	before = run;
	a[0] = access_of(EPTMMU_ACCESS_WRITE, word_gpa(5, 2), 8, pat(142, 5));
	a[1] = access_of(EPTMMU_ACCESS_WRITE, word_gpa(70, 2), 8, pat(142, 70));
	ok = !r && run_all(f.vcpu, a, 2, &run, "pml_manual: writes after the CLEAR");
	r = ok ? dirty_log_ioctl(f.vm, EPTMMU_GET_DIRTY_LOG, 0,
				 EPTMMU_DIRTY_LOG_NO_CLEAR, 0, 0, got) : -EIO;
	memcpy(want, all, sizeof(want));
	want[0] = 1ULL << 5;
	ok = ok && !r && same_pages("pml_manual: GET after the writes", got, want);
	tap_ok(ok && run.stats.faults == before.stats.faults,
	       "pml_manual: a write to a cleared page took no fault (faults +%llu) and is reported again, beside the pages never cleared",
	       run.stats.faults - before.stats.faults);
	fix_fini(&f);
}

/* ---- runner ---- */

static const struct tap_test tests[] = {
	{ "backend", t_backend, 5, "API version, stats.backend, stats.ept_ad, ept_pml" },
	{ "guest_code_errnos", t_guest_code_errnos, 3, "SET_GUEST_CODE errors, no code, gpa >= 4 GiB" },
	{ "writes_land", t_writes_land, 2, "guest accesses of every size, byte-exact" },
	{ "fetch", t_fetch, 2, "FETCH returns what READ returns" },
	{ "mmio", t_mmio, 3, "accesses in no memslot, then a slot there" },
	{ "guest_error", t_guest_error, 4, "bad guest code exits GUEST" },
	{ "dirty_dbit", t_dirty_dbit, 4, "dirty logging by D bits, exact sets" },
	{ "dirty_wp", t_dirty_wp, 4, "dirty logging by write protection, exact sets" },
	{ "dirty_wp_race", t_dirty_wp_race, 2, "harvests racing two writing vCPUs" },
	{ "aging", t_aging, 7, "idle page tracking ages the guest's pages" },
	{ "spte", t_spte, 3, "EPTMMU_GET_SPTE: errnos, leaves after guest accesses" },
	{ "munmap_refault", t_munmap_refault, 3, "munmap + mmap MAP_FIXED under the guest" },
	{ "threads", t_threads, 2, "two vCPUs in two threads" },
	{ "huge", t_huge, 2, "2M leaves over THP-backed memory" },
	{ "host_segments", t_host_segments, 3, "LDT, FS/GS selectors and bases across VM exits" },
	{ "host_events", t_host_events, 2, "machine checks and NMIs in the guest go to the host" },
	{ "cpu_hotplug", t_cpu_hotplug, 2, "a CPU offline during a flush, then the vCPU on it" },
	{ "remote_flush", t_remote_flush, 2, "a harvest kicks a guest looping on another CPU" },
	{ "remote_zap", t_remote_zap, 2, "a memslot delete kicks a guest looping on another CPU" },
	{ "g64_hello", t_g64_hello, 3, "a 64-bit guest in C writes through its page tables" },
	{ "g64_pattern", t_g64_pattern, 2, "4-level guest paging; guest-PT faults told apart" },
	{ "g64_assert", t_g64_assert, 2, "guest assertions reach the host" },
	{ "g64_exits", t_g64_exits, 3, "a 64-bit guest's #PF, MMIO and HLT exits" },
	{ "g64_intr", t_g64_intr, 2, "a signal stops a looping 64-bit guest, which goes on" },
	{ "g64_smp", t_g64_smp, 2, "two vCPUs of one VM run the guest at once" },
	{ "g64_dirty_pt", t_g64_dirty_pt, 2, "guest page-table walks in the D-bit log" },
	{ "pml_drain", t_pml_drain, 2, "a harvest drains the PML log of a guest looping on another CPU" },
	{ "pml_full", t_pml_full, 2, "a full PML log exits, drains and resumes" },
	{ "pml_manual", t_pml_manual, 3, "PML with manual protect over a log initially set" },
};

static void usage(FILE *f)
{
	fprintf(f,
		"usage: eptmmu_vmx_test [--backend soft|vmx] [--ad 0|1] [--pml 0|1] [-s seed] [-v] [-l] [test...]\n"
		"  --backend B  stats.backend must be B (default: either, reported)\n"
		"  --ad 0|1     stats.ept_ad must be this (default: not checked)\n"
		"  --pml 0|1    the module must (not) log by PML (default: not checked)\n"
		"  -s SEED      random seed (default %llu)\n"
		"  -v           more diagnostics\n"
		"  -l           list the tests and exit\n"
		"With test names, run only those.  Output is TAP; exit 0 iff all pass.\n",
		opt.seed);
}

int main(int argc, char **argv)
{
	static const struct option lopts[] = {
		{ "backend", required_argument, NULL, 'B' },
		{ "ad", required_argument, NULL, 'A' },
		{ "pml", required_argument, NULL, 'P' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int ch;

	while ((ch = getopt_long(argc, argv, "s:vlh", lopts, NULL)) != -1) {
		switch (ch) {
		case 'B':
			if (!strcmp(optarg, "soft")) {
				opt.backend = EPTMMU_BACKEND_SOFT;
			} else if (!strcmp(optarg, "vmx")) {
				opt.backend = EPTMMU_BACKEND_VMX;
			} else {
				fprintf(stderr, "eptmmu_vmx_test: --backend %s: expected soft or vmx\n",
					optarg);
				return 2;
			}
			break;
		case 'A':
			opt.ad = parse_num(optarg, 0, 1);
			break;
		case 'P':
			opt.pml = parse_num(optarg, 0, 1);
			break;
		case 's':
			opt.seed = parse_num(optarg, 0, ~0UL);
			break;
		case 'v':
			opt.verbose = true;
			break;
		case 'l':
			tap_list_tests(tests, ARRAY_SIZE(tests));
			return 0;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	return tap_run_tests(tests, ARRAY_SIZE(tests), argv + optind,
			     argc - optind, &devfd, skip_why);
}
