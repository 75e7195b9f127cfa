//! The RPC programs of an NFS root mount, at the level of which calls were made: the portmapper
//! (RFC 1833), MOUNT version 3 (RFC 1813 Appendix I), NFS version 3 (RFC 1813 §3) and NFS version
//! 4 COMPOUND (RFC 7530 §16, RFC 8881 §18). [`describe_call`] and [`describe_reply`] give the
//! procedure's name with the arguments worth reading in a trace (a LOOKUP's name, a MNT's path, a
//! GETPORT's program) and the reply's status; file handles, offsets and cookies are left out so
//! the text is the same on every run.

use crate::oncrpc::{Call, Reply, ReplyStat, Xdr};

/// The portmapper / rpcbind program (RFC 1833).
pub const PORTMAP: u32 = 100_000;
/// The NFS program (RFC 1813, RFC 7530).
pub const NFS: u32 = 100_003;
/// The MOUNT program (RFC 1813 Appendix I).
pub const MOUNT: u32 = 100_005;
/// The network lock manager.
pub const NLM: u32 = 100_021;
/// The status monitor.
pub const NSM: u32 = 100_024;

/// The NFS port (RFC 1813 §2.2 suggests 2049; RFC 7530 §3.1 requires it for version 4).
pub const NFS_PORT: u16 = 2049;
/// The portmapper's port (RFC 1833 §3).
pub const PORTMAP_PORT: u16 = 111;

/// The program's short name (`NFS`, `MOUNT`, `PORTMAP`), or its number.
pub fn program_name(prog: u32) -> String {
    match prog {
        PORTMAP => "PORTMAP".into(),
        NFS => "NFS".into(),
        MOUNT => "MOUNT".into(),
        NLM => "NLM".into(),
        NSM => "NSM".into(),
        n => format!("prog {n}"),
    }
}

/// The procedure's name in its RFC, or its number.
pub fn procedure_name(prog: u32, vers: u32, proc_: u32) -> String {
    let table: &[&str] = match (prog, vers) {
        // RFC 1833 §3.2 (version 2), §2.2 (versions 3 and 4).
        (PORTMAP, 2) => &["NULL", "SET", "UNSET", "GETPORT", "DUMP", "CALLIT"],
        (PORTMAP, 3 | 4) => &[
            "NULL",
            "SET",
            "UNSET",
            "GETADDR",
            "DUMP",
            "CALLIT",
            "GETTIME",
            "UADDR2TADDR",
            "TADDR2UADDR",
            "GETVERSADDR",
            "INDIRECT",
            "GETADDRLIST",
            "GETSTAT",
        ],
        // RFC 1813 Appendix I.
        (MOUNT, 3) => &["NULL", "MNT", "DUMP", "UMNT", "UMNTALL", "EXPORT"],
        // RFC 1813 §3.3.
        (NFS, 3) => &[
            "NULL",
            "GETATTR",
            "SETATTR",
            "LOOKUP",
            "ACCESS",
            "READLINK",
            "READ",
            "WRITE",
            "CREATE",
            "MKDIR",
            "SYMLINK",
            "MKNOD",
            "REMOVE",
            "RMDIR",
            "RENAME",
            "LINK",
            "READDIR",
            "READDIRPLUS",
            "FSSTAT",
            "FSINFO",
            "PATHCONF",
            "COMMIT",
        ],
        // RFC 7530 §16.
        (NFS, 4) => &["NULL", "COMPOUND"],
        _ => &[],
    };
    table
        .get(proc_ as usize)
        .map(|s| s.to_string())
        .unwrap_or_else(|| format!("proc {proc_}"))
}

