//! Every profile in `lab/profiles/` parses, renders for every role it claims with a sample
//! scenario's parameters, and produces sane files and argv. Prints which peers are not installed
//! (reported, never silently skipped). No namespaces needed.

use bootlab_lab::plan::role_kind::RoleKind;
use bootlab_lab::roles::profile::{
    peers_dir, Binding, Installation, Pool, Profile, ProfileSet, RenderEnv, RoleParams,
};
use std::net::Ipv4Addr;
use std::path::PathBuf;

fn profiles() -> ProfileSet {
    let dir = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/profiles"));
    match ProfileSet::load_dir(&dir) {
        Ok(set) => set,
        Err(e) => panic!("loading {}: {e}", dir.display()),
    }
}

fn ip(a: u8, b: u8, c: u8, d: u8) -> Ipv4Addr {
    Ipv4Addr::new(a, b, c, d)
}

/// A sample scenario's parameters for one role kind.
fn sample(role: RoleKind) -> RoleParams {
    let server = RoleParams {
        interface: Some("s0".into()),
        server_address: Some(ip(192, 0, 2, 1)),
        subnet: "192.0.2.0/24".parse().ok(),
        pool: Some(Pool {
            start: ip(192, 0, 2, 100),
            end: ip(192, 0, 2, 150),
        }),
        bindings: vec![
            Binding {
                mac: "02:00:00:00:02:0a".parse().expect("mac"),
                address: ip(192, 0, 2, 10),
                bootfile: Some("boot/rom.img".into()),
                hostname: Some("rom".into()),
            },
            Binding {
                mac: "02:00:00:00:02:0b".parse().expect("mac"),
                address: ip(192, 0, 2, 11),
                bootfile: None,
                hostname: None,
            },
        ],
        next_server: Some(ip(192, 0, 2, 1)),
        boot_file: Some("pxelinux.0".into()),
        tftp_root: Some("/srv/tftp".into()),
        lease_time: Some(600),
        secs_threshold: Some(4),
        router: Some(ip(192, 0, 2, 254)),
        conflict_check: Some(false),
        ..RoleParams::default()
    };
    match role {
        RoleKind::DhcpServer | RoleKind::BootpServer => server,
        RoleKind::Relay => RoleParams {
            client_interface: Some("c0".into()),
            server_interface: Some("u0".into()),
            servers: vec![ip(198, 51, 100, 1), ip(198, 51, 100, 2)],
            hop_limit: Some(4),
            address: Some(ip(192, 0, 2, 254)),
            ..RoleParams::default()
        },
        RoleKind::DhcpClient
        | RoleKind::BootpClient
        | RoleKind::RomClient
        | RoleKind::RarpClient => RoleParams {
            interface: Some("c0".into()),
            mac: "02:00:00:00:02:0a".parse().ok(),
            ..RoleParams::default()
        },
        RoleKind::TftpServer | RoleKind::NfsServer => RoleParams {
            interface: Some("s0".into()),
            root: Some("/srv/tftp".into()),
            address: Some(ip(192, 0, 2, 1)),
            ..RoleParams::default()
        },
        RoleKind::TftpClient => RoleParams {
            interface: Some("c0".into()),
            file: Some("boot/rom.img".into()),
            server: Some(ip(192, 0, 2, 1)),
            ..RoleParams::default()
        },
        // No profile plays the probe (it is the lab's own scripted endpoint).
        RoleKind::RarpServer | RoleKind::Probe => server,
    }
}

fn env_for(set: &ProfileSet, p: &Profile, role: RoleKind) -> RenderEnv {
    RenderEnv {
        state_dir: PathBuf::from(format!("/run/bootlab-test/{}-{}", p.name, role.as_str())),
        peers_dir: "/opt/bootlab-peers".into(),
        profiles_dir: set.dir.clone(),
    }
}

#[test]
fn every_profile_parses_and_renders_for_each_of_its_roles() {
    let set = profiles();
    assert!(
        set.profiles.len() >= 17,
        "expected every listed peer, found {:?}",
        set.profiles.keys()
    );
    let mut rendered = 0;
    for p in set.profiles.values() {
        for &role in &p.roles {
            let env = env_for(&set, p, role);
            let r = match p.render(role, &sample(role), &env) {
                Ok(r) => r,
                Err(e) => panic!("{} as {}: {e}", p.name, role.as_str()),
            };
            rendered += 1;
            assert_eq!(r.argv[0], r.program.display().to_string());
            for a in &r.argv {
                assert!(!a.is_empty() && !a.contains("{{"), "{}: argv {a:?}", p.name);
            }
            for f in &r.files {
                assert!(
                    f.path.starts_with(&env.state_dir),
                    "{}: {} outside the state dir",
                    p.name,
                    f.path.display()
                );
                assert!(
                    !f.contents.contains("{{"),
                    "{}: {} keeps a tag",
                    p.name,
                    f.path.display()
                );
            }
            for (src, dst) in &r.hook_copy {
                assert!(src.is_file(), "{}: hook {} missing", p.name, src.display());
                assert!(dst.starts_with(&env.state_dir));
            }
            if let Some((_, hook)) = r.hook_copy.first() {
                assert!(
                    r.argv.iter().any(|a| a == &hook.display().to_string()),
                    "{}: hook not on the command line",
                    p.name
                );
            }
            println!("{} as {}: {}", p.name, role.as_str(), r.argv.join(" "));
        }
    }
    assert!(rendered >= 20);
}

