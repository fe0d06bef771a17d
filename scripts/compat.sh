#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# make compat: the production eptmmu.ko on the Debian 12 kernels users run.
# For each flavour: install its header (and image) package, build the
# module out of the source tree with W=1 and sparse (C=2), build it again
# through DKMS (dkms.conf as shipped, under a version of its own), boot
# the image under QEMU and run the user-space tests that need no test
# knobs in both SPTE modes.  Ends with one row per flavour.
#
#   EPTMMU_COMPAT_KERNELS="6.1.0-57-amd64 ..."  these kernels instead of the
#                                   newest 6.1 and 6.12 (generic, cloud, rt)
#   EPTMMU_COMPAT_BOOT=0            build only: no image, no QEMU
#   EPTMMU_COMPAT_STAGE=build|boot  only the builds (and DKMS), or only
#                                   the boots of what an earlier "build"
#                                   stage built: make check runs the
#                                   builds beside its QEMU kernels and
#                                   the boots among its jobs
#   EPTMMU_COMPAT_JSON=FILE         also write the totals there, as
#                                   make check's other parts do (a
#                                   failed build, DKMS build or boot
#                                   counts as one failure)
set -u
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

COMPAT_OUT=$EPTMMU_CACHE/compat
BOOT=${EPTMMU_COMPAT_BOOT:-1}
STAGE=${EPTMMU_COMPAT_STAGE:-all}
QEMU_LIMIT=900

ensure_packages dkms sparse rsync qemu-system-x86 busybox-static cpio \
	gzip xz-utils build-essential python3 kmod

# The newest kernel release whose header package matches the ERE $1.
newest() {
	apt-cache search --names-only "^linux-headers-$1\$" |
		awk '{ sub(/^linux-headers-/, "", $1); print $1 }' |
		sort -V | tail -n 1
}

if [ -n "${EPTMMU_COMPAT_KERNELS:-}" ]; then
	read -r -a KERNELS <<<"$EPTMMU_COMPAT_KERNELS"
else
	KERNELS=()
	for re in '6\.1\.0-[0-9]+-amd64' '6\.12\.[0-9]+\+deb12-amd64' \
		'6\.12\.[0-9]+\+deb12-cloud-amd64' '6\.12\.[0-9]+\+deb12-rt-amd64'; do
		k=$(newest "$re")
		[ -n "$k" ] || die "no header package matches $re (apt-get update?)"
		KERNELS+=("$k")
	done
fi

# The signed image can reach the mirror after its headers (6.12.118's
# headers and -unsigned image came first): the -unsigned package installs
# the same /boot/vmlinuz-KERNEL, so it stands in until the signed one is
# there.
image_pkg() {
	local c
	c=$(apt-cache policy "linux-image-$1" | awk '/Candidate:/ { print $2 }')
	if [ -n "$c" ] && [ "$c" != "(none)" ]; then
		echo "linux-image-$1"
	else
		echo "linux-image-$1-unsigned"
	fi
}

pkgs=()
for k in "${KERNELS[@]}"; do
	pkgs+=("linux-headers-$k")
	[ "$BOOT" = 1 ] && pkgs+=("$(image_pkg "$k")")
done
ensure_packages "${pkgs[@]}"
mkdir -p "$COMPAT_OUT"

declare -A BUILD KNOBS DKMS TESTS

# ---- out-of-tree builds: a copy of the tree per flavour ----
# build_into KERNEL DIR LOG MAKE_ARGS...: copy the tree into DIR (by
# content, as module_build does, so a stale object never survives), build
# it against KERNEL's headers and print ok, FAIL or the warning count
# (sparse reports as "warning:"/"error:" too).
build_into() {
	local k=$1 dir=$2 blog=$3 rc=0 n
	shift 3
	rsync -rlpD --checksum --delete --exclude .git \
		--filter=':- .gitignore' --exclude tools/build \
		"$EPTMMU_TOP/" "$dir/"
	make -C "/lib/modules/$k/build" M="$dir" W=1 "$@" modules \
		>"$blog" 2>&1 || rc=$?
	n=$(grep -cE '(warning|error): ' "$blog")
	if [ $rc -ne 0 ]; then
		echo FAIL
	elif [ "$n" -ne 0 ]; then
		echo "${n}warn"
	else
		echo ok
	fi
	[ $rc -eq 0 ] && [ "$n" -eq 0 ] ||
		grep -E '(warning|error): ' "$blog" | head -n 20 >&2
}

