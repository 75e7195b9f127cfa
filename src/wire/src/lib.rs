//! Packet codecs for the lab: one module per protocol, each with a zero-copy `Packet` view and a
//! `Repr` with `parse` and `emit` (the smoltcp `wire` split, see `shared/STYLE.md`).
//!
//! Parsing is lenient: a `parse` returns what it could decode together with a list of
//! [`Deviation`]s naming the field and the rule broken; it fails only when nothing can be decoded.
//! No function in this crate panics on any input.

pub mod arp;
pub mod bootp;
pub mod ethernet;
pub mod frame;
pub mod ipv4;
pub mod nfs;
pub mod oncrpc;
pub mod tcp;
pub mod tftp;
pub mod udp;

mod deviation;
mod text;
pub use deviation::{ChecksumPolicy, Deviation, Severity};
