/* SPDX-License-Identifier: GPL-2.0 WITH Linux-syscall-note */
/*
 * eptmmu user-space ABI: /dev/eptmmu, VM file descriptors, vCPU file
 * descriptors.  Documentation/abi.rst is the long form.
 *
 * Every ioctl that rejects its argument changes nothing.  Errors common to
 * all of them:
 *   ENOTTY  unknown ioctl for this kind of file descriptor
 *   EFAULT  an argument (or an array it points to) cannot be copied
 *   EIO     the VM's address space has gone (its creating process exited),
 *           or the caller is not in the creating process's address space
 */
#ifndef _UAPI_EPTMMU_H
#define _UAPI_EPTMMU_H

#include <linux/ioctl.h>
#include <linux/types.h>

#define EPTMMU_API_VERSION	3
#define EPTMMU_IO		0xE7

/* ---- /dev/eptmmu ---- */

/* Returns EPTMMU_API_VERSION. */
#define EPTMMU_GET_API_VERSION	_IO(EPTMMU_IO, 0x00)
/*
 * Returns a new VM file descriptor.  The VM maps memory of the calling
 * process (its mm).  EINVAL: argument not 0, or no mm.  ENOMEM.
 * EMFILE / ENFILE: the process's / the system's file table is full.
 * EINTR: a signal arrived while the process's first VM registered with
 * its memory management; nothing was made, call again.
 */
#define EPTMMU_CREATE_VM	_IO(EPTMMU_IO, 0x01)

/* ---- VM file descriptor ---- */

#define EPTMMU_MAX_MEMSLOTS	32
#define EPTMMU_MAX_VCPUS	64
/* 4-level EPT translates 48-bit guest-physical addresses. */
#define EPTMMU_MAX_GPA		(1ULL << 48)
#define EPTMMU_MAX_MEMSLOT_SIZE	(1ULL << 40)

#define EPTMMU_MEM_LOG_DIRTY_PAGES	(1u << 0)
#define EPTMMU_MEM_READONLY		(1u << 1)
/*
 * With EPTMMU_MEM_LOG_DIRTY_PAGES: log by EPT dirty bits (pages stay
 * writable; a harvest collects and clears D) instead of by write
 * protection.  Only for VMs that use EPT A/D bits (stats.ept_ad).
 * Its first harvest may also report pages written before logging was
 * turned on: a D set then cannot be told from one set while logging
 * starts, and the log never under-reports.  Write-protection logging
 * reports only writes made after the slot started logging.
 */
#define EPTMMU_MEM_DIRTY_LOG_DBIT	(1u << 2)
/*
 * With EPTMMU_MEM_LOG_DIRTY_PAGES, for manual protect (KVM's
 * KVM_DIRTY_LOG_INITIALLY_SET): logging starts with every page of the
 * slot in the log and nothing write-protected (no D bit cleared); the
 * first EPTMMU_CLEAR_DIRTY_LOG (or GET without NO_CLEAR) that names a
 * page protects it.  Huge pages are still split when logging starts.
 */
#define EPTMMU_MEM_DIRTY_LOG_INITIALLY_SET	(1u << 3)

/**
 * struct eptmmu_memslot - guest-physical range backed by process memory
 * @slot: slot id, 0 .. EPTMMU_MAX_MEMSLOTS - 1
 * @flags: EPTMMU_MEM_*
 * @guest_phys_addr: first guest-physical byte (4 KiB aligned)
 * @memory_size: bytes (4 KiB multiple); 0 deletes slot @slot
 * @userspace_addr: process virtual address of the first byte (4 KiB aligned)
 *
 * EPTMMU_SET_MEMSLOT creates slot @slot, changes the flags of an existing
 * slot (only the dirty-logging flags may change), or deletes it.  A
 * delete zaps the slot's mappings and flushes every vCPU before returning.
 * Turning dirty logging on write-protects the slot (or clears its D bits)
 * and splits its huge pages before returning; turning it off lets huge
 * pages come back on the next fault.
 * Errors:
 *   EINVAL  unknown flag, DIRTY_LOG_DBIT or DIRTY_LOG_INITIALLY_SET without
 *           LOG_DIRTY_PAGES, DIRTY_LOG_DBIT on a VM without EPT A/D,
 *           @slot out of range, an address or size not 4 KiB aligned,
 *           size over EPTMMU_MAX_MEMSLOT_SIZE, range past EPTMMU_MAX_GPA
 *           or wrapping
 *   EFAULT  [@userspace_addr, +@memory_size) is not user memory
 *   EEXIST  the range overlaps another slot
 *   EBUSY   @slot exists with another address, size or READONLY flag, or
 *           the logging mode (DBIT, INITIALLY_SET) changes while logging
 *           stays on: delete it (or stop logging) first
 *   ENOENT  delete of a slot that does not exist
 */
