#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Boot a test kernel + initramfs under Bochs (an emulator that implements
# Intel VT-x with EPT), headless and bounded by a timeout, and keep the
# guest's serial console.
#
#   bash scripts/bochs.sh MODEL KERNEL_BZIMAGE INITRD SERIAL_LOG [TIMEOUT_S]
#
#   MODEL       a Bochs "cpu: model=" name, e.g. corei7_haswell_4770 (EPT
#               with A/D bits) or corei7_sandy_bridge_2600k (EPT, no A/D)
#   KERNEL_BZIMAGE, INITRD
#               the kernel and an initramfs made by make_initramfs (lib.sh),
#               whose /init prints "eptmmu-harness: ..." markers
#   SERIAL_LOG  receives the guest's serial console (COM1); Bochs's own log
#               goes to SERIAL_LOG.bochs.log
#   TIMEOUT_S   wall-clock limit for the boot (default 300)
#
# Environment:
#   BOCHS_APPEND  extra kernel command line (after console=ttyS0,115200
#                 panic=-1 loglevel=7)
#   BOCHS_CPUS    emulated CPUs (default 1; 2 roughly doubles the boot time)
#   BOCHS_MEM     guest memory in MB (default 512)
#   BOCHS_GRACE   seconds to keep Bochs running after DONE so trailing
#                 console output lands in the log (default 2)
#
# Exit status:
#   0    the guest printed "eptmmu-harness: DONE"; the run was then stopped
#   124  TIMEOUT_S passed without DONE; Bochs was killed
#   1    Bochs ended before DONE (guest panic/triple fault, power-off, a
#        Bochs panic, ...); see SERIAL_LOG and SERIAL_LOG.bochs.log
#   2    usage or setup error
#
# The run is judged only by the serial log, never by Bochs's exit status
# (Bochs exits 1 even on a clean ACPI power-off).  How a run of the plain
# test kernel (tinyconfig: no ACPI) ends under Bochs 2.7:
#   reboot -f (what /init does after DONE), or a guest panic with panic=-1:
#     the kernel resets through the keyboard controller; Bochs's software
#     reset keeps IA32_FEATURE_CONTROL locked, so the BIOS's WRMSR to it
#     faults during POST ("VMX lock bit is set", then ">>PANIC<< 3rd (13)
#     exception with no resolution"), and with reset_on_triple_fault=0 and
#     panic=fatal Bochs exits within ~10 ms of guest time.  No reset loop.
#   poweroff -f: "Power off not available: System halted instead"; Bochs
#     keeps running.
# So the script polls SERIAL_LOG while Bochs runs and, whatever happens
# next, kills Bochs (SIGKILL: it ignores SIGTERM and enters its debugger on
# SIGINT) BOCHS_GRACE seconds after DONE appears, or at TIMEOUT_S.
#
# How Bochs is run headless: this Debian build has no "nogui" display, so
# it uses "display_library: term" with TERM=xterm, stdin from /dev/null
# and its output to a file, its screen drained (below); "-rc FILE" feeds
# the built-in debugger a single "c" (continue) so it does not stop at its
# prompt.  The kernel and initrd are loaded by ISOLINUX from an El Torito
# CD image, so the kernel needs no block or PCI drivers.
#
# Packages (installed when missing, as root): bochs bochsbios vgabios
# bochs-term isolinux syslinux-common xorriso.  Everything temporary lives
# in a mktemp directory that is removed on exit.
set -euo pipefail

usage() {
	sed -n '/^#   bash/p' "$0" >&2
	exit 2
}
if [ $# -lt 4 ] || [ $# -gt 5 ]; then usage; fi
model=$1 kernel=$2 initrd=$3 serial=$4 limit=${5:-300}
case $limit in '' | *[!0-9]*) echo "bochs.sh: bad TIMEOUT_S '$limit'" >&2; exit 2 ;; esac
[ -f "$kernel" ] || { echo "bochs.sh: no kernel '$kernel'" >&2; exit 2; }
[ -f "$initrd" ] || { echo "bochs.sh: no initrd '$initrd'" >&2; exit 2; }

