#!/usr/bin/env bash
# Proves the README's "Two commands on a fresh machine": makes a minimal Debian root with
# debootstrap (the release and mirror this machine's apt sources use), copies the checkout in
# (`git archive HEAD`), makes the host's Rust toolchain available read-only (rustup's
# ~/.rustup and ~/.cargo/bin; the C linker a Rust toolchain needs, gcc and libc6-dev, is the only
# package added to the minimal root), and runs the README's two commands there, timing each:
#
#   cargo run --release -p bootlab-lab -- run
#   bash ci/test.sh
#
# Usage (as root; it runs apt-get install debootstrap when missing):
#
#   bash ci/fresh-machine.sh [ROOT]            # default ROOT /var/tmp/bootlab-fresh (made anew)
#   BOOTLAB_FRESH_KEEP=1 bash ci/fresh-machine.sh ROOT     # reuse an existing ROOT (and its build)
#   BOOTLAB_FRESH_ONLY=main bash ci/fresh-machine.sh       # only the main command (or: test)
#
# The root is entered with new mount and PID namespaces and pivot_root (not chroot: a chrooted
# process may not make the user namespaces the rootless lab tests need), with a fresh /proc, the
# host's /dev and /sys, and a tmpfs /run. The network namespace is the host's (apt-get and
# crates.io are reached from inside); the lab makes its own namespaces for every scenario.
# Results: the log on stdout, and ROOT/fresh-machine.times (command, exit status, seconds).
set -euo pipefail

ROOT=${1:-/var/tmp/bootlab-fresh}
CHECKOUT=$(cd "$(dirname "$0")/.." && pwd)
RUSTUP_DIR=${RUSTUP_HOME:-$HOME/.rustup}
CARGO_DIR=${CARGO_HOME:-$HOME/.cargo}

log() { printf 'fresh-machine: %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

[[ $(id -u) -eq 0 ]] || die "must run as root (debootstrap, mounts)"
[[ -x $CARGO_DIR/bin/cargo && -d $RUSTUP_DIR/toolchains ]] || die "no rustup toolchain in $RUSTUP_DIR / $CARGO_DIR"

# The Debian release and mirror of this machine's apt sources (deb822 or one-line format).
suite= mirror=
for f in /etc/apt/sources.list.d/*.sources; do
  [[ -f $f ]] || continue
  uri=$(awk '/^URIs:/ {print $2; exit}' "$f")
  s=$(awk '/^Suites:/ {print $2; exit}' "$f")
  if [[ $uri == */debian && -n $s ]]; then mirror=$uri suite=$s; sources=$f; break; fi
done
if [[ -z $suite && -f /etc/apt/sources.list ]]; then
  read -r _ mirror suite _ < <(grep -E '^deb .*/debian ' /etc/apt/sources.list | head -1) || true
  sources=/etc/apt/sources.list
fi
[[ -n $suite && -n $mirror ]] || die "no Debian mirror found in /etc/apt/sources.list*"
log "Debian $suite from $mirror (as $sources)"

command -v debootstrap >/dev/null || { log "apt-get install debootstrap"; apt-get install -y -q --no-install-recommends debootstrap; }

t0=$(date +%s)
if [[ ${BOOTLAB_FRESH_KEEP:-0} == 1 && -x $ROOT/bin/bash ]]; then
  log "reusing $ROOT"
else
  rm -rf --one-file-system "$ROOT"
  mkdir -p "$ROOT"
  log "debootstrap --variant=minbase $suite $ROOT"
  debootstrap --variant=minbase --include=ca-certificates,gcc,libc6-dev "$suite" "$ROOT" "$mirror" >"$ROOT.debootstrap.log" 2>&1 \
    || { tail -20 "$ROOT.debootstrap.log" >&2; die "debootstrap failed (log: $ROOT.debootstrap.log)"; }
  # The same apt sources as this machine (updates and security too).
  if [[ $sources == *.sources ]]; then
    rm -f "$ROOT/etc/apt/sources.list"
    cp "$sources" "$ROOT/etc/apt/sources.list.d/"
  fi
