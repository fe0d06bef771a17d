/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Test-only fault injection.  Built only with EPTMMU_TEST=1 (what
 * `make check` does); a production build compiles every site to nothing.
 *
 * Two kinds of knobs:
 *  - broken variants: make a correct mechanism wrong on purpose, so a race
 *    test can show that it catches the bug the mechanism prevents;
 *  - park points: hold a thread between two steps of an operation so a
 *    race test can run the competing operation exactly there.
 */
#ifndef _EPTMMU_INJECT_H
#define _EPTMMU_INJECT_H

#include <linux/compiler.h>
#include <linux/stddef.h>
#include <linux/types.h>

struct eptmmu_inject {
	/* eptmmu_spte_write_locked() never uses xchg: volatile bits get lost. */
	bool spte_plain_store;
};

#ifdef EPTMMU_TEST

extern struct eptmmu_inject eptmmu_inject;

#define eptmmu_broken(knob)	READ_ONCE(eptmmu_inject.knob)

#else

/* Still names the knob, so a production build catches a misspelt one. */
#define eptmmu_broken(knob)	\
	((void)sizeof_field(struct eptmmu_inject, knob), false)

#endif /* EPTMMU_TEST */

#endif /* _EPTMMU_INJECT_H */