cpus=${BOCHS_CPUS:-1}
mem=${BOCHS_MEM:-512}
grace=${BOCHS_GRACE:-2}
append="console=ttyS0,115200 panic=-1 loglevel=7 ${BOCHS_APPEND:-}"

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck disable=SC1091
. "$here/lib.sh"
(ensure_packages "${EPTMMU_BOCHS_PACKAGES[@]}") ||
	exit 2

bios=/usr/share/bochs/BIOS-bochs-latest
vgabios=/usr/share/vgabios/vgabios.bin
isolinux_bin=/usr/lib/ISOLINUX/isolinux.bin
ldlinux=/usr/lib/syslinux/modules/bios/ldlinux.c32
for f in "$bios" "$vgabios" "$isolinux_bin" "$ldlinux"; do
	[ -f "$f" ] || { echo "bochs.sh: missing $f" >&2; exit 2; }
done

serial=$(readlink -m "$serial")
blog=$serial.bochs.log
mkdir -p "$(dirname "$serial")"
rm -f "$serial" "$blog"
: >"$serial"

tmp=$(mktemp -d "${TMPDIR:-/tmp}/eptmmu-bochs.XXXXXX")
spid=   # timeout(1), whose child is bochs-bin

dpid=   # cat(1) draining the term display's pty

# drain_screen: once Bochs has named the pty it draws its screen on, read
# it (to /dev/null) until Bochs closes it.
drain_screen() {
	local pts
	pts=$(sed -n 's/^Bochs connected to screen "\(\/dev\/pts\/[0-9]*\)".*/\1/p' \
		"$tmp/term.out" 2>/dev/null | head -n 1)
	[ -c "$pts" ] || return 0
	cat "$pts" >/dev/null 2>&1 &
	dpid=$!
}