fi
log "root ready in $(($(date +%s) - t0)) s"
cp /etc/resolv.conf "$ROOT/etc/resolv.conf"
# A site's own CAs (e.g. a TLS-intercepting proxy's) go in as an administrator would put them, so
# apt-get and cargo reach their servers from inside as they do from here.
if compgen -G '/usr/local/share/ca-certificates/*.crt' >/dev/null; then
  cp /usr/local/share/ca-certificates/*.crt "$ROOT/usr/local/share/ca-certificates/"
  chroot "$ROOT" update-ca-certificates >/dev/null 2>&1 || die "update-ca-certificates failed in $ROOT"
  log "site CAs added: $(cd /usr/local/share/ca-certificates && echo *.crt)"
fi

# The checkout, as committed (with BOOTLAB_FRESH_KEEP=1 an earlier run's target/ stays, so a rerun
# only rebuilds what changed).
mkdir -p "$ROOT/src/bootlab" "$ROOT/opt/rustup" "$ROOT/opt/cargo"
find "$ROOT/src/bootlab" -mindepth 1 -maxdepth 1 ! -name target -exec rm -rf {} +
[[ ${BOOTLAB_FRESH_KEEP:-0} == 1 ]] || rm -rf "$ROOT/src/bootlab/target"
git -C "$CHECKOUT" archive HEAD | tar -x -C "$ROOT/src/bootlab"
log "checkout $(git -C "$CHECKOUT" rev-parse --short HEAD) copied to $ROOT/src/bootlab"

: >"$ROOT/fresh-machine.times"
# Runs one of the README's commands in the fresh root; records its exit status and wall time.
run_inside() {
  local name=$1 cmd=$2 start status
  start=$(date +%s)
  log "== $name: $cmd"
  set +e
  unshare --mount --pid --fork --propagation private bash -euc '
    root=$1 rustup=$2 cargo=$3 cmd=$4
    mount --bind "$root" "$root"
    mount -t proc proc "$root/proc"
    mount --rbind /dev "$root/dev"
    mount --rbind /sys "$root/sys"
    mount -t tmpfs tmpfs "$root/run"
    mount --bind -o ro "$rustup" "$root/opt/rustup"
    mount -o remount,bind,ro "$root/opt/rustup"
    mount --bind -o ro "$cargo/bin" "$root/opt/cargo"
    mount -o remount,bind,ro "$root/opt/cargo"
    cd "$root"
    pivot_root . .
    umount -l .
    cd /src/bootlab
    # bash stays PID 1 of the new PID namespace ("; exit" keeps it from exec-ing the command), so
    # orphans (a SIGKILLed lab'"'"'s init, in the lab tests) are reaped as by a real init.
    exec env -i HOME=/root TERM=dumb LANG=C.UTF-8 \
      RUSTUP_HOME=/opt/rustup CARGO_HOME=/root/.cargo \
      PATH=/opt/cargo:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
      bash -c "$cmd; exit \$?"
  ' fresh "$ROOT" "$RUSTUP_DIR" "$CARGO_DIR" "$cmd"
  status=$?
  set -e
  printf '%s\t%s\t%s\n' "$name" "$status" "$(($(date +%s) - start))" | tee -a "$ROOT/fresh-machine.times" >&2
  return 0
}

only=${BOOTLAB_FRESH_ONLY:-}
[[ -z $only || $only == main ]] && run_inside main "cargo run --release -p bootlab-lab -- run"
[[ -z $only || $only == test ]] && run_inside test "bash ci/test.sh"
log "results (command, exit status, seconds):"
cat "$ROOT/fresh-machine.times" >&2
! grep -qv $'\t0\t' "$ROOT/fresh-machine.times"
