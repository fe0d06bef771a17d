#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# Runs inside the QEMU guest (make check): bounded lock holds
# (R-DIRTY-YIELD, R-ZAP-BOUNDED).  With the soft-lockup watchdog at 2 s,
# RCU's stall warning at 3 s and the hung-task check at 10 s, full-range
# GET and CLEAR of a sparsely written slot of $1 GiB, then the process
# exit that zaps it, must pass and leave no report (the harness scans the
# log for one).  The thresholds go back to what they were afterwards.
# Needs /eptmmu.ko and /eptmmu_dirty_log_test in the initramfs.

gib=${1:?usage: holds.sh GiB}
wd=/proc/sys/kernel/watchdog_thresh
rcu=/sys/module/rcupdate/parameters/rcu_cpu_stall_timeout
hung=/proc/sys/kernel/hung_task_timeout_secs

old_wd=$(cat $wd) && old_rcu=$(cat $rcu) && old_hung=$(cat $hung) || {
	echo "holds.sh: the lockup, stall or hung-task knobs are missing" >&2
	exit 1
}
echo 1 >$wd && echo 3 >$rcu && echo 10 >$hung || exit 1
insmod /eptmmu.ko || exit 1
/eptmmu_dirty_log_test -L "$gib"
r=$?
rmmod eptmmu
echo "$old_wd" >$wd
echo "$old_rcu" >$rcu
echo "$old_hung" >$hung
exit $r
