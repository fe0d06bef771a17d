// SPDX-License-Identifier: GPL-2.0
/*
 * eptmmu_selftest - check the eptmmu ABI (include/uapi/eptmmu.h) from user
 * space and print TAP.  Every test makes its own VM, so one failure does
 * not cascade into the next test.  Each test declares how many TAP lines it
 * prints; a test that gives up early has its remaining lines reported as
 * "not ok ... not reached", so the plan always matches.
 *
 *   eptmmu_selftest [-m MiB] [-n accesses] [-t threads] [-s seed] [-C]
 *                   [-l] [test...]
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include "lib.h"

/* Well above 32-bit space, so a truncated gpa cannot hit a slot. */
#define GPA_BASE	0x100000000ULL
#define GPA_FAR		(GPA_BASE + (1ULL << 30))

static struct {
	unsigned int mib;
	unsigned long accesses;
	unsigned int threads;
	u64 seed;
	bool churn;
} opt = {
	.mib = 64,
	.accesses = 50000,
	.threads = 4,
	.churn = true,
};

static int devfd;

/* Index of the first word of @mem that differs from fill(@tag), or -1. */
static long check_fill(const void *mem, size_t size, u64 tag)
{
	const u64 *w = mem;
	size_t i;

	for (i = 0; i < size / 8; i++)
		if (w[i] != pat(tag, i))
			return i;
	return -1;
}

/* ---- running accesses ---- */

/*
 * Run @n accesses that must stop at access @idx with @reason (and, for
 * EPTMMU_EXIT_FAULT, @err).
 */
static bool run_stops(int vcpu, struct eptmmu_access *a, u32 n, u32 idx,
		      u32 reason, u32 err, const char *what)
{
	struct eptmmu_run run;
	int r = run_vcpu(vcpu, a, n, &run);

	if (!r && run.exit_reason == reason && run.done == idx &&
	    run.exit_gpa == a[idx].gpa &&
	    (reason != EPTMMU_EXIT_FAULT || run.exit_errno == err))
		return true;
	diag_run(what, r, &run);
	tap_diag("%s: expected done %u exit %s gpa %#llx errno %u", what, idx,
		 exit_name(reason), a[idx].gpa,
		 reason == EPTMMU_EXIT_FAULT ? err : 0);
	return false;
}

/* Guest reads word 0 of @npages pages from @gpa; page i must hold want(i). */
static bool g_read_pages(int vcpu, u64 gpa, size_t npages, u64 tag,
			 const char *what)
{
	struct eptmmu_access *a = calloc(npages, sizeof(*a));
	bool ok;
	size_t i;

	if (!a)
		die("calloc");
	for (i = 0; i < npages; i++)
		a[i] = access_of(EPTMMU_ACCESS_READ, gpa + i * PAGE_SIZE, 8, 0);
	ok = run_all(vcpu, a, npages, NULL, what);
	for (i = 0; ok && i < npages; i++) {
		u64 want = pat(tag, i * PAGE_SIZE / 8);

		if (a[i].value != want) {
			tap_diag("%s: gpa %#llx read %#llx, want %#llx", what,
				 a[i].gpa, a[i].value, want);
			ok = false;
		}
	}
	free(a);
	return ok;
}

/* ---- a VM with one memslot and one vCPU ---- */

struct fix {
	int vm;
	int vcpu;
	u8 *mem;
	size_t size;
	u64 gpa;
};

static bool fix_init(struct fix *f, size_t size, u32 flags)
{
	int r;

	f->vm = xcreate_vm(devfd);
	f->vcpu = xcreate_vcpu(f->vm);
	f->mem = xmap(size, SZ_2M);
	f->size = size;
	f->gpa = GPA_BASE;
	r = set_memslot(f->vm, 0, flags, f->gpa, size, f->mem);
	if (r)
		tap_diag("EPTMMU_SET_MEMSLOT slot 0 gpa %#llx size %#zx flags %#x: %s",
			 f->gpa, size, flags, strerror(-r));
	return !r;
}

static void fix_fini(struct fix *f)
{
	close(f->vcpu);
	close_vm(f->vm);
	munmap(f->mem, f->size);
}

/* ---- a: API version ---- */

static void t_api(void)
{
	int v = ioctl(devfd, EPTMMU_GET_API_VERSION, 0);

	if (v != EPTMMU_API_VERSION)
		tap_diag("EPTMMU_GET_API_VERSION returned %d (%s)", v,
			 v < 0 ? strerror(errno) : "no error");
	tap_ok(v == EPTMMU_API_VERSION, "api: version is %d", EPTMMU_API_VERSION);
}

/* ---- b: guest writes, process sees ---- */

/* One write per page, each at a different offset so offsets are checked. */
static size_t page_write_word(size_t page)
{
	return page * 512 + page * 37 % 512;
}

static struct eptmmu_access *page_writes(u64 gpa, size_t npages, u64 tag)
{
	struct eptmmu_access *a = calloc(npages, sizeof(*a));
	size_t i;

	if (!a)
		die("calloc");
	for (i = 0; i < npages; i++)
		a[i] = access_of(EPTMMU_ACCESS_WRITE,
				 gpa + page_write_word(i) * 8, 8, pat(tag, i));
	return a;
}

/*
 * The words page_writes() wrote hold its values; with @zero_elsewhere, all
 * other words are still 0.
 */
static bool check_page_writes(const u8 *mem, size_t npages, u64 tag,
			      bool zero_elsewhere)
{
	const u64 *w = (const u64 *)mem;
	size_t i, bad = 0;

	for (i = 0; i < npages * PAGE_SIZE / 8; i++) {
		size_t page = i / 512;
		bool written = i == page_write_word(page);
		u64 want = written ? pat(tag, page) : 0;

		if (!written && !zero_elsewhere)
			continue;
		if (w[i] != want && bad++ < 3)
			tap_diag("process offset %#zx holds %#llx, want %#llx",
				 i * 8, w[i], want);
	}
	if (bad)
		tap_diag("%zu words differ", bad);
	return !bad;
}

static void t_guest_to_process(void)
{
	size_t npages = SZ_2M / PAGE_SIZE;
	struct eptmmu_access *a;
	struct fix f;
	bool ok;

	if (!fix_init(&f, SZ_2M, 0))
		return;
	a = page_writes(f.gpa, npages, 1);
	ok = run_all(f.vcpu, a, npages, NULL, "512 writes");
	tap_ok(ok, "guest_to_process: %zu page writes in one EPTMMU_RUN complete",
	       npages);
	if (ok)
		tap_ok(check_page_writes(f.mem, npages, 1, true),
		       "guest_to_process: process sees every guest write, and nothing else");
	free(a);
	fix_fini(&f);
}

/* ---- c: process writes, guest sees ---- */

static u64 load_le(const u8 *p, u8 size)
{
	u64 v = 0;

	memcpy(&v, p, size);	/* x86 is little-endian, as is the ABI */
	return v;
}

static void t_process_to_guest(void)
{
	static const u8 sizes[] = { 8, 4, 2, 1 };
	size_t npages = SZ_2M / PAGE_SIZE, n = npages * ARRAY_SIZE(sizes);
	struct eptmmu_access *a = calloc(n, sizeof(*a));
	u8 *model, *fresh;
	size_t i, bad = 0;
	struct fix f;
	u64 v;
	bool ok;

	if (!a)
		die("calloc");
	if (!fix_init(&f, SZ_2M, 0))
		goto out_free;
	fill(f.mem, f.size, 2);
	/* Each page read at every size, at offsets that vary per page. */
	for (i = 0; i < n; i++) {
		size_t page = i / ARRAY_SIZE(sizes);
		u8 sz = sizes[i % ARRAY_SIZE(sizes)];
		u64 off = page * PAGE_SIZE + (page * 29 % (PAGE_SIZE / sz)) * sz;

		a[i] = access_of(EPTMMU_ACCESS_READ, f.gpa + off, sz, 0);
	}
	ok = run_all(f.vcpu, a, n, NULL, "reads");
	for (i = 0; ok && i < n; i++) {
		u64 want = load_le(f.mem + (a[i].gpa - f.gpa), a[i].size);

		if (a[i].value != want && bad++ < 3)
			tap_diag("read%u gpa %#llx saw %#llx, want %#llx",
				 a[i].size, a[i].gpa, a[i].value, want);
	}
	tap_ok(ok && !bad, "process_to_guest: guest reads of size 1, 2, 4, 8 see process data");

	/* Narrow guest writes must change exactly their bytes. */
	model = malloc(f.size);
	if (!model)
		die("malloc");
	memcpy(model, f.mem, f.size);
	for (i = 0; i < n; i++) {
		size_t page = i / ARRAY_SIZE(sizes);
		u8 sz = sizes[i % ARRAY_SIZE(sizes)];
		u64 off = page * PAGE_SIZE + (page * 13 % (PAGE_SIZE / sz)) * sz;
		u64 val = pat(3, i);

		a[i] = access_of(EPTMMU_ACCESS_WRITE, f.gpa + off, sz, val);
		memcpy(model + off, &val, sz);
	}
	ok = run_all(f.vcpu, a, n, NULL, "narrow writes");
	if (ok && memcmp(model, f.mem, f.size)) {
		for (i = 0; i < f.size; i++)
			if (model[i] != f.mem[i])
				break;
		tap_diag("process byte %#zx is %#x, want %#x", i, f.mem[i],
			 model[i]);
		ok = false;
	}
	tap_ok(ok, "process_to_guest: guest writes of size 1, 2, 4, 8 change exactly their bytes");
	free(model);
	fix_fini(&f);

	/*
	 * A page the guest read before the process ever touched it may be
	 * mapped to the shared zero page; the process's first write replaces
	 * it, and the guest must follow.
	 */
	if (!fix_init(&f, SZ_2M, 0))
		goto out_free;
	madvise(f.mem, f.size, MADV_NOHUGEPAGE);
	fresh = f.mem + 17 * PAGE_SIZE;
	ok = g_read(f.vcpu, f.gpa + 17 * PAGE_SIZE + 8, 8, &v);
	if (ok && v) {
		tap_diag("untouched page read %#llx, want 0", v);
		ok = false;
	}
	memcpy(fresh + 8, &(u64){ pat(4, 0) }, 8);
	if (ok) {
		ok = g_read(f.vcpu, f.gpa + 17 * PAGE_SIZE + 8, 8, &v);
		if (ok && v != pat(4, 0)) {
			tap_diag("after the process wrote %#llx, the guest read %#llx",
				 pat(4, 0), v);
			ok = false;
		}
	}
	tap_ok(ok, "process_to_guest: guest sees a process write to a page it first read as zero");
	fix_fini(&f);
out_free:
	free(a);
}

/* ---- d: fetch ---- */

static void t_fetch(void)
{
	static const u8 sizes[] = { 1, 2, 4, 8 };
	struct eptmmu_access a[2 * ARRAY_SIZE(sizes) * 8];
	struct fix f;
	size_t i;
	bool ok;

	if (!fix_init(&f, SZ_2M, 0))
		return;
	fill(f.mem, f.size, 5);
	for (i = 0; i < ARRAY_SIZE(a); i += 2) {
		u8 sz = sizes[i / 2 % ARRAY_SIZE(sizes)];
		u64 gpa = f.gpa + (i / 2) * 3 * PAGE_SIZE + (i * 7 % 64) * sz;

		a[i] = access_of(EPTMMU_ACCESS_FETCH, gpa, sz, 0);
		a[i + 1] = access_of(EPTMMU_ACCESS_READ, gpa, sz, 0);
	}
	ok = run_all(f.vcpu, a, ARRAY_SIZE(a), NULL, "fetch");
	for (i = 0; ok && i < ARRAY_SIZE(a); i += 2) {
		u64 want = load_le(f.mem + (a[i].gpa - f.gpa), a[i].size);

		if (a[i].value != want || a[i + 1].value != want) {
			tap_diag("fetch%u gpa %#llx saw %#llx, read saw %#llx, memory holds %#llx",
				 a[i].size, a[i].gpa, a[i].value,
				 a[i + 1].value, want);
			ok = false;
		}
	}
	tap_ok(ok, "fetch: FETCH returns the same bytes as READ");
	fix_fini(&f);
}

/* ---- e: statistics ---- */

static void diag_vcpu_stats(const char *what, const struct eptmmu_vcpu_stats *s)
{
	tap_diag("%s: accesses %llu tlb_hits %llu walks %llu faults %llu fast_wp %llu fast_acc %llu fast_retries %llu fast_fallbacks %llu slow %llu slow_retries %llu mmio %llu flushes %llu",
		 what, s->accesses, s->tlb_hits, s->walks, s->faults,
		 s->fast_fixed_wp, s->fast_fixed_acc, s->fast_retries,
		 s->fast_fallbacks, s->slow_faults, s->slow_retries,
		 s->mmio_exits, s->tlb_flushes);
}

static void diag_vm_stats(const char *what, const struct eptmmu_vm_stats *s)
{
	tap_diag("%s: tables %llu maps_4k %llu maps_2m %llu maps_1g %llu splits %llu zapped %llu flushes %llu invalidations %llu generation %llu",
		 what, s->tables, s->maps_4k, s->maps_2m, s->maps_1g,
		 s->splits, s->zapped, s->tlb_flushes, s->invalidations,
		 s->memslot_generation);
}