/// The name of an NFSv4 operation (RFC 7530 §16.2, RFC 8881 §18), or its number.
pub fn op4_name(op: u32) -> String {
    const OPS: [&str; 56] = [
        "ACCESS",
        "CLOSE",
        "COMMIT",
        "CREATE",
        "DELEGPURGE",
        "DELEGRETURN",
        "GETATTR",
        "GETFH",
        "LINK",
        "LOCK",
        "LOCKT",
        "LOCKU",
        "LOOKUP",
        "LOOKUPP",
        "NVERIFY",
        "OPEN",
        "OPENATTR",
        "OPEN_CONFIRM",
        "OPEN_DOWNGRADE",
        "PUTFH",
        "PUTPUBFH",
        "PUTROOTFH",
        "READ",
        "READDIR",
        "READLINK",
        "REMOVE",
        "RENAME",
        "RENEW",
        "RESTOREFH",
        "SAVEFH",
        "SECINFO",
        "SETATTR",
        "SETCLIENTID",
        "SETCLIENTID_CONFIRM",
        "VERIFY",
        "WRITE",
        "RELEASE_LOCKOWNER",
        "BACKCHANNEL_CTL",
        "BIND_CONN_TO_SESSION",
        "EXCHANGE_ID",
        "CREATE_SESSION",
        "DESTROY_SESSION",
        "FREE_STATEID",
        "GET_DIR_DELEGATION",
        "GETDEVICEINFO",
        "GETDEVICELIST",
        "LAYOUTCOMMIT",
        "LAYOUTGET",
        "LAYOUTRETURN",
        "SECINFO_NO_NAME",
        "SEQUENCE",
        "SET_SSV",
        "TEST_STATEID",
        "WANT_DELEGATION",
        "DESTROY_CLIENTID",
        "RECLAIM_COMPLETE",
    ];
    op.checked_sub(3)
        .and_then(|i| OPS.get(i as usize))
        .map(|s| s.to_string())
        .unwrap_or_else(|| format!("op {op}"))
}

/// A status of NFS version 3 or 4 (`nfsstat3`, RFC 1813 §2.6; `nfsstat4`, RFC 7530 §13), or of
/// MOUNT (`mountstat3`, same numbers), with `prefix` (`NFS3`, `NFS4`, `MNT3`).
pub fn status_name(prefix: &str, status: u32) -> String {
    let name = match status {
        0 => return format!("{prefix}_OK"),
        1 => "PERM",
        2 => "NOENT",
        5 => "IO",
        6 => "NXIO",
        13 => "ACCES",
        17 => "EXIST",
        18 => "XDEV",
        19 => "NODEV",
        20 => "NOTDIR",
        21 => "ISDIR",
        22 => "INVAL",
        27 => "FBIG",
        28 => "NOSPC",
        30 => "ROFS",
        31 => "MLINK",
        63 => "NAMETOOLONG",
        66 => "NOTEMPTY",
        69 => "DQUOT",
        70 => "STALE",
        71 => "REMOTE",
        10001 => "BADHANDLE",
        10002 => "NOT_SYNC",
        10003 => "BAD_COOKIE",
        10004 => "NOTSUPP",
        10005 => "TOOSMALL",
        10006 => "SERVERFAULT",
        10007 => "BADTYPE",
        10008 => "JUKEBOX",
        10010 => "FILE_OPEN",
        10011 => "BADOWNER",
        10013 => "GRACE",
        10016 => "MOVED",
        10017 => "NOFILEHANDLE",
        10022 => "STALE_CLIENTID",
        10025 => "BADSTATEID",
        10052 => "BADSESSION",
        10063 => "SEQ_MISORDERED",
        10071 => "OP_NOT_IN_SESSION",
        _ => return format!("{prefix} status {status}"),
    };
    format!("{prefix}ERR_{name}")
}

fn quoted(b: &[u8]) -> String {
    format!("{:?}", String::from_utf8_lossy(b))
}

fn transport(p: u32) -> String {
    match p {
        6 => "tcp".into(),
        17 => "udp".into(),
        n => format!("proto {n}"),
    }
}

