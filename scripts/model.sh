#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Check the Promela model of the lockless MMU protocol (model/) with SPIN:
# every scenario exhaustively, the correct model and its broken variants.
# TAP output; exit 0 iff every scenario verifies clean and every broken
# variant yields a counterexample.  Works in a temporary directory; runs
# two searches at a time.
set -u

here=$(cd "$(dirname "$0")/.." && pwd)
model=$here/model

if ! command -v spin >/dev/null 2>&1 || ! command -v gcc >/dev/null 2>&1; then
	echo "# installing spin and gcc" >&2
	# shellcheck disable=SC1091
	(. "$here/scripts/lib.sh" && ensure_packages "${EPTMMU_MODEL_PACKAGES[@]}") >&2 ||
		{ echo "Bail out! cannot install spin"; exit 1; }
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/eptmmu-model.XXXXXX")
# MODEL_KEEP=1 keeps the runs (and any trail) for spin -t -p
if [ -n "${MODEL_KEEP:-}" ]; then
	echo "# runs kept in $work" >&2
else
	trap 'rm -rf "$work"' EXIT
fi

# A scenario, then the broken variants that must be caught in it.  A
# variant ending in /e2e runs with -DNO_FLUSH_ASSERTS: only the
# end-to-end invariants (freed page, host dirty, dirty log) may catch it;
# A+B switches on two knobs at once.
checks=(
	"INVAL          SKIP_INVALIDATE_RECHECK"
	"DELETE         DELETE_UNPUBLISH_FIRST"
	"ZAPS           ZAP_FLUSH_OWN_ONLY ZAP_FLUSH_OWN_ONLY/e2e SKIP_FLUSH"
	"HOSTDIRTY_AD   NO_HOST_DIRTY SOFT_SET_AD_IGNORED AGE_PLAIN_RMW"
	"HOSTDIRTY_NOAD NO_HOST_DIRTY AGE_TWO_STEP FAST_PLAIN_STORE"
	"WRPROT         WRPROT_FLUSH_FROM_SPTE WRPROT_FLUSH_FROM_SPTE/e2e"
	"VOLATILE_A     VOLATILE_NO_A SPTE_PLAIN_STORE"
	"START          FLUSH_FROM_SNAPSHOT+WRPROT_FLUSH_FROM_SPTE"
	"FASTHARV       FAST_MARK_BEFORE_SET"
	"FAULTKEEP      FAULT_REPLACES_LEAF SPTE_PLAIN_STORE SPTE_PLAIN_STORE/e2e"
	"YIELD          DIRTY_LOG_YIELD_NOFLUSH"
)

# Arguments, if any, name the scenarios to run.
if [ $# -gt 0 ]; then
	sel=()
	for c in "${checks[@]}"; do
		for a in "$@"; do
			[ "${c%% *}" = "$a" ] && sel+=("$c")
		done
	done
	checks=("${sel[@]}")
fi

# Exhaustive search for safety: assertions and invalid end states (a
# deadlock).  Every state is stored exactly: no bitstate hashing, no
# compression.  MEMLIM only stops a runaway configuration.  -O0: the
# searches take a second or two, compiling pan.c with -O2 takes longer.
export PANFLAGS="-O0 -DSAFETY -DMEMLIM=2048"
export model work

# one <scenario> [variant]: search, leave the result in its directory
one() {
	local scen=$1 var=${2:-} d defs t0 t1
	d=$work/$scen${var:+-${var//\//-}}
	defs="-DSCEN_$scen"
	case $var in
	*/e2e) defs="$defs -DNO_FLUSH_ASSERTS" ;;
	esac
	for b in $(printf '%s' "${var%/e2e}" | tr '+' ' '); do
		defs="$defs -DBROKEN_$b"
	done
	mkdir -p "$d" && cp "$model"/*.pml "$d"/ && cd "$d" || exit 0
	t0=$(date +%s.%N)
	spin $defs -a eptmmu.pml >spin.log 2>&1 &&
		gcc $PANFLAGS -o pan pan.c >gcc.log 2>&1 &&
		timeout 120 ./pan -m1000000 -c1 >pan.out 2>&1
	t1=$(date +%s.%N)
	awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }' >secs
	touch pan.out
}
export -f one

n=0
for c in "${checks[@]}"; do
	set -- $c
	n=$((n + $#))
	printf '%s\n' "$1" >>"$work/jobs"
	s=$1
	shift
	for b in "$@"; do
		printf '%s %s\n' "$s" "$b" >>"$work/jobs"
	done
done

xargs -P 2 -L 1 bash -c 'one "$@"' _ <"$work/jobs"

echo "1..$n"
k=0 pass=0 fail=0
while read -r scen var; do
	k=$((k + 1))
	d=$work/$scen${var:+-${var//\//-}}
	out=$d/pan.out
	secs=$(cat "$d/secs" 2>/dev/null)
	if [ -z "$var" ]; then
		states=$(awk '/states, stored/ { print $1; exit }' "$out")
		if grep -q "errors: 0" "$out" &&
		   ! grep -q "search not completed\|max search depth too small" "$out"; then
			echo "ok $k - $scen: no assertion violated, $states states (${secs}s)"
			pass=$((pass + 1))
			continue
		fi
		echo "not ok $k - $scen: $(grep -m1 -E 'assertion violated|invalid end state|errors:' "$out")"
	else
		if grep -q "assertion violated" "$out"; then
			what=$(grep -m1 -o 'assertion violated.*(at depth [0-9]*)' "$out" |
			       sed 's/ (at depth \([0-9]*\))$/, depth \1/')
			echo "ok $k - $scen broken $var: counterexample found ($what, ${secs}s)"
			pass=$((pass + 1))
			continue
		fi
		echo "not ok $k - $scen broken $var: no counterexample"
	fi
	cat "$d"/spin.log "$d"/gcc.log "$out" 2>/dev/null | head -20 | sed 's/^/# /'
	fail=$((fail + 1))
done <"$work/jobs"

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
