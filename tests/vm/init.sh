#!/bin/sh
# /init of the KernelVm guest (busybox; the debug kernel has everything built in).
# The host's / comes read-only over 9p (tag hostroot) under a tmpfs overlay, so the host's dotnet, pwsh tool,
# NuGet cache, repository and built module are at the same paths in the guest. The job share (tag job) is the
# host's results folder: run.sh is the job; out.log, rc, dmesg.log and timing come back through it.
# Extra read-only shares for host folders the guest hides under its own tmpfs (/tmp, /run) are listed in
# /job/shares.list as "tag path" lines.
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
up() { cut -d' ' -f1 /proc/uptime; }
O9P=trans=virtio,version=9p2000.L,msize=524288
mount -t 9p -o ro,$O9P,cache=loose hostroot /mnt/lower || { echo "KDVM: 9p mount of the host root failed"; poweroff -f; }
mount -t tmpfs -o size=1G tmpfs /mnt/upper
mkdir -p /mnt/upper/u /mnt/upper/w
mount -t overlay overlay -o lowerdir=/mnt/lower,upperdir=/mnt/upper/u,workdir=/mnt/upper/w /newroot ||
  { echo "KDVM: overlay mount failed"; poweroff -f; }
R=/newroot
mount -t proc proc $R/proc
mount -t sysfs sys $R/sys
mount -t devtmpfs dev $R/dev
mkdir -p $R/dev/pts $R/dev/shm
mount -t devpts devpts $R/dev/pts
mount -t tmpfs tmpfs $R/dev/shm
mount -t tracefs tracefs $R/sys/kernel/tracing
mount -t debugfs debugfs $R/sys/kernel/debug
# A fresh kernel keeps its ring buffer small until tracing is first used ("7 (expanded: 1408)"); expand it now, as
# on any host that has traced before, so the leak guard in the guest does not see the expansion as a change.
B=$R/sys/kernel/tracing/buffer_size_kb
case "$(cat $B)" in *expanded:*) v=$(cat $B); v=${v##*expanded: }; echo "${v%)}" > $B ;; esac
mount -t tmpfs tmpfs $R/tmp
mount -t tmpfs tmpfs $R/run
mkdir -p $R/run/kd $R/job
cp /kd/* $R/run/kd/ 2>/dev/null
mount -t 9p -o $O9P job $R/job || { echo "KDVM: 9p mount of the job share failed"; poweroff -f; }
if [ -f $R/job/shares.list ]; then
  while read -r tag path; do
    mkdir -p "$R$path" && mount -t 9p -o ro,$O9P,cache=loose "$tag" "$R$path" || echo "KDVM: share $tag at $path failed"
  done < $R/job/shares.list
fi
echo "boot=$(up)" > $R/job/timing
echo "KDVM: job starts at uptime $(up)"
chroot $R /bin/sh -c 'cd /job && exec env -i HOME=/root TERM=dumb PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin sh /job/run.sh' > $R/job/out.log 2>&1
rc=$?
echo "end=$(up)" >> $R/job/timing
echo "rc=$rc" > $R/job/rc
echo "KDVM: job ended at uptime $(up) with rc=$rc"
dmesg -s 8388608 > $R/job/dmesg.log 2>&1
sync
umount $R/job 2>/dev/null
poweroff -f
