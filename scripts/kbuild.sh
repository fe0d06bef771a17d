#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Build (or reuse) a test kernel from Debian's linux-source-6.12, or from
# linux-source-6.1 for a variant named with a "-6.1" suffix.
#
#   scripts/kbuild.sh VARIANT      VARIANT = plain | lockdep | rt | kcsan | kvm
#                                            | plain-6.1
#
# A 6.1 variant takes its fragments from the 6.12 one plus linux-6.1.config,
# which says what 6.1 names differently.
#
# Prints the kernel build directory (O=) as the last line of stdout.
# The build lives in $EPTMMU_CACHE (default /var/cache/eptmmu), keyed by the
# source package version, the config fragments and RECIPE below, so a second
# run with the same inputs reuses it and a changed input rebuilds it.
set -euo pipefail

# Bump when the way a kernel is built changes (not its fragments).
RECIPE=1

variant=${1:?usage: kbuild.sh plain|lockdep|rt|kcsan|kvm|plain-6.1}
here=$(cd "$(dirname "$0")" && pwd)
cache=${EPTMMU_CACHE:-/var/cache/eptmmu}
jobs=${EPTMMU_JOBS:-$(nproc)}

frags=("$here/kconfig/base.config")
series=6.12
case $variant in
plain|lockdep|rt|kcsan|kvm) frags+=("$here/kconfig/$variant.config") ;;
plain-6.1)
	series=6.1
	frags+=("$here/kconfig/${variant%-6.1}.config" \
		"$here/kconfig/linux-6.1.config") ;;
*) echo "kbuild.sh: unknown variant '$variant'" >&2; exit 2 ;;
esac

log() { echo "kbuild[$variant]: $*" >&2; }

srcver=$(dpkg-query -W -f='${Version}' "linux-source-$series" 2>/dev/null) || {
	echo "kbuild.sh: linux-source-$series is not installed" >&2; exit 1; }
mkdir -p "$cache"

# One extracted, never configured, source tree per source package version.
src=$cache/src-$srcver/linux-source-$series
exec 8>"$cache/.lock-src"
flock 8
if [ ! -e "$cache/src-$srcver/.done" ]; then
	log "extracting linux-source-$series $srcver into $cache"
	rm -rf "$cache/src-$srcver"
	mkdir -p "$cache/src-$srcver"
	tar -C "$cache/src-$srcver" -xf "/usr/src/linux-source-$series.tar.xz"
	touch "$cache/src-$srcver/.done"
fi
flock -u 8

key=$( { echo "recipe=$RECIPE src=$srcver"; cat "${frags[@]}"; } |
	sha256sum | cut -c1-16)
out=$cache/kbuild-$variant-$key

exec 9>"$cache/.lock-$variant"
flock 9
if [ -e "$out/.done" ]; then
	log "cached: $out"
	echo "$out"
	exit 0
fi

log "building in $out (this takes a few minutes once)"
rm -rf "$out"
mkdir -p "$out"
kmake() { make -s -C "$src" O="$out" ARCH=x86_64 "$@"; }
kmake tinyconfig >/dev/null
"$src/scripts/kconfig/merge_config.sh" -m -O "$out" "$out/.config" \
	"${frags[@]}" >/dev/null
kmake olddefconfig >/dev/null

# Kconfig silently drops options whose dependencies are missing: check that
# every option the fragments ask for made it into the final .config.  A
# later fragment overrides an earlier one (rt.config turns off what
# PREEMPT_RT excludes), so only each option's last line counts.
bad=0
while IFS= read -r line; do
	case $line in
	CONFIG_*=n)
		opt=${line%%=*}
		if grep -q "^$opt=" "$out/.config"; then
			log "requested $line but got $(grep "^$opt=" "$out/.config")"
			bad=1
		fi ;;
	CONFIG_*=*)
		if ! grep -qx "$line" "$out/.config"; then
			log "requested $line but got: $(grep "^${line%%=*}=\|${line%%=*} is not set" "$out/.config" || echo absent)"
			bad=1
		fi ;;
	esac
done < <(cat "${frags[@]}" | grep '^CONFIG_' | tac |
	awk -F= '!seen[$1]++' | tac)
if [ $bad -ne 0 ]; then
	echo "kbuild.sh: the $variant config is not what the fragments ask for" >&2
	exit 1
fi
for opt in CONFIG_KUNIT CONFIG_MMU_NOTIFIER; do
	grep -qx "$opt=y" "$out/.config" || {
		echo "kbuild.sh: $opt=y missing from $out/.config" >&2; exit 1; }
done

kmake -j"$jobs" bzImage modules_prepare
# Module.symvers for out-of-tree modules comes from a full modules pass.
kmake -j"$jobs" modules
touch "$out/.done"
# Builds for superseded fragments only take disk space (~200 MB each).
# The key is 16 characters, so plain's glob leaves plain-6.1's alone.
for old in "$cache"/kbuild-"$variant"-????????????????; do
	[ "$old" = "$out" ] || rm -rf "$old"
done
log "done: $out"
echo "$out"
