#!/usr/bin/env bash
# Installs every Debian package bootlab drives (the third-party peers of issue 10, capture tools, qemu/iPXE).
#
# Run as root; idempotent (re-running only re-checks). CI calls it from .ci/run.
#
#   ci/install-debian-packages.sh            # install + check
#   BOOTLAB_PEERS_DIR=/opt/bootlab-peers     # where the conflicting peers are unpacked (default shown)
#   BOOTLAB_SKIP_APT_UPDATE=1                # skip `apt-get update` (e.g. a warm CI image)
#   BOOTLAB_FORCE_INSTALL=1                  # run apt-get even when every package is present
#   ci/install-debian-packages.sh --check    # no root needed: exit 0 when everything is present, else
#                                            # 1 with the missing packages on stderr; installs nothing
#
# When every package is already installed (and the private ones unpacked) it skips apt-get entirely and
# only re-checks policy-rc.d and the UDP ports, so ci/test.sh can call it on every run.
#
# What it does, in order:
#   1. makes sure /usr/sbin/policy-rc.d exists and exits 101, so no postinst starts a daemon in the host's
#      network namespace (a host DHCP server on a CI runner would be a disaster);
#   2. apt-get update + apt-get install --no-install-recommends of the packages in PACKAGES;
#   3. dhcp-helper and atftpd conflict with installed packages (dhcp-helper with isc-dhcp-server, isc-dhcp-relay
#      and udhcpd; atftpd with tftpd-hpa), so they are `apt-get download`ed and unpacked with `dpkg-deb -x` into
#      $BOOTLAB_PEERS_DIR/<package>/ (e.g. /opt/bootlab-peers/dhcp-helper/usr/sbin/dhcp-helper). Their libraries
#      are already present. The lab profiles (lab/profiles/*.toml) look there. The Linux guest of nfs-root-boot
#      is unpacked the same way (busybox-static, and the kernel linux-image-amd64 depends on, with a modules.dep
#      written by busybox's depmod): a kernel package is never installed on this machine;
#   4. stops any daemon a postinst started anyway, by PID, only when the PID is new since step 1 and its
#      executable belongs to one of the packages installed here;
#   5. fails loudly if anything listens on UDP 67, 68 or 69 in the host namespace.
set -euo pipefail

PEERS_DIR="${BOOTLAB_PEERS_DIR:-/opt/bootlab-peers}"
POLICY_RC_D=/usr/sbin/policy-rc.d

# Installed normally (names checked with `apt-cache policy` on Debian 12).
PACKAGES=(
  tshark tcpdump iproute2 util-linux procps ethtool nftables strace
  isc-dhcp-server isc-dhcp-client isc-dhcp-relay
  kea-dhcp4-server kea-admin
  dnsmasq udhcpd udhcpc busybox dhcpcd-base
  tftpd-hpa tftp-hpa atftp bootp
  qemu-system-x86 ipxe-qemu
  nfs-ganesha nfs-ganesha-vfs  # the NFS root of nfs-root-boot (user space: no kernel nfsd needed)
  chromium  # the HTML report's browser test (lab/tests/report_outputs.rs)
  g++  # fuzz/ci.sh: libfuzzer-sys compiles libFuzzer, which is C++ (a fresh machine has only gcc)
)
# Unpacked privately under $PEERS_DIR/<package>/: peers that conflict with the above, and the Linux
# guest of nfs-root-boot (lab/src/world/guest.rs), whose kernel must not be installed on this machine.
# linux-image-amd64 is a metapackage: the kernel package it depends on is unpacked under its name.
PRIVATE_PACKAGES=(dhcp-helper atftpd busybox-static linux-image-amd64)

