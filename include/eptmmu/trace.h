/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Tracepoints of the MMU, under the ftrace system "eptmmu"
 * (/sys/kernel/tracing/events/eptmmu/, `trace-cmd record -e eptmmu`).
 *
 * Each event is a static key while disabled: a call site costs a no-op
 * until someone enables it.  Where an event needs work to fill its fields
 * (the gfn of an SPTE, the pages of a bitmap), that work is done in the
 * event's assignment, which runs only when the event is on.  mmu/trace.c
 * instantiates them (CREATE_TRACE_POINTS) and has the out-of-line helpers.
 * Without CONFIG_TRACEPOINTS every trace_*() call compiles to nothing.
 */
#undef TRACE_SYSTEM
#define TRACE_SYSTEM eptmmu

/* Read once: what the events below use and the helpers' prototypes. */
#ifndef _EPTMMU_TRACE_HELPERS
#define _EPTMMU_TRACE_HELPERS

#include <linux/bitmap.h>

#include <eptmmu/spte.h>

/* How a fault ended, for eptmmu_fault_result. */
#define EPTMMU_TRACE_FAST_WP		0	/* fast path set W */
#define EPTMMU_TRACE_FAST_ACC		1	/* fast path restored access */
#define EPTMMU_TRACE_FAST_SPURIOUS	2	/* fast path: already fixed */
#define EPTMMU_TRACE_SLOW		3	/* slow path installed a leaf */
#define EPTMMU_TRACE_SLOW_SPURIOUS	4	/* slow path: already mapped */
#define EPTMMU_TRACE_MMIO		5	/* no memslot: MMIO exit */
#define EPTMMU_TRACE_RETRY		6	/* state changed: access retried */
#define EPTMMU_TRACE_ERROR		7	/* fault not resolvable */

#define eptmmu_trace_path(p)						\
	__print_symbolic(p,						\
			 { EPTMMU_TRACE_FAST_WP, "fast-wp" },		\
			 { EPTMMU_TRACE_FAST_ACC, "fast-acc" },		\
			 { EPTMMU_TRACE_FAST_SPURIOUS, "fast-spurious" }, \
			 { EPTMMU_TRACE_SLOW, "slow" },			\
			 { EPTMMU_TRACE_SLOW_SPURIOUS, "slow-spurious" }, \
			 { EPTMMU_TRACE_MMIO, "mmio" },			\
			 { EPTMMU_TRACE_RETRY, "retry" },		\
			 { EPTMMU_TRACE_ERROR, "error" })

/* Bits 0-2 of an EPT-violation qualification: the access. */
#define eptmmu_trace_access(q)						\
	__print_flags((q) & 7, "",					\
		      { EPT_VIOLATION_ACC_READ, "R" },			\
		      { EPT_VIOLATION_ACC_WRITE, "W" },			\
		      { EPT_VIOLATION_ACC_INSTR, "X" })

/* Bits 3-5: what the translation allowed. */
#define eptmmu_trace_allowed(q)						\
	__print_flags(((q) >> EPT_VIOLATION_RWX_SHIFT) & 7, "",		\
		      { VMX_EPT_READABLE_MASK, "r" },			\
		      { VMX_EPT_WRITABLE_MASK, "w" },			\
		      { VMX_EPT_EXECUTABLE_MASK, "x" })

/* Bits 7-8: a guest-linear address, and the kind of access to it. */
#define EPTMMU_TRACE_GLA	(EPT_VIOLATION_GVA_IS_VALID |		\
				 EPT_VIOLATION_GVA_TRANSLATED)
#define eptmmu_trace_gla(q)						\
	__print_symbolic((q) & EPTMMU_TRACE_GLA,			\
			 { EPT_VIOLATION_GVA_IS_VALID, " guest-pt" },	\
			 { EPTMMU_TRACE_GLA, " linear" },		\
			 { 0, "" },					\
			 { EPT_VIOLATION_GVA_TRANSLATED, "" })

/*
 * The bits of an SPTE that have a name (include/eptmmu/spte.h), kept in
 * their own field by each event's assignment: trace-cmd and perf evaluate
 * the format themselves, and cannot the GENMASK_ULL() behind the other
 * masks.  EPTMMU_TRACE_SPTE_MMIO and _FROZEN stand for those whole values.
 */
