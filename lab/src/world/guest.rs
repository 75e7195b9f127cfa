//! A Linux guest for the whole remote-boot chain (the seeds' remote-boot howto: BOOTP, TFTP, then
//! the root over NFS), built at run time from Debian's packages: the kernel of
//! `linux-image-amd64` and `busybox-static`, both unpacked by `ci/install-debian-packages.sh`
//! under the peers directory (`$BOOTLAB_PEERS_DIR`, default `/opt/bootlab-peers`).
//!
//! A scenario asks for the parts in its `[files]`: `{ guest = "kernel" }` (the bzImage),
//! `{ guest = "initramfs" }` (a gzip'd newc cpio: busybox, the NIC and NFS client modules and
//! their dependencies, and an `/init` that asks DHCP for its own address, mounts the root named by
//! `bootlab.nfsroot=SERVER:/PATH` on the kernel command line and switches to it), and
//! `{ guest = "root" }` (a directory with busybox and an `/sbin/init`). Each stage prints a line
//! on the serial console (`bootlab-stage: kernel-started`, `root-mounted`, `init-reached`), which
//! the boot ROM's profile turns into events; a failure prints `bootlab-error: ...` and powers off.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use serde::Deserialize;

/// The Debian package of the guest's kernel (the metapackage; its versioned kernel is unpacked
/// under this name).
pub const KERNEL_PACKAGE: &str = "linux-image-amd64";
/// The Debian package of the guest's shell and tools.
pub const BUSYBOX_PACKAGE: &str = "busybox-static";

/// The modules the guest loads, each after its dependencies (from `modules.dep`): the NIC qemu
/// gives iPXE (e1000), raw sockets for udhcpc, and the NFS version 4 client.
const MODULES: [&str; 3] = ["e1000", "af_packet", "nfsv4"];

/// Busybox applets linked in the initramfs and the root.
const APPLETS: [&str; 17] = [
    "sh",
    "mount",
    "umount",
    "insmod",
    "ip",
    "udhcpc",
    "switch_root",
    "sleep",
    "cat",
    "echo",
    "mkdir",
    "poweroff",
    "uname",
    "grep",
    "ls",
    "sed",
    "cut",
];

/// A part of the guest a scenario file can be.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum GuestPart {
    /// The kernel image (bzImage), for the boot ROM to download and boot.
    Kernel,
    /// The initramfs the kernel unpacks and runs as `/init`.
    Initramfs,
    /// The root file system directory an NFS server exports.
    Root,
}

/// Why a guest part could not be made.
#[derive(Debug, thiserror::Error)]
pub enum GuestError {
    /// A package's files are not unpacked.
    #[error(
        "{what} not found under {} (Debian package {package}, unpacked by ci/install-debian-packages.sh)",
        dir.display()
    )]
    Missing {
        /// What was looked for.
        what: String,
        /// Where.
        dir: PathBuf,
        /// The package that provides it.
        package: &'static str,
    },
    /// `modules.dep` does not list a module the guest needs.
    #[error("{module}: not in {} nor built in", dep.display())]
    Module {
        /// The module.
        module: String,
        /// The `modules.dep` read.
        dep: PathBuf,
    },
    /// Reading the packages or writing the part failed.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> GuestError + '_ {
    move |source| GuestError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Where the unpacked packages are, and the kernel's release.
#[derive(Debug, Clone)]
pub struct Sources {
    /// The unpacked kernel package.
    pub kernel_dir: PathBuf,
    /// Its release (`6.1.0-28-amd64`), from `boot/vmlinuz-RELEASE`.
    pub release: String,
    /// The static busybox.
    pub busybox: PathBuf,
}

impl Sources {
    /// Finds the packages under `peers_dir`.
    pub fn find(peers_dir: &Path) -> Result<Sources, GuestError> {
        let kernel_dir = peers_dir.join(KERNEL_PACKAGE);
        let boot = kernel_dir.join("boot");
        let missing = |what: &str, dir: &Path, package| GuestError::Missing {
            what: what.into(),
            dir: dir.to_path_buf(),
            package,
        };
        let mut releases: Vec<String> = std::fs::read_dir(&boot)
            .map_err(|_| missing("boot/vmlinuz-*", &kernel_dir, KERNEL_PACKAGE))?
            .flatten()
            .filter_map(|e| {
                e.file_name()
                    .to_str()?
                    .strip_prefix("vmlinuz-")
                    .map(String::from)
            })
            .collect();
        releases.sort();
        let release = releases
            .pop()
            .ok_or_else(|| missing("boot/vmlinuz-*", &kernel_dir, KERNEL_PACKAGE))?;
        let dep = kernel_dir.join(format!("lib/modules/{release}/modules.dep"));
        if !dep.is_file() {
            return Err(missing(
                &format!("lib/modules/{release}/modules.dep"),
                &kernel_dir,
                KERNEL_PACKAGE,
            ));
        }
        let bb_dir = peers_dir.join(BUSYBOX_PACKAGE);
        let busybox = bb_dir.join("bin/busybox");
        if !busybox.is_file() {
            return Err(missing("bin/busybox", &bb_dir, BUSYBOX_PACKAGE));
        }
        Ok(Sources {
            kernel_dir,
            release,
            busybox,
        })
    }