#[test]
fn every_listed_role_has_a_peer() {
    let set = profiles();
    for (role, want) in [
        (
            RoleKind::DhcpServer,
            &["isc-dhcpd", "kea-dhcp4", "dnsmasq", "udhcpd"][..],
        ),
        (
            RoleKind::BootpServer,
            &["cmu-bootpd", "isc-dhcpd", "dnsmasq"][..],
        ),
        (
            RoleKind::Relay,
            &["dhcrelay", "dhcp-helper", "cmu-bootpgw"][..],
        ),
        (RoleKind::DhcpClient, &["dhclient", "dhcpcd", "udhcpc"][..]),
        (RoleKind::RomClient, &["ipxe-qemu"][..]),
        (RoleKind::NfsServer, &["nfs-ganesha"][..]),
        (
            RoleKind::TftpServer,
            &["tftpd-hpa", "atftpd", "dnsmasq"][..],
        ),
        (
            RoleKind::TftpClient,
            &["tftp-hpa", "atftp", "busybox-tftp"][..],
        ),
    ] {
        let have: Vec<&str> = set.for_role(role).map(|p| p.name.as_str()).collect();
        for w in want {
            assert!(
                have.contains(w),
                "{} missing from {}: {have:?}",
                w,
                role.as_str()
            );
        }
    }
}

#[test]
fn server_configs_carry_the_scenario() {
    let set = profiles();
    let render = |name: &str, role: RoleKind| {
        let p = set.get(name).expect("profile");
        p.render(role, &sample(role), &env_for(&set, p, role))
            .expect("renders")
    };
    let file = |r: &bootlab_lab::roles::profile::Rendered, name: &str| {
        r.files
            .iter()
            .find(|f| f.path.ends_with(name))
            .map(|f| f.contents.clone())
            .expect("file")
    };

    let dhcpd = file(&render("isc-dhcpd", RoleKind::DhcpServer), "dhcpd.conf");
    assert!(
        dhcpd.contains("subnet 192.0.2.0 netmask 255.255.255.0 {"),
        "{dhcpd}"
    );
    assert!(dhcpd.contains("  range 192.0.2.100 192.0.2.150;\n"));
    assert!(dhcpd.contains("ping-check false;"));
    assert!(dhcpd.contains("min-secs 4;"));
    assert!(dhcpd.contains("host rom {\n  hardware ethernet 02:00:00:00:02:0a;\n  fixed-address 192.0.2.10;\n  filename \"boot/rom.img\";"));
    assert!(dhcpd.contains("host host2 {"));
    assert!(
        !dhcpd.contains("\n\n\n"),
        "standalone tags leave no blank runs:\n{dhcpd}"
    );

    let kea = render("kea-dhcp4", RoleKind::DhcpServer);
    let conf = file(&kea, "kea-dhcp4.conf");
    let v: serde_json::Value = serde_json::from_str(&conf)
        .unwrap_or_else(|e| panic!("kea config is not JSON: {e}\n{conf}"));
    assert_eq!(v["Dhcp4"]["interfaces-config"]["dhcp-socket-type"], "raw");
    assert_eq!(
        v["Dhcp4"]["subnet4"][0]["reservations"][1]["ip-address"],
        "192.0.2.11"
    );
    assert!(v["Dhcp4"].get("hooks-libraries").is_none());
    assert!(kea
        .env
        .iter()
        .any(|(k, v)| k == "KEA_PIDFILE_DIR" && v.starts_with("/run/bootlab-test/")));
    let kea_bootp = file(
        &render("kea-dhcp4", RoleKind::BootpServer),
        "kea-dhcp4.conf",
    );
    let v: serde_json::Value = serde_json::from_str(&kea_bootp).expect("JSON");
    assert!(v["Dhcp4"]["hooks-libraries"][0]["library"]
        .as_str()
        .is_some_and(|l| l.ends_with("libdhcp_bootp.so")));

    let dnsmasq = file(&render("dnsmasq", RoleKind::DhcpServer), "dnsmasq.conf");
    assert!(
        dnsmasq.contains("dhcp-range=192.0.2.100,192.0.2.150,255.255.255.0,600\n"),
        "{dnsmasq}"
    );
    assert!(dnsmasq.contains("dhcp-host=02:00:00:00:02:0a,set:rom,192.0.2.10,rom\ndhcp-boot=tag:rom,boot/rom.img,,192.0.2.1\n"));
    assert!(dnsmasq.contains("no-ping\n"));
    let tftp_only = file(&render("dnsmasq", RoleKind::TftpServer), "dnsmasq.conf");
    assert!(!tftp_only.contains("dhcp-"), "{tftp_only}");
    assert!(tftp_only.contains("enable-tftp\ntftp-root=/srv/tftp\n"));

    let udhcpd = render("udhcpd", RoleKind::DhcpServer);
    assert!(udhcpd.argv.windows(2).any(|w| w == ["-a", "0"]));
    let conf = file(&udhcpd, "udhcpd.conf");
    assert!(
        conf.contains("max_leases 51\n")
            && conf.contains("static_lease 02:00:00:00:02:0b 192.0.2.11\n"),
        "{conf}"
    );

    let bootpd = render("cmu-bootpd", RoleKind::BootpServer);
    let tab = file(&bootpd, "bootptab");
    assert!(
        tab.contains(
            "rom:tc=.bootlab-default:ht=ethernet:ha=02000000020a:ip=192.0.2.10:bf=boot/rom.img:hn:"
        ),
        "{tab}"
    );
    assert!(tab.contains(":T51=0x00000258:"));
    assert_eq!(
        file(&bootpd, "hosts"),
        "127.0.0.1 localhost\n192.0.2.1 bootlab-server\n"
    );
    assert_eq!(bootpd.hostname.as_deref(), Some("bootlab-server"));
    assert!(bootpd
        .isolation_script()
        .contains("mount --bind /run/bootlab-test/cmu-bootpd-bootp-server/hosts /etc/hosts\n"));
}

