// SPDX-License-Identifier: GPL-2.0
/*
 * The tracepoints of include/eptmmu/trace.h are instantiated here, and
 * only here.
 */
#include <linux/mm.h>

#include <eptmmu/mmu.h>

#define CREATE_TRACE_POINTS
#include <eptmmu/trace.h>

/**
 * eptmmu_trace_spte_write() - trace a store made by an SPTE write helper
 * @sptep: the entry written
 * @old: the value it replaced
 * @new: the value stored
 *
 * The helpers know only the entry; its table's descriptor (page->private
 * of the table's page, R-RCU-PT keeps it alive for as long as the caller
 * may write the entry) says which gfns it maps and at which level.  Tests
 * also call the helpers on entries outside any table (on the stack, in a
 * kmalloc'd buffer): those have no descriptor and are not traced.
 */
void eptmmu_trace_spte_write(u64 *sptep, u64 old, u64 new)
{
	struct eptmmu_pt *pt;
	struct page *page;
	unsigned int idx;
	int level;

	if (old == new || !virt_addr_valid(sptep))
		return;
	page = virt_to_page(sptep);
	if (PageSlab(page) || !page_private(page))
		return;
	pt = (struct eptmmu_pt *)page_private(page);
	if (pt->spt != (u64 *)page_address(page))
		return;
	level = pt->level;
	if (!spte_is_present_leaf(old, level) &&
	    !spte_is_present_leaf(new, level) &&
	    !spte_is_mmio(old) && !spte_is_mmio(new))
		return;
	idx = offset_in_page(sptep) / sizeof(*sptep);
	trace_eptmmu_spte_changed(pt->base_gfn + idx * SPTE_PAGES_PER(level),
				  level, old, new);
}