#define EPTMMU_TRACE_SPTE_NAMED	(SPTE_PRESENT | VMX_EPT_RWX_MASK |		\
				 VMX_EPT_IPAT_BIT | SPTE_LARGE_MASK |		\
				 VMX_EPT_ACCESS_BIT | VMX_EPT_DIRTY_BIT |	\
				 SPTE_AD_DISABLED | SPTE_HOST_WRITABLE |	\
				 SPTE_MMU_WRITABLE | SPTE_ACC_TRACKED |	\
				 SPTE_SAVED_R | SPTE_SAVED_X)
#define EPTMMU_TRACE_SPTE_MMIO		BIT_ULL(57)
#define EPTMMU_TRACE_SPTE_FROZEN	BIT_ULL(58)
static_assert(!(EPTMMU_TRACE_SPTE_NAMED &
		(EPTMMU_TRACE_SPTE_MMIO | EPTMMU_TRACE_SPTE_FROZEN)));

static inline u64 eptmmu_trace_spte_bits(u64 spte)
{
	if (spte_is_frozen(spte))
		return EPTMMU_TRACE_SPTE_FROZEN;
	if (spte_is_mmio(spte))
		return EPTMMU_TRACE_SPTE_MMIO;
	return spte & EPTMMU_TRACE_SPTE_NAMED;
}

#define eptmmu_trace_spte(bits)						\
	__print_flags(bits, "|",					\
		      { EPTMMU_TRACE_SPTE_FROZEN, "frozen" },		\
		      { EPTMMU_TRACE_SPTE_MMIO, "mmio" },		\
		      { SPTE_PRESENT, "P" },				\
		      { VMX_EPT_READABLE_MASK, "R" },			\
		      { VMX_EPT_WRITABLE_MASK, "W" },			\
		      { VMX_EPT_EXECUTABLE_MASK, "X" },			\
		      { VMX_EPT_IPAT_BIT, "ipat" },			\
		      { SPTE_LARGE_MASK, "L" },				\
		      { VMX_EPT_ACCESS_BIT, "A" },			\
		      { VMX_EPT_DIRTY_BIT, "D" },			\
		      { SPTE_AD_DISABLED, "ad-off" },			\
		      { SPTE_HOST_WRITABLE, "host-w" },			\
		      { SPTE_MMU_WRITABLE, "mmu-w" },			\
		      { SPTE_ACC_TRACKED, "tracked" },			\
		      { SPTE_SAVED_R, "saved-r" },			\
		      { SPTE_SAVED_X, "saved-x" })
/*
 * mmu/trace.c: eptmmu_spte_changed for a store at @sptep, when @sptep is
 * an entry of a table of the tree and @old or @new is a leaf.  The write
 * helpers call it only while the event is enabled.
 */
void eptmmu_trace_spte_write(u64 *sptep, u64 old, u64 new);
#endif /* _EPTMMU_TRACE_HELPERS */

#if !defined(_EPTMMU_TRACE_H) || defined(TRACE_HEADER_MULTI_READ)
#define _EPTMMU_TRACE_H

#include <linux/tracepoint.h>

TRACE_EVENT(eptmmu_fault_entry,
	TP_PROTO(int vcpu, u64 gpa, u64 qual),
	TP_ARGS(vcpu, gpa, qual),

	TP_STRUCT__entry(
		__field(int, vcpu)
		__field(u64, gpa)
		__field(u64, qual)
	),

	TP_fast_assign(
		__entry->vcpu = vcpu;
		__entry->gpa = gpa;
		__entry->qual = qual;
	),

	TP_printk("vcpu %d gpa %llx access %s allowed [%s]%s",
		  __entry->vcpu, __entry->gpa,
		  eptmmu_trace_access(__entry->qual),
		  eptmmu_trace_allowed(__entry->qual),
		  eptmmu_trace_gla(__entry->qual))
);

TRACE_EVENT(eptmmu_fault_result,
	TP_PROTO(int vcpu, u64 gpa, u64 qual, int path, int level,
		 u32 retries, int r),
	TP_ARGS(vcpu, gpa, qual, path, level, retries, r),

	TP_STRUCT__entry(
		__field(int, vcpu)
		__field(u64, gpa)
		__field(u64, qual)
		__field(int, path)
		__field(int, level)
		__field(u32, retries)
		__field(int, r)
	),

	TP_fast_assign(
		__entry->vcpu = vcpu;
		__entry->gpa = gpa;
		__entry->qual = qual;
		__entry->path = path;
		__entry->level = level;
		__entry->retries = retries;
		__entry->r = r;
	),

	TP_printk("vcpu %d gpa %llx access %s %s level %d retries %u r %d",
		  __entry->vcpu, __entry->gpa,
		  eptmmu_trace_access(__entry->qual),
		  eptmmu_trace_path(__entry->path), __entry->level,
		  __entry->retries, __entry->r)
);