if [ "$STAGE" != boot ]; then
	rm -f "$COMPAT_OUT/builds.txt"
	for k in "${KERNELS[@]}"; do
		d=$COMPAT_OUT/$k
		say "build against $k (W=1 C=2)"
		mkdir -p "$d"
		BUILD[$k]=$(build_into "$k" "$d/src" "$d/build.log" C=2 EPTMMU_TEST=)
		# EPTMMU_TEST=1 too, in a tree of its own: with the injection knobs
		# (and, where the kernel has KUnit, the suites) it must build as well.
		KNOBS[$k]=$(build_into "$k" "$d/src-test" "$d/build-test.log" \
			EPTMMU_TEST=1)
	done

	# ---- DKMS: dkms.conf as shipped, only the version is our own, so an
	# eptmmu the host already has in DKMS is left alone ----
	ver=$(sed -n 's/^PACKAGE_VERSION="\(.*\)"$/\1/p' "$EPTMMU_TOP/dkms.conf")-compat
	stage=$COMPAT_OUT/dkms-src
	dkms_clean() {
		dkms remove -m eptmmu -v "$ver" --all >/dev/null 2>&1
		rm -rf "/usr/src/eptmmu-$ver"
	}
	dkms_clean
	rm -rf "$stage"
	rsync -rlpD --exclude .git --filter=':- .gitignore' --exclude tools/build \
		"$EPTMMU_TOP/" "$stage/"
	sed -i "s/^PACKAGE_VERSION=.*/PACKAGE_VERSION=\"$ver\"/" "$stage/dkms.conf"
	if dkms add "$stage" >"$COMPAT_OUT/dkms-add.log" 2>&1; then
		for k in "${KERNELS[@]}"; do
			say "dkms build -k $k"
			if dkms build -m eptmmu -v "$ver" -k "$k" \
				>"$COMPAT_OUT/$k/dkms.log" 2>&1 &&
				compgen -G "/var/lib/dkms/eptmmu/$ver/$k/*/module/eptmmu.ko*" >/dev/null; then
				DKMS[$k]=ok
			else
				DKMS[$k]=FAIL
				tail -n 20 "/var/lib/dkms/eptmmu/$ver/build/make.log" 2>/dev/null
			fi
		done
	else
		cat "$COMPAT_OUT/dkms-add.log"
		for k in "${KERNELS[@]}"; do DKMS[$k]=FAIL; done
	fi
	dkms_clean
	for k in "${KERNELS[@]}"; do
		echo "$k ${BUILD[$k]} ${KNOBS[$k]} ${DKMS[$k]}"
	done >"$COMPAT_OUT/builds.txt"
	if [ "$STAGE" = build ]; then
		for k in "${KERNELS[@]}"; do
			[ "${BUILD[$k]} ${KNOBS[$k]} ${DKMS[$k]}" = "ok ok ok" ] ||
				exit 1
		done
		exit 0
	fi
else
	# What the build stage found; a kernel it did not build fails.
	for k in "${KERNELS[@]}"; do
		BUILD[$k]=FAIL KNOBS[$k]=FAIL DKMS[$k]=FAIL
	done
	while read -r k b t dk; do
		BUILD[$k]=$b KNOBS[$k]=$t DKMS[$k]=$dk
	done <"$COMPAT_OUT/builds.txt"
fi

