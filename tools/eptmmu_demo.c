// SPDX-License-Identifier: GPL-2.0
/*
 * eptmmu_demo - the README's workload: one VM, one memslot, N vCPU threads
 * each touching its share of the pages, and a table of what the MMU did.
 *
 *   eptmmu_demo [-v vcpus] [-m MiB] [-g]
 *
 * Phases: every vCPU writes one word in each page of its share (all first
 * touches: EPT violations), reads them back (mappings present: TLB hits or
 * walks only), then the process discards the memory with MADV_DONTNEED and
 * the vCPUs write again (the MMU notifier zapped the mappings: faults
 * again).
 *
 * Each vCPU makes its accesses as a batch of EPTMMU_RUN, or with -g (vmx
 * vCPU only) as a 64-bit guest program in C (guest/guest.c, G_PROG_TOUCH)
 * that walks its pages through its own page tables (g64.c): one
 * EPTMMU_RUN_GUEST per phase, the CPU doing every access.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "g64.h"
#include "lib.h"

/* Below 4 GiB, where the vmx vCPU's 32-bit guest reaches. */
#define GPA_BASE	0x40000000ULL
#define BATCH		4096
#define NPHASES		3

static const char *const phase_name[NPHASES] = {
	"first touch (write)",
	"second pass (read)",
	"after MADV_DONTNEED",
};

static unsigned int nvcpus = 2, mib = 64;
static bool guest64;		/* -g */
static struct g64 g;
/* -g: the VM's fault counters after each phase (debugfs, all vCPUs). */
static struct eptmmu_vcpu_stats vm_sums[NPHASES];

static void read_vm_sums(int vm, struct eptmmu_vcpu_stats *s)
{
	u64 wp = 0, acc = 0;

	if (vm_stat(vm, "faults", &s->faults) ||
	    vm_stat(vm, "fast_fixed_wp", &wp) ||
	    vm_stat(vm, "fast_fixed_acc", &acc) ||
	    vm_stat(vm, "slow_faults", &s->slow_faults))
		die("-g: the VM's counters in debugfs");
	s->fast_fixed_wp = wp + acc;
}
static pthread_barrier_t barrier;

struct vcpu {
	pthread_t th;
	int id, fd;
	u64 first, npages;	/* pages [first, first + npages) */
	struct eptmmu_vcpu_stats stats[NPHASES];
	bool failed;
	char why[320];
};

static u64 value_of(u64 page, int phase)
{
	return page << 8 | phase;
}

/* A phase as a guest program: the guest checks what it reads. */
static bool run_phase_g64(struct vcpu *v, int phase)
{
	u64 how = phase == 1 ? 0 : G_TOUCH_WRITE | phase;
	struct g64_exit e;

	if (g64_call(&g, v->fd, v->id, G_PROG_TOUCH,
		     GPA_BASE + v->first * PAGE_SIZE, v->npages, v->first, how,
		     &e, phase_name[phase]) && e.arg[0] == v->npages) {
		/* The CPU made the accesses: count the pages it touched. */
		v->stats[phase].accesses += v->npages;
		return true;
	}
	snprintf(v->why, sizeof(v->why), "%s: the guest stopped: %s",
		 phase_name[phase], e.why[0] ? e.why : exit_name(e.rg.exit_reason));
	return false;
}

static bool run_phase(struct vcpu *v, int phase, struct eptmmu_access *a)
{
	u8 kind = phase == 1 ? EPTMMU_ACCESS_READ : EPTMMU_ACCESS_WRITE;
	/* The read pass checks the first pass's values. */
	int wrote = phase == 1 ? 0 : phase;
	struct eptmmu_run run;
	u64 p, end = v->first + v->npages;
	u32 i, n;
	int r;

	for (p = v->first; p < end; p += n) {
		n = end - p < BATCH ? end - p : BATCH;
		for (i = 0; i < n; i++)
			a[i] = access_of(kind, GPA_BASE + (p + i) * PAGE_SIZE,
					 8, value_of(p + i, wrote));
		r = run_vcpu(v->fd, a, n, &run);
		if (r || run.exit_reason != EPTMMU_EXIT_DONE || run.done != n) {
			snprintf(v->why, sizeof(v->why),
				 "%s: %s, exit %s at gpa %#llx (done %u/%u, errno %u)",
				 phase_name[phase], r ? strerror(-r) : "ran",
				 exit_name(run.exit_reason), run.exit_gpa,
				 run.done, n, run.exit_errno);
			return false;
		}
		for (i = 0; kind == EPTMMU_ACCESS_READ && i < n; i++) {
			if (a[i].value != value_of(p + i, wrote)) {
				snprintf(v->why, sizeof(v->why),
					 "%s: gpa %#llx read %#llx, want %#llx",
					 phase_name[phase], a[i].gpa,
					 a[i].value, value_of(p + i, wrote));
				return false;
			}
		}
		v->stats[phase] = run.stats;
	}
	return true;
}