/*
 * A leaf SPTE (present, MMIO or frozen on one side) stored by one of the
 * write helpers of spte/spte.c; mmu/trace.c finds its gfn and level from
 * the table it lives in.
 */
TRACE_EVENT(eptmmu_spte_changed,
	TP_PROTO(u64 gfn, int level, u64 old, u64 new),
	TP_ARGS(gfn, level, old, new),

	TP_STRUCT__entry(
		__field(u64, gfn)
		__field(int, level)
		__field(u64, old)
		__field(u64, new)
		__field(u64, old_bits)
		__field(u64, new_bits)
	),

	TP_fast_assign(
		__entry->gfn = gfn;
		__entry->level = level;
		__entry->old = old;
		__entry->new = new;
		__entry->old_bits = eptmmu_trace_spte_bits(old);
		__entry->new_bits = eptmmu_trace_spte_bits(new);
	),

	TP_printk("gfn %llx level %d old %llx [%s] new %llx [%s]",
		  __entry->gfn, __entry->level,
		  __entry->old, eptmmu_trace_spte(__entry->old_bits),
		  __entry->new, eptmmu_trace_spte(__entry->new_bits))
);

TRACE_EVENT(eptmmu_zap_range,
	TP_PROTO(u64 start, u64 end, bool zapped),
	TP_ARGS(start, end, zapped),

	TP_STRUCT__entry(
		__field(u64, start)
		__field(u64, end)
		__field(bool, zapped)
	),

	TP_fast_assign(
		__entry->start = start;
		__entry->end = end;
		__entry->zapped = zapped;
	),

	TP_printk("gfn %llx-%llx %s", __entry->start, __entry->end,
		  __entry->zapped ? "zapped" : "nothing mapped")
);

TRACE_EVENT(eptmmu_tlb_flush,
	TP_PROTO(int vcpus),
	TP_ARGS(vcpus),

	TP_STRUCT__entry(
		__field(int, vcpus)
	),

	TP_fast_assign(
		__entry->vcpus = vcpus;
	),

	TP_printk("vcpus %d", __entry->vcpus)
);

#define EPTMMU_TRACE_LOG_START		0
#define EPTMMU_TRACE_LOG_STOP		1
#define EPTMMU_TRACE_LOG_HARVEST	2
#define EPTMMU_TRACE_LOG_CLEAR		3

/*
 * @pages: start and stop: the slot's pages; harvest: the pages reported
 * dirty; clear: the pages asked to be cleared (bits set in the range).
 */
TRACE_EVENT(eptmmu_dirty_log,
	TP_PROTO(int op, u32 slot, u64 pages),
	TP_ARGS(op, slot, pages),

	TP_STRUCT__entry(
		__field(int, op)
		__field(u32, slot)
		__field(u64, pages)
	),

	TP_fast_assign(
		__entry->op = op;
		__entry->slot = slot;
		__entry->pages = pages;
	),

	TP_printk("%s slot %u pages %llu",
		  __print_symbolic(__entry->op,
				   { EPTMMU_TRACE_LOG_START, "start" },
				   { EPTMMU_TRACE_LOG_STOP, "stop" },
				   { EPTMMU_TRACE_LOG_HARVEST, "harvest" },
				   { EPTMMU_TRACE_LOG_CLEAR, "clear" }),
		  __entry->slot, __entry->pages)
);

/*
 * A harvest or a clear: the pages are the bits set in @bitmap's first
 * @npages bits, counted only while the event is on.
 */
TRACE_EVENT(eptmmu_dirty_log_pages,
	TP_PROTO(int op, u32 slot, u64 pages),
	TP_ARGS(op, slot, pages),

	TP_STRUCT__entry(
		__field(int, op)
		__field(u32, slot)
		__field(u64, pages)
	),

	TP_fast_assign(
		__entry->op = op;
		__entry->slot = slot;
		__entry->pages = pages;
	),

	TP_printk("%s slot %u pages %llu",
		  __print_symbolic(__entry->op,
				   { EPTMMU_TRACE_LOG_HARVEST, "harvest" },
				   { EPTMMU_TRACE_LOG_CLEAR, "clear" }),
		  __entry->slot, __entry->pages)
);