#[test]
fn relay_and_client_command_lines() {
    let set = profiles();
    let argv = |name: &str, role: RoleKind| {
        let p = set.get(name).expect("profile");
        p.render(role, &sample(role), &env_for(&set, p, role))
            .expect("renders")
            .argv[1..]
            .join(" ")
    };
    assert_eq!(
        argv("dhcrelay", RoleKind::Relay),
        "-4 -d -pf /run/bootlab-test/dhcrelay-relay/dhcrelay.pid -c 4 -id c0 -iu u0 198.51.100.1 198.51.100.2"
    );
    assert_eq!(
        argv("dhcp-helper", RoleKind::Relay),
        "-d -n -u root -r /run/bootlab-test/dhcp-helper-relay/dhcp-helper.pid -i c0 -s 198.51.100.1 -s 198.51.100.2"
    );
    assert_eq!(
        argv("cmu-bootpgw", RoleKind::Relay),
        "-s -d 4 -h 4 198.51.100.1"
    );
    let dhcpcd = {
        let p = set.get("dhcpcd").expect("profile");
        p.render(
            RoleKind::BootpClient,
            &sample(RoleKind::BootpClient),
            &env_for(&set, p, RoleKind::BootpClient),
        )
        .expect("renders")
    };
    assert!(dhcpcd.files[0].contents.contains("\nbootp\n"));
    assert_eq!(
        dhcpcd.tmpfs,
        [
            PathBuf::from("/var/lib/dhcpcd"),
            PathBuf::from("/run/dhcpcd")
        ]
    );
    assert_eq!(
        argv("busybox-tftp", RoleKind::TftpClient),
        "tftp -g -r boot/rom.img -l /run/bootlab-test/busybox-tftp-tftp-client/download 192.0.2.1"
    );
    assert!(argv("ipxe-qemu", RoleKind::RomClient)
        .contains("e1000,netdev=n0,mac=02:00:00:00:02:0a,romfile="));
}

#[test]
fn a_profile_refuses_a_role_it_does_not_fill() {
    let set = profiles();
    let p = set.get("udhcpc").expect("profile");
    assert!(p
        .render(
            RoleKind::DhcpServer,
            &RoleParams::default(),
            &env_for(&set, p, RoleKind::DhcpServer)
        )
        .is_err());
}

#[test]
fn reports_which_peers_are_installed() {
    let set = profiles();
    let peers = peers_dir();
    let mut missing = Vec::new();
    for p in set.profiles.values() {
        match p.installation(&peers) {
            Installation::Installed(bin) => {
                println!("installed:     {:<14} {}", p.name, bin.display())
            }
            Installation::NotInstalled { binary, package } => {
                println!(
                    "NOT INSTALLED: {:<14} {} (Debian package {package})",
                    p.name,
                    binary.display()
                );
                missing.push(p.name.clone());
            }
        }
    }
    if missing.is_empty() {
        println!("every peer is installed");
    } else {
        // Reported, not failed: CI installs them with ci/install-debian-packages.sh.
        eprintln!(
            "peers not installed ({}): {} — run ci/install-debian-packages.sh as root",
            missing.len(),
            missing.join(", ")
        );
    }
}