static void *vcpu_thread(void *arg)
{
	struct vcpu *v = arg;
	struct eptmmu_access *a = calloc(BATCH, sizeof(*a));
	int phase;

	if (!a)
		die("calloc");
	for (phase = 0; phase < NPHASES; phase++) {
		/* Start together, so wall time covers all vCPUs at once. */
		pthread_barrier_wait(&barrier);
		/* A failed vCPU's counters stand still instead of reading 0. */
		if (phase)
			v->stats[phase] = v->stats[phase - 1];
		if (!v->failed && !(guest64 ? run_phase_g64(v, phase) :
					       run_phase(v, phase, a)))
			v->failed = true;
		pthread_barrier_wait(&barrier);
		/* The main thread changes memory between phases. */
		pthread_barrier_wait(&barrier);
	}
	free(a);
	return NULL;
}

static void usage(FILE *f)
{
	fprintf(f, "usage: eptmmu_demo [-v vcpus (1..%d, default 2)] [-m MiB (default 64)] [-g]\n"
		"  -g  the vCPUs run a 64-bit guest program (vmx vCPU only; -m 1..64)\n",
		EPTMMU_MAX_VCPUS);
}

int main(int argc, char **argv)
{
	struct eptmmu_vm_stats vs[NPHASES];
	u64 t0, ns[NPHASES], npages, *mem;
	struct vcpu *v;
	bool failed = false;
	unsigned int i;
	int ch, devfd, vm, phase, r;

	while ((ch = getopt(argc, argv, "v:m:gh")) != -1) {
		switch (ch) {
		case 'v':
			nvcpus = parse_num(optarg, 1, EPTMMU_MAX_VCPUS);
			break;
		case 'm':
			mib = parse_num(optarg, 1, 2048);	/* stays below 4 GiB */
			break;
		case 'g':
			guest64 = true;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	npages = (u64)mib * SZ_1M / PAGE_SIZE;
	if (nvcpus < 1 || nvcpus > EPTMMU_MAX_VCPUS || mib < 1 ||
	    mib > 2048 || npages < nvcpus || optind != argc ||
	    (guest64 && (mib > 64 || nvcpus > G_MAX_VCPUS))) {
		usage(stderr);
		return 2;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);

	devfd = xopen_dev();
	vm = xcreate_vm(devfd);
	mem = xmap(npages * PAGE_SIZE, SZ_2M);
	r = set_memslot(vm, 0, 0, GPA_BASE, npages * PAGE_SIZE, mem);
	if (r) {
		errno = -r;
		die("EPTMMU_SET_MEMSLOT");
	}
	/* The vmx vCPU's guest runs this code; the soft vCPU ignores it. */
	r = setup_guest_code(vm, GUEST_CODE_SLOT, GUEST_CODE_GPA);
	if (r) {
		errno = -r;
		die("guest code");
	}
	if (guest64) {
		struct eptmmu_vm_stats st;

		xvm_stats(vm, &st);
		if (st.backend != EPTMMU_BACKEND_VMX) {
			errno = EOPNOTSUPP;
			die("-g: the soft vCPU runs no guest code");
		}
		r = g64_init(&g, vm, 0);
		if (r) {
			errno = -r;
			die("the 64-bit guest's memory");
		}
		/* 1:1, so the guest's pointers are the slot's gpas. */
		if (!g64_map(&g, GPA_BASE, GPA_BASE, npages * PAGE_SIZE))
			die("the guest's page tables are full");
	}
	v = calloc(nvcpus, sizeof(*v));
	if (!v || pthread_barrier_init(&barrier, NULL, nvcpus + 1))
		die("set-up");
	for (i = 0; i < nvcpus; i++) {
		v[i].id = i;
		v[i].fd = xcreate_vcpu(vm);
		v[i].first = npages * i / nvcpus;
		v[i].npages = npages * (i + 1) / nvcpus - v[i].first;
		if (pthread_create(&v[i].th, NULL, vcpu_thread, &v[i]))
			die("pthread_create");
	}
	printf("eptmmu demo: %u MiB memslot at gpa %#llx, %u vCPU threads%s, %llu pages each touched once per phase\n\n",
	       mib, GPA_BASE, nvcpus,
	       guest64 ? " running a 64-bit guest program" : "", npages);

	for (phase = 0; phase < NPHASES; phase++) {
		t0 = now_ns();
		pthread_barrier_wait(&barrier);
		pthread_barrier_wait(&barrier);
		ns[phase] = now_ns() - t0;
		xvm_stats(vm, &vs[phase]);
		if (guest64)
			read_vm_sums(vm, &vm_sums[phase]);
		if (phase == 1 && madvise(mem, npages * PAGE_SIZE, MADV_DONTNEED))
			die("madvise");
		pthread_barrier_wait(&barrier);
	}
	for (i = 0; i < nvcpus; i++) {
		pthread_join(v[i].th, NULL);
		if (v[i].failed) {
			fprintf(stderr, "eptmmu_demo: vCPU %u: %s\n", i, v[i].why);
			failed = true;
		}
	}
	for (i = 0; !failed && i < npages; i++) {
		if (mem[i * PAGE_SIZE / 8] != value_of(i, 2)) {
			fprintf(stderr, "eptmmu_demo: page %u holds %#llx, the guest wrote %#llx\n",
				i, mem[i * PAGE_SIZE / 8], value_of(i, 2));
			failed = true;
			break;
		}
	}

	printf("%-20s %9s %9s %8s %8s %8s %9s %9s\n", "phase (all vCPUs)",
	       "wall ms", "accesses", "faults", "fast", "slow", "tlb hits",
	       "walks");
	for (phase = 0; phase < NPHASES; phase++) {
		static const struct eptmmu_vcpu_stats zero;
		struct eptmmu_vcpu_stats d = { 0 };

		/* Stats are cumulative per vCPU: a phase is a difference. */
		for (i = 0; i < nvcpus; i++) {
			const struct eptmmu_vcpu_stats *s = &v[i].stats[phase];
			const struct eptmmu_vcpu_stats *p =
				phase ? &v[i].stats[phase - 1] : &zero;

			d.accesses += s->accesses - p->accesses;
			d.faults += s->faults - p->faults;
			d.fast_fixed_wp += s->fast_fixed_wp + s->fast_fixed_acc -
					   p->fast_fixed_wp - p->fast_fixed_acc;
			d.slow_faults += s->slow_faults - p->slow_faults;
			d.tlb_hits += s->tlb_hits - p->tlb_hits;
			d.walks += s->walks - p->walks;
		}
		/* -g: faults are counted for the VM, accesses are the CPU's. */
		if (guest64) {
			const struct eptmmu_vcpu_stats *s = &vm_sums[phase];
			const struct eptmmu_vcpu_stats *p =
				phase ? &vm_sums[phase - 1] : &zero;

			d.faults = s->faults - p->faults;
			d.fast_fixed_wp = s->fast_fixed_wp - p->fast_fixed_wp;
			d.slow_faults = s->slow_faults - p->slow_faults;
		}
		printf("%-20s %9.1f %9llu %8llu %8llu %8llu",
		       phase_name[phase], ns[phase] / 1e6, d.accesses, d.faults,
		       d.fast_fixed_wp, d.slow_faults);
		/* A real CPU's TLB and walks are out of sight. */
		if (vs[0].backend == EPTMMU_BACKEND_VMX)
			printf(" %9s %9s\n", "(CPU)", "(CPU)");
		else
			printf(" %9llu %9llu\n", d.tlb_hits, d.walks);
	}

	printf("\n%-20s %7s %8s %8s %8s %7s %8s %8s %5s\n", "VM after phase",
	       "tables", "maps 4k", "maps 2m", "maps 1g", "splits", "zapped",
	       "flushes", "inval");
	for (phase = 0; phase < NPHASES; phase++)
		printf("%-20s %7llu %8llu %8llu %8llu %7llu %8llu %8llu %5llu\n",
		       phase_name[phase], vs[phase].tables, vs[phase].maps_4k,
		       vs[phase].maps_2m, vs[phase].maps_1g, vs[phase].splits,
		       vs[phase].zapped, vs[phase].tlb_flushes,
		       vs[phase].invalidations);
	printf("\n%s\n", failed ? "FAILED: see the errors above" :
	       "guest writes and process memory agree");

	for (i = 0; i < nvcpus; i++)
		close(v[i].fd);
	close(vm);
	close(devfd);
	munmap(mem, npages * PAGE_SIZE);
	if (guest64)
		g64_fini(&g);
	free(v);
	return failed;
}