/// The NFSv4 operations of a COMPOUND's arguments, as far as their arguments can be stepped over
/// (RFC 7530 §16.2: tag, minorversion, then the operations); an operation the lab cannot size ends
/// the list with `...`.
fn compound_ops(args: &[u8]) -> Option<(u32, Vec<String>)> {
    let mut x = Xdr::new(args);
    x.opaque().ok()?; // tag
    let minor = x.u32().ok()?;
    let count = x.u32().ok()?;
    let mut ops = Vec::new();
    for _ in 0..count.min(64) {
        let Ok(op) = x.u32() else {
            ops.push("...".into());
            break;
        };
        let name = op4_name(op);
        let step = match op {
            // No arguments: GETFH, LOOKUPP, PUTPUBFH, PUTROOTFH, READLINK, RESTOREFH, SAVEFH.
            10 | 16 | 23 | 24 | 27 | 31 | 32 => Ok(()),
            // One word: ACCESS, SECINFO_NO_NAME, RECLAIM_COMPLETE.
            3 | 52 | 58 => x.u32().map(drop),
            // A bitmap: GETATTR.
            9 => x
                .u32()
                .and_then(|n| x.fixed(4 * n.min(64) as usize).map(drop)),
            // A name: LOOKUP, SECINFO.
            15 | 33 => {
                let n = x.opaque();
                if let Ok(n) = n {
                    ops.push(format!("{name} {}", quoted(n)));
                    continue;
                }
                n.map(drop)
            }
            // OPEN without create (seqid, share_access, share_deny, owner {clientid, opaque},
            // opentype NOCREATE, then the claim: CLAIM_NULL's name or CLAIM_FH's nothing).
            18 => {
                let claim = (|| {
                    x.fixed(12).ok()?;
                    x.u64().ok()?;
                    x.opaque().ok()?;
                    if x.u32().ok()? != 0 {
                        return None;
                    }
                    match x.u32().ok()? {
                        0 => Some(Some(x.opaque().ok()?)),
                        4 => Some(None),
                        _ => None,
                    }
                })();
                match claim {
                    Some(Some(n)) => {
                        ops.push(format!("{name} {}", quoted(n)));
                        continue;
                    }
                    Some(None) => Ok(()),
                    None => Err(crate::oncrpc::Error::Truncated { at: x.position() }),
                }
            }
            // A file handle: PUTFH.
            22 => x.opaque().map(drop),
            // A stateid and a range: READ (stateid4 16, offset 8, count 4).
            25 => x.fixed(28).map(drop),
            // CLOSE (seqid 4, stateid 16).
            4 => x.fixed(20).map(drop),
            // A client id: RENEW, DESTROY_CLIENTID.
            30 | 57 => x.u64().map(drop),
            // A session id or a stateid: DESTROY_SESSION, FREE_STATEID.
            44 | 45 => x.fixed(16).map(drop),
            // SEQUENCE (sessionid 16, sequenceid, slotid, highest slotid, cachethis).
            53 => x.fixed(32).map(drop),
            // READDIR (cookie 8, verifier 8, dircount 4, maxcount 4, bitmap).
            26 => x
                .fixed(24)
                .and_then(|_| x.u32())
                .and_then(|n| x.fixed(4 * n.min(64) as usize).map(drop)),
            _ => {
                ops.push(name);
                ops.push("...".into());
                break;
            }
        };
        if step.is_err() {
            ops.push(name);
            ops.push("...".into());
            break;
        }
        ops.push(name);
    }
    Some((minor, ops))
}

/// `NFS3`, `MOUNT3`, `PORTMAP2`; `prog 7 v1` for another program.
fn rpc_head(prog: u32, vers: u32) -> String {
    match prog {
        PORTMAP | NFS | MOUNT | NLM | NSM => format!("{}{vers}", program_name(prog)),
        _ => format!("{} v{vers}", program_name(prog)),
    }
}