# stop_bochs: SIGKILL bochs-bin (it ignores SIGTERM and stops in its
# debugger on SIGINT), then reap timeout(1), which exits once Bochs is gone.
stop_bochs() {
	local bx _
	[ -n "$spid" ] || return 0
	bx=$(cat "$tmp/bochs.pid" 2>/dev/null || true)
	# The pid file names bochs-bin only while that process lives.
	if [ -n "$bx" ] && [ "$(cat "/proc/$bx/comm" 2>/dev/null)" = bochs-bin ]; then
		kill -KILL "$bx" 2>/dev/null || true
	fi
	for _ in $(seq 40); do
		kill -0 "$spid" 2>/dev/null || break
		sleep 0.25
	done
	kill -KILL "$spid" 2>/dev/null || true
	{ wait "$spid"; } 2>/dev/null && brc=0 || brc=$?
	spid=
	if [ -n "$dpid" ]; then
		kill "$dpid" 2>/dev/null || true
		wait "$dpid" 2>/dev/null || true
	fi
}
# shellcheck disable=SC2317  # called from the EXIT trap
cleanup() {
	stop_bochs
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP

# --- CD image: ISOLINUX loads the kernel and the initrd through the BIOS.
mkdir -p "$tmp/iso/isolinux"
cp "$isolinux_bin" "$ldlinux" "$tmp/iso/isolinux/"
cp "$kernel" "$tmp/iso/vmlinuz"
cp "$initrd" "$tmp/iso/initrd.img"
cat >"$tmp/iso/isolinux/isolinux.cfg" <<EOF
SERIAL 0 115200
DEFAULT eptmmu
PROMPT 0
TIMEOUT 0
LABEL eptmmu
  KERNEL /vmlinuz
  APPEND initrd=/initrd.img $append
EOF
xorriso -as mkisofs -quiet -R -o "$tmp/boot.iso" \
	-b isolinux/isolinux.bin -c isolinux/boot.cat \
	-no-emul-boot -boot-load-size 4 -boot-info-table "$tmp/iso" \
	>"$tmp/xorriso.log" 2>&1 || {
	cat "$tmp/xorriso.log" >&2
	echo "bochs.sh: xorriso failed" >&2
	exit 2
}
rm -rf "$tmp/iso"

# --- Bochs configuration.
cat >"$tmp/bochsrc" <<EOF
display_library: term
config_interface: textconfig
romimage: file=$bios
vgaromimage: file=$vgabios
cpu: model=$model, count=$cpus, ips=100000000, reset_on_triple_fault=0, ignore_bad_msrs=1
memory: guest=$mem, host=$mem
pci: enabled=1, chipset=i440fx
ata0: enabled=1, ioaddr1=0x1f0, ioaddr2=0x3f0, irq=14
ata0-master: type=cdrom, path="$tmp/boot.iso", status=inserted
boot: cdrom
floppy_bootsig_check: disabled=1
clock: sync=none, time0=local
com1: enabled=1, mode=file, dev="$serial"
sound: driver=dummy
speaker: enabled=0
mouse: enabled=0
log: $blog
panic: action=fatal
error: action=report
info: action=report
debug: action=ignore
EOF
echo c >"$tmp/debugger.rc"

# --- Run.  Bochs's term display does not draw on its own stdout: it
# opens a pseudo-terminal, says 'Bochs connected to screen "/dev/pts/N"'
# there and draws on that pty, for a user to attach to.  Nothing reads it
# unless we do: once its ~20 KB buffer is full (cursor updates every
# wall-clock second: ~6 min), Bochs sleeps in the write for good and the
# guest freezes until TIMEOUT_S, which is how the longer Bochs runs of a
# loaded make check timed out.  So the loop below drains that pty for
# the whole run (drain_screen).  Bochs itself writes only its start-up
# messages to term.out, a plain file: it needs no terminal.  run.sh
# records its pid, which exec keeps for bochs-bin.  The timeout(1) is
# only a backstop that kills Bochs even if this script itself is killed;
# the loop below enforces TIMEOUT_S.
cat >"$tmp/run.sh" <<EOF
echo \$\$ >'$tmp/bochs.pid'
exec bochs-bin -q -f '$tmp/bochsrc' -rc '$tmp/debugger.rc'
EOF
start=$(date +%s)
deadline=$((start + limit))
TERM=xterm timeout -s KILL $((limit + 30)) /bin/sh "$tmp/run.sh" \
	</dev/null >"$tmp/term.out" 2>&1 &
spid=$!

result=
done_at=
brc=
while kill -0 "$spid" 2>/dev/null; do
	now=$(date +%s)
	[ -n "$dpid" ] || drain_screen
	if [ -z "$done_at" ] && grep -aq 'eptmmu-harness: DONE' "$serial"; then
		done_at=$now
	fi
	if [ -n "$done_at" ] && [ $((now - done_at)) -ge "$grace" ]; then
		result=ok
		break
	fi
	if [ -z "$done_at" ] && [ "$now" -ge "$deadline" ]; then
		result=timeout
		break
	fi
	sleep 0.5
done
stop_bochs
elapsed=$(($(date +%s) - start))

# Messages from before Bochs opens its log (bochsrc errors) only reach the
# terminal: keep them, without escape sequences, when there is no log.
if [ ! -s "$blog" ] && [ -f "$tmp/term.out" ]; then
	sed -e 's/\x1b\[[0-9;?]*[A-Za-z]//g' -e 's/\x1b[()][0-9A-Za-z]//g' \
		-e 's/\r$//' "$tmp/term.out" >"$blog"
fi

# Bochs may have exited on its own right after DONE (e.g. a power-off).
if [ -z "$result" ] && grep -aq 'eptmmu-harness: DONE' "$serial"; then
	result=ok
fi

last=$(grep -a 'eptmmu-harness:' "$serial" |
	tail -n 1 | sed 's/^.*eptmmu-harness: //; s/\r$//' || true)
case $result in
ok)
	say "bochs[$model]: DONE after ${elapsed}s"
	exit 0 ;;
timeout)
	echo "bochs.sh: $model: no DONE within ${limit}s (last marker: ${last:-none}); killed Bochs" >&2
	exit 124 ;;
*)
	echo "bochs.sh: $model: Bochs ended (status $brc) after ${elapsed}s without DONE (last marker: ${last:-none})" >&2
	grep -aE '>>PANIC<<|soft power off|quit_sim' "$blog" 2>/dev/null |
		tail -n 4 | sed 's/^/  /' >&2 || true
	exit 1 ;;
esac