# ---- boot each image with the production module ----
if [ "$BOOT" = 1 ]; then
	TOOLSDIR=$COMPAT_OUT/tools
	make -s -C "$EPTMMU_TOP/tools" OUT="$TOOLSDIR" || die "tools build failed"
	# compat_plan KERNEL: the steps after zram, on stdout; sets expect.
	compat_plan() {
		local k=$1 ad t name
		expect=(load:rc)
		# The taint shows the module is unsigned (E), which Debian's
		# kernels allow without lockdown (no Secure Boot under QEMU).
		echo "step load sh -c 'insmod /eptmmu.ko && dmesg | grep -E \"eptmmu: SPTE mode\" && echo tainted=\$(cat /proc/sys/kernel/tainted) && rmmod eptmmu'"
		# The workloads of make check's debug kernels: every check,
		# fewer iterations (the plain test kernel runs the full ones).
		for ad in on off; do
			for t in "selftest -m 16 -n 10000" \
				"dirty_log_test -w 200000 -i 100" mm_test \
				"vmx_test --backend soft" "torture -s 1 -d 5 -K $k" \
				"migrate -T unix"; do
				name=${t%% *}-ad$ad
				echo "step $name sh -c 'insmod /eptmmu.ko ept_ad=$ad && /eptmmu_$t; r=\$?; rmmod eptmmu; exit \$r'"
				expect+=("$name:tap")
			done
		done
		# No eptmmu_obs_test here: enabling events flips static keys,
		# and Debian's kernels patch them into live code (JUMP_LABEL),
		# which QEMU's multi-threaded TCG does not make coherent at
		# once on the other vCPU: 6.12-cloud oopsed on the patching's
		# int3 in ttwu_do_activate().  The test kernels (no
		# JUMP_LABEL) run it.
		# The aging checks can fail on these kernels: with aging that
		# never answers young (a knob of the EPTMMU_TEST=1 build),
		# reclaim takes the guest's pages and DAMON sees no access.
		echo "step aging-catches sh -c 'insmod /eptmmu-test.ko broken=age_never_young || exit 2; /eptmmu_mm_test reclaim damon >/tmp/mm.out; r=\$?; cat /tmp/mm.out; rmmod eptmmu; test \$r -eq 1 && grep -qE \"^not ok .* - (reclaim|damon): \" /tmp/mm.out'"
		expect+=(aging-catches:rc)
	}
	for k in "${KERNELS[@]}"; do
		d=$COMPAT_OUT/$k
		if [ "${BUILD[$k]}" = FAIL ] || [ ! -f "/boot/vmlinuz-$k" ]; then
			TESTS[$k]="not run"
			continue
		fi
		say "boot $k under QEMU (TCG)"
		# Swap on zram, from the image's own modules, so mm_test's swap
		# case runs.  Busybox's insmod reads no .ko.xz: unpack them, in
		# the order modprobe would load them.
		rm -rf "$d/mods"
		mkdir -p "$d/mods"
		mods=()
		while read -r _ path; do
			m=$d/mods/$(basename "${path%.xz}")
			case $path in
			*.xz) xz -dc "$path" >"$m" ;;
			*) cp "$path" "$m" ;;
			esac
			mods+=("$m")
		done < <(modprobe -S "$k" --show-depends zram 2>/dev/null |
			 grep '^insmod ')
		kplan=$d/plan.sh
		{
			echo "step zram sh -c 'for m in ${mods[*]##*/}; do insmod /\$m || exit 1; done; echo 256M >/sys/block/zram0/disksize && mkswap /dev/zram0 >/dev/null && swapon /dev/zram0 && cat /proc/swaps'"
			compat_plan "$k"
		} >"$kplan"
		cp "$d/src-test/eptmmu.ko" "$d/eptmmu-test.ko"
		make_initramfs "$d/initrd.gz" "$kplan" "$d/src/eptmmu.ko" \
			"$d/eptmmu-test.ko" \
			"$TOOLSDIR"/eptmmu_{selftest,dirty_log_test,mm_test,vmx_test,torture,migrate} \
			"${mods[@]}"
		qrc=0
		t0=$SECONDS
		run_qemu "/boot/vmlinuz-$k" "$d/initrd.gz" "$d/console.log" \
			"$QEMU_LIMIT" || qrc=$?
		[ $qrc -eq 124 ] && echo "  QEMU timed out after $QEMU_LIMIT s"
		rm -f "$d/result.json"
		# --ksrc is for KUnit blocks, of which this plan has none.
		python3 "$EPTMMU_TOP/scripts/ktap_report.py" run \
			--ksrc "/lib/modules/$k/build" --log "$d/console.log" \
			--kernel "$k" --json "$d/result.json" zram:rc "${expect[@]}" |
			sed 's/^/  /'
		TESTS[$k]=$(python3 -c '
import json, sys
r = json.load(open(sys.argv[1]))
print("%d passed, %d failed, %d skipped" % (r["passed"], r["failed"], r["skipped"]))
' "$d/result.json" 2>/dev/null || echo "no result")
		[ $qrc -eq 0 ] || TESTS[$k]="${TESTS[$k]} (qemu rc=$qrc)"
		echo "  $k: $((SECONDS - t0)) s (log: $d/console.log)"
	done
fi

status=0
echo
printf '%-28s %-7s %-7s %-6s %s\n' kernel build testbld dkms tests
tp=0 tf=0 ts=0
for k in "${KERNELS[@]}"; do
	t=${TESTS[$k]:-not run}
	printf '%-28s %-7s %-7s %-6s %s\n' "$k" "${BUILD[$k]}" "${KNOBS[$k]}" \
		"${DKMS[$k]}" "$t"
	bad=0
	for r in "${BUILD[$k]}" "${KNOBS[$k]}" "${DKMS[$k]}"; do
		[ "$r" = ok ] || bad=$((bad + 1))
	done
	case $t in
	*" 0 failed"*) [[ $t == *"qemu rc"* ]] && bad=$((bad + 1)) ;;
	"not run") [ "$BOOT" = 1 ] && bad=$((bad + 1)) ;;
	*) [[ $t =~ ([0-9]+)\ failed ]] && bad=$((bad + BASH_REMATCH[1])) ||
		bad=$((bad + 1)) ;;
	esac
	[[ $t =~ ([0-9]+)\ passed ]] && tp=$((tp + BASH_REMATCH[1]))
	[[ $t =~ ([0-9]+)\ skipped ]] && ts=$((ts + BASH_REMATCH[1]))
	tf=$((tf + bad))
	[ $bad -eq 0 ] || status=1
done
if [ -n "${EPTMMU_COMPAT_JSON:-}" ]; then
	printf '{"kernel": "compat", "passed": %d, "failed": %d, "skipped": %d}\n' \
		"$tp" "$tf" "$ts" >"$EPTMMU_COMPAT_JSON"
fi
exit $status