/// A call as a trace reads it: `NFS3 LOOKUP "sbin"`, `MOUNT3 MNT "/srv/root"`,
/// `PORTMAP2 GETPORT MOUNT3 tcp`, `NFS4.1 COMPOUND [SEQUENCE PUTROOTFH GETFH]`.
pub fn describe_call(c: &Call) -> String {
    let head = rpc_head(c.prog, c.vers);
    let name = procedure_name(c.prog, c.vers, c.proc_);
    if (c.prog, c.vers, c.proc_) == (NFS, 4, 1) {
        return match compound_ops(&c.args) {
            Some((0, ops)) => format!("{head} {name} [{}]", ops.join(" ")),
            Some((minor, ops)) => format!("{head}.{minor} {name} [{}]", ops.join(" ")),
            None => format!("{head} {name}"),
        };
    }
    let mut x = Xdr::new(&c.args);
    let detail = match (c.prog, c.vers, c.proc_) {
        // GETPORT(mapping): prog, vers, prot, port.
        (PORTMAP, 2, 3) => (|| {
            let (p, v, t) = (x.u32().ok()?, x.u32().ok()?, x.u32().ok()?);
            Some(format!("{} {}", rpc_head(p, v), transport(t)))
        })(),
        // GETADDR(rpcb): prog, vers, netid, addr, owner.
        (PORTMAP, 3 | 4, 3) => (|| {
            let (p, v) = (x.u32().ok()?, x.u32().ok()?);
            let netid = x.opaque().ok()?;
            Some(format!(
                "{} {}",
                rpc_head(p, v),
                String::from_utf8_lossy(netid)
            ))
        })(),
        // MNT(dirpath), UMNT(dirpath).
        (MOUNT, 3, 1 | 3) => x.opaque().ok().map(quoted),
        // LOOKUP(diropargs3: dir handle, name).
        (NFS, 3, 3) => x.opaque().ok().and_then(|_| x.opaque().ok()).map(quoted),
        _ => None,
    };
    match detail {
        Some(d) => format!("{head} {name} {d}"),
        None => format!("{head} {name}"),
    }
}

/// A reply as a trace reads it, given its call's program, version and procedure:
/// `NFS3 LOOKUP reply NFS3ERR_NOENT`, `PORTMAP2 GETPORT reply port 2049`, `MOUNT3 MNT reply
/// MNT3_OK`; an RPC-level refusal shows its RFC 5531 name.
pub fn describe_reply(prog: u32, vers: u32, proc_: u32, r: &Reply) -> String {
    let head = format!(
        "{} {} reply",
        rpc_head(prog, vers),
        procedure_name(prog, vers, proc_)
    );
    if r.stat != ReplyStat::Accepted(0) {
        return format!("{head} {}", r.stat.name());
    }
    let mut x = Xdr::new(&r.results);
    let detail = match (prog, vers, proc_) {
        (PORTMAP, 2, 3) => x.u32().ok().map(|p| format!("port {p}")),
        (PORTMAP, 3 | 4, 3) => x.opaque().ok().map(|a| format!("uaddr {}", quoted(a))),
        (MOUNT, 3, 1) => x.u32().ok().map(|s| status_name("MNT3", s)),
        (NFS, 3, p) if p != 0 => x.u32().ok().map(|s| status_name("NFS3", s)),
        (NFS, 4, 1) => x.u32().ok().map(|s| status_name("NFS4", s)),
        _ => None,
    };
    match detail {
        Some(d) => format!("{head} {d}"),
        None => head,
    }
}