struct eptmmu_memslot {
	__u32 slot;
	__u32 flags;
	__u64 guest_phys_addr;
	__u64 memory_size;
	__u64 userspace_addr;
};

#define EPTMMU_SET_MEMSLOT	_IOW(EPTMMU_IO, 0x10, struct eptmmu_memslot)
/*
 * Returns a new vCPU file descriptor.  EINVAL: argument not 0.
 * ENOSPC: EPTMMU_MAX_VCPUS already exist.  ENOMEM.  EMFILE / ENFILE: the
 * process's / the system's file table is full (no vCPU is used up).
 */
#define EPTMMU_CREATE_VCPU	_IO(EPTMMU_IO, 0x11)

/**
 * struct eptmmu_vm_stats - VM-wide counters (since creation)
 * @tables: page-table pages currently allocated, the root included
 * @maps_4k: 4 KiB leaves installed by the slow path
 * @maps_2m: 2 MiB leaves installed
 * @maps_1g: 1 GiB leaves installed
 * @splits: huge leaves split into a table
 * @zapped: leaves zapped
 * @tlb_flushes: flushes delivered to all vCPUs
 * @memslot_generation: bumped by every memslot change
 * @ept_ad: 1 if the VM's SPTEs use EPT A/D bits, 0 for access tracking
 * @aging_passes: memslot ranges aged by MMU-notifier aging calls (one
 *	call over two slots counts two); aging takes no lock
 * @aged_young: leaves those passes found young (and, unless test_young,
 *	made old).  Aging never flushes a vCPU's TLB, so a page the guest
 *	keeps using through a cached translation can look idle once
 * @invalidations: MMU-notifier invalidations whose range overlapped a
 *	memslot (whether or not anything was mapped there)
 * @backend: the VM's vCPUs are EPTMMU_BACKEND_SOFT or EPTMMU_BACKEND_VMX
 */
struct eptmmu_vm_stats {
	__u64 tables;
	__u64 maps_4k;
	__u64 maps_2m;
	__u64 maps_1g;
	__u64 splits;
	__u64 zapped;
	__u64 tlb_flushes;
	__u64 invalidations;
	__u64 memslot_generation;
	__u64 ept_ad;
	__u64 aging_passes;
	__u64 aged_young;
	__u64 backend;
};

#define EPTMMU_BACKEND_SOFT	0	/* the software EPT walker */
#define EPTMMU_BACKEND_VMX	1	/* VT-x: the CPU walks the EPT */

#define EPTMMU_GET_VM_STATS	_IOR(EPTMMU_IO, 0x12, struct eptmmu_vm_stats)

#define EPTMMU_DIRTY_LOG_NO_CLEAR	(1u << 0)

/**
 * struct eptmmu_dirty_log - harvest or clear a memslot's dirty log
 * @slot: a slot with EPTMMU_MEM_LOG_DIRTY_PAGES
 * @flags: GET: 0 or EPTMMU_DIRTY_LOG_NO_CLEAR; CLEAR: 0
 * @first_page: CLEAR: first page (slot-relative), a multiple of 64; GET: 0
 * @num_pages: CLEAR: pages, a multiple of 64 unless the range ends at the
 *	slot's end; GET: 0
 * @bitmap: user pointer; bit i of word w is page 64 * w + i (relative to
 *	the slot for GET, to @first_page for CLEAR); GET fills
 *	DIV_ROUND_UP(npages, 64) words
 *
 * EPTMMU_GET_DIRTY_LOG copies the pages written since the last harvest
 * and, unless NO_CLEAR, clears them and write-protects them again (or
 * clears their D bits); every vCPU's TLB is flushed before it returns.
 * With NO_CLEAR (manual protect) it only copies, and
 * EPTMMU_CLEAR_DIRTY_LOG clears and re-protects the pages whose bits are
 * set in @bitmap.  A page is always either in the log not yet harvested or
 * write-protected (D clear) in every SPTE and every vCPU TLB.
 * Errors: ENOENT (no such slot), EINVAL (slot id out of range, slot not
 * logging, bad flags or range), EFAULT (@bitmap not writable / readable;
 * the log is left as it was).  CLEAR ignores bits past the slot's end.
 * Turning logging off drops whatever was not harvested yet.
 */