static void t_stats(void)
{
	size_t npages = SZ_2M / PAGE_SIZE;
	struct eptmmu_run r1, r2;
	struct eptmmu_vcpu_stats *s1 = &r1.stats, *s2 = &r2.stats;
	struct eptmmu_vm_stats vs;
	struct eptmmu_access *a;
	struct fix f;
	bool ok;

	if (!fix_init(&f, SZ_2M, 0))
		return;
	a = page_writes(f.gpa, npages, 6);
	if (!run_all(f.vcpu, a, npages, &r1, "first pass"))
		goto out;
	ok = s1->faults > 0 && s1->slow_faults > 0;
	if (!ok)
		diag_vcpu_stats("first pass", s1);
	tap_ok(ok, "stats: first touch takes faults, some on the slow path");

	if (!run_all(f.vcpu, a, npages, &r2, "second pass"))
		goto out;
	ok = s2->slow_faults == s1->slow_faults;
	if (!ok) {
		diag_vcpu_stats("first pass", s1);
		diag_vcpu_stats("second pass", s2);
	}
	tap_ok(ok, "stats: the same batch again takes no slow fault");

	ok = s2->tlb_hits + s2->walks > s1->tlb_hits + s1->walks;
	if (!ok) {
		diag_vcpu_stats("first pass", s1);
		diag_vcpu_stats("second pass", s2);
	}
	tap_ok(ok, "stats: the second pass counts TLB hits or walks");

	ok = s1->accesses == npages && s2->accesses == 2 * npages &&
	     s2->tlb_hits <= s2->accesses;
	if (!ok)
		tap_diag("accesses %llu then %llu (tlb_hits %llu), want %zu then %zu",
			 s1->accesses, s2->accesses, s2->tlb_hits, npages,
			 2 * npages);
	tap_ok(ok, "stats: accesses counts every access, cumulatively");

	/* Root, PDPT and PD at least, whatever the leaf size. */
	xvm_stats(f.vm, &vs);
	ok = vs.tables >= 3 && vs.maps_4k + vs.maps_2m + vs.maps_1g > 0 &&
	     vs.memslot_generation > 0;
	if (!ok)
		diag_vm_stats("VM", &vs);
	tap_ok(ok, "stats: VM stats show the page tables and leaves installed");
out:
	free(a);
	fix_fini(&f);
}

/* ---- f: MMIO exits ---- */

static void t_mmio(void)
{
	u64 hole, *w;
	struct eptmmu_access a[4], b;
	struct eptmmu_run run;
	struct fix f;
	bool ok;
	int r;

	if (!fix_init(&f, SZ_2M, 0))
		return;
	w = (u64 *)f.mem;
	hole = f.gpa + 64 * SZ_1M + 0x10;
	a[0] = access_of(EPTMMU_ACCESS_WRITE, f.gpa, 8, pat(7, 0));
	a[1] = access_of(EPTMMU_ACCESS_READ, f.gpa, 8, 0);
	a[2] = access_of(EPTMMU_ACCESS_READ, hole, 8, 0);
	a[3] = access_of(EPTMMU_ACCESS_WRITE, f.gpa + 8, 8, pat(7, 1));
	r = run_vcpu(f.vcpu, a, 4, &run);
	ok = !r && run.exit_reason == EPTMMU_EXIT_MMIO;
	if (!ok)
		diag_run("mmio", r, &run);
	tap_ok(ok, "mmio: an access outside every memslot exits MMIO");
	if (!ok)
		goto out;
	ok = run.exit_gpa == hole && run.done == 2;
	if (!ok)
		tap_diag("exit_gpa %#llx done %u, want %#llx and 2",
			 run.exit_gpa, run.done, hole);
	tap_ok(ok, "mmio: exit_gpa and done identify the access");

	ok = w[0] == pat(7, 0) && a[1].value == pat(7, 0) && w[1] == 0;
	if (!ok)
		tap_diag("word 0 %#llx (want %#llx), read saw %#llx, word 1 %#llx (want 0)",
			 w[0], pat(7, 0), a[1].value, w[1]);
	tap_ok(ok, "mmio: accesses before it were done, the one after it was not");

	ok = run.stats.mmio_exits == 1;
	if (!ok)
		diag_vcpu_stats("mmio", &run.stats);
	tap_ok(ok, "mmio: mmio_exits counts it");

	/* The first byte past the slot: a slot's end must be exact. */
	b = access_of(EPTMMU_ACCESS_READ, f.gpa + f.size, 1, 0);
	ok = run_stops(f.vcpu, &b, 1, 0, EPTMMU_EXIT_MMIO, 0, "first byte past the slot");
	b = access_of(EPTMMU_ACCESS_READ, f.gpa - 2, 2, 0);
	ok &= run_stops(f.vcpu, &b, 1, 0, EPTMMU_EXIT_MMIO, 0, "last word before the slot");
	tap_ok(ok, "mmio: the bytes just outside the slot exit MMIO at their exact gpa");

	b = access_of(EPTMMU_ACCESS_WRITE, 0, 4, 1);
	ok = run_stops(f.vcpu, &b, 1, 0, EPTMMU_EXIT_MMIO, 0, "gpa 0");
	b = access_of(EPTMMU_ACCESS_FETCH, EPTMMU_MAX_GPA - 8, 8, 0);
	ok &= run_stops(f.vcpu, &b, 1, 0, EPTMMU_EXIT_MMIO, 0, "EPTMMU_MAX_GPA - 8");
	tap_ok(ok, "mmio: gpa 0 and the last qword below EPTMMU_MAX_GPA exit MMIO");

	/*
	 * A gpa past the 48-bit space cannot be translated by 4-level EPT at
	 * all: the batch is refused (EINVAL) before any access is made.
	 */
	b = access_of(EPTMMU_ACCESS_READ, EPTMMU_MAX_GPA, 8, 0);
	ok = run_vcpu(f.vcpu, &b, 1, &run) == -EINVAL;
	b = access_of(EPTMMU_ACCESS_READ, ~7ULL, 8, 0);
	ok &= run_vcpu(f.vcpu, &b, 1, &run) == -EINVAL;
	tap_ok(ok, "mmio: gpas at or above EPTMMU_MAX_GPA are refused with EINVAL");

	ok = run_all(f.vcpu, &a[3], 1, NULL, "resume") && w[1] == pat(7, 1);
	tap_ok(ok, "mmio: the vCPU resumes after MMIO exits");
out:
	fix_fini(&f);
}

/* ---- g: read-only memslot ---- */

static void t_readonly(void)
{
	struct eptmmu_access a[3];
	struct fix f;
	u8 *mem;
	long bad;
	bool ok;

	/* fix_init() sets the slot, so fill the memory first by hand. */
	mem = xmap(SZ_2M, SZ_2M);
	fill(mem, SZ_2M, 8);
	f.vm = xcreate_vm(devfd);
	f.vcpu = xcreate_vcpu(f.vm);
	f.mem = mem;
	f.size = SZ_2M;
	f.gpa = GPA_BASE;
	if (set_memslot(f.vm, 0, EPTMMU_MEM_READONLY, f.gpa, f.size, mem)) {
		tap_diag("read-only slot: %s", strerror(errno));
		goto out;
	}
	tap_ok(g_read_pages(f.vcpu, f.gpa, f.size / PAGE_SIZE, 8, "ro reads"),
	       "readonly: reads from a read-only slot see process memory");

	a[0] = access_of(EPTMMU_ACCESS_FETCH, f.gpa + 8, 8, 0);
	a[1] = access_of(EPTMMU_ACCESS_WRITE, f.gpa + 3 * PAGE_SIZE + 16, 8, 1);
	a[2] = access_of(EPTMMU_ACCESS_WRITE, f.gpa + 4 * PAGE_SIZE, 8, 1);
	tap_ok(run_stops(f.vcpu, a, 3, 1, EPTMMU_EXIT_FAULT, EACCES, "ro write"),
	       "readonly: a write exits FAULT with EACCES at that access");

	bad = check_fill(mem, f.size, 8);
	if (bad >= 0)
		tap_diag("word %ld changed to %#llx", bad, ((u64 *)mem)[bad]);
	tap_ok(bad < 0, "readonly: the refused writes changed nothing");

	ok = g_read(f.vcpu, f.gpa + 3 * PAGE_SIZE + 16, 8, &a[0].value) &&
	     a[0].value == pat(8, (3 * PAGE_SIZE + 16) / 8);
	tap_ok(ok, "readonly: reads still work after the refused write");
out:
	fix_fini(&f);
}

/* ---- h: memslot delete and re-create ---- */

static void t_delete(void)
{
	size_t i, npages = SZ_2M / PAGE_SIZE;
	struct eptmmu_vm_stats s0, s1;
	struct eptmmu_access *a;
	u8 *other;
	struct fix f;
	bool ok;
	int r;

	if (!fix_init(&f, SZ_2M, 0))
		return;
	fill(f.mem, f.size, 9);
	other = xmap(SZ_2M, SZ_2M);
	fill(other, SZ_2M, 10);
	tap_ok(g_read_pages(f.vcpu, f.gpa, npages, 9, "before delete"),
	       "delete: the slot serves reads before the delete");

	xvm_stats(f.vm, &s0);
	r = del_memslot(f.vm, 0);
	xvm_stats(f.vm, &s1);
	ok = !r && s1.zapped > s0.zapped && s1.tlb_flushes > s0.tlb_flushes &&
	     s1.memslot_generation > s0.memslot_generation;
	if (!ok) {
		tap_diag("delete: %s", r ? strerror(-r) : "ok");
		diag_vm_stats("before", &s0);
		diag_vm_stats("after", &s1);
	}
	tap_ok(ok, "delete: deleting a mapped slot zaps, flushes and bumps the generation");

	/* One run per page: each must exit on its own access. */
	ok = true;
	for (i = 0; i < npages && ok; i++) {
		struct eptmmu_access b = access_of(EPTMMU_ACCESS_READ,
			f.gpa + i * PAGE_SIZE + 8 * (i % 512), 8, 0);

		ok = run_stops(f.vcpu, &b, 1, 0, EPTMMU_EXIT_MMIO, 0,
			       "deleted slot");
	}
	tap_ok(ok, "delete: every page of the deleted slot exits MMIO");

	r = set_memslot(f.vm, 0, 0, f.gpa, SZ_2M, other);
	if (r)
		tap_diag("re-create: %s", strerror(-r));
	tap_ok(!r && g_read_pages(f.vcpu, f.gpa, npages, 10, "re-created"),
	       "delete: a slot re-created at the same gpa shows the new buffer");

	a = page_writes(f.gpa, npages, 11);
	ok = run_all(f.vcpu, a, npages, NULL, "writes to re-created slot") &&
	     check_page_writes(other, npages, 11, false);
	if (ok && check_fill(f.mem, f.size, 9) >= 0) {
		tap_diag("the old buffer changed after its slot was deleted");
		ok = false;
	}
	tap_ok(ok, "delete: guest writes land in the new buffer, not the old one");
	free(a);
	munmap(other, SZ_2M);
	fix_fini(&f);
}

/* ---- i: teardown orders ---- */

static bool touch_slot(int vcpu, u64 gpa, size_t size, u64 tag)
{
	size_t npages = size / PAGE_SIZE;
	struct eptmmu_access *a = page_writes(gpa, npages, tag);
	bool ok = run_all(vcpu, a, npages, NULL, "touch");

	free(a);
	return ok;
}

static bool closes(int fd, const char *what)
{
	if (!close(fd))
		return true;
	tap_diag("close %s: %s", what, strerror(errno));
	return false;
}

