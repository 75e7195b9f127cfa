//! Putting the leased address on the interface and taking it off again, over rtnetlink
//! (RFC 2131 §4.4.1: the client uses the address once bound; §4.4.5/§4.4.6: stops on expiry or
//! release).

use std::net::{IpAddr, Ipv4Addr};

use futures::TryStreamExt;

/// A netlink failure with what we were doing.
#[derive(Debug, thiserror::Error)]
pub enum NetlinkError {
    /// The netlink socket could not be opened.
    #[error("opening rtnetlink: {0}")]
    Open(#[source] std::io::Error),
    /// A request failed.
    #[error("{op} {address} on ifindex {ifindex}: {source}")]
    Request {
        /// `add` or `del`.
        op: &'static str,
        /// The address.
        address: Ipv4Addr,
        /// The interface.
        ifindex: u32,
        /// The kernel's answer.
        source: rtnetlink::Error,
    },
}

/// A netlink handle bound to one interface. Must be created inside a tokio runtime.
#[derive(Debug, Clone)]
pub struct Addresses {
    handle: rtnetlink::Handle,
    ifindex: u32,
}

impl Addresses {
    /// Opens rtnetlink (in the calling thread's network namespace) for interface `ifindex`.
    pub fn open(ifindex: u32) -> Result<Self, NetlinkError> {
        let (conn, handle, _) = rtnetlink::new_connection().map_err(NetlinkError::Open)?;
        tokio::spawn(conn);
        Ok(Self { handle, ifindex })
    }

    /// Adds (or replaces) `address/prefix_len` on the interface (`ip addr replace`).
    pub async fn add(&self, address: Ipv4Addr, prefix_len: u8) -> Result<(), NetlinkError> {
        self.handle
            .address()
            .add(self.ifindex, IpAddr::V4(address), prefix_len)
            .replace()
            .execute()
            .await
            .map_err(|source| NetlinkError::Request {
                op: "add",
                address,
                ifindex: self.ifindex,
                source,
            })
    }

    /// Removes `address` from the interface; absent is fine.
    pub async fn remove(&self, address: Ipv4Addr) -> Result<(), NetlinkError> {
        let err = |source| NetlinkError::Request {
            op: "del",
            address,
            ifindex: self.ifindex,
            source,
        };
        let mut found = Vec::new();
        let mut s = self
            .handle
            .address()
            .get()
            .set_link_index_filter(self.ifindex)
            .set_address_filter(IpAddr::V4(address))
            .execute();
        while let Some(msg) = s.try_next().await.map_err(err)? {
            found.push(msg);
        }
        for msg in found {
            self.handle
                .address()
                .del(msg)
                .execute()
                .await
                .map_err(err)?;
        }
        Ok(())
    }
}
