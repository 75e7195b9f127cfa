//! BOOTP (RFC 951, RFC 1542) with DHCP options (RFC 2131, RFC 2132, RFC 3046, RFC 3396, RFC 4578).
//!
//! CONTRACT (shared with the server, relay and client crates): the names and types below are
//! stable; parse/emit internals may change. Additions are fine, renames are not.

use std::net::Ipv4Addr;

/// UDP port of BOOTP/DHCP servers (RFC 951 §3).
pub const SERVER_PORT: u16 = 67;
/// UDP port of BOOTP/DHCP clients (RFC 951 §3).
pub const CLIENT_PORT: u16 = 68;
/// The fixed header before the vendor area: 236 bytes (RFC 951 §3).
pub const HEADER_LEN: usize = 236;
/// The smallest BOOTP message: a 64-byte vendor area makes 300 bytes (RFC 951 §3, RFC 1542 §2.1).
pub const MIN_MESSAGE_LEN: usize = 300;
/// The RFC 1048 magic cookie 99.130.83.99 that starts an options vendor area.
pub const MAGIC_COOKIE: [u8; 4] = [99, 130, 83, 99];
/// The broadcast bit of `flags` (RFC 1542 §3.1.1).
pub const FLAG_BROADCAST: u16 = 0x8000;

/// `op` (RFC 951 §3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// 1
    BootRequest,
    /// 2
    BootReply,
    /// Any other value (a deviation).
    Unknown(u8),
}

/// DHCP message type, option 53 (RFC 2132 §9.6).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MessageType {
    /// 1
    Discover,
    /// 2
    Offer,
    /// 3
    Request,
    /// 4
    Decline,
    /// 5
    Ack,
    /// 6
    Nak,
    /// 7
    Release,
    /// 8
    Inform,
    /// Any other value.
    Unknown(u8),
}

/// One option as it appeared in the vendor area (or `sname`/`file` under overload), in order.
/// Unknown options keep their bytes and are emitted unchanged. An RFC 3396 option split into
/// several instances is kept as separate `DhcpOption`s; [`Options::get`] concatenates them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DhcpOption {
    /// The option code (RFC 2132); 0 (pad) and 255 (end) are not stored here.
    pub code: u8,
    /// The data bytes, without code and length.
    pub data: Vec<u8>,
}

/// Well-known option codes (RFC 2132 and others), named after the RFCs.
#[allow(missing_docs)]
pub mod code {
    pub const PAD: u8 = 0;
    pub const SUBNET_MASK: u8 = 1;
    pub const ROUTER: u8 = 3;
    pub const DOMAIN_NAME_SERVER: u8 = 6;
    pub const HOST_NAME: u8 = 12;
    pub const BOOT_FILE_SIZE: u8 = 13;
    pub const DOMAIN_NAME: u8 = 15;
    pub const BROADCAST_ADDRESS: u8 = 28;
    pub const REQUESTED_IP_ADDRESS: u8 = 50;
    pub const IP_ADDRESS_LEASE_TIME: u8 = 51;
    pub const OPTION_OVERLOAD: u8 = 52;
    pub const DHCP_MESSAGE_TYPE: u8 = 53;
    pub const SERVER_IDENTIFIER: u8 = 54;
    pub const PARAMETER_REQUEST_LIST: u8 = 55;
    pub const MESSAGE: u8 = 56;
    pub const MAXIMUM_DHCP_MESSAGE_SIZE: u8 = 57;
    pub const RENEWAL_TIME_VALUE: u8 = 58;
    pub const REBINDING_TIME_VALUE: u8 = 59;
    pub const VENDOR_CLASS_IDENTIFIER: u8 = 60;
    pub const CLIENT_IDENTIFIER: u8 = 61;
    pub const TFTP_SERVER_NAME: u8 = 66;
    pub const BOOTFILE_NAME: u8 = 67;
    pub const RELAY_AGENT_INFORMATION: u8 = 82;
    pub const CLIENT_SYSTEM_ARCHITECTURE: u8 = 93;
    pub const CLIENT_NETWORK_INTERFACE_ID: u8 = 94;
    pub const CLIENT_MACHINE_ID: u8 = 97;
    pub const END: u8 = 255;
}

