#!/usr/bin/env bash
# Prepares the guest for the kernel tests, once, in a cache outside the source tree:
#   CACHE/kernel-KVER/vmlinuz        Debian 12's 6.12 kernel (apt-get download + dpkg-deb -x;
#                                    never installed on the host)
#   CACHE/base-KEY.cpio              the initramfs without meshraid: busybox as /init's shell, the
#                                    kernel modules the tests load (unpacked, depmod'ed), and the
#                                    peers' binaries with their libraries (mdadm, nbd-client, nvme,
#                                    mkfs.xfs, xfs_io, fio, util-linux's losetup and fstrim, bash:
#                                    tests run under bash, as busybox sh runs its own applets
#                                    before anything on PATH)
#   CACHE/current                    two lines: the vmlinuz path and the base cpio path
# KEY hashes the kernel version, the versions of the packages the binaries come from and this
# script with the guest's init, so that a rebuilt meshraid (added per run by guest.py) never
# forces a new download or a new base. Safe to run concurrently (flock).
# Usage: prepare.sh [CACHE]   (default $MESHRAID_GUEST_CACHE or ~/.cache/meshraid/kernel-guest)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
cache=${1:-${MESHRAID_GUEST_CACHE:-$HOME/.cache/meshraid/kernel-guest}}
mkdir -p "$cache"
exec 9>"$cache/.lock"
flock 9

die() { echo "prepare.sh: $*" >&2; exit 1; }

# Modules the tests load (their dependencies come along through modprobe --show-depends).
MODULES=(virtio_blk 9p 9pnet_virtio loop nbd ublk_drv nvme-tcp nvmet nvmet-tcp md-mod raid1 raid10
         xfs configfs dm-mod crc32c_generic)
# Binaries from the host (their packages are installed by scripts/setup).
BINARIES=(/usr/sbin/mdadm /usr/sbin/nbd-client /usr/sbin/nvme /usr/sbin/mkfs.xfs /usr/sbin/xfs_io
          /usr/bin/fio /usr/sbin/losetup /usr/sbin/fstrim /usr/sbin/blkdiscard /usr/bin/dd
          /usr/sbin/blockdev /usr/bin/kmod /usr/bin/bash)
PACKAGES=(busybox-static mdadm nbd-client nvme-cli xfsprogs fio util-linux mount coreutils kmod bash)

for b in "${BINARIES[@]}" /bin/busybox; do
  [ -x "$b" ] || die "$b is missing (scripts/setup installs it)"
done
for t in apt-get dpkg-deb depmod modprobe cpio xz; do
  command -v "$t" >/dev/null || die "$t is missing (scripts/setup installs it)"
done

# The newest 6.12 kernel package Debian 12 has: the one the meta-package depends on.
pkg=$(apt-cache depends linux-image-6.12-amd64 2>/dev/null | sed -n 's/^ *Depends: \(linux-image-6\.12\.[^ ]*\)$/\1/p' | head -1)
if [ -z "$pkg" ]; then
  pkg=$(apt-cache search --names-only '^linux-image-6\.12\.[0-9]+\+deb12-amd64$' | cut -d' ' -f1 | sort -V | tail -1)