struct eptmmu_dirty_log {
	__u32 slot;
	__u32 flags;
	__u64 first_page;
	__u64 num_pages;
	__u64 bitmap;
};

#define EPTMMU_GET_DIRTY_LOG	_IOW(EPTMMU_IO, 0x13, struct eptmmu_dirty_log)
#define EPTMMU_CLEAR_DIRTY_LOG	_IOW(EPTMMU_IO, 0x14, struct eptmmu_dirty_log)

/*
 * The dirty ring (Documentation/abi.rst, "The dirty ring"): each vCPU
 * logs the pages its writes dirty into a ring of struct eptmmu_dirty_gfn
 * that user space maps from the vCPU fd (offset 0, MAP_SHARED, read and
 * write, entries * sizeof(struct eptmmu_dirty_gfn) bytes).
 */
#define EPTMMU_DIRTY_RING_MIN_ENTRIES	1024
#define EPTMMU_DIRTY_RING_MAX_ENTRIES	65536
/*
 * EPTMMU_RUN stops with EPTMMU_EXIT_RING_FULL once this few free
 * entries are left: room for what the vCPU may still log before it
 * looks again (a hardware page-modification log drains 512 at once).
 */
#define EPTMMU_DIRTY_RING_RSVD_ENTRIES	576

/* Set by the kernel: the entry names a dirtied page. */
#define EPTMMU_DIRTY_GFN_F_DIRTY	(1u << 0)
/* Set by user space once it has collected the entry. */
#define EPTMMU_DIRTY_GFN_F_RESET	(1u << 1)

/**
 * struct eptmmu_dirty_gfn - one dirty-ring entry
 * @flags: EPTMMU_DIRTY_GFN_F_*; the kernel stores it last, with release
 *	semantics, and user space must read it first, with acquire
 *	semantics, and store F_RESET with release semantics after reading
 *	@slot and @offset
 * @slot: the memslot id
 * @offset: the page, relative to the memslot's first page
 */
struct eptmmu_dirty_gfn {
	__u32 flags;
	__u32 slot;
	__u64 offset;
};

/**
 * struct eptmmu_dirty_ring_config - EPTMMU_ENABLE_DIRTY_RING
 * @entries: entries per vCPU ring: a power of two, from
 *	EPTMMU_DIRTY_RING_MIN_ENTRIES to EPTMMU_DIRTY_RING_MAX_ENTRIES
 * @flags: must be 0
 *
 * Makes the VM log the writes of its vCPUs into per-vCPU dirty rings
 * instead of its memslots' bitmaps.  Only before the VM's first vCPU.
 * Errors: EINVAL (@entries or @flags bad), EBUSY (a vCPU exists), EEXIST
 * (the VM already has rings).
 */
struct eptmmu_dirty_ring_config {
	__u32 entries;
	__u32 flags;
};

#define EPTMMU_ENABLE_DIRTY_RING	_IOW(EPTMMU_IO, 0x30, struct eptmmu_dirty_ring_config)
/*
 * Take back every ring's collected entries (F_RESET set), in order from
 * each ring's oldest: re-protect their pages and make the entries free.
 * Returns how many were reset.  EINVAL: the VM has no rings.
 */
#define EPTMMU_RESET_DIRTY_RINGS	_IO(EPTMMU_IO, 0x31)

/*
 * EPTMMU_RUN's guest on a vmx vCPU runs 32-bit code with paging off: it
 * reaches 4 GiB.  (EPTMMU_RUN_GUEST's 64-bit guests reach any gpa.)
 */
#define EPTMMU_VMX_MAX_GPA	(1ULL << 32)

/**
 * struct eptmmu_guest_code - where the vmx vCPU's guest code lives
 * @gpa: guest-physical address of the code, 4 KiB aligned, below
 *	EPTMMU_VMX_MAX_GPA; the code must fit in that one page
 * @flags: must be 0
 *
 * A vmx vCPU makes each access of EPTMMU_RUN with real guest instructions,
 * which are fetched through the VM's EPT like any guest code.  User space
 * loads them into guest memory and names their page with
 * EPTMMU_SET_GUEST_CODE; a run without it ends with EPTMMU_EXIT_GUEST.
 * The guest runs in 32-bit protected mode, paging off, flat 4 GiB
 * segments, CPL 0, interrupts off.  Each read or write access enters at
 * @gpa with
 *   EAX = (kind << 8) | size, EBX = the access's gpa,
 *   EDX = value bits 31:0, ECX = value bits 63:32 (writes),
 * and the code makes the access and executes VMCALL, leaving a read's
 * value in EDX (and ECX for 8 bytes).  An 8-byte access may be made as
 * two 4-byte ones, low half first.  A fetch runs no code at @gpa: the
 * vCPU jumps to the access's gpa with every data segment unusable and
 * single-steps (RFLAGS.TF), so the CPU fetches and runs that one
 * instruction, which cannot write memory; then @value is read with a read
 * access.  tools/lib.c has such code.
 *
 * The soft vCPU runs no guest code: it accepts and ignores the setting,
 * so one program drives both backends.
 * Errors: EINVAL (@gpa not aligned or not below EPTMMU_VMX_MAX_GPA,
 * @flags not 0).
 */
