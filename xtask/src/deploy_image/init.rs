//! The deploy initramfs's `/init` and its DHCP script: mount proc, sys and dev
//! (devtmpfs, no udev), load the modules, DHCP on the first interface that gets an
//! answer (busybox udhcpc), then the agent, which reads `pxe.plan=` from the kernel
//! command line. A failed deploy stays on the console with a shell: never a reboot
//! into a half-written disk.

/// What `/init` prints before the agent starts (the lab waits for it).
pub(crate) const READY: &str = "pxe-deploy initramfs: network up, starting the agent";

pub(crate) const INIT: &str = r#"#!/bin/sh
export PATH=/usr/sbin:/usr/bin:/usr/busybox
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mkdir -p /dev/pts /run /tmp
mount -t devpts devpts /dev/pts
mount -t tmpfs tmpfs /run
mount -t tmpfs tmpfs /tmp
echo "pxe-deploy initramfs: kernel $(uname -r), loading modules"
while read -r m; do
  insmod "/usr/lib/modules/$m" 2>/dev/null
done < /etc/pxe-deploy/modules
ip link set lo up
up=""
for try in 1 2 3; do
  for dev in /sys/class/net/*; do
    i=${dev##*/}
    [ "$i" = lo ] && continue
    ip link set "$i" up
    if udhcpc -i "$i" -s /etc/pxe-deploy/udhcpc -n -q -t 4 -T 2 -V pxe-deploy; then
      up="$i"
      break 2
    fi
  done
done
if [ -z "$up" ]; then
  echo "pxe-deploy initramfs: no DHCP answer on any interface"
else
  echo "READY ($up)"
  pxe-deploy
  rc=$?
  echo "pxe-deploy initramfs: the agent exited $rc; the machine is not installed"
fi
echo "pxe-deploy initramfs: a shell on the console (the log is above)"
while :; do
  setsid cttyhack sh
  sleep 1
done
"#;

/// busybox udhcpc's script: the address, the default route and the name servers.
pub(crate) const UDHCPC: &str = r#"#!/bin/sh
case "$1" in
  deconfig)
    ip addr flush dev "$interface"
    ip link set "$interface" up
    ;;
  bound|renew)
    ip addr flush dev "$interface"
    ip addr add "$ip/${mask:-24}" dev "$interface"
    for r in $router; do ip route add default via "$r" dev "$interface" && break; done
    : > /etc/resolv.conf
    for d in $dns; do echo "nameserver $d" >> /etc/resolv.conf; done
    echo "pxe-deploy initramfs: $interface $ip/${mask:-24} router ${router:-none}"
    ;;
esac
"#;

/// `/init` with its marker line.
pub(crate) fn init() -> String {
    INIT.replace("READY", READY)
}