    fn modules_dir(&self) -> PathBuf {
        self.kernel_dir.join("lib/modules").join(&self.release)
    }

    /// The module files (relative to the modules directory) the guest loads, each after its
    /// dependencies.
    pub fn module_order(&self) -> Result<Vec<String>, GuestError> {
        let dir = self.modules_dir();
        let dep_path = dir.join("modules.dep");
        let dep = std::fs::read_to_string(&dep_path).map_err(io(&dep_path))?;
        let builtin = std::fs::read_to_string(dir.join("modules.builtin")).unwrap_or_default();
        let deps: std::collections::HashMap<String, (String, Vec<String>)> = dep
            .lines()
            .filter_map(|l| {
                let (path, rest) = l.split_once(':')?;
                Some((
                    module_name(path),
                    (
                        path.to_string(),
                        rest.split_whitespace().map(String::from).collect(),
                    ),
                ))
            })
            .collect();
        let builtins: std::collections::HashSet<String> =
            builtin.lines().map(module_name).collect();
        let mut order = Vec::new();
        let mut seen = std::collections::HashSet::new();
        fn visit(
            name: &str,
            deps: &std::collections::HashMap<String, (String, Vec<String>)>,
            builtins: &std::collections::HashSet<String>,
            seen: &mut std::collections::HashSet<String>,
            order: &mut Vec<String>,
            dep_path: &Path,
        ) -> Result<(), GuestError> {
            if !seen.insert(name.to_string()) {
                return Ok(());
            }
            let Some((path, needs)) = deps.get(name) else {
                if builtins.contains(name) {
                    return Ok(());
                }
                return Err(GuestError::Module {
                    module: name.into(),
                    dep: dep_path.to_path_buf(),
                });
            };
            for d in needs {
                visit(&module_name(d), deps, builtins, seen, order, dep_path)?;
            }
            order.push(path.clone());
            Ok(())
        }
        for m in MODULES {
            visit(m, &deps, &builtins, &mut seen, &mut order, &dep_path)?;
        }
        Ok(order)
    }
}

/// `kernel/fs/nfs/nfsv4.ko(.xz)` -> `nfsv4` (dashes and underscores are one to modprobe).
fn module_name(path: &str) -> String {
    let base = path.rsplit('/').next().unwrap_or(path);
    let base = base.split(".ko").next().unwrap_or(base);
    base.replace('-', "_")
}

/// Whether the guest can be built here; `None` when it can, else why not (for a skipped run).
pub fn missing(peers_dir: &Path) -> Option<String> {
    match Sources::find(peers_dir) {
        Ok(_) => None,
        Err(e) => Some(e.to_string()),
    }
}

/// Writes `part` at `dest` (a file; for [`GuestPart::Root`] a directory).
pub fn write(part: GuestPart, src: &Sources, dest: &Path) -> Result<(), GuestError> {
    match part {
        GuestPart::Kernel => {
            let from = src
                .kernel_dir
                .join("boot")
                .join(format!("vmlinuz-{}", src.release));
            std::fs::copy(&from, dest).map(drop).map_err(io(&from))
        }
        GuestPart::Initramfs => write_initramfs(src, dest),
        GuestPart::Root => write_root(src, dest),
    }
}