struct eptmmu_guest_code {
	__u64 gpa;
	__u64 flags;
};

#define EPTMMU_SET_GUEST_CODE	_IOW(EPTMMU_IO, 0x15, struct eptmmu_guest_code)

/*
 * EPTMMU_GET_SPTE: the EPT entry that maps @gpa now, as the CPU sees it.
 * In: @gpa, @flags = 0.  Out: @level (1 = 4 KiB, 2 = 2 MiB, 3 = 1 GiB
 * leaf; 0 = nothing maps @gpa: @spte is then 0), @spte (the entry's
 * hardware bits in the SDM's EPT format: R/W/X in bits 2:0, memory type
 * 5:3, A in bit 8, D in bit 9, the host frame in 51:12, zero unless the
 * caller has CAP_SYS_ADMIN), @flags (EPTMMU_SPTE_*).  A snapshot: the CPU
 * or another vCPU may change the entry right after.
 * Errors: EINVAL (@flags not 0, @gpa not below EPTMMU_MAX_GPA).
 */
struct eptmmu_spte {
	__u64 gpa;
	__u64 spte;
	__u32 level;
	__u32 flags;
};

/* Aged without A/D bits: R/W/X are cleared until the next access. */
#define EPTMMU_SPTE_ACCESS_TRACKED	(1u << 0)
/* The CPU keeps this entry's A/D bits (EPT A/D mode). */
#define EPTMMU_SPTE_AD_ENABLED		(1u << 1)

#define EPTMMU_GET_SPTE		_IOWR(EPTMMU_IO, 0x16, struct eptmmu_spte)

/* ---- vCPU file descriptor ---- */

#define EPTMMU_ACCESS_READ	0
#define EPTMMU_ACCESS_WRITE	1
#define EPTMMU_ACCESS_FETCH	2

/**
 * struct eptmmu_access - one guest memory access
 * @gpa: guest-physical address, aligned to @size, below EPTMMU_MAX_GPA
 *	(EPTMMU_VMX_MAX_GPA on a vmx vCPU)
 * @kind: EPTMMU_ACCESS_*
 * @size: 1, 2, 4 or 8 bytes
 * @pad: must be 0
 * @value: in: the value a write stores; out: the value a read or fetch saw
 */
struct eptmmu_access {
	__u64 gpa;
	__u8 kind;
	__u8 size;
	__u8 pad[6];
	__u64 value;
};

#define EPTMMU_MAX_RUN_ACCESSES	65536

/* Why EPTMMU_RUN stopped. */
#define EPTMMU_EXIT_DONE	0	/* all @count accesses done */
#define EPTMMU_EXIT_MMIO	1	/* @exit_gpa is in no memslot */
#define EPTMMU_EXIT_FAULT	2	/* fault not resolvable: see @exit_errno */
#define EPTMMU_EXIT_INTR	3	/* a signal is pending */
/*
 * vmx vCPU only: the guest could not make the access.  No guest code was
 * set, the code page is not guest memory, the code raised an exception or
 * caused a VM exit the backend does not expect, or VM entry failed.
 * @exit_gpa is the guest's instruction pointer, @exit_errno the VMX basic
 * exit reason (bit 31 set for a failed VM entry), or EPTMMU_GUEST_NO_CODE
 * when no guest code was set.  dmesg has the details.
 */
#define EPTMMU_EXIT_GUEST	4
#define EPTMMU_GUEST_NO_CODE	0xffff
/*
 * The vCPU's dirty ring has no more than EPTMMU_DIRTY_RING_RSVD_ENTRIES
 * free entries: collect and reset, then run again.  @exit_gpa is the
 * access that was not made.
 */