static void t_teardown(void)
{
	struct eptmmu_access b;
	struct eptmmu_run run;
	struct fix f, many[16];
	size_t i;
	bool ok;
	int r;

	ok = fix_init(&f, SZ_2M, 0) && touch_slot(f.vcpu, f.gpa, f.size, 12);
	ok &= closes(f.vcpu, "vCPU");
	ok &= closes(f.vm, "VM");
	munmap(f.mem, f.size);
	tap_ok(ok, "teardown: close vCPU, then VM, then munmap");

	/*
	 * The vCPU fd keeps working or fails cleanly once the VM fd is gone;
	 * the header does not say which, so only the kernel's health counts.
	 */
	ok = fix_init(&f, SZ_2M, 0) && touch_slot(f.vcpu, f.gpa, f.size, 12);
	ok &= closes(f.vm, "VM");
	b = access_of(EPTMMU_ACCESS_READ, f.gpa, 8, 0);
	r = run_vcpu(f.vcpu, &b, 1, &run);
	diag_run("run after the VM fd was closed (informational)", r, &run);
	ok &= closes(f.vcpu, "vCPU");
	munmap(f.mem, f.size);
	tap_ok(ok, "teardown: close VM first, run the orphan vCPU, close it");

	ok = fix_init(&f, SZ_2M, 0) && touch_slot(f.vcpu, f.gpa, f.size, 12);
	munmap(f.mem, f.size);
	b = access_of(EPTMMU_ACCESS_READ, f.gpa + PAGE_SIZE, 8, 0);
	ok &= run_stops(f.vcpu, &b, 1, 0, EPTMMU_EXIT_FAULT, EFAULT,
			"after munmap");
	ok &= closes(f.vcpu, "vCPU");
	ok &= closes(f.vm, "VM");
	tap_ok(ok, "teardown: munmap first (access exits FAULT EFAULT), then close");

	/* A VM with a slot and no vCPU; one with a vCPU and no slot. */
	ok = fix_init(&f, SZ_2M, 0);
	ok &= closes(f.vm, "VM without running vCPU");
	ok &= closes(f.vcpu, "never-run vCPU");
	munmap(f.mem, f.size);
	f.vm = xcreate_vm(devfd);
	f.vcpu = xcreate_vcpu(f.vm);
	b = access_of(EPTMMU_ACCESS_READ, GPA_BASE, 8, 0);
	ok &= run_stops(f.vcpu, &b, 1, 0, EPTMMU_EXIT_MMIO, 0, "no slot");
	ok &= closes(f.vcpu, "vCPU");
	ok &= closes(f.vm, "VM without slot");
	f.vm = xcreate_vm(devfd);
	ok &= closes(f.vm, "empty VM");
	tap_ok(ok, "teardown: VMs without vCPU runs, without slots, empty");

	ok = true;
	for (i = 0; i < ARRAY_SIZE(many); i++)
		ok &= fix_init(&many[i], SZ_2M, 0) &&
		      touch_slot(many[i].vcpu, many[i].gpa, SZ_2M, 13 + i);
	for (i = 0; i < ARRAY_SIZE(many); i++)
		ok &= check_page_writes(many[i].mem, SZ_2M / PAGE_SIZE, 13 + i, true);
	/* Interleave: VM fds of the even ones first, then everything else. */
	for (i = 0; i < ARRAY_SIZE(many); i += 2)
		ok &= closes(many[i].vm, "VM");
	for (i = 0; i < ARRAY_SIZE(many); i++) {
		if (i % 2)
			ok &= closes(many[i].vm, "VM");
		ok &= closes(many[i].vcpu, "vCPU");
		munmap(many[i].mem, SZ_2M);
	}
	tap_ok(ok, "teardown: %zu VMs alive at once, each with its own data",
	       ARRAY_SIZE(many));

	ok = fix_init(&f, SZ_2M, 0) && touch_slot(f.vcpu, f.gpa, f.size, 40);
	ok = ok && check_page_writes(f.mem, f.size / PAGE_SIZE, 40, true);
	fix_fini(&f);
	tap_ok(ok, "teardown: a new VM works afterwards");
}

/* ---- several slots ---- */

static void t_multislot(void)
{
	struct eptmmu_access a[EPTMMU_MAX_MEMSLOTS], *p;
	size_t i, n;
	u8 *mem, *thp;
	int vm, vcpu, r;
	u64 gpa;
	bool ok;

	vm = xcreate_vm(devfd);
	vcpu = xcreate_vcpu(vm);

	/* Slot i gets the page (31 - i) of a buffer, so mix-ups show. */
	mem = xmap(EPTMMU_MAX_MEMSLOTS * PAGE_SIZE, PAGE_SIZE);
	fill(mem, EPTMMU_MAX_MEMSLOTS * PAGE_SIZE, 14);
	ok = true;
	for (i = 0; i < EPTMMU_MAX_MEMSLOTS; i++) {
		size_t page = EPTMMU_MAX_MEMSLOTS - 1 - i;

		gpa = GPA_BASE + i * SZ_2M + i * PAGE_SIZE;
		r = set_memslot(vm, i, 0, gpa, PAGE_SIZE,
				mem + page * PAGE_SIZE);
		if (r) {
			tap_diag("slot %zu: %s", i, strerror(-r));
			ok = false;
		}
		a[i] = access_of(EPTMMU_ACCESS_READ, gpa + 8 * i, 8, 0);
	}
	ok = ok && run_all(vcpu, a, EPTMMU_MAX_MEMSLOTS, NULL, "32 slots");
	for (i = 0; ok && i < EPTMMU_MAX_MEMSLOTS; i++) {
		size_t page = EPTMMU_MAX_MEMSLOTS - 1 - i;
		u64 want = pat(14, page * 512 + i);

		if (a[i].value != want) {
			tap_diag("slot %zu read %#llx, want %#llx", i,
				 a[i].value, want);
			ok = false;
		}
	}
	for (i = 0; i < EPTMMU_MAX_MEMSLOTS; i++)
		del_memslot(vm, i);
	munmap(mem, EPTMMU_MAX_MEMSLOTS * PAGE_SIZE);
	tap_ok(ok, "multislot: all %d slots in use at once, each maps its own page",
	       EPTMMU_MAX_MEMSLOTS);

	/* Two gpa ranges over one buffer must stay coherent. */
	mem = xmap(SZ_2M, SZ_2M);
	ok = !set_memslot(vm, 0, 0, GPA_BASE, SZ_2M, mem) &&
	     !set_memslot(vm, 1, 0, GPA_FAR, SZ_2M, mem);
	if (!ok)
		tap_diag("alias slots: %s", strerror(errno));
	p = a;
	for (i = 0; ok && i < 8; i++) {
		u64 off = i * 67 * PAGE_SIZE + i * 8;
		u64 here = (i % 2 ? GPA_FAR : GPA_BASE) + off;
		u64 there = (i % 2 ? GPA_BASE : GPA_FAR) + off;

		*p++ = access_of(EPTMMU_ACCESS_READ, there, 8, 0);
		*p++ = access_of(EPTMMU_ACCESS_WRITE, here, 8, pat(15, i));
		*p++ = access_of(EPTMMU_ACCESS_READ, there, 8, 0);
	}
	n = p - a;
	ok = ok && run_all(vcpu, a, n, NULL, "alias");
	for (i = 0; ok && i < n; i += 3) {
		if (a[i].value != 0 || a[i + 2].value != pat(15, i / 3) ||
		    *(u64 *)(mem + (a[i].gpa & (SZ_2M - 1))) != pat(15, i / 3)) {
			tap_diag("alias %zu: before %#llx after %#llx, want 0 and %#llx",
				 i / 3, a[i].value, a[i + 2].value, pat(15, i / 3));
			ok = false;
		}
	}
	del_memslot(vm, 0);
	del_memslot(vm, 1);
	munmap(mem, SZ_2M);
	tap_ok(ok, "multislot: two slots over one buffer see each other's writes");

	/*
	 * The process address is 4 KiB off a 2 MiB boundary while the gpa is
	 * on one: a 2 MiB leaf here would map every page one page off.
	 */
	n = (4 * SZ_1M) / PAGE_SIZE;
	thp = xmap(6 * SZ_1M, SZ_2M);
	madvise(thp, 6 * SZ_1M, MADV_HUGEPAGE);
	fill(thp + PAGE_SIZE, 4 * SZ_1M, 16);
	ok = !set_memslot(vm, 2, 0, GPA_BASE, 4 * SZ_1M, thp + PAGE_SIZE);
	if (!ok)
		tap_diag("misaligned slot: %s", strerror(errno));
	ok = ok && g_read_pages(vcpu, GPA_BASE, n, 16, "misaligned slot");
	del_memslot(vm, 2);
	tap_ok(ok, "multislot: gpa 2 MiB aligned, process address not: every page right");

	/* A slot smaller than a huge page over a huge page ends where it says. */
	fill(thp, SZ_2M, 17);
	ok = !set_memslot(vm, 3, 0, GPA_BASE, 3 * PAGE_SIZE, thp);
	if (!ok)
		tap_diag("3-page slot: %s", strerror(errno));
	ok = ok && g_read_pages(vcpu, GPA_BASE, 3, 17, "3-page slot");
	if (ok) {
		a[0] = access_of(EPTMMU_ACCESS_READ, GPA_BASE + 3 * PAGE_SIZE, 8, 0);
		ok = run_stops(vcpu, a, 1, 0, EPTMMU_EXIT_MMIO, 0,
			       "page after 3-page slot");
	}
	del_memslot(vm, 3);
	munmap(thp, 6 * SZ_1M);
	tap_ok(ok, "multislot: a 3-page slot over a huge page maps 3 pages, the 4th exits MMIO");
	close(vcpu);
	close_vm(vm);
}

/* ---- limits that must be accepted ---- */

static void t_boundary(void)
{
	struct eptmmu_access *a;
	u8 *lo, *hi;
	void *res;
	int vm, vcpu, r;
	u64 top = EPTMMU_MAX_GPA - SZ_2M;
	u64 v;
	bool ok;
	size_t i;

	vm = xcreate_vm(devfd);
	vcpu = xcreate_vcpu(vm);
	lo = xmap(SZ_2M, SZ_2M);
	hi = xmap(SZ_2M, SZ_2M);

	r = set_memslot(vm, 0, 0, 0, SZ_2M, lo);
	if (r)
		tap_diag("slot at gpa 0: %s", strerror(-r));
	ok = !r && g_write(vcpu, 0, 8, pat(18, 0)) &&
	     g_write(vcpu, SZ_2M - 8, 8, pat(18, 1)) &&
	     g_read(vcpu, 0, 8, &v) && v == pat(18, 0) &&
	     ((u64 *)lo)[0] == pat(18, 0) &&
	     ((u64 *)lo)[SZ_2M / 8 - 1] == pat(18, 1);
	tap_ok(ok, "boundary: a slot at gpa 0 works");

	r = set_memslot(vm, 1, 0, top, SZ_2M, hi);
	if (r)
		tap_diag("slot ending at EPTMMU_MAX_GPA: %s", strerror(-r));
	ok = !r && g_write(vcpu, EPTMMU_MAX_GPA - 8, 8, pat(18, 2)) &&
	     g_read(vcpu, EPTMMU_MAX_GPA - 1, 1, &v) &&
	     v == pat(18, 2) >> 56 &&
	     ((u64 *)hi)[SZ_2M / 8 - 1] == pat(18, 2);
	tap_ok(ok, "boundary: a slot ending exactly at EPTMMU_MAX_GPA works up to its last byte");

	/* Address space only: nothing behind it is ever touched. */
	res = mmap(NULL, EPTMMU_MAX_MEMSLOT_SIZE, PROT_NONE,
		   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (res == MAP_FAILED) {
		tap_diag("cannot reserve %llu bytes of address space: %s",
			 EPTMMU_MAX_MEMSLOT_SIZE, strerror(errno));
		ok = false;
	} else {
		r = set_memslot(vm, 2, 0, 1ULL << 40, EPTMMU_MAX_MEMSLOT_SIZE,
				res);
		if (r)
			tap_diag("slot of EPTMMU_MAX_MEMSLOT_SIZE: %s",
				 strerror(-r));
		ok = !r && !del_memslot(vm, 2);
		munmap(res, EPTMMU_MAX_MEMSLOT_SIZE);
	}
	tap_ok(ok, "boundary: a slot of exactly EPTMMU_MAX_MEMSLOT_SIZE is accepted");

	a = xmap(EPTMMU_MAX_RUN_ACCESSES * sizeof(*a), PAGE_SIZE);
	for (i = 0; i < EPTMMU_MAX_RUN_ACCESSES; i++)
		a[i] = access_of(i % 2 ? EPTMMU_ACCESS_READ : EPTMMU_ACCESS_WRITE,
				 i / 2 * 8, 8, i);
	ok = run_all(vcpu, a, EPTMMU_MAX_RUN_ACCESSES, NULL, "max batch");
	for (i = 1; ok && i < EPTMMU_MAX_RUN_ACCESSES; i += 2) {
		if (a[i].value != i - 1) {
			tap_diag("access %zu read %#llx, want %#zx", i,
				 a[i].value, i - 1);
			ok = false;
		}
	}
	munmap(a, EPTMMU_MAX_RUN_ACCESSES * sizeof(*a));
	tap_ok(ok, "boundary: EPTMMU_RUN of exactly EPTMMU_MAX_RUN_ACCESSES completes");

	close(vcpu);
	close_vm(vm);
	munmap(lo, SZ_2M);
	munmap(hi, SZ_2M);
}

/* ---- j: invalid arguments ---- */

/*
 * After each refused call: slot 0 still serves its data, the process memory
 * behind it is intact, the generation is unchanged and the vCPU performed
 * no access besides the probe itself.
 */
struct probe {
	int vm, vcpu;
	u64 gpa;
	u64 *word;
	u64 want;
	u64 gen;
	u64 accesses;
};

static bool probe_unchanged(struct probe *p)
{
	struct eptmmu_access a = access_of(EPTMMU_ACCESS_READ, p->gpa, 8, 0);
	struct eptmmu_vm_stats st;
	struct eptmmu_run run;
	bool ok = true;
	int r;

	xvm_stats(p->vm, &st);
	if (st.memslot_generation != p->gen) {
		tap_diag("memslot_generation changed: %llu -> %llu", p->gen,
			 st.memslot_generation);
		p->gen = st.memslot_generation;
		ok = false;
	}
	if (*p->word != p->want) {
		tap_diag("process memory behind slot 0 changed to %#llx", *p->word);
		*p->word = p->want;
		ok = false;
	}
	r = run_vcpu(p->vcpu, &a, 1, &run);
	if (r || run.exit_reason != EPTMMU_EXIT_DONE || run.done != 1) {
		diag_run("probe read of slot 0", r, &run);
		return false;
	}
	if (a.value != p->want) {
		tap_diag("probe read of slot 0 saw %#llx, want %#llx", a.value,
			 p->want);
		ok = false;
	}
	if (run.stats.accesses != p->accesses + 1) {
		tap_diag("vCPU accesses went %llu -> %llu: the refused call performed accesses",
			 p->accesses, run.stats.accesses);
		ok = false;
	}
	p->accesses = run.stats.accesses;
	return ok;
}

enum target { DEV, VM, VCPU };

struct bad_call {
	const char *desc;
	enum target target;
	unsigned long cmd;
	unsigned long arg;
	int err;
};

/* What the table of refused calls points at. */
struct bad_ctx {
	int fd[3];
	u8 *mem, *mem2;
	void *res;		/* address space for ranges too big to back */
	void *guard;		/* a PROT_NONE page */
	struct eptmmu_access *big, *deep, *edge, marker;
	size_t big_n, deep_n;
	struct eptmmu_vm_stats st;
	struct probe pr;
};

#define NR_BAD_CALLS	62

#define G		GPA_BASE
#define G2		GPA_FAR
#define M		SZ_2M
#define PTR(...)	((unsigned long)(uintptr_t)(__VA_ARGS__))
/* Every field spelled out, so each row shows exactly what is wrong. */
#define MS(sl, fl, gpa, size, uaddr)					\
	PTR(&(struct eptmmu_memslot){ .slot = (sl), .flags = (fl),	\
		.guest_phys_addr = (gpa), .memory_size = (size),	\
		.userspace_addr = PTR(uaddr) })
#define RUN(acc, n, fl)	PTR(&(struct eptmmu_run){			\
			.accesses = PTR(acc), .count = (n), .flags = (fl) })