/// The initramfs's `/init`: the kernel has started it; it loads the modules, asks DHCP for its
/// own address (the guest's own DHCP, after the ROM's), mounts the root over NFS version 4
/// (RFC 7530) and switches to it.
fn init_script(modules: &[String], release: &str) -> String {
    let list: Vec<String> = modules
        .iter()
        .map(|m| format!("/lib/modules/{release}/{m}"))
        .collect();
    format!(
        r#"#!/bin/busybox sh
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
echo "bootlab-stage: kernel-started $(uname -r)"
fail() {{ echo "bootlab-error: $*"; poweroff -f; }}
for m in {modules}; do
  insmod "$m" || fail "insmod $m"
done
nfsroot=
vers=4.2
for a in $(cat /proc/cmdline); do
  case "$a" in
    bootlab.nfsroot=*) nfsroot=${{a#*=}} ;;
    bootlab.nfsvers=*) vers=${{a#*=}} ;;
  esac
done
[ -n "$nfsroot" ] || fail "no bootlab.nfsroot= on the kernel command line"
ip link set lo up
ip link set eth0 up
udhcpc -i eth0 -f -q -n -t 5 -T 3 -s /udhcpc.script || fail "no DHCP lease"
address=$(cat /address)
server=${{nfsroot%%:*}}
mount -t nfs -o vers=$vers,proto=tcp,nolock,sec=sys,ro,addr=$server,clientaddr=$address "$nfsroot" /newroot \
  || fail "NFS mount of $nfsroot failed"
echo "bootlab-stage: root-mounted $nfsroot"
mount --move /dev /newroot/dev
mount --move /proc /newroot/proc
mount --move /sys /newroot/sys
exec switch_root /newroot /sbin/init
fail "switch_root"
"#,
        modules = list.join(" ")
    )
}

/// udhcpc's hook: sets the leased address and the router, and records the address for `/init`.
const UDHCPC_SCRIPT: &str = r#"#!/bin/sh
case "$1" in
  deconfig) ip addr flush dev "$interface"; ip link set "$interface" up ;;
  bound|renew)
    echo "bootlab-dhcp: $1 $ip/${mask:-24} router ${router:-none} server ${serverid:-none}"
    ip addr flush dev "$interface"
    ip addr add "$ip/${mask:-24}" dev "$interface"
    [ -n "$router" ] && ip route add default via "${router%% *}" dev "$interface"
    echo "$ip" > /address
    ;;
esac
exit 0
"#;

/// The root's `/sbin/init`: reports the stage and powers the guest off (qemu runs with
/// `-no-reboot`, so the boot ROM's role ends).
const ROOT_INIT: &str = r#"#!/bin/busybox sh
export PATH=/bin
echo "bootlab-stage: init-reached $(grep ' / nfs' /proc/mounts | cut -d' ' -f1,3)"
poweroff -f
"#;

fn write_initramfs(src: &Sources, dest: &Path) -> Result<(), GuestError> {
    let modules = src.module_order()?;
    let mut c = cpio::Writer::default();
    for d in ["bin", "dev", "proc", "sys", "newroot", "lib"] {
        c.dir(d);
    }
    let busybox = std::fs::read(&src.busybox).map_err(io(&src.busybox))?;
    c.file("bin/busybox", 0o755, &busybox);
    for a in APPLETS {
        c.symlink(&format!("bin/{a}"), "busybox");
    }
    // The console and null before devtmpfs is mounted (a cpio entry needs no mknod privilege).
    c.char_device("dev/console", 0o600, 5, 1);
    c.char_device("dev/null", 0o666, 1, 3);
    let mdir = src.modules_dir();
    let mut made = std::collections::BTreeSet::new();
    for m in &modules {
        let rel = format!("lib/modules/{}/{m}", src.release);
        let mut parent = Path::new(&rel).parent();
        let mut dirs = Vec::new();
        while let Some(p) = parent.filter(|p| !p.as_os_str().is_empty()) {
            dirs.push(p.to_string_lossy().into_owned());
            parent = p.parent();
        }
        for d in dirs.into_iter().rev() {
            if made.insert(d.clone()) && d != "lib" {
                c.dir(&d);
            }
        }
        let path = mdir.join(m);
        let data = std::fs::read(&path).map_err(io(&path))?;
        c.file(&rel, 0o644, &data);
    }
    c.file(
        "init",
        0o755,
        init_script(&modules, &src.release).as_bytes(),
    );
    c.file("udhcpc.script", 0o755, UDHCPC_SCRIPT.as_bytes());
    let archive = c.finish();
    let f = std::fs::File::create(dest).map_err(io(dest))?;
    let mut gz = flate2::write::GzEncoder::new(f, flate2::Compression::fast());
    gz.write_all(&archive).map_err(io(dest))?;
    gz.finish().map(drop).map_err(io(dest))
}

fn write_root(src: &Sources, dest: &Path) -> Result<(), GuestError> {
    for d in ["bin", "sbin", "dev", "proc", "sys", "tmp", "etc"] {
        let p = dest.join(d);
        std::fs::create_dir_all(&p).map_err(io(&p))?;
    }
    let bb = dest.join("bin/busybox");
    std::fs::copy(&src.busybox, &bb).map_err(io(&bb))?;
    for a in APPLETS {
        let p = dest.join("bin").join(a);
        std::os::unix::fs::symlink("busybox", &p).map_err(io(&p))?;
    }
    let init = dest.join("sbin/init");
    std::fs::write(&init, ROOT_INIT).map_err(io(&init))?;
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::set_permissions(&init, std::fs::Permissions::from_mode(0o755)).map_err(io(&init))
}

/// The "new ASCII" cpio format the kernel unpacks as an initramfs
/// (Documentation/driver-api/early-userspace/buffer-format.rst).
mod cpio {
    /// An archive being written.
    #[derive(Default)]
    pub(super) struct Writer {
        out: Vec<u8>,
        ino: u32,
    }