#define EPTMMU_EXIT_RING_FULL	5
/*
 * EPTMMU_RUN_GUEST only: the guest executed VMCALL (a ucall: its
 * registers say what it wants); @regs.rip is past the VMCALL.
 */
#define EPTMMU_EXIT_UCALL	6

/**
 * struct eptmmu_vcpu_stats - counters of one vCPU
 * @accesses: guest accesses performed
 * @tlb_hits: accesses served by the vCPU's TLB
 * @walks: EPT walks (TLB misses)
 * @faults: EPT violations taken
 * @fast_fixed_wp: faults fixed by the fast path setting W
 * @fast_fixed_acc: faults fixed by the fast path restoring access
 * @fast_retries: fast-path cmpxchg failures retried
 * @fast_fallbacks: faults the fast path passed to the slow path
 * @slow_faults: faults handled by the slow path
 * @slow_retries: slow-path attempts retried (invalidation raced, frozen SPTE)
 * @mmio_exits: accesses that hit no memslot
 * @tlb_flushes: flushes of this vCPU's TLB
 */
struct eptmmu_vcpu_stats {
	__u64 accesses;
	__u64 tlb_hits;
	__u64 walks;
	__u64 faults;
	__u64 fast_fixed_wp;
	__u64 fast_fixed_acc;
	__u64 fast_retries;
	__u64 fast_fallbacks;
	__u64 slow_faults;
	__u64 slow_retries;
	__u64 mmio_exits;
	__u64 tlb_flushes;
};

/**
 * struct eptmmu_run - run a batch of guest accesses on a vCPU
 * @accesses: user pointer to an array of struct eptmmu_access
 * @count: entries in it, 1 .. EPTMMU_MAX_RUN_ACCESSES
 * @flags: must be 0
 * @done: out: accesses completed (their @value written back)
 * @exit_reason: out: EPTMMU_EXIT_*
 * @exit_gpa: out: the gpa of the access that stopped the run
 * @exit_errno: out: for EPTMMU_EXIT_FAULT, a positive errno: EFAULT (no
 *	process memory behind the gpa), EACCES (write to a read-only slot or
 *	to read-only process memory), EHWPOISON (the process page is
 *	poisoned), ENOMEM, EAGAIN (the access kept faulting: its mapping was
 *	invalidated on every one of many retries)
 * @pad: reserved, 0
 * @stats: out: counters of this vCPU, cumulative
 *
 * On a vmx vCPU @stats.tlb_hits and @stats.walks stay 0 (the CPU walks
 * and caches without telling), @stats.tlb_flushes counts INVEPT rounds.
 *
 * Errors: EINVAL (@count or @flags out of range, an access with a bad
 * kind, size, alignment, pad or gpa), EBUSY (another thread is running this
 * vCPU).  Accesses before the one that stopped the run have been done.
 */
struct eptmmu_run {
	__u64 accesses;
	__u32 count;
	__u32 flags;
	__u32 done;
	__u32 exit_reason;
	__u64 exit_gpa;
	__u32 exit_errno;
	__u32 pad;
	struct eptmmu_vcpu_stats stats;
};

#define EPTMMU_RUN		_IOWR(EPTMMU_IO, 0x20, struct eptmmu_run)

/**
 * struct eptmmu_regs - a 64-bit guest's registers (EPTMMU_RUN_GUEST)
 * @rax: the general registers (and @rbx .. @r15): in, the values the
 *	guest starts (or goes on) with; out, its values when it stopped
 * @rbx: as @rax
 * @rcx: as @rax
 * @rdx: as @rax
 * @rsi: as @rax
 * @rdi: as @rax
 * @rsp: as @rax
 * @rbp: as @rax
 * @r8: as @rax
 * @r9: as @rax
 * @r10: as @rax
 * @r11: as @rax
 * @r12: as @rax
 * @r13: as @rax
 * @r14: as @rax
 * @r15: as @rax
 * @rip: guest-linear address of the next instruction
 * @rflags: in, only CF PF AF ZF SF DF OF and the fixed bit 1 may be set
 *	(IF may be set and is set anyway: see EPTMMU_RUN_GUEST); out, the
 *	guest's
 * @cr3: guest-physical address of the guest's PML4 table, 4 KiB aligned,
 *	below EPTMMU_MAX_GPA (no PCID, no PWT/PCD); out, unchanged
 */
struct eptmmu_regs {
	__u64 rax, rbx, rcx, rdx, rsi, rdi, rsp, rbp;
	__u64 r8, r9, r10, r11, r12, r13, r14, r15;
	__u64 rip;
	__u64 rflags;
	__u64 cr3;
};