TRACE_EVENT(eptmmu_age,
	TP_PROTO(u64 start, u64 end, bool clear, u64 young, u64 old),
	TP_ARGS(start, end, clear, young, old),

	TP_STRUCT__entry(
		__field(u64, start)
		__field(u64, end)
		__field(bool, clear)
		__field(u64, young)
		__field(u64, old)
	),

	TP_fast_assign(
		__entry->start = start;
		__entry->end = end;
		__entry->clear = clear;
		__entry->young = young;
		__entry->old = old;
	),

	TP_printk("gfn %llx-%llx %s young %llu old %llu",
		  __entry->start, __entry->end,
		  __entry->clear ? "clear" : "test",
		  __entry->young, __entry->old)
);

/* A huge leaf became a table of 512 smaller leaves. */
TRACE_EVENT(eptmmu_split_huge,
	TP_PROTO(u64 gfn, int level, u64 spte),
	TP_ARGS(gfn, level, spte),

	TP_STRUCT__entry(
		__field(u64, gfn)
		__field(int, level)
		__field(u64, spte)
		__field(u64, bits)
	),

	TP_fast_assign(
		__entry->gfn = gfn;
		__entry->level = level;
		__entry->spte = spte;
		__entry->bits = eptmmu_trace_spte_bits(spte);
	),

	TP_printk("gfn %llx level %d spte %llx [%s]",
		  __entry->gfn, __entry->level, __entry->spte,
		  eptmmu_trace_spte(__entry->bits))
);

/*
 * Small leaves give way so that a huge one can come back: dirty logging
 * stopped over [start, end), which the host backs with huge pages, or a
 * fault found a table where a huge leaf now fits.  The next fault in the
 * range installs a leaf of @level.
 */
TRACE_EVENT(eptmmu_huge_recreate,
	TP_PROTO(u64 start, u64 end, int level),
	TP_ARGS(start, end, level),

	TP_STRUCT__entry(
		__field(u64, start)
		__field(u64, end)
		__field(int, level)
	),

	TP_fast_assign(
		__entry->start = start;
		__entry->end = end;
		__entry->level = level;
	),

	TP_printk("gfn %llx-%llx level %d", __entry->start, __entry->end,
		  __entry->level)
);

TRACE_EVENT(eptmmu_vmx_exit,
	TP_PROTO(int vcpu, u32 reason, u64 qual, u64 gpa, u64 rip),
	TP_ARGS(vcpu, reason, qual, gpa, rip),

	TP_STRUCT__entry(
		__field(int, vcpu)
		__field(u32, reason)
		__field(u64, qual)
		__field(u64, gpa)
		__field(u64, rip)
	),

	TP_fast_assign(
		__entry->vcpu = vcpu;
		__entry->reason = reason;
		__entry->qual = qual;
		__entry->gpa = gpa;
		__entry->rip = rip;
	),

	TP_printk("vcpu %d reason %s qual %llx gpa %llx rip %llx",
		  __entry->vcpu,
		  __print_symbolic(__entry->reason & 0xffff,
				   { EXIT_REASON_EXCEPTION_NMI, "EXCEPTION_NMI" },
				   { EXIT_REASON_EXTERNAL_INTERRUPT, "EXTERNAL_INTERRUPT" },
				   { EXIT_REASON_TRIPLE_FAULT, "TRIPLE_FAULT" },
				   { EXIT_REASON_HLT, "HLT" },
				   { EXIT_REASON_VMCALL, "VMCALL" },
				   { EXIT_REASON_INVALID_STATE, "INVALID_STATE" },
				   { EXIT_REASON_EPT_VIOLATION, "EPT_VIOLATION" },
				   { EXIT_REASON_EPT_MISCONFIG, "EPT_MISCONFIG" },
				   { EXIT_REASON_MONITOR_TRAP_FLAG, "MONITOR_TRAP_FLAG" }),
		  __entry->qual, __entry->gpa, __entry->rip)
);

#endif /* _EPTMMU_TRACE_H */

/* Out of the kernel's include/trace/events: say where this file is. */
#undef TRACE_INCLUDE_PATH
#define TRACE_INCLUDE_PATH eptmmu
#undef TRACE_INCLUDE_FILE
#define TRACE_INCLUDE_FILE trace
#include <trace/define_trace.h>