/// The options of a message, in wire order, duplicates kept.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Options(pub Vec<DhcpOption>);

/// What the vendor area (`vend`, RFC 951 / RFC 1048) holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Vendor {
    /// Starts with the magic cookie: options follow (RFC 1048, RFC 2132 §2).
    Options(Options),
    /// No cookie: opaque vendor bytes (plain RFC 951 BOOTP), kept as they were.
    Raw(Vec<u8>),
}

/// A decoded BOOTP/DHCP message (RFC 951 §3, RFC 2131 §2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// Request or reply.
    pub op: Op,
    /// Hardware address type, 1 for Ethernet.
    pub htype: u8,
    /// Hardware address length, 6 for Ethernet.
    pub hlen: u8,
    /// Relay hop count (RFC 1542 §4.1.1).
    pub hops: u8,
    /// Transaction id.
    pub xid: u32,
    /// Seconds since the client began booting (RFC 951 §7 backup servers use it).
    pub secs: u16,
    /// Flags; bit 15 is broadcast (RFC 1542 §3.1.1).
    pub flags: u16,
    /// Client address, when the client already has one.
    pub ciaddr: Ipv4Addr,
    /// "Your" address: the one the server assigns.
    pub yiaddr: Ipv4Addr,
    /// Next server (boot/TFTP server).
    pub siaddr: Ipv4Addr,
    /// Relay agent address (RFC 1542 §4.1.1).
    pub giaddr: Ipv4Addr,
    /// Client hardware address, 16 bytes as on the wire.
    pub chaddr: [u8; 16],
    /// Server host name field, 64 bytes as on the wire (NUL-padded).
    pub sname: [u8; 64],
    /// Boot file name field, 128 bytes as on the wire (NUL-padded).
    pub file: [u8; 128],
    /// The vendor area.
    pub vend: Vendor,
}

/// Why a BOOTP message could not be decoded at all.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// Fewer bytes than the fixed header.
    #[error("BOOTP message truncated: {len} bytes, the fixed header needs {HEADER_LEN} (RFC 951 §3)")]
    Truncated {
        /// Bytes available.
        len: usize,
    },
}

impl Message {
    /// Decodes a message leniently: everything decodable plus the deviations found.
    /// CONTRACT: the wire crate's owner fills this in.
    pub fn parse(bytes: &[u8]) -> Result<(Message, Vec<crate::Deviation>), Error> {
        let _ = bytes;
        todo!("bootp parse")
    }

    /// Encodes the message: options followed by end, padded to [`MIN_MESSAGE_LEN`].
    pub fn emit(&self) -> Vec<u8> {
        todo!("bootp emit")
    }

    /// The DHCP message type (option 53), or `None` for plain BOOTP.
    pub fn message_type(&self) -> Option<MessageType> {
        todo!()
    }

    /// The options, or `None` when the vendor area has no magic cookie.
    pub fn options(&self) -> Option<&Options> {
        match &self.vend {
            Vendor::Options(o) => Some(o),
            Vendor::Raw(_) => None,
        }
    }

    /// The client hardware address as 6 Ethernet bytes (the first `hlen` bytes of `chaddr`).
    pub fn chaddr_mac(&self) -> [u8; 6] {
        let mut m = [0u8; 6];
        m.copy_from_slice(&self.chaddr[..6]);
        m
    }

    /// Whether the broadcast flag is set (RFC 1542 §3.1.1).
    pub fn broadcast(&self) -> bool {
        self.flags & FLAG_BROADCAST != 0
    }
}

impl Options {
    /// The data of option `code`, with every instance concatenated (RFC 3396 §5).
    pub fn get(&self, code: u8) -> Option<Vec<u8>> {
        let mut out: Option<Vec<u8>> = None;
        for o in self.0.iter().filter(|o| o.code == code) {
            out.get_or_insert_with(Vec::new).extend_from_slice(&o.data);
        }
        out
    }
}
