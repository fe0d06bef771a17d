#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Check the Promela model of the lockless MMU protocol (model/) with SPIN:
# every scenario exhaustively, correct model and broken variants.  TAP
# output; exit 0 iff the correct model verifies clean and every broken
# variant yields a counterexample.  Works in a temporary directory.
set -u

here=$(cd "$(dirname "$0")/.." && pwd)
model=$here/model

if ! command -v spin >/dev/null 2>&1 || ! command -v gcc >/dev/null 2>&1; then
	echo "# installing spin and gcc" >&2
	if [ "$(id -u)" -eq 0 ]; then sudo=; else sudo=sudo; fi
	$sudo apt-get update -qq >&2 &&
	$sudo apt-get install -y -qq --no-install-recommends spin gcc >&2 ||
		{ echo "Bail out! cannot install spin"; exit 1; }
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/eptmmu-model.XXXXXX")
trap 'rm -rf "$work"' EXIT
cp "$model"/*.pml "$work"/

# scenario  broken variants (each must be caught in that scenario)
checks=(
	"INVAL          SKIP_INVALIDATE_RECHECK"
	"DELETE         DELETE_UNPUBLISH_FIRST"
	"ZAPS           ZAP_FLUSH_OWN_ONLY SKIP_FLUSH"
	"HOSTDIRTY_AD   NO_HOST_DIRTY SOFT_SET_AD_IGNORED"
	"HOSTDIRTY_NOAD NO_HOST_DIRTY"
	"WRPROT         WRPROT_FLUSH_FROM_SPTE"
	"FASTHARV       FAST_MARK_BEFORE_SET"
	"FAULTKEEP      FAULT_REPLACES_LEAF SPTE_PLAIN_STORE"
	"YIELD          DIRTY_LOG_YIELD_NOFLUSH"
)

# Exhaustive search, safety properties only: assertions and invalid end
# states (a deadlock).  Every state is stored exactly (no bitstate, no
# compression); MEMLIM only guards against a runaway configuration.
PANFLAGS="-O2 -DSAFETY -DMEMLIM=2048 -DVECTORSZ=2048"

n=0
for c in "${checks[@]}"; do
	set -- $c
	n=$((n + $#))
done
echo "1..$n"

# run <scenario> [broken]; sets out, secs
run() {
	local d="$work/$1${2:+-$2}" defs="-DSCEN_$1${2:+ -DBROKEN_$2}" t0 t1
	mkdir -p "$d" && cp "$work"/*.pml "$d"/ && cd "$d" || return 2
	t0=$(date +%s.%N)
	spin $defs -a eptmmu.pml >spin.log 2>&1 &&
	gcc $PANFLAGS -o pan pan.c >gcc.log 2>&1 &&
	timeout 120 ./pan -m1000000 -c1 >pan.out 2>&1
	local rc=$?
	t1=$(date +%s.%N)
	secs=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }')
	out=$d/pan.out
	cd "$work"
	[ -s "$d/pan.out" ] || { cat "$d"/spin.log "$d"/gcc.log 2>/dev/null | sed 's/^/# /'; return 2; }
	return $rc
}

k=0 pass=0 fail=0
for c in "${checks[@]}"; do
	set -- $c
	scen=$1
	shift
	k=$((k + 1))
	if run "$scen"; then
		states=$(awk '/states, stored/ { print $1; exit }' "$out")
		if grep -q "errors: 0" "$out" && ! grep -q "search not completed\|max search depth too small" "$out"; then
			echo "ok $k - $scen: no assertion violated, $states states (${secs}s)"
			pass=$((pass + 1))
		else
			echo "not ok $k - $scen: $(grep -m1 -E 'assertion violated|invalid end state|errors:' "$out")"
			sed -n '1,20p' "$out" | sed 's/^/# /'
			fail=$((fail + 1))
		fi
	else
		echo "not ok $k - $scen: could not run"
		fail=$((fail + 1))
	fi
	for b in "$@"; do
		k=$((k + 1))
		run "$scen" "$b"
		if grep -q "assertion violated" "$out" 2>/dev/null; then
			echo "ok $k - $scen broken $b: counterexample found ($(grep -m1 -o 'assertion violated.*(at depth [0-9]*)' "$out" | sed 's/ (at depth/, depth/; s/)$//'))"
			pass=$((pass + 1))
		else
			echo "not ok $k - $scen broken $b: no counterexample"
			fail=$((fail + 1))
		fi
	done
done

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