fi
[ -n "$pkg" ] || die "no linux-image-6.12.*+deb12-amd64 package in the apt sources (apt-get update?)"
kver=${pkg#linux-image-}
kdir=$cache/kernel-$kver
if [ ! -f "$kdir/.done" ]; then
  echo "prepare.sh: fetching $pkg (once)" >&2
  rm -rf "$kdir"; mkdir -p "$kdir/dl"
  (cd "$kdir/dl" && apt-get download -q "$pkg" >/dev/null 2>&1) || die "apt-get download $pkg failed"
  dpkg-deb -x "$kdir"/dl/*.deb "$kdir/tree" || die "dpkg-deb -x failed on $pkg"
  cp "$kdir/tree/boot/vmlinuz-$kver" "$kdir/vmlinuz"
  depmod -b "$kdir/tree" "$kver"  # the package has no modules.dep: it is made at install time
  rm -rf "$kdir/dl"
  touch "$kdir/.done"
fi

versions=$(dpkg-query -W -f='${Package}=${Version}\n' "${PACKAGES[@]}" | sort)
key=$( { echo "$kver"; echo "$versions"; printf '%s\n' "${MODULES[@]}" "${BINARIES[@]}";
         cat "$0" "$here/init.sh"; } | sha256sum | cut -c1-16)
base=$cache/base-$key.cpio
if [ ! -f "$base" ]; then
  echo "prepare.sh: building the base initramfs ($base)" >&2
  root=$(mktemp -d "$cache/root.XXXXXX")
  trap 'rm -rf "$root"' EXIT
  mkdir -p "$root"/{bin,sbin,usr/bin,usr/sbin,lib/x86_64-linux-gnu,lib64,proc,sys,dev,tmp,run,out,test,etc,root,mnt,var/tmp}
  ln -s ../run "$root/var/run"
  cp /bin/busybox "$root/bin/busybox"
  for a in $(/bin/busybox --list); do
    [ -e "$root/bin/$a" ] || ln -s busybox "$root/bin/$a"
  done
  # Modules, unpacked (busybox's insmod takes no .ko.xz), and their modules.dep.
  mdir=$kdir/tree/lib/modules/$kver
  mods=()
  for m in "${MODULES[@]}"; do
    mapfile -t -O "${#mods[@]}" mods < <(modprobe -d "$kdir/tree" -S "$kver" --show-depends --ignore-install "$m" \
                                          | awk '$1 == "insmod" {print $2}') \
      || die "module $m not found in $pkg"
  done
  [ ${#mods[@]} -gt 0 ] || die "no modules found in $pkg"
  for f in $(printf '%s\n' "${mods[@]}" | sort -u); do
    rel=${f#"$mdir"/}
    mkdir -p "$root/lib/modules/$kver/$(dirname "$rel")"
    xz -dc "$f" >"$root/lib/modules/$kver/${rel%.xz}"
  done
  cp "$mdir"/modules.{order,builtin,builtin.modinfo} "$root/lib/modules/$kver/" 2>/dev/null || true
  depmod -b "$root" "$kver"
  # Binaries and every library they load, at the paths the host has them.
  for b in "${BINARIES[@]}"; do
    cp -L "$b" "$root$b"
    for lib in $(ldd "$b" | awk '/=> \// {print $3} /^\t\/lib/ {print $1}'); do
      real=$(readlink -f "$lib")
      dest=$root$lib
      [ -f "$dest" ] || { mkdir -p "$(dirname "$dest")"; cp -L "$real" "$dest"; }
    done
  done
  ln -sf /usr/sbin/mdadm "$root/sbin/mdadm"
  # kmod's modprobe (busybox's ignores softdeps: libcrc32c needs crc32c loaded first).
  for t in modprobe insmod rmmod lsmod modinfo depmod; do ln -sf /usr/bin/kmod "$root/usr/sbin/$t"; done
  printf 'root:x:0:0:root:/root:/bin/sh\n' >"$root/etc/passwd"
  printf 'root:x:0:\n' >"$root/etc/group"
  printf '127.0.0.1 localhost guest\n' >"$root/etc/hosts"
  echo "$kver" >"$root/etc/guest-kernel"
  install -m 0755 "$here/init.sh" "$root/init"
  (cd "$root" && find . -mindepth 1 | LC_ALL=C sort | cpio -o -H newc --quiet) >"$base.tmp"
  (cd "$root" && find . -mindepth 1 | sed 's/^\.//') >"${base%.cpio}.list"
  mv "$base.tmp" "$base"
  rm -rf "$root"
  trap - EXIT
  # Older bases are of no use any more.
  find "$cache" -maxdepth 1 -name 'base-*' ! -name "base-$key.*" -delete
fi
printf '%s\n%s\n' "$kdir/vmlinuz" "$base" >"$cache/current.tmp"
mv "$cache/current.tmp" "$cache/current"
echo "prepare.sh: kernel $kver, base $(basename "$base") ($(du -h "$base" | cut -f1))" >&2
