# SPDX-License-Identifier: GPL-2.0
# Shared by scripts/check.sh and scripts/demo.sh: packages, kernel and
# module builds, initramfs, and the QEMU run.  Source it; do not run it.

EPTMMU_TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
EPTMMU_CACHE=${EPTMMU_CACHE:-/var/cache/eptmmu}
EPTMMU_OUT=${EPTMMU_OUT:-$EPTMMU_CACHE/run}
export EPTMMU_CACHE

EPTMMU_PACKAGES=(linux-source-6.12 linux-source-6.1 qemu-system-x86 busybox-static bc bison
	flex libelf-dev libssl-dev cpio kmod dwarves python3 build-essential
	xz-utils gzip rsync python3-docutils)
# What scripts/bochs.sh and scripts/model.sh need; make check installs them
# before its jobs start, which would otherwise install them side by side.
EPTMMU_BOCHS_PACKAGES=(bochs bochsbios vgabios bochs-term isolinux syslinux-common xorriso)
EPTMMU_MODEL_PACKAGES=(spin gcc)

say() { printf '==> %s\n' "$*"; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

# Install whatever of "$@" is missing; do nothing when all are present.
ensure_packages() {
	local missing=() p
	for p in "$@"; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null |
			grep -q 'install ok installed' || missing+=("$p")
	done
	[ ${#missing[@]} -eq 0 ] && return 0
	[ "$(id -u)" -eq 0 ] || die "need root to install: ${missing[*]}"
	say "installing ${missing[*]}"
	# One install at a time: make check's jobs start together, and dpkg
	# refuses a second apt-get outright ("Could not get lock").  The
	# timeout covers an apt-get of someone else's.
	(
		flock -w 900 9 || die "waited 15 min for another install"
		apt-get -o DPkg::Lock::Timeout=600 update -qq
		DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 \
			install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
	) 9>/var/lock/eptmmu-apt.lock
}

# kernel_build VARIANT -> sets KBUILD (O= dir) and KSRC
kernel_build() {
	KBUILD=$("$EPTMMU_TOP/scripts/kbuild.sh" "$1" | tail -n 1)
	KSRC=$(readlink -f "$KBUILD/source")
	[ -f "$KBUILD/arch/x86/boot/bzImage" ] || die "no bzImage in $KBUILD"
}

# module_build VARIANT [make args...] -> sets MODDIR with eptmmu*.ko
# Each kernel gets its own copy of the tree so objects never mix.
module_build() {
	local variant=$1
	shift
	MODDIR=$EPTMMU_OUT/modbuild-$variant
	# mod-*: trees copied with source mtimes, whose objects may be stale.
	rm -rf "$EPTMMU_OUT/mod-$variant"
	mkdir -p "$MODDIR"
	# By content, without source mtimes: a file whose content changed
	# gets a fresh mtime, so make rebuilds it even if the new content is
	# older than the object built from the previous one.
	rsync -rlpD --checksum --delete --exclude .git --filter=':- .gitignore' \
		--exclude tools/build \
		"$EPTMMU_TOP/" "$MODDIR/src/"
	make -s -C "$KSRC" O="$KBUILD" M="$MODDIR/src" "$@" modules ||
		die "module build failed against the $variant kernel"
}

# tools_build -> sets TOOLSDIR with static user-space binaries
tools_build() {
	TOOLSDIR=$EPTMMU_OUT/tools
	mkdir -p "$TOOLSDIR"
	make -s -C "$EPTMMU_TOP/tools" OUT="$TOOLSDIR" ||
		die "tools build failed"
}

# make_initramfs DIR PLAN FILE... : busybox, /init, the plan, the files.
# The plan is a shell fragment /init sources; it calls step NAME CMD...
make_initramfs() {
	local out=$1 plan=$2 root
	shift 2
	root=$(mktemp -d)
	mkdir -p "$root"/{bin,dev,proc,sys,tmp,mnt}
	cp /bin/busybox "$root/bin/busybox"
	cp "$plan" "$root/plan.sh"
	[ $# -gt 0 ] && cp "$@" "$root/"
	cat >"$root/init" <<'EOF'
#!/bin/busybox sh
/bin/busybox --install -s /bin
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev 2>/dev/null
mount -t debugfs debugfs /sys/kernel/debug 2>/dev/null
mount -t tmpfs tmpfs /tmp
cd /
# Markers go through printk so they are ordered with the kernel's output.
mark() { echo "eptmmu-harness: $*" >/dev/kmsg; }
# say TAG LINE...: each line of stdin to the log as "TAG: line".
say() { while IFS= read -r l; do echo "$1: $l" >/dev/kmsg; done; }
# A step that outlives STEP_LIMIT seconds of guest time (a plan may set
# it; none when unset) is stuck: every user task (one with an exe) and
# every task in D state is described with its kernel stack, then the
# step's session is killed so the rest of the plan still runs and the
# log says where it hung instead of ending at the host's wall-clock bound.
stuck() {
	for t in /proc/[0-9]*/task/[0-9]*; do
		read -r st <"$t/stat" 2>/dev/null || continue
		st=${st##*) }
		st=${st%% *}
		[ -e "${t%/task/*}/exe" ] || [ "$st" = D ] || continue
		echo "task ${t##*/} ($(cat "$t/comm")) state $st wchan $(cat "$t/wchan")"
		cat "$t/stack"
	done 2>/dev/null | say "eptmmu-watchdog[$1]"
	for f in /sys/kernel/debug/eptmmu/*/*; do
		[ -f "$f" ] && [ "${f##*/}" != audit ] && echo "$f: $(cat "$f")"
	done 2>/dev/null | say "eptmmu-watchdog[$1]"
}
watchdog() {
	n=0
	while [ $n -lt "$STEP_LIMIT" ]; do sleep 1; n=$((n + 1)); done
	mark "WATCHDOG $1 after ${STEP_LIMIT}s"
	stuck "$1"
	sid=$(cat /tmp/sid)
	for s in /proc/[0-9]*/stat; do
		read -r st <"$s" 2>/dev/null || continue
		# shellcheck disable=SC2086 # the fields after "(comm) "
		set -- ${st##*) }
		s=${s#/proc/}
		[ "$4" = "$sid" ] && kill -9 "${s%/stat}"
	done
}
# step NAME CMD...: run CMD with its output framed by markers, through
# printk so the parser sees it in order; END records CMD's exit status.
# CMD runs in a session of its own (setsid, which does not fork here:
# the background job is not a group leader), for the watchdog to kill.
step() {
	name=$1
	shift
	mark "BEGIN $name"
	wd=
	if [ "${STEP_LIMIT:-0}" -gt 0 ]; then
		watchdog "$name" &
		wd=$!
	fi
	(setsid "$@" </dev/null & echo $! >/tmp/sid; wait $!; echo $? >/tmp/rc) 2>&1 |
		say "eptmmu-out[$name]"
	[ -n "$wd" ] && kill "$wd" 2>/dev/null
	mark "END $name rc=$(cat /tmp/rc)"
}
mark "BOOTED $(uname -r)"
. /plan.sh
mark DONE
sync
reboot -f
EOF
	chmod +x "$root/init"
	(cd "$root" && find . | cpio -o -H newc --quiet | gzip -1) >"$out"
	rm -rf "$root"
}

# run_qemu BZIMAGE INITRD LOG TIMEOUT [APPEND]
# EPTMMU_QEMU_MEM: the guest's memory (default 1G; make bench sets it).
run_qemu() {
	local kernel=$1 initrd=$2 log=$3 limit=$4 append=${5:-}
	local rc=0
	timeout -k 5 "$limit" qemu-system-x86_64 -accel tcg,thread=multi \
		-cpu max -smp 2 -m "${EPTMMU_QEMU_MEM:-1G}" -M pc \
		-bios /usr/share/qemu/qboot.rom \
		-nographic -no-reboot -nic none -kernel "$kernel" \
		-initrd "$initrd" \
		-append "console=ttyS0 panic=-1 loglevel=7 $append" \
		</dev/null >"$log" 2>&1 || rc=$?
	return $rc
}