    impl Writer {
        fn entry(&mut self, name: &str, mode: u32, rdev: (u32, u32), data: &[u8]) {
            self.ino += 1;
            let fields = [
                self.ino,
                mode,
                0, // uid
                0, // gid
                1, // nlink
                0, // mtime: the same archive on every run
                data.len() as u32,
                0,
                0,
                rdev.0,
                rdev.1,
                name.len() as u32 + 1,
                0, // check
            ];
            self.out.extend_from_slice(b"070701");
            for f in fields {
                self.out.extend_from_slice(format!("{f:08x}").as_bytes());
            }
            self.out.extend_from_slice(name.as_bytes());
            self.out.push(0);
            self.pad();
            self.out.extend_from_slice(data);
            self.pad();
        }

        fn pad(&mut self) {
            while self.out.len() % 4 != 0 {
                self.out.push(0);
            }
        }

        /// A directory.
        pub(super) fn dir(&mut self, name: &str) {
            self.entry(name, 0o040_755, (0, 0), &[]);
        }

        /// A regular file.
        pub(super) fn file(&mut self, name: &str, perm: u32, data: &[u8]) {
            self.entry(name, 0o100_000 | perm, (0, 0), data);
        }

        /// A symbolic link to `target`.
        pub(super) fn symlink(&mut self, name: &str, target: &str) {
            self.entry(name, 0o120_777, (0, 0), target.as_bytes());
        }

        /// A character device.
        pub(super) fn char_device(&mut self, name: &str, perm: u32, major: u32, minor: u32) {
            self.entry(name, 0o020_000 | perm, (major, minor), &[]);
        }

        /// The archive with its trailer.
        pub(super) fn finish(mut self) -> Vec<u8> {
            self.entry("TRAILER!!!", 0, (0, 0), &[]);
            self.out
        }
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn entries_are_newc_headers_padded_to_four() {
            let mut w = Writer::default();
            w.file("init", 0o755, b"#!");
            let a = w.finish();
            assert!(a.starts_with(b"070701"));
            assert_eq!(a.len() % 4, 0);
            // Header (110) + "init\0" padded to 116, then 2 bytes of data padded to 4.
            assert_eq!(&a[110..114], b"init");
            assert_eq!(&a[116..118], b"#!");
            let mode = std::str::from_utf8(&a[14..22]).expect("ascii");
            assert_eq!(u32::from_str_radix(mode, 16).expect("hex"), 0o100_755);
            assert!(a.windows(10).any(|w| w == b"TRAILER!!!"));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn module_names_drop_directories_and_suffixes() {
        assert_eq!(module_name("kernel/fs/nfs/nfsv4.ko"), "nfsv4");
        assert_eq!(
            module_name("kernel/net/dns_resolver/dns-resolver.ko.xz"),
            "dns_resolver"
        );
    }

    #[test]
    fn modules_load_after_their_dependencies() {
        let dir = std::env::temp_dir().join(format!("bootlab-guest-{}", std::process::id()));
        let m = dir.join("linux-image-amd64/lib/modules/6.1.0-9-amd64");
        std::fs::create_dir_all(&m).expect("mkdir");
        std::fs::create_dir_all(dir.join("linux-image-amd64/boot")).expect("mkdir");
        std::fs::write(
            dir.join("linux-image-amd64/boot/vmlinuz-6.1.0-9-amd64"),
            b"",
        )
        .expect("w");
        std::fs::write(
            m.join("modules.dep"),
            "kernel/fs/nfs/nfsv4.ko: kernel/fs/nfs/nfs.ko kernel/net/sunrpc/sunrpc.ko\n\
             kernel/fs/nfs/nfs.ko: kernel/net/sunrpc/sunrpc.ko\n\
             kernel/net/sunrpc/sunrpc.ko:\n\
             kernel/drivers/net/ethernet/intel/e1000/e1000.ko:\n",
        )
        .expect("w");
        std::fs::write(
            m.join("modules.builtin"),
            "kernel/net/packet/af_packet.ko\n",
        )
        .expect("w");
        assert!(matches!(
            Sources::find(&dir),
            Err(GuestError::Missing {
                package: BUSYBOX_PACKAGE,
                ..
            })
        ));
        std::fs::create_dir_all(dir.join("busybox-static/bin")).expect("mkdir");
        std::fs::write(dir.join("busybox-static/bin/busybox"), b"").expect("w");
        let src = Sources::find(&dir).expect("found");
        assert_eq!(src.release, "6.1.0-9-amd64");
        assert_eq!(
            src.module_order().expect("order"),
            [
                "kernel/drivers/net/ethernet/intel/e1000/e1000.ko",
                "kernel/net/sunrpc/sunrpc.ko",
                "kernel/fs/nfs/nfs.ko",
                "kernel/fs/nfs/nfsv4.ko"
            ]
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}