/**
 * struct eptmmu_run_guest - run 64-bit guest code until it calls out
 * @regs: in/out: the guest's registers
 * @flags: must be 0
 * @exit_reason: out: EPTMMU_EXIT_UCALL, _MMIO, _FAULT, _INTR, _GUEST or
 *	_RING_FULL
 * @exit_gpa: out: for MMIO and FAULT the guest-physical address
 * @exit_qual: out: for GUEST, the VM exit's qualification
 * @exit_errno: out: for FAULT a positive errno (as in struct eptmmu_run);
 *	for GUEST the VMX basic exit reason (bit 31: VM entry failed)
 * @exit_intr: out: for GUEST, the VM exit's interruption information
 *	(an exception's vector in bits 7:0, bit 31 valid)
 *
 * EPTMMU_RUN_GUEST enters the vmx vCPU's guest in 64-bit mode (IA-32e,
 * CR0.PG/PE, CR4.PAE, EFER.LME/LMA, 64-bit code segment, flat data
 * segments, CPL 0) with @regs, paging through the 4-level guest page
 * tables at @regs.cr3 that user space built in guest memory.  The CPU
 * walks those tables through the EPT, so its accesses to them fault in
 * like any guest access; every EPT violation is handled by the fault path
 * and the guest goes on.  The call returns when the guest executes VMCALL
 * (EXIT_UCALL), touches a gpa in no memslot (EXIT_MMIO: calling again
 * retries the access), meets a fault the MMU cannot resolve (EXIT_FAULT),
 * a signal is pending (EXIT_INTR: calling again goes on), the vCPU's
 * dirty ring is soft-full (EXIT_RING_FULL: reset the rings, then calling
 * again goes on; @exit_gpa is the fault's gpa, or 0 when the run stopped
 * before entering the guest), or the guest
 * cannot go on (EXIT_GUEST: an exception, HLT, I/O, an MSR or CR access,
 * or a failed VM entry; @regs.rip is where).  External interrupts and
 * NMIs exit to the host, never reach the guest; x87/SSE is off
 * (CR0.EM/TS): guest code is built with general registers only.
 * Errors: EINVAL (@flags not 0, @regs.rflags or @regs.cr3 as above),
 * EOPNOTSUPP (the soft vCPU runs no code, or the CPU cannot run a 64-bit
 * guest), EBUSY (another thread runs this vCPU).
 */
struct eptmmu_run_guest {
	struct eptmmu_regs regs;
	__u32 flags;
	__u32 exit_reason;
	__u64 exit_gpa;
	__u64 exit_qual;
	__u32 exit_errno;
	__u32 exit_intr;
};

/* vCPU ioctls 0x40-0x4f: 64-bit guest code. */
#define EPTMMU_RUN_GUEST	_IOWR(EPTMMU_IO, 0x40, struct eptmmu_run_guest)

/* What a fault ended as, for the latency histograms. */
#define EPTMMU_FAULT_FAST_WP	0	/* fast path set W */
#define EPTMMU_FAULT_FAST_ACC	1	/* fast path restored access */
#define EPTMMU_FAULT_SLOW_4K	2	/* slow path installed a 4K leaf */
#define EPTMMU_FAULT_SLOW_HUGE	3	/* slow path installed a 2M/1G leaf */
#define EPTMMU_FAULT_OTHER	4	/* retried, MMIO or failed */
#define EPTMMU_FAULT_KINDS	5
#define EPTMMU_LAT_BUCKETS	32

/**
 * struct eptmmu_fault_latency - time spent in the fault handler, per kind
 * @count: faults of each kind
 * @total_ns: their summed handler time
 * @hist: bucket b counts faults that took [2^b, 2^(b+1)) ns (bucket 0:
 *	under 2 ns), measured in the kernel around the whole handler
 *
 * EPTMMU_GET_FAULT_LATENCY copies the vCPU's counters since its creation
 * (EBUSY while the vCPU runs).
 */
struct eptmmu_fault_latency {
	__u64 count[EPTMMU_FAULT_KINDS];
	__u64 total_ns[EPTMMU_FAULT_KINDS];
	__u64 hist[EPTMMU_FAULT_KINDS][EPTMMU_LAT_BUCKETS];
};

#define EPTMMU_GET_FAULT_LATENCY _IOR(EPTMMU_IO, 0x21, struct eptmmu_fault_latency)

#endif /* _UAPI_EPTMMU_H */
