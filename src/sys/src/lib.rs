#![allow(unsafe_code)]
//! The only unsafe code of the project: AF_PACKET sockets, ethtool ioctls and namespace syscalls.
//!
//! Every `unsafe` block carries a `SAFETY` comment. Everything else in bootlab calls the safe
//! wrappers here.

pub mod error;
pub mod ethtool;
pub mod iface;
pub mod ns;
pub mod packet;

pub use error::{Error, Result};