/* The marker write first: a refused batch must not have performed it. */
#define BATCH(...)	((struct eptmmu_access[]){ c->marker, __VA_ARGS__ })
/* A batch of the marker and one bad access. */
#define RUN2(g, k, sz, ...)						\
	RUN(BATCH((struct eptmmu_access){ .gpa = (g), .kind = (k),	\
		  .size = (sz), ##__VA_ARGS__ }), 2, 0)

static void bad_calls(struct bad_ctx *c)
{
	struct bad_call calls[] = {
		{ "unknown ioctl on /dev/eptmmu", DEV, _IO(EPTMMU_IO, 0x7f), 0, ENOTTY },
		{ "TCGETS (isatty) on /dev/eptmmu", DEV, TCGETS,
		  PTR(&(struct termios){ 0 }), ENOTTY },
		{ "VM ioctl SET_MEMSLOT on /dev/eptmmu", DEV, EPTMMU_SET_MEMSLOT,
		  MS(1, 0, G2, M, c->mem2), ENOTTY },
		{ "vCPU ioctl RUN on /dev/eptmmu", DEV, EPTMMU_RUN, RUN(BATCH(), 1, 0), ENOTTY },
		{ "unknown ioctl on a VM fd", VM, _IO(EPTMMU_IO, 0x7f), 0, ENOTTY },
		{ "CREATE_VM on a VM fd", VM, EPTMMU_CREATE_VM, 0, ENOTTY },
		{ "RUN on a VM fd", VM, EPTMMU_RUN, RUN(BATCH(), 1, 0), ENOTTY },
		{ "SET_MEMSLOT's number with the wrong size on a VM fd", VM,
		  _IOW(EPTMMU_IO, 0x10, __u64), PTR(&(u64){ 0 }), ENOTTY },
		{ "unknown ioctl on a vCPU fd", VCPU, _IO(EPTMMU_IO, 0x7f), 0, ENOTTY },
		{ "SET_MEMSLOT on a vCPU fd", VCPU, EPTMMU_SET_MEMSLOT,
		  MS(1, 0, G2, M, c->mem2), ENOTTY },
		{ "GET_VM_STATS on a vCPU fd", VCPU, EPTMMU_GET_VM_STATS, PTR(&c->st), ENOTTY },
		{ "RUN's number with the wrong size on a vCPU fd", VCPU,
		  _IOWR(EPTMMU_IO, 0x20, __u64), PTR(&(u64){ 0 }), ENOTTY },
		{ "CREATE_VM with argument 1", DEV, EPTMMU_CREATE_VM, 1, EINVAL },
		{ "CREATE_VCPU with argument 1", VM, EPTMMU_CREATE_VCPU, 1, EINVAL },
		{ "CREATE_VCPU with argument ~0", VM, EPTMMU_CREATE_VCPU, ~0UL, EINVAL },

		/* slot 0 is [G, G + M) backed by mem; slot 1 is free */
		{ "SET_MEMSLOT flag bit 2 (DIRTY_LOG_DBIT) without LOG_DIRTY_PAGES", VM, EPTMMU_SET_MEMSLOT,
		  MS(1, 1u << 2, G2, M, c->mem2), EINVAL },
		{ "SET_MEMSLOT unknown flag bit 31", VM, EPTMMU_SET_MEMSLOT,
		  MS(1, 1u << 31, G2, M, c->mem2), EINVAL },
		{ "SET_MEMSLOT slot EPTMMU_MAX_MEMSLOTS", VM, EPTMMU_SET_MEMSLOT,
		  MS(EPTMMU_MAX_MEMSLOTS, 0, G2, M, c->mem2), EINVAL },
		{ "SET_MEMSLOT slot 0xffffffff", VM, EPTMMU_SET_MEMSLOT,
		  MS(~0u, 0, G2, M, c->mem2), EINVAL },
		{ "SET_MEMSLOT gpa not 4 KiB aligned", VM, EPTMMU_SET_MEMSLOT,
		  MS(1, 0, G2 + 0x800, M, c->mem2), EINVAL },
		{ "SET_MEMSLOT size not a 4 KiB multiple", VM, EPTMMU_SET_MEMSLOT,
		  MS(1, 0, G2, 0x1800, c->mem2), EINVAL },
		{ "SET_MEMSLOT userspace_addr not 4 KiB aligned", VM, EPTMMU_SET_MEMSLOT,
		  MS(1, 0, G2, PAGE_SIZE, c->mem2 + 0x800), EINVAL },
		{ "SET_MEMSLOT size EPTMMU_MAX_MEMSLOT_SIZE + 4 KiB", VM, EPTMMU_SET_MEMSLOT,
		  MS(1, 0, 1ULL << 44, EPTMMU_MAX_MEMSLOT_SIZE + PAGE_SIZE, c->res), EINVAL },
		{ "SET_MEMSLOT gpa + size past EPTMMU_MAX_GPA", VM, EPTMMU_SET_MEMSLOT,
		  MS(1, 0, EPTMMU_MAX_GPA - SZ_1M, M, c->mem2), EINVAL },
		{ "SET_MEMSLOT gpa at EPTMMU_MAX_GPA", VM, EPTMMU_SET_MEMSLOT,
		  MS(1, 0, EPTMMU_MAX_GPA, PAGE_SIZE, c->mem2), EINVAL },
		{ "SET_MEMSLOT gpa + size wrapping u64 to a small value", VM, EPTMMU_SET_MEMSLOT,
		  MS(1, 0, 0xfffffffffff00000ULL, M, c->mem2), EINVAL },
		{ "SET_MEMSLOT size making gpa + size wrap", VM, EPTMMU_SET_MEMSLOT,
		  MS(1, 0, G2, 0xfffffffffff00000ULL, c->mem2), EINVAL },
		{ "delete of slot EPTMMU_MAX_MEMSLOTS", VM, EPTMMU_SET_MEMSLOT,
		  MS(EPTMMU_MAX_MEMSLOTS, 0, 0, 0, 0), EINVAL },
		{ "SET_MEMSLOT userspace_addr in kernel space", VM, EPTMMU_SET_MEMSLOT,
		  MS(1, 0, G2, M, 0xffff800000000000ULL), EFAULT },
		{ "SET_MEMSLOT userspace_addr 0xffffffff80000000", VM, EPTMMU_SET_MEMSLOT,
		  MS(1, 0, G2, M, 0xffffffff80000000ULL), EFAULT },
		{ "SET_MEMSLOT overlapping the start of slot 0", VM, EPTMMU_SET_MEMSLOT,
		  MS(1, 0, G - SZ_1M, M, c->mem2), EEXIST },
		{ "SET_MEMSLOT overlapping the end of slot 0", VM, EPTMMU_SET_MEMSLOT,
		  MS(1, 0, G + SZ_1M, M, c->mem2), EEXIST },
		{ "SET_MEMSLOT inside slot 0", VM, EPTMMU_SET_MEMSLOT,
		  MS(1, 0, G + PAGE_SIZE, PAGE_SIZE, c->mem2), EEXIST },
		{ "SET_MEMSLOT containing slot 0", VM, EPTMMU_SET_MEMSLOT,
		  MS(1, 0, G - M, 3 * M, c->res), EEXIST },
		{ "re-set slot 0 at another gpa", VM, EPTMMU_SET_MEMSLOT,
		  MS(0, 0, G2, M, c->mem), EBUSY },
		{ "re-set slot 0 with another size", VM, EPTMMU_SET_MEMSLOT,
		  MS(0, 0, G, M / 2, c->mem), EBUSY },
		{ "re-set slot 0 with another userspace_addr", VM, EPTMMU_SET_MEMSLOT,
		  MS(0, 0, G, M, c->mem2), EBUSY },
		{ "toggle EPTMMU_MEM_READONLY on slot 0", VM, EPTMMU_SET_MEMSLOT,
		  MS(0, EPTMMU_MEM_READONLY, G, M, c->mem), EBUSY },
		{ "delete of slot 5, which does not exist", VM, EPTMMU_SET_MEMSLOT,
		  MS(5, 0, 0, 0, 0), ENOENT },
		{ "SET_MEMSLOT with a NULL argument", VM, EPTMMU_SET_MEMSLOT, 0, EFAULT },
		{ "SET_MEMSLOT with an unreadable argument", VM, EPTMMU_SET_MEMSLOT,
		  PTR(c->guard), EFAULT },
		{ "GET_VM_STATS with an unwritable argument", VM, EPTMMU_GET_VM_STATS,
		  PTR(c->guard), EFAULT },

		{ "RUN count 0", VCPU, EPTMMU_RUN, RUN(BATCH(), 0, 0), EINVAL },
		{ "RUN count EPTMMU_MAX_RUN_ACCESSES + 1", VCPU, EPTMMU_RUN,
		  RUN(c->big, c->big_n, 0), EINVAL },
		{ "RUN flags 1", VCPU, EPTMMU_RUN, RUN(BATCH(), 1, 1), EINVAL },
		{ "RUN flags bit 31", VCPU, EPTMMU_RUN, RUN(BATCH(), 1, 1u << 31), EINVAL },
		{ "RUN access kind 3", VCPU, EPTMMU_RUN,
		  RUN2(G + 8, 3, 8), EINVAL },
		{ "RUN access kind 0xff", VCPU, EPTMMU_RUN,
		  RUN2(G + 8, 0xff, 8), EINVAL },
		{ "RUN access size 3", VCPU, EPTMMU_RUN,
		  RUN2(G + 8, EPTMMU_ACCESS_READ, 3), EINVAL },
		{ "RUN access size 0", VCPU, EPTMMU_RUN,
		  RUN2(G + 8, EPTMMU_ACCESS_READ, 0), EINVAL },
		{ "RUN access size 16", VCPU, EPTMMU_RUN,
		  RUN2(G + 16, EPTMMU_ACCESS_WRITE, 16), EINVAL },
		{ "RUN 8-byte read at gpa % 8 == 4", VCPU, EPTMMU_RUN,
		  RUN2(G + 4, EPTMMU_ACCESS_READ, 8), EINVAL },
		{ "RUN 2-byte write at an odd gpa", VCPU, EPTMMU_RUN,
		  RUN2(G + 9, EPTMMU_ACCESS_WRITE, 2), EINVAL },
		{ "RUN 4-byte fetch at gpa % 4 == 2, last bytes of a page", VCPU, EPTMMU_RUN,
		  RUN2(G + PAGE_SIZE - 2, EPTMMU_ACCESS_FETCH, 4), EINVAL },
		{ "RUN access pad[0] = 1", VCPU, EPTMMU_RUN,
		  RUN2(G + 8, EPTMMU_ACCESS_READ, 8, .pad = { 1 }), EINVAL },
		{ "RUN access pad[5] = 0x80", VCPU, EPTMMU_RUN,
		  RUN2(G + 8, EPTMMU_ACCESS_READ, 8, .pad = { [5] = 0x80 }), EINVAL },
		{ "RUN bad pad in access 5001 of 5001", VCPU, EPTMMU_RUN,
		  RUN(c->deep, c->deep_n, 0), EINVAL },
		{ "RUN accesses NULL", VCPU, EPTMMU_RUN, RUN(NULL, 1, 0), EFAULT },
		{ "RUN accesses unreadable", VCPU, EPTMMU_RUN, RUN(c->guard, 1, 0), EFAULT },
		{ "RUN accesses in kernel space", VCPU, EPTMMU_RUN,
		  RUN(0xffff800000000000ULL, 1, 0), EFAULT },
		{ "RUN accesses readable for the first entry only", VCPU, EPTMMU_RUN,
		  RUN(c->edge, 2, 0), EFAULT },
		{ "RUN with a NULL argument", VCPU, EPTMMU_RUN, 0, EFAULT },
	};
	size_t n;

	_Static_assert(ARRAY_SIZE(calls) == NR_BAD_CALLS, "update NR_BAD_CALLS");

	for (n = 0; n < ARRAY_SIZE(calls); n++) {
		struct bad_call *b = &calls[n];
		int ret, err;
		bool ok;

		errno = 0;
		ret = ioctl(c->fd[b->target], b->cmd, b->arg);
		err = errno;
		ok = ret == -1 && err == b->err;
		if (!ok)
			tap_diag("%s: returned %d errno %d (%s), want -1 errno %d (%s)",
				 b->desc, ret, err, strerror(err), b->err,
				 strerror(b->err));
		/* Undo an unexpected success so later cases start clean. */
		if (ret >= 0 && (b->cmd == EPTMMU_CREATE_VM ||
				 b->cmd == EPTMMU_CREATE_VCPU))
			close(ret);
		if (ret >= 0 && b->cmd == EPTMMU_SET_MEMSLOT && b->target == VM) {
			const struct eptmmu_memslot *ms = (void *)b->arg;

			del_memslot(c->fd[VM], ms->slot);
			set_memslot(c->fd[VM], 0, 0, G, M, c->mem);
		}
		ok &= probe_unchanged(&c->pr);
		tap_ok(ok, "invalid: %s -> %s", b->desc, strerrorname_np(b->err));
	}
}

static void t_invalid(void)
{
	struct bad_ctx ctx = { .big_n = EPTMMU_MAX_RUN_ACCESSES + 1, .deep_n = 5001 };
	struct bad_ctx *c = &ctx;
	int vm, vcpu, vm2, r, i, made, err;
	int vcpus[EPTMMU_MAX_VCPUS + 1];
	u8 *twopage;
	size_t n;
	bool ok;

	c->fd[DEV] = devfd;
	c->fd[VM] = vm = xcreate_vm(devfd);
	c->fd[VCPU] = vcpu = xcreate_vcpu(vm);
	c->mem = xmap(M, M);
	c->mem2 = xmap(M, M);
	fill(c->mem, M, 19);
	r = set_memslot(vm, 0, 0, G, M, c->mem);
	if (r) {
		tap_diag("slot 0: %s", strerror(-r));
		goto out;
	}

	/* PROT_NONE costs no memory, however large. */
	c->res = mmap(NULL, 2 * EPTMMU_MAX_MEMSLOT_SIZE, PROT_NONE,
		      MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (c->res == MAP_FAILED)
		c->res = c->mem2;
	c->guard = mmap(NULL, PAGE_SIZE, PROT_NONE,
			MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	twopage = xmap(2 * PAGE_SIZE, PAGE_SIZE);
	if (c->guard == MAP_FAILED ||
	    mprotect(twopage + PAGE_SIZE, PAGE_SIZE, PROT_NONE))
		die("guard pages");

	c->marker = access_of(EPTMMU_ACCESS_WRITE, G, 8, ~pat(19, 0));
	c->big = xmap(c->big_n * sizeof(*c->big), PAGE_SIZE);
	for (n = 0; n < c->big_n; n++)
		c->big[n] = access_of(EPTMMU_ACCESS_READ, G, 8, 0);
	c->big[0] = c->marker;
	/*
	 * The bad entry last in a long batch: a kernel that copies and runs
	 * the array in chunks must still refuse it before running any.
	 */
	c->deep = xmap(c->deep_n * sizeof(*c->deep), PAGE_SIZE);
	for (n = 0; n < c->deep_n; n++)
		c->deep[n] = c->marker;
	c->deep[c->deep_n - 1].pad[3] = 1;
	/* The marker is the last whole entry of a page, the next one faults. */
	c->edge = (struct eptmmu_access *)(twopage + PAGE_SIZE) - 1;
	c->edge[0] = c->marker;

	xvm_stats(vm, &c->st);
	c->pr = (struct probe){
		.vm = vm, .vcpu = vcpu, .gpa = G, .word = (u64 *)c->mem,
		.want = pat(19, 0), .gen = c->st.memslot_generation,
	};
	probe_unchanged(&c->pr);	/* maps the page, sets the baseline */
	bad_calls(c);

	/* The one flag that may change in place, as a control. */
	r = set_memslot(vm, 0, EPTMMU_MEM_LOG_DIRTY_PAGES, G, M, c->mem);
	xvm_stats(vm, &c->st);
	ok = !r && c->st.memslot_generation > c->pr.gen &&
	     g_write(vcpu, G + 16, 8, pat(19, 99)) &&
	     ((u64 *)c->mem)[2] == pat(19, 99) &&
	     !set_memslot(vm, 0, 0, G, M, c->mem);
	if (!ok)
		tap_diag("LOG_DIRTY_PAGES toggle: %s, generation %llu -> %llu",
			 r ? strerror(-r) : "accepted", c->pr.gen,
			 c->st.memslot_generation);
	tap_ok(ok, "invalid: toggling EPTMMU_MEM_LOG_DIRTY_PAGES in place is allowed (control)");

	/* EPTMMU_MAX_VCPUS in a fresh VM, then one more. */
	vm2 = xcreate_vm(devfd);
	made = err = 0;
	for (i = 0; i <= EPTMMU_MAX_VCPUS; i++) {
		vcpus[i] = ioctl(vm2, EPTMMU_CREATE_VCPU, 0);
		if (vcpus[i] < 0) {
			err = errno;
			break;
		}
		made++;
	}
	ok = made == EPTMMU_MAX_VCPUS && err == ENOSPC;
	if (!ok)
		tap_diag("created %d vCPUs, then errno %d (%s); want %d, then ENOSPC",
			 made, err, strerror(err), EPTMMU_MAX_VCPUS);
	for (i = 0; i < made; i++)
		close(vcpus[i]);
	close_vm(vm2);
	tap_ok(ok, "invalid: %d vCPUs can be created, one more gives ENOSPC",
	       EPTMMU_MAX_VCPUS);

	munmap(c->big, c->big_n * sizeof(*c->big));
	munmap(c->deep, c->deep_n * sizeof(*c->deep));
	munmap(twopage, 2 * PAGE_SIZE);
	munmap(c->guard, PAGE_SIZE);
	if (c->res != c->mem2)
		munmap(c->res, 2 * EPTMMU_MAX_MEMSLOT_SIZE);
out:
	close(vcpu);
	close_vm(vm);
	munmap(c->mem, M);
	munmap(c->mem2, M);
}

#undef G
#undef G2
#undef M

/* ---- the process changes its memory under the guest ---- */

static void t_procmem(void)
{
	size_t i, npages = SZ_2M / PAGE_SIZE;
	struct eptmmu_vm_stats s0, s1;
	struct eptmmu_access *a, b[2];
	u64 *w, v, v2;
	struct fix f;
	bool ok;
	u8 *p;

#define PAGE_GPA(i, word)	(f.gpa + (i) * PAGE_SIZE + (word) * 8)
#define WORD(i, word)		w[(i) * PAGE_SIZE / 8 + (word)]
	if (!fix_init(&f, SZ_2M, 0))
		return;
	w = (u64 *)f.mem;
	fill(f.mem, f.size, 20);
	/* Writable mappings everywhere first, so each change has one to revoke. */
	a = calloc(npages, sizeof(*a));
	if (!a)
		die("calloc");
	for (i = 0; i < npages; i++)
		a[i] = access_of(EPTMMU_ACCESS_WRITE, PAGE_GPA(i, 0), 8,
				 WORD(i, 0));
	if (!run_all(f.vcpu, a, npages, NULL, "write every page"))
		goto out;
	xvm_stats(f.vm, &s0);

	p = f.mem + 5 * PAGE_SIZE;
	if (mprotect(p, 2 * PAGE_SIZE, PROT_READ))
		die("mprotect");
	b[0] = access_of(EPTMMU_ACCESS_WRITE, PAGE_GPA(4, 0), 8, WORD(4, 0));
	b[1] = access_of(EPTMMU_ACCESS_WRITE, PAGE_GPA(5, 1), 8, ~WORD(5, 1));
	ok = run_stops(f.vcpu, b, 2, 1, EPTMMU_EXIT_FAULT, EACCES,
		       "write to PROT_READ page");
	if (ok && WORD(5, 1) != pat(20, 5 * 512 + 1)) {
		tap_diag("the refused write changed the page");
		ok = false;
	}
	tap_ok(ok, "procmem: after mprotect(PROT_READ) a guest write exits FAULT with EACCES");

	ok = g_read(f.vcpu, PAGE_GPA(5, 1), 8, &v) &&
	     g_read(f.vcpu, PAGE_GPA(6, 0), 8, &v2) &&
	     v == WORD(5, 1) && v2 == WORD(6, 0);
	tap_ok(ok, "procmem: guest reads of the PROT_READ pages still work");

	if (mprotect(p, 2 * PAGE_SIZE, PROT_READ | PROT_WRITE))
		die("mprotect");
	ok = g_write(f.vcpu, PAGE_GPA(5, 1), 8, pat(21, 1)) &&
	     WORD(5, 1) == pat(21, 1);
	tap_ok(ok, "procmem: after mprotect back to read-write guest writes land");

	ok = g_write(f.vcpu, PAGE_GPA(7, 3), 8, pat(21, 2));
	if (madvise(f.mem + 7 * PAGE_SIZE, PAGE_SIZE, MADV_DONTNEED))
		die("madvise");
	ok = ok && WORD(7, 3) == 0 && g_read(f.vcpu, PAGE_GPA(7, 3), 8, &v);
	if (ok && v) {
		tap_diag("after MADV_DONTNEED the guest read %#llx, want 0", v);
		ok = false;
	}
	ok = ok && g_write(f.vcpu, PAGE_GPA(7, 3), 8, pat(21, 3)) &&
	     WORD(7, 3) == pat(21, 3);
	tap_ok(ok, "procmem: after MADV_DONTNEED the guest reads zero and its writes land");

	if (munmap(f.mem + 9 * PAGE_SIZE, PAGE_SIZE))
		die("munmap");
	b[0] = access_of(EPTMMU_ACCESS_READ, PAGE_GPA(8, 0), 8, 0);
	b[1] = access_of(EPTMMU_ACCESS_READ, PAGE_GPA(9, 0), 8, 0);
	ok = run_stops(f.vcpu, b, 2, 1, EPTMMU_EXIT_FAULT, EFAULT,
		       "read of unmapped page") &&
	     b[0].value == WORD(8, 0) &&
	     g_read(f.vcpu, PAGE_GPA(10, 0), 8, &v) && v == WORD(10, 0);
	tap_ok(ok, "procmem: after munmap a guest read exits FAULT with EFAULT, neighbours intact");

	if (mmap(f.mem + 9 * PAGE_SIZE, PAGE_SIZE, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0) == MAP_FAILED)
		die("mmap MAP_FIXED");
	fill(f.mem + 9 * PAGE_SIZE, PAGE_SIZE, 22);
	ok = g_read(f.vcpu, PAGE_GPA(9, 5), 8, &v) && v == pat(22, 5);
	tap_ok(ok, "procmem: new memory mapped at the same address shows through");

	xvm_stats(f.vm, &s1);
	ok = s1.invalidations > s0.invalidations;
	if (!ok) {
		diag_vm_stats("before", &s0);
		diag_vm_stats("after", &s1);
	}
	tap_ok(ok, "procmem: the VM counted MMU-notifier invalidations");
out:
	free(a);
	fix_fini(&f);
#undef PAGE_GPA
#undef WORD
}

/* ---- fork: copy-on-write under the guest ---- */

static void t_fork(void)
{
	size_t i, npages = SZ_2M / PAGE_SIZE, half = npages / 2;
	struct eptmmu_access *a;
	int p2c[2], c2p[2];
	long res[2] = { -1, 0 };
	struct fix f;
	u64 *w;
	pid_t pid;
	bool ok;

	if (!fix_init(&f, SZ_2M, 0))
		return;
	w = (u64 *)f.mem;
	fill(f.mem, f.size, 23);
	a = calloc(npages, sizeof(*a));
	if (!a || pipe(p2c) || pipe(c2p))
		die("fork set-up");
	/* Word 0 of every page from the guest: writable mappings everywhere. */
	for (i = 0; i < npages; i++)
		a[i] = access_of(EPTMMU_ACCESS_WRITE, f.gpa + i * PAGE_SIZE, 8,
				 pat(24, i));
	if (!run_all(f.vcpu, a, npages, NULL, "pre-fork writes"))
		goto out;

	fflush(stdout);
	pid = fork();
	if (pid < 0)
		die("fork");
	if (!pid) {
		char go;

		/* Stay alive while the parent writes, so the pages stay shared. */
		if (read(p2c[0], &go, 1) != 1)
			_exit(1);
		for (i = 0; i < npages * 512; i++) {
			u64 want = i % 512 ? pat(23, i) : pat(24, i / 512);

			if (w[i] != want) {
				res[0] = i;
				res[1] = w[i];
				break;
			}
		}
		_exit(write(c2p[1], res, sizeof(res)) != sizeof(res));
	}

	/* The parent's own write breaks COW for half the pages first. */
	for (i = 0; i < half; i++)
		w[i * 512 + 1] = pat(26, i);
	for (i = 0; i < half; i++)
		a[i] = access_of(EPTMMU_ACCESS_READ, f.gpa + i * PAGE_SIZE + 8,
				 8, 0);
	ok = run_all(f.vcpu, a, half, NULL, "reads after fork");
	for (i = 0; ok && i < half; i++) {
		if (a[i].value != pat(26, i)) {
			tap_diag("page %zu: guest read %#llx, process wrote %#llx",
				 i, a[i].value, pat(26, i));
			ok = false;
		}
	}
	tap_ok(ok, "fork: the guest sees the parent's writes made after fork");

	/* Then the guest writes every page: half still shared with the child. */
	for (i = 0; i < npages; i++)
		a[i] = access_of(EPTMMU_ACCESS_WRITE, f.gpa + i * PAGE_SIZE, 8,
				 pat(25, i));
	ok = run_all(f.vcpu, a, npages, NULL, "writes after fork");
	for (i = 0; ok && i < npages; i++) {
		if (w[i * 512] != pat(25, i)) {
			tap_diag("page %zu: parent sees %#llx after the guest wrote %#llx",
				 i, w[i * 512], pat(25, i));
			ok = false;
		}
	}
	tap_ok(ok, "fork: guest writes after fork land in the parent's memory");

	ok = write(p2c[1], "g", 1) == 1 &&
	     read(c2p[0], res, sizeof(res)) == sizeof(res) && res[0] < 0;
	if (!ok)
		tap_diag("the child's word %ld is %#lx: a guest write reached the child",
			 res[0], res[1]);
	tap_ok(ok, "fork: the child's copy keeps the data from before the fork");
	waitpid(pid, NULL, 0);
out:
	close(p2c[0]);
	close(p2c[1]);
	close(c2p[0]);
	close(c2p[1]);
	free(a);
	fix_fini(&f);
}

/* ---- EIO: the address space behind a VM is gone ---- */

/*
 * A child creates a VM and a vCPU and forks a grandchild, which inherits
 * the descriptors but lives in its own address space.  The child exits;
 * the grandchild waits for that (EOF on a pipe only the child held open),
 * uses the descriptors and sends one result byte per check up a pipe.
 */
static void t_eio(void)
{
	struct eptmmu_access b = access_of(EPTMMU_ACCESS_READ, GPA_BASE, 8, 0);
	int up[2], gone[2], status;
	char res[3] = { 0 };
	pid_t pid;

	if (pipe(up) || pipe(gone))
		die("pipe");
	fflush(stdout);
	pid = fork();
	if (pid < 0)
		die("fork");
	if (!pid) {
		struct eptmmu_run run;
		struct fix f;
		char c;

		close(up[0]);
		close(gone[0]);
		if (!fix_init(&f, SZ_2M, 0) ||
		    !touch_slot(f.vcpu, f.gpa, f.size, 28))
			_exit(1);
		pid = fork();
		if (pid < 0)
			_exit(1);
		if (pid)
			_exit(0);	/* the creator goes; its mm with it */
		close(gone[1]);
		/* An exiting task drops its mm before its files: EOF means gone. */
		while (read(gone[0], &c, 1) > 0)
			;
		res[0] = run_vcpu(f.vcpu, &b, 1, &run) == -EIO;
		res[1] = del_memslot(f.vm, 0) == -EIO;
		res[2] = !close(f.vcpu) && !close(f.vm);
		_exit(write(up[1], res, sizeof(res)) == sizeof(res) ? 0 : 1);
	}
	close(up[1]);
	close(gone[1]);
	close(gone[0]);
	waitpid(pid, &status, 0);
	if (read(up[0], res, sizeof(res)) != sizeof(res))
		tap_diag("eio: the grandchild reported nothing (child status %#x)",
			 status);
	close(up[0]);
	tap_ok(res[0], "eio: RUN on a VM whose process exited fails with EIO");
	tap_ok(res[1], "eio: SET_MEMSLOT on it fails with EIO");
	tap_ok(res[2], "eio: closing its descriptors works");
}

/* ---- EXIT_INTR: a signal during a long run ---- */

static void on_sigusr1(int sig)
{
	(void)sig;
}

struct intr_ctx {
	int vcpu;
	u64 *mem;
	struct eptmmu_access *a;
	u32 n;
	atomic_bool stop, finished;
	unsigned long runs;
	int r;
	struct eptmmu_run run;
};

static void *intr_thread(void *arg)
{
	struct intr_ctx *c = arg;

	while (!atomic_load(&c->stop)) {
		memset(c->mem, 0, c->n * 8UL);
		c->r = run_vcpu(c->vcpu, c->a, c->n, &c->run);
		c->runs++;
		if (c->r || c->run.exit_reason != EPTMMU_EXIT_DONE)
			break;
	}
	atomic_store(&c->finished, true);
	return NULL;
}

static void t_intr(void)
{
	struct sigaction sa = { .sa_handler = on_sigusr1 };
	struct intr_ctx c = { .n = EPTMMU_MAX_RUN_ACCESSES };
	u64 deadline, i, bad = 0;
	pthread_t th;
	struct fix f;
	bool ok;

	if (!fix_init(&f, SZ_2M, 0))
		return;
	sigaction(SIGUSR1, &sa, NULL);	/* no SA_RESTART: we want to see it */
	c.vcpu = f.vcpu;
	c.mem = (u64 *)f.mem;
	c.a = calloc(c.n, sizeof(*c.a));
	if (!c.a)
		die("calloc");
	for (i = 0; i < c.n; i++)
		c.a[i] = access_of(EPTMMU_ACCESS_WRITE, f.gpa + i * 8, 8,
				   pat(27, i));
	if (pthread_create(&th, NULL, intr_thread, &c))
		die("pthread_create");
	deadline = now_ns() + 10000000000ULL;
	while (!atomic_load(&c.finished) && now_ns() < deadline) {
		pthread_kill(th, SIGUSR1);
		usleep(500);
	}
	atomic_store(&c.stop, true);
	pthread_join(th, NULL);

	ok = !c.r && c.run.exit_reason == EPTMMU_EXIT_INTR &&
	     c.run.done < c.n;
	if (!ok) {
		tap_diag("%lu runs of %u writes with SIGUSR1 every 0.5 ms", c.runs,
			 c.n);
		diag_run("last run", c.r, &c.run);
	}
	tap_ok(ok, "intr: a signal during RUN exits INTR before the batch ends");
	if (!ok)
		goto out;
	tap_diag("interrupted after %u of %u accesses (run %lu)", c.run.done,
		 c.n, c.runs);

	for (i = 0; i < c.n; i++) {
		u64 want = i < c.run.done ? pat(27, i) : 0;

		if (c.mem[i] != want && bad++ < 3)
			tap_diag("word %llu is %#llx, want %#llx (done %u)", i,
				 c.mem[i], want, c.run.done);
	}
	tap_ok(!bad, "intr: exactly the accesses before done were performed");

	tap_ok(touch_slot(f.vcpu, f.gpa, f.size, 28),
	       "intr: the vCPU runs normally afterwards");
out:
	free(c.a);
	fix_fini(&f);
}

/* ---- EBUSY: two threads, one vCPU ---- */

struct busy_ctx {
	int vcpu;
	u64 gpa, want;
	atomic_bool stop, started;
	unsigned long runs, busy, bad;
	char why[160];
};

static void *busy_thread(void *arg)
{
	struct busy_ctx *c = arg;
	u32 i, n = 16384;
	struct eptmmu_access *a = calloc(n, sizeof(*a));
	struct eptmmu_run run;
	int r;

	if (!a)
		die("calloc");
	while (!atomic_load(&c->stop)) {
		for (i = 0; i < n; i++)
			a[i] = access_of(EPTMMU_ACCESS_READ, c->gpa, 8, 0);
		atomic_store(&c->started, true);
		r = run_vcpu(c->vcpu, a, n, &run);
		if (r == -EBUSY) {
			c->busy++;
			continue;
		}
		c->runs++;
		if (r || run.exit_reason != EPTMMU_EXIT_DONE || run.done != n ||
		    a[n - 1].value != c->want) {
			snprintf(c->why, sizeof(c->why),
				 "r %d exit %s done %u value %#llx", r,
				 exit_name(run.exit_reason), run.done,
				 a[n - 1].value);
			c->bad++;
			break;
		}
	}
	free(a);
	return NULL;
}

static void t_busy(void)
{
	struct busy_ctx c = { 0 };
	struct eptmmu_access b;
	struct eptmmu_run run;
	unsigned long tries = 0, done = 0, busy = 0, bad = 0;
	u64 deadline;
	pthread_t th;
	struct fix f;
	int r;

	if (!fix_init(&f, SZ_2M, 0))
		return;
	fill(f.mem, f.size, 29);
	c.vcpu = f.vcpu;
	c.gpa = f.gpa;
	c.want = pat(29, 0);
	if (pthread_create(&th, NULL, busy_thread, &c))
		die("pthread_create");
	while (!atomic_load(&c.started))
		usleep(100);
	deadline = now_ns() + 5000000000ULL;
	while (!busy && !bad && now_ns() < deadline) {
		b = access_of(EPTMMU_ACCESS_READ, f.gpa, 8, 0);
		r = run_vcpu(f.vcpu, &b, 1, &run);
		tries++;
		if (r == -EBUSY)
			busy++;
		else if (!r && run.exit_reason == EPTMMU_EXIT_DONE &&
			 b.value == c.want)
			done++;
		else if (!bad++)
			diag_run("main thread's run", r, &run);
	}
	atomic_store(&c.stop, true);
	pthread_join(th, NULL);
	if (!busy)
		tap_diag("%lu tries (%lu completed) while the other thread ran %lu batches",
			 tries, done, c.runs);
	tap_ok(busy, "busy: RUN on a vCPU another thread is running fails with EBUSY");
	if (c.bad)
		tap_diag("other thread: %s", c.why);
	tap_ok(!bad && !c.bad, "busy: every run that was not refused completed correctly");
	fix_fini(&f);
}

/* ---- memslot delete/re-create while vCPUs run ---- */

/*
 * The main thread flips slot 0 between absent, buffer A and buffer B.  A
 * seqcount brackets each SET_MEMSLOT: a run that began after one call
 * returned and ended before the next began must see exactly that state,
 * since a delete zaps and flushes every vCPU before it returns.  Runs that
 * overlap a change may see old, new or MMIO, but never anything else.
 */
enum { SLOT_NONE, SLOT_A, SLOT_B };
#define RACE_WORKERS	2
#define RACE_PAGES	64

struct race_ctx {
	int vcpu[RACE_WORKERS];
	u64 gpa;
	atomic_uint seq;
	atomic_int state;
	atomic_bool stop;
	atomic_ulong stable_runs;
	atomic_int alive;
	unsigned long runs[RACE_WORKERS], bad[RACE_WORKERS];
	char why[RACE_WORKERS][200];
};

struct race_arg {
	struct race_ctx *c;
	int id;
};

static u64 race_want(int state, size_t page)
{
	return pat(state == SLOT_A ? 30 : 31, page * 512 + page % 512);
}

static void *race_thread(void *arg)
{
	struct race_ctx *c = ((struct race_arg *)arg)->c;
	int id = ((struct race_arg *)arg)->id;
	struct eptmmu_access a[RACE_PAGES];
	struct eptmmu_run run;
	unsigned int s1, s2;
	size_t i, page;
	int r, st;

	while (!atomic_load(&c->stop)) {
		for (i = 0; i < RACE_PAGES; i++) {
			page = (i * 8 + id) % 512;
			a[i] = access_of(EPTMMU_ACCESS_READ,
					 c->gpa + page * PAGE_SIZE + page % 512 * 8,
					 8, 0);
		}
		s1 = atomic_load(&c->seq);
		st = atomic_load(&c->state);
		r = run_vcpu(c->vcpu[id], a, RACE_PAGES, &run);
		s2 = atomic_load(&c->seq);
		c->runs[id]++;
		if (r || (run.exit_reason != EPTMMU_EXIT_DONE &&
			  run.exit_reason != EPTMMU_EXIT_MMIO)) {
			snprintf(c->why[id], sizeof(c->why[id]),
				 "run: r %d exit %s errno %u", r,
				 exit_name(run.exit_reason), run.exit_errno);
			c->bad[id]++;
			break;
		}
		for (i = 0; i < run.done; i++) {
			page = (i * 8 + id) % 512;
			if (a[i].value == race_want(SLOT_A, page) ||
			    a[i].value == race_want(SLOT_B, page))
				continue;
			snprintf(c->why[id], sizeof(c->why[id]),
				 "page %zu read %#llx: neither buffer's data",
				 page, a[i].value);
			c->bad[id]++;
		}
		if (s1 != s2 || s1 % 2)
			continue;
		/* Stable the whole run: the result is exact. */
		if (st == SLOT_NONE ?
		    !(run.exit_reason == EPTMMU_EXIT_MMIO && run.done == 0) :
		    run.exit_reason != EPTMMU_EXIT_DONE)
			goto inexact;
		for (i = 0; st != SLOT_NONE && i < RACE_PAGES; i++)
			if (a[i].value != race_want(st, (i * 8 + id) % 512))
				goto inexact;
		atomic_fetch_add(&c->stable_runs, 1);
		continue;
inexact:
		snprintf(c->why[id], sizeof(c->why[id]),
			 "run entirely in state %d: exit %s done %u, value[0] %#llx",
			 st, exit_name(run.exit_reason), run.done, a[0].value);
		c->bad[id]++;
	}
	atomic_fetch_sub(&c->alive, 1);
	return NULL;
}

/* R-MEMSLOT-SRCU */
static void t_memslot_race(void)
{
	struct race_arg args[RACE_WORKERS];
	pthread_t th[RACE_WORKERS];
	struct race_ctx c = { 0 };
	unsigned long base, runs = 0, bad = 0;
	int i, cycle, cycles = 40, vm, r = 0;
	u8 *buf[2];
	u64 deadline;
	bool ok;

	vm = xcreate_vm(devfd);
	c.gpa = GPA_BASE;
	for (i = 0; i < 2; i++) {
		size_t w;

		buf[i] = xmap(SZ_2M, SZ_2M);
		for (w = 0; w < SZ_2M / 8; w++)
			((u64 *)buf[i])[w] = pat(30 + i, w);
	}
	for (i = 0; i < RACE_WORKERS; i++) {
		c.vcpu[i] = xcreate_vcpu(vm);
		args[i] = (struct race_arg){ .c = &c, .id = i };
	}
	atomic_store(&c.state, SLOT_NONE);
	atomic_store(&c.alive, RACE_WORKERS);
	for (i = 0; i < RACE_WORKERS; i++)
		if (pthread_create(&th[i], NULL, race_thread, &args[i]))
			die("pthread_create");

	deadline = now_ns() + 60000000000ULL;
	ok = true;
	for (cycle = 0; ok && cycle < 2 * cycles; cycle++) {
		int next = cycle % 2 ? SLOT_NONE : (cycle / 2 % 2 ? SLOT_B : SLOT_A);

		atomic_fetch_add(&c.seq, 1);
		if (next == SLOT_NONE)
			r = del_memslot(vm, 0);
		else
			r = set_memslot(vm, 0, 0, c.gpa, SZ_2M, buf[next - SLOT_A]);
		atomic_store(&c.state, next);
		atomic_fetch_add(&c.seq, 1);
		if (r) {
			tap_diag("cycle %d: SET_MEMSLOT: %s", cycle, strerror(-r));
			ok = false;
		}
		/* Let the workers finish a few runs wholly inside this state. */
		base = atomic_load(&c.stable_runs);
		while (atomic_load(&c.stable_runs) < base + 2 * RACE_WORKERS &&
		       atomic_load(&c.alive) == RACE_WORKERS &&
		       now_ns() < deadline)
			usleep(200);
		if (atomic_load(&c.alive) != RACE_WORKERS) {
			tap_diag("a vCPU thread stopped after %d changes", cycle);
			ok = false;
		} else if (now_ns() >= deadline) {
			tap_diag("no progress after %d changes", cycle);
			ok = false;
		}
	}
	atomic_store(&c.stop, true);
	for (i = 0; i < RACE_WORKERS; i++) {
		pthread_join(th[i], NULL);
		runs += c.runs[i];
		bad += c.bad[i];
		if (c.bad[i])
			tap_diag("vCPU %d: %lu bad runs, e.g. %s", i, c.bad[i],
				 c.why[i]);
	}
	tap_diag("memslot_race: %d slot changes, %lu runs, %lu wholly between changes",
		 cycle, runs, atomic_load(&c.stable_runs));
	tap_ok(ok, "memslot_race: %d delete/re-create cycles under running vCPUs complete",
	       cycles);
	tap_ok(!bad, "memslot_race: every run saw the slot's old or new state, exactly when stable");
	for (i = 0; i < RACE_WORKERS; i++)
		close(c.vcpu[i]);
	close_vm(vm);
	munmap(buf[0], SZ_2M);
	munmap(buf[1], SZ_2M);
}

/* ---- k: stress ---- */

/*
 * Every word of the main slot holds hi32(word index) in its upper half
 * whoever wrote it last, so a read anywhere proves it reached the right
 * word, even one racing with the owner's write.  Within its own quarter a
 * thread knows the exact value.  The churn slot is wiped by the process
 * (MADV_DONTNEED) and rewritten while the vCPUs read it: each byte must be
 * 0 or its pattern byte.
 */
#define STRESS_BATCH	1024
#define STRESS_TAG	32
#define CHURN_TAG	33
#define CHURN_SIZE	(4 * SZ_1M)
#define CHURN_GPA	(1ULL << 40)	/* above any -m */

static u32 hi32(u64 w)
{
	return pat(STRESS_TAG, w) >> 32;
}

static bool churn_ok(u64 v, u64 want)
{
	int i;

	for (i = 0; i < 64; i += 8) {
		u64 b = (v >> i) & 0xff;

		if (b && b != ((want >> i) & 0xff))
			return false;
	}
	return true;
}

/* What each access of a batch is, for checking the value it returns. */
enum { S_WRITE, S_OWN, S_OTHER, S_CHURN };

struct worker {
	pthread_t th;
	int id, vcpu;
	u64 *shadow;
	u64 nwords, lo, hi;	/* writes go to [lo, hi) only */
	u64 seed;
	unsigned long issued, own_bad, other_bad, churn_reads;
	bool failed;
	char why[200];
	struct eptmmu_vcpu_stats stats;
};

static atomic_int workers_left;

static void *stress_thread(void *arg)
{
	struct worker *wk = arg;
	struct eptmmu_access *a = calloc(STRESS_BATCH, sizeof(*a));
	u64 *expect = calloc(STRESS_BATCH, sizeof(*expect));
	u8 *cls = calloc(STRESS_BATCH, 1);
	struct eptmmu_run run;
	u32 seq = 0, i, n;
	int r;

	if (!a || !expect || !cls)
		die("calloc");
	while (wk->issued < opt.accesses) {
		n = opt.accesses - wk->issued < STRESS_BATCH ?
		    opt.accesses - wk->issued : STRESS_BATCH;
		for (i = 0; i < n; i++) {
			u64 x = rand64(&wk->seed), w;

			if (x & 1) {
				w = wk->lo + (x >> 8) % (wk->hi - wk->lo);
				wk->shadow[w] = (u64)hi32(w) << 32 |
						(++seq << 6 | wk->id);
				a[i] = access_of(EPTMMU_ACCESS_WRITE,
						 GPA_BASE + w * 8, 8,
						 wk->shadow[w]);
				cls[i] = S_WRITE;
				continue;
			}
			switch ((x >> 1) & 3) {
			case 0:
			case 1:
				w = wk->lo + (x >> 8) % (wk->hi - wk->lo);
				expect[i] = wk->shadow[w];
				cls[i] = S_OWN;
				break;
			case 2:
				w = (x >> 8) % wk->nwords;
				expect[i] = hi32(w);
				cls[i] = S_OTHER;
				break;
			default:
				if (!opt.churn) {
					w = (x >> 8) % wk->nwords;
					expect[i] = hi32(w);
					cls[i] = S_OTHER;
					break;
				}
				w = (x >> 8) % (CHURN_SIZE / 8);
				a[i] = access_of(EPTMMU_ACCESS_READ,
						 CHURN_GPA + w * 8, 8, 0);
				expect[i] = pat(CHURN_TAG, w);
				cls[i] = S_CHURN;
				continue;
			}
			a[i] = access_of(EPTMMU_ACCESS_READ, GPA_BASE + w * 8,
					 8, 0);
		}
		r = run_vcpu(wk->vcpu, a, n, &run);
		if (r || run.exit_reason != EPTMMU_EXIT_DONE || run.done != n) {
			snprintf(wk->why, sizeof(wk->why),
				 "after %lu accesses: r %d (%s) exit %s done %u/%u gpa %#llx errno %u",
				 wk->issued, r, strerror(-r),
				 exit_name(run.exit_reason), run.done, n,
				 run.exit_gpa, run.exit_errno);
			wk->failed = true;
			break;
		}
		wk->stats = run.stats;
		for (i = 0; i < n; i++) {
			bool good = true;

			switch (cls[i]) {
			case S_OWN:
				good = a[i].value == expect[i];
				wk->own_bad += !good;
				break;
			case S_OTHER:
				good = a[i].value >> 32 == expect[i];
				wk->other_bad += !good;
				break;
			case S_CHURN:
				good = churn_ok(a[i].value, expect[i]);
				wk->other_bad += !good;
				wk->churn_reads++;
				break;
			}
			if (!good && !wk->why[0])
				snprintf(wk->why, sizeof(wk->why),
					 "gpa %#llx read %#llx, want %s%#llx",
					 a[i].gpa, a[i].value,
					 cls[i] == S_OWN ? "" : cls[i] == S_OTHER ?
					 "upper half " : "bytes 0 or of ",
					 expect[i]);
		}
		wk->issued += n;
	}
	atomic_fetch_sub(&workers_left, 1);
	free(a);
	free(expect);
	free(cls);
	return NULL;
}

static void t_stress(void)
{
	size_t size = (size_t)opt.mib << 20, i, npages = size / PAGE_SIZE;
	struct eptmmu_vcpu_stats sum = { 0 };
	struct eptmmu_vm_stats vs;
	struct worker *wk;
	unsigned long churns = 0, total = 0, own_bad = 0, other_bad = 0;
	unsigned long mismatch = 0;
	u64 *mem, *shadow, *churn, t0, ns, x = opt.seed;
	bool failed = false, counts_ok = true;
	int vm, r;

	vm = xcreate_vm(devfd);
	mem = xmap(size, SZ_2M);
	madvise(mem, size, MADV_HUGEPAGE);
	shadow = xmap(size, PAGE_SIZE);
	for (i = 0; i < size / 8; i++)
		mem[i] = shadow[i] = (u64)hi32(i) << 32;
	churn = xmap(CHURN_SIZE, SZ_2M);
	madvise(churn, CHURN_SIZE, MADV_HUGEPAGE);
	fill(churn, CHURN_SIZE, CHURN_TAG);
	r = set_memslot(vm, 0, 0, GPA_BASE, size, mem);
	if (!r)
		r = set_memslot(vm, 1, 0, CHURN_GPA, CHURN_SIZE, churn);
	if (r) {
		tap_diag("stress slots: %s", strerror(-r));
		goto out;
	}

	wk = calloc(opt.threads, sizeof(*wk));
	if (!wk)
		die("calloc");
	atomic_store(&workers_left, opt.threads);
	t0 = now_ns();
	for (i = 0; i < opt.threads; i++) {
		u64 pages = npages / opt.threads;

		wk[i].id = i;
		wk[i].vcpu = xcreate_vcpu(vm);
		wk[i].shadow = shadow;
		wk[i].nwords = size / 8;
		wk[i].lo = i * pages * 512;
		wk[i].hi = i == opt.threads - 1 ? size / 8 :
			   (i + 1) * pages * 512;
		wk[i].seed = pat(opt.seed, i);
		if (pthread_create(&wk[i].th, NULL, stress_thread, &wk[i]))
			die("pthread_create");
	}
	/* Meanwhile, take pages of the churn slot away and put them back. */
	while (atomic_load(&workers_left) > 0) {
		if (opt.churn) {
			u64 page = rand64(&x) % (CHURN_SIZE / PAGE_SIZE);
			u64 *p = churn + page * PAGE_SIZE / 8;

			if (madvise(p, PAGE_SIZE, MADV_DONTNEED))
				die("madvise");
			for (i = 0; i < PAGE_SIZE / 8; i++)
				p[i] = pat(CHURN_TAG, page * PAGE_SIZE / 8 + i);
			churns++;
		}
		usleep(1000);
	}
	for (i = 0; i < opt.threads; i++)
		pthread_join(wk[i].th, NULL);
	ns = now_ns() - t0;

	for (i = 0; i < opt.threads; i++) {
		struct eptmmu_vcpu_stats *s = &wk[i].stats;

		if (wk[i].failed) {
			tap_diag("vCPU %zu: %s", i, wk[i].why);
			failed = true;
		} else if (wk[i].why[0]) {
			tap_diag("vCPU %zu: first bad read: %s", i, wk[i].why);
		}
		if (s->accesses != wk[i].issued) {
			tap_diag("vCPU %zu: stats.accesses %llu, issued %lu", i,
				 s->accesses, wk[i].issued);
			counts_ok = false;
		}
		total += wk[i].issued;
		own_bad += wk[i].own_bad;
		other_bad += wk[i].other_bad;
		sum.accesses += s->accesses;
		sum.tlb_hits += s->tlb_hits;
		sum.walks += s->walks;
		sum.faults += s->faults;
		sum.fast_fixed_wp += s->fast_fixed_wp;
		sum.fast_fixed_acc += s->fast_fixed_acc;
		sum.fast_retries += s->fast_retries;
		sum.fast_fallbacks += s->fast_fallbacks;
		sum.slow_faults += s->slow_faults;
		sum.slow_retries += s->slow_retries;
		close(wk[i].vcpu);
	}
	tap_diag("stress: %u vCPUs x %lu accesses over %u MiB (seed %llu) in %.2f s: %.0f accesses/s",
		 opt.threads, opt.accesses, opt.mib, opt.seed, ns / 1e9,
		 ns ? total * 1e9 / ns : 0.0);
	diag_vcpu_stats("stress vCPUs (sum)", &sum);
	xvm_stats(vm, &vs);
	diag_vm_stats("stress VM", &vs);
	tap_diag("stress: %lu churn pages discarded by the process", churns);

	tap_ok(!failed, "stress: %u vCPU threads ran %lu accesses each without an unexpected exit",
	       opt.threads, opt.accesses);
	if (own_bad)
		tap_diag("%lu reads of a thread's own words returned a stale or wrong value",
			 own_bad);
	tap_ok(!failed && !own_bad, "stress: reads of each thread's own words returned its last write");
	if (other_bad)
		tap_diag("%lu reads returned data that belongs to another address",
			 other_bad);
	tap_ok(!failed && !other_bad, "stress: reads of other threads' and churned words hit the right address");

	for (i = 0; i < size / 8; i++) {
		if (mem[i] != shadow[i] && mismatch++ < 3)
			tap_diag("word %zu (gpa %#llx) is %#llx, shadow %#llx", i,
				 GPA_BASE + i * 8, mem[i], shadow[i]);
	}
	if (mismatch)
		tap_diag("%lu words differ from the shadow copies", mismatch);
	tap_ok(!failed && !mismatch, "stress: process memory matches every thread's shadow copy");
	tap_ok(counts_ok, "stress: each vCPU's stats.accesses equals the accesses it issued");
	free(wk);
out:
	close_vm(vm);
	munmap(mem, size);
	munmap(shadow, size);
	munmap(churn, CHURN_SIZE);
}

/* ---- runner ---- */

/* ---- a batch that fails after accesses ran ---- */

/*
 * The batch sits in a page the process then makes read-only: it is
 * checked and the two writes run, but the read cannot store its value.
 * RUN fails with EFAULT and still says what it did.
 */
static void t_partial(void)
{
	struct eptmmu_access *a;
	struct eptmmu_run run;
	struct fix f;
	u64 *w;
	bool ok;
	int r;

	if (!fix_init(&f, 4 * PAGE_SIZE, 0))
		return;
	w = (u64 *)f.mem;
	a = mmap(NULL, PAGE_SIZE, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (a == MAP_FAILED)
		die("mmap");
	a[0] = access_of(EPTMMU_ACCESS_WRITE, f.gpa, 8, pat(31, 0));
	a[1] = access_of(EPTMMU_ACCESS_WRITE, f.gpa + 8, 8, pat(31, 1));
	a[2] = access_of(EPTMMU_ACCESS_READ, f.gpa + 16, 8, 0);
	if (mprotect(a, PAGE_SIZE, PROT_READ))
		die("mprotect");
	r = run_vcpu(f.vcpu, a, 3, &run);
	ok = r == -EFAULT && run.done == 2 && run.stats.accesses >= 2;
	if (!ok)
		diag_run("batch read-only after the check", r, &run);
	tap_ok(ok, "partial: RUN fails EFAULT when a read cannot store its value, with done = 2 (%u)",
	       run.done);
	tap_ok(w[0] == pat(31, 0) && w[1] == pat(31, 1),
	       "partial: the accesses before done were made");
	munmap(a, PAGE_SIZE);
	fix_fini(&f);
}

/* ---- full file tables ---- */

/* Take every free descriptor; return how many (close them with undup()). */
static int fill_fds(int *fds, int max)
{
	int n = 0;

	while (n < max && (fds[n] = dup(0)) >= 0)
		n++;
	return n;
}

static void undup(int *fds, int n)
{
	while (n--)
		close(fds[n]);
}

/*
 * In a child (it lowers its own limits).  Bit i of the exit status is
 * check i failed: 0 EMFILE from CREATE_VM and CREATE_VCPU, 1 refusals
 * used up no vCPU, 2 ENFILE once the system's table is full for a process
 * without CAP_SYS_ADMIN.
 */
static int fdlimit_child(int dev, const char *file_max)
{
	struct rlimit rl = { 64, 64 };
	int fds[64], n, i, vm, vm2, fail = 0, r;

	if (setrlimit(RLIMIT_NOFILE, &rl))
		return 0xff;
	vm = ioctl(dev, EPTMMU_CREATE_VM, 0);
	if (vm < 0)
		return 0xff;
	n = fill_fds(fds, 64);
	if (ioctl(dev, EPTMMU_CREATE_VM, 0) >= 0 || errno != EMFILE)
		fail |= 1;
	/* More refusals than there are vCPUs: none may use one up. */
	for (i = 0; i <= EPTMMU_MAX_VCPUS; i++)
		if (ioctl(vm, EPTMMU_CREATE_VCPU, 0) >= 0 || errno != EMFILE)
			fail |= 1;
	undup(fds, n);
	rl.rlim_cur = rl.rlim_max = 256;
	if (setrlimit(RLIMIT_NOFILE, &rl))
		return 0xff;
	for (i = 0; i < EPTMMU_MAX_VCPUS; i++)
		if (ioctl(vm, EPTMMU_CREATE_VCPU, 0) < 0)
			fail |= 2;
	/*
	 * ENFILE: the system-wide limit spares CAP_SYS_ADMIN, so drop root
	 * (the descriptors stay usable) after shrinking fs.file-max below
	 * any count of open files; the parent puts it back.
	 */
	vm2 = ioctl(dev, EPTMMU_CREATE_VM, 0);
	if (vm2 < 0)
		return fail | 4;
	r = open(file_max, O_WRONLY);
	if (r < 0 || write(r, "1", 1) != 1)
		return fail | 4;
	close(r);
	if (setuid(65534))
		return fail | 4;
	if (ioctl(dev, EPTMMU_CREATE_VM, 0) >= 0 || errno != ENFILE)
		fail |= 4;
	if (ioctl(vm2, EPTMMU_CREATE_VCPU, 0) >= 0 || errno != ENFILE)
		fail |= 4;
	return fail;
}

static void t_fdlimit(void)
{
	static const char file_max[] = "/proc/sys/fs/file-max";
	char saved[32] = "";
	int dev = xopen_dev(), status = 0, fd;
	ssize_t n;
	pid_t pid;

	fd = open(file_max, O_RDONLY);
	n = fd < 0 ? -1 : read(fd, saved, sizeof(saved) - 1);
	if (fd >= 0)
		close(fd);
	fflush(stdout);
	pid = fork();
	if (pid < 0)
		die("fork");
	if (!pid)
		_exit(fdlimit_child(dev, file_max));
	if (waitpid(pid, &status, 0) != pid)
		die("waitpid");
	fd = open(file_max, O_WRONLY);
	if (n <= 0 || fd < 0 || write(fd, saved, n) != n)
		tap_diag("could not put %s back to %s", file_max, saved);
	if (fd >= 0)
		close(fd);
	close(dev);
	status = WIFEXITED(status) ? WEXITSTATUS(status) : 0xff;
	if (status == 0xff)
		tap_diag("the child could not set itself up");
	tap_ok(!(status & 1), "fdlimit: CREATE_VM and CREATE_VCPU fail EMFILE with a full descriptor table");
	tap_ok(!(status & 3), "fdlimit: EMFILE refusals use up no vCPU (all %d can be made afterwards)",
	       EPTMMU_MAX_VCPUS);
	tap_ok(!(status & 4), "fdlimit: both fail ENFILE with the system's file table full (without CAP_SYS_ADMIN)");
}

/* ---- CREATE_VM interrupted ---- */

#define CI_CHILDREN	40

static void on_alarm(int sig)
{
	(void)sig;
}

/*
 * A fresh process (its first VM registers the MMU notifier the slow way)
 * under a storm of signals: 0 made a VM at once, 1 got EINTR first and
 * then a VM by calling again, 2 anything else.
 */
static int create_intr_child(int dev)
{
	struct sigaction sa = { .sa_handler = on_alarm };
	struct itimerval it = { { 0, 200 }, { 0, 200 } };
	int vm, eintr = 0;

	sigaction(SIGALRM, &sa, NULL);	/* no SA_RESTART */
	setitimer(ITIMER_REAL, &it, NULL);
	vm = ioctl(dev, EPTMMU_CREATE_VM, 0);
	if (vm < 0 && errno == EINTR) {
		/* Calm the storm (a slow kernel may never finish in it). */
		memset(&it, 0, sizeof(it));
		setitimer(ITIMER_REAL, &it, NULL);
		eintr = 1;
		vm = ioctl(dev, EPTMMU_CREATE_VM, 0);
	}
	return vm >= 0 ? eintr : 2;
}

static void t_create_intr(void)
{
	int dev = xopen_dev(), i, status, n[3] = { 0 }, other = 0;
	pid_t pid;

	for (i = 0; i < CI_CHILDREN; i++) {
		fflush(stdout);
		pid = fork();
		if (pid < 0)
			die("fork");
		if (!pid)
			_exit(create_intr_child(dev));
		if (waitpid(pid, &status, 0) != pid)
			die("waitpid");
		if (WIFEXITED(status) && WEXITSTATUS(status) <= 2)
			n[WEXITSTATUS(status)]++;
		else
			other++;
	}
	close(dev);
	tap_ok(!n[2] && !other,
	       "create_intr: under signals CREATE_VM makes a VM or fails EINTR, and calling again makes it (%d of %d saw EINTR)",
	       n[1], CI_CHILDREN);
}

/* ---- the MMU auditor's debugfs file ---- */

#define AUDIT_TAP	3

static void t_audit(void)
{
	char path[96], buf[256];
	int fd, vm2, r, r2, err = 0;
	struct fix f;
	ssize_t n = 0;
	bool ok;
	size_t i;

	if (access("/sys/kernel/debug/eptmmu", F_OK)) {
		for (i = 0; i < AUDIT_TAP; i++)
			tap_skip("no /sys/kernel/debug/eptmmu (debugfs not mounted?)",
				 "audit: line %zu", i + 1);
		return;
	}
	ok = fix_init(&f, 2 * SZ_2M, 0);
	for (i = 0; ok && i < f.size; i += PAGE_SIZE)
		ok = g_write(f.vcpu, f.gpa + i, 8, i);
	r = ok ? audit_vm(f.vm) : -1;
	tap_ok(r == 0, "audit: a VM the guest wrote all over audits clean (%d)", r);

	vm2 = xcreate_vm(devfd);
	snprintf(path, sizeof(path), "/sys/kernel/debug/eptmmu/%d-%d/audit",
		 getpid(), vm2);
	r = audit_vm(vm2);
	r2 = audit_vm(f.vm);
	tap_ok(!r && !r2, "audit: each VM has its own file, %s (%d, %d)", path,
	       r, r2);

	/* No vCPU: closing the descriptor destroys the VM and its directory. */
	fd = open(path, O_RDONLY | O_CLOEXEC);
	close(vm2);
	if (fd >= 0) {
		n = read(fd, buf, sizeof(buf));
		err = errno;
		close(fd);
	}
	ok = fd >= 0 && n < 0 && access(path, F_OK) && errno == ENOENT;
	tap_ok(ok, "audit: reading a file whose VM went fails (%s); its directory is gone",
	       n < 0 ? strerror(err) : "read succeeded");
	fix_fini(&f);
}

static const struct tap_test tests[] = {
	{ "api", t_api, 1, "API version" },
	{ "guest_to_process", t_guest_to_process, 2, "guest writes reach process memory" },
	{ "process_to_guest", t_process_to_guest, 3, "process writes reach the guest" },
	{ "fetch", t_fetch, 1, "FETCH reads data" },
	{ "stats", t_stats, 5, "vCPU and VM counters" },
	{ "mmio", t_mmio, 8, "accesses outside every memslot" },
	{ "readonly", t_readonly, 4, "EPTMMU_MEM_READONLY" },
	{ "delete", t_delete, 5, "memslot delete and re-create" },
	{ "teardown", t_teardown, 6, "closing VMs and vCPUs in any order" },
	{ "multislot", t_multislot, 4, "many slots, aliases, alignment" },
	{ "boundary", t_boundary, 4, "largest accepted arguments" },
	{ "invalid", t_invalid, NR_BAD_CALLS + 2, "refused arguments change nothing" },
	{ "procmem", t_procmem, 7, "mprotect, madvise, munmap under the guest" },
	{ "fork", t_fork, 3, "copy-on-write after fork" },
	{ "eio", t_eio, 3, "the VM's process has exited" },
	{ "intr", t_intr, 3, "signals interrupt RUN" },
	{ "partial", t_partial, 2, "a batch that fails after accesses ran" },
	{ "fdlimit", t_fdlimit, 3, "full descriptor and file tables" },
	{ "create_intr", t_create_intr, 1, "CREATE_VM interrupted by signals" },
	{ "busy", t_busy, 2, "one vCPU, two threads" },
	{ "memslot_race", t_memslot_race, 2, "slot changes while vCPUs run" },
	{ "stress", t_stress, 5, "threads, random accesses, shadow copies" },
	{ "audit", t_audit, AUDIT_TAP, "the MMU auditor's debugfs file" },
};

static void usage(FILE *f)
{
	fprintf(f,
		"usage: eptmmu_selftest [options] [test...]\n"
		"  -m MiB       stress: memslot size (default %u)\n"
		"  -n N         stress: accesses per thread (default %lu)\n"
		"  -t N         stress: threads, one vCPU each (default %u)\n"
		"  -s SEED      stress: random seed (default 0)\n"
		"  -C           stress: no concurrent MADV_DONTNEED churn\n"
		"  -l           list the tests and exit\n"
		"With test names, run only those.  Output is TAP; exit 0 iff all pass.\n",
		opt.mib, opt.accesses, opt.threads);
}

int main(int argc, char **argv)
{
	int ch;

	while ((ch = getopt(argc, argv, "m:n:t:s:Clh")) != -1) {
		switch (ch) {
		case 'm':
			opt.mib = parse_num(optarg, 1, 4096);
			break;
		case 'n':
			opt.accesses = parse_num(optarg, 1, 1UL << 40);
			break;
		case 't':
			opt.threads = parse_num(optarg, 1, EPTMMU_MAX_VCPUS);
			break;
		case 's':
			opt.seed = parse_num(optarg, 0, ~0UL);
			break;
		case 'C':
			opt.churn = false;
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
	if ((size_t)opt.mib * SZ_1M / PAGE_SIZE < opt.threads) {
		fprintf(stderr, "eptmmu_selftest: -m too small for %u threads\n",
			opt.threads);
		return 2;
	}
	return tap_run_tests(tests, ARRAY_SIZE(tests), argv + optind,
			     argc - optind, &devfd, NULL);
}