/// The port a portmapper reply announces for the program asked about: GETPORT's port (RFC 1833
/// §3.2) or the port in GETADDR's universal address `h1.h2.h3.h4.p1.p2` (RFC 1833 §2.2); `None`
/// for other calls, refusals and "not registered" (0 or an empty address).
pub fn announced_port(call: (u32, u32, u32), r: &Reply) -> Option<u16> {
    if r.stat != ReplyStat::Accepted(0) {
        return None;
    }
    let mut x = Xdr::new(&r.results);
    let port = match call {
        (PORTMAP, 2, 3) => u16::try_from(x.u32().ok()?).ok()?,
        (PORTMAP, 3 | 4, 3) => {
            let uaddr = String::from_utf8_lossy(x.opaque().ok()?).into_owned();
            let mut parts = uaddr.rsplitn(3, '.');
            let lo: u16 = parts.next()?.parse().ok()?;
            let hi: u16 = parts.next()?.parse().ok()?;
            hi.checked_mul(256)?.checked_add(lo)?
        }
        _ => return None,
    };
    (port != 0).then_some(port)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::oncrpc::Auth;

    fn call(prog: u32, vers: u32, proc_: u32, args: &[u32], tail: &[u8]) -> Call {
        let mut a: Vec<u8> = args.iter().flat_map(|v| v.to_be_bytes()).collect();
        a.extend_from_slice(tail);
        Call {
            rpcvers: 2,
            prog,
            vers,
            proc_,
            cred: Auth { flavor: 1, len: 0 },
            args: a,
        }
    }

    #[test]
    fn calls_read_as_their_rfcs_name_them() {
        assert_eq!(
            describe_call(&call(PORTMAP, 2, 3, &[MOUNT, 3, 6, 0], &[])),
            "PORTMAP2 GETPORT MOUNT3 tcp"
        );
        assert_eq!(
            describe_call(&call(MOUNT, 3, 1, &[5], b"/root\0\0\0")),
            "MOUNT3 MNT \"/root\""
        );
        // LOOKUP: a 4-octet handle, then the name.
        assert_eq!(
            describe_call(&call(NFS, 3, 3, &[4, 0xabcd, 4], b"sbin")),
            "NFS3 LOOKUP \"sbin\""
        );
        assert_eq!(describe_call(&call(NFS, 3, 6, &[], &[])), "NFS3 READ");
        // COMPOUND: empty tag, minor 1, SEQUENCE, PUTROOTFH, LOOKUP "sbin", GETATTR bitmap of 2.
        let mut args = vec![0u32, 1, 4, 53];
        args.extend([0u32; 8]);
        args.extend([24, 15, 4]);
        let mut tail = b"sbin".to_vec();
        tail.extend([0, 0, 0, 9, 0, 0, 0, 2, 0, 0, 0, 1, 0, 0, 0, 2]);
        assert_eq!(
            describe_call(&call(NFS, 4, 1, &args, &tail)),
            "NFS4.1 COMPOUND [SEQUENCE PUTROOTFH LOOKUP \"sbin\" GETATTR]"
        );
        // An operation the lab cannot step over ends the list.
        assert_eq!(
            describe_call(&call(NFS, 4, 1, &[0, 0, 2, 18, 0], &[])),
            "NFS4 COMPOUND [OPEN ...]"
        );
        // OPEN without create names the file it opens.
        let open = [0u32, 2, 1, 18, 0, 1, 0, 0, 7, 0, 0, 0, 4];
        assert_eq!(
            describe_call(&call(NFS, 4, 2, &open, b"init")),
            "NFS4 proc 2"
        );
        assert_eq!(
            describe_call(&call(NFS, 4, 1, &open, b"init")),
            "NFS4.2 COMPOUND [OPEN \"init\"]"
        );
        assert_eq!(describe_call(&call(7, 1, 2, &[], &[])), "prog 7 v1 proc 2");
    }

    #[test]
    fn replies_show_their_status() {
        let ok = |results: Vec<u8>| Reply {
            stat: ReplyStat::Accepted(0),
            results,
        };
        assert_eq!(
            describe_reply(NFS, 3, 3, &ok(vec![0, 0, 0, 2])),
            "NFS3 LOOKUP reply NFS3ERR_NOENT"
        );
        assert_eq!(
            describe_reply(PORTMAP, 2, 3, &ok(vec![0, 0, 8, 1])),
            "PORTMAP2 GETPORT reply port 2049"
        );
        assert_eq!(
            describe_reply(MOUNT, 3, 1, &ok(vec![0, 0, 0, 0])),
            "MOUNT3 MNT reply MNT3_OK"
        );
        let refused = Reply {
            stat: ReplyStat::Accepted(2),
            results: vec![],
        };
        assert_eq!(
            describe_reply(NFS, 4, 1, &refused),
            "NFS4 COMPOUND reply PROG_MISMATCH"
        );
        // Truncated results: the name alone.
        assert_eq!(describe_reply(NFS, 3, 6, &ok(vec![0])), "NFS3 READ reply");
    }

    #[test]
    fn portmapper_replies_announce_ports() {
        let ok = |results: Vec<u8>| Reply {
            stat: ReplyStat::Accepted(0),
            results,
        };
        assert_eq!(
            announced_port((PORTMAP, 2, 3), &ok(vec![0, 0, 0x4e, 0x50])),
            Some(20048)
        );
        assert_eq!(announced_port((PORTMAP, 2, 3), &ok(vec![0, 0, 0, 0])), None);
        let mut uaddr = vec![0, 0, 0, 13];
        uaddr.extend(b"192.0.2.1.8.1\0\0\0");
        assert_eq!(announced_port((PORTMAP, 4, 3), &ok(uaddr)), Some(2049));
        assert_eq!(announced_port((NFS, 3, 3), &ok(vec![0, 0, 0, 0])), None);
    }
}