log() { printf 'install-debian-packages: %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

# The packages of PACKAGES not installed, and of PRIVATE_PACKAGES not unpacked, one per line.
missing_packages() {
  local pkg
  for pkg in "${PACKAGES[@]}"; do
    [[ $(dpkg-query -W -f='${db:Status-Status}' "$pkg" 2>/dev/null) == installed ]] || echo "$pkg"
  done
  for pkg in "${PRIVATE_PACKAGES[@]}"; do
    [[ -f $PEERS_DIR/$pkg/.bootlab-version ]] || echo "$pkg"
  done
}

if [[ ${1:-} == --check ]]; then
  command -v dpkg-query >/dev/null || { log "dpkg-query not found: not a Debian-family machine"; exit 1; }
  missing=$(missing_packages)
  [[ -z $missing ]] && exit 0
  log "missing: $(echo $missing)"
  exit 1
fi

start_s=$(date +%s)

[[ $(id -u) -eq 0 ]] || die "must run as root (it runs apt-get and writes $PEERS_DIR)"
command -v apt-get >/dev/null || die "apt-get not found: this script is for Debian"

# --- 1. policy-rc.d ------------------------------------------------------------------------------------------
policy_ok() { [[ -x $POLICY_RC_D ]] && { "$POLICY_RC_D" dummy start >/dev/null 2>&1; [[ $? -eq 101 ]]; }; }
if policy_ok; then
  log "$POLICY_RC_D already denies service starts (exit 101)"
else
  if [[ -e $POLICY_RC_D ]]; then
    cp -p "$POLICY_RC_D" "$POLICY_RC_D.bootlab-saved"
    log "saved the previous $POLICY_RC_D as $POLICY_RC_D.bootlab-saved"
  fi
  printf '#!/bin/sh\n# Written by bootlab ci/install-debian-packages.sh: never start services from maintainer scripts.\nexit 101\n' \
    >"$POLICY_RC_D"
  chmod 0755 "$POLICY_RC_D"
  policy_ok || die "$POLICY_RC_D still does not exit 101"
  log "wrote $POLICY_RC_D (exit 101)"
fi

# PIDs alive before we install anything: step 4 never touches these.
declare -A pids_before=()
for p in /proc/[0-9]*; do pids_before[${p#/proc/}]=1; done

missing=$(missing_packages)
if [[ -z $missing && ${BOOTLAB_FORCE_INSTALL:-0} != 1 ]]; then
  log "every package is installed and the private ones unpacked: no apt-get"
else
[[ -n $missing ]] && log "missing: $(echo $missing)"
# --- 2. apt packages ---------------------------------------------------------------------------------------
export DEBIAN_FRONTEND=noninteractive
if [[ ${BOOTLAB_SKIP_APT_UPDATE:-0} != 1 ]]; then
  log "apt-get update"
  apt-get update -q
fi
log "apt-get install ${PACKAGES[*]}"
apt-get install -y -q --no-install-recommends "${PACKAGES[@]}"

# --- 3. private (conflicting) packages --------------------------------------------------------------------------
mkdir -p "$PEERS_DIR"
dl_dir=$(mktemp -d)
trap 'rm -rf "$dl_dir"' EXIT
chmod 0755 "$dl_dir" # lets apt's _apt sandbox user write there
for pkg in "${PRIVATE_PACKAGES[@]}"; do
  real=$pkg
  if [[ $pkg == linux-image-amd64 ]]; then
    real=$(apt-cache depends linux-image-amd64 | awk '/Depends: linux-image-[0-9]/ {print $2; exit}')
    [[ -n $real ]] || die "cannot find the kernel package linux-image-amd64 depends on"
  fi
  want=$(apt-cache policy "$real" | awk '/Candidate:/ {print $2}')
  [[ -n $want && $want != "(none)" ]] || die "no candidate version for $real"
  dest="$PEERS_DIR/$pkg"
  if [[ -f $dest/.bootlab-version && $(cat "$dest/.bootlab-version") == "$want" ]]; then
    log "$pkg $want already unpacked in $dest"
    continue
  fi
  log "downloading $real $want"
  (cd "$dl_dir" && apt-get download -q "$real=$want")
  deb=$(ls "$dl_dir/${real}_"*.deb)
  rm -rf "$dest"
  mkdir -p "$dest"
  dpkg-deb -x "$deb" "$dest"
  if [[ $pkg == linux-image-amd64 ]]; then
    # The package ships no modules.dep (its postinst runs depmod); busybox's depmod writes it.
    release=${real#linux-image-}
    "$PEERS_DIR/busybox-static/bin/busybox" depmod -b "$dest" "$release" \
      || die "depmod for $real failed"
  fi
  printf '%s\n' "$want" >"$dest/.bootlab-version"
  log "unpacked $real $want into $dest"
done
[[ -x $PEERS_DIR/dhcp-helper/usr/sbin/dhcp-helper ]] || die "dhcp-helper binary missing after unpacking"
[[ -x $PEERS_DIR/atftpd/usr/sbin/atftpd ]] || die "atftpd binary missing after unpacking"
[[ -x $PEERS_DIR/busybox-static/bin/busybox ]] || die "busybox-static binary missing after unpacking"
compgen -G "$PEERS_DIR/linux-image-amd64/lib/modules/*/modules.dep" >/dev/null || die "the guest kernel's modules.dep is missing"

# --- 4. stop daemons a postinst started anyway ----------------------------------------------------------------
# Executables shipped by the packages we installed (only these PIDs may be stopped).
declare -A ours=()
while IFS= read -r f; do
  [[ -f $f && -x $f ]] && ours[$f]=1
done < <(dpkg -L "${PACKAGES[@]}" 2>/dev/null | grep -E '/s?bin/')
for p in /proc/[0-9]*; do
  pid=${p#/proc/}
  [[ -n ${pids_before[$pid]:-} ]] && continue
  exe=$(readlink "$p/exe" 2>/dev/null) || continue
  exe=${exe% (deleted)}
  if [[ -n ${ours[$exe]:-} ]]; then
    # Only daemons: skip anything still attached to this script's session (e.g. a lingering apt child).
    ppid=$(awk '{print $4}' "$p/stat" 2>/dev/null || echo 0)
    if [[ $ppid == 1 ]]; then
      log "stopping PID $pid ($exe), started by a postinst despite policy-rc.d"
      kill -TERM "$pid" 2>/dev/null || true
      for _ in 1 2 3 4 5 6 7 8 9 10; do [[ -d /proc/$pid ]] || break; sleep 0.2; done
      [[ -d /proc/$pid ]] && { log "PID $pid ignored SIGTERM: SIGKILL"; kill -KILL "$pid" 2>/dev/null || true; }
    fi
  fi
done

fi # something was missing

# --- 5. nothing may listen on the DHCP/BOOTP/TFTP ports in the host namespace ----------------------------------
listeners=$(ss -H -lunp 'sport = :67 or sport = :68 or sport = :69' || true)
if [[ -n $listeners ]]; then
  log "something listens on UDP 67/68/69 in the host namespace:"
  printf '%s\n' "$listeners" >&2
  die "stop these listeners (bootlab never serves DHCP/TFTP on the host's interfaces)"
fi

# Summary: versions of what the lab will drive.
for pkg in "${PACKAGES[@]}"; do
  printf '  %-20s %s\n' "$pkg" "$(dpkg-query -W -f='${Version}' "$pkg" 2>/dev/null || echo MISSING)" >&2
done
for pkg in "${PRIVATE_PACKAGES[@]}"; do
  printf '  %-20s %s (private: %s)\n' "$pkg" "$(cat "$PEERS_DIR/$pkg/.bootlab-version")" "$PEERS_DIR/$pkg" >&2
done
log "done in $(($(date +%s) - start_s)) s; nothing listens on UDP 67/68/69"
