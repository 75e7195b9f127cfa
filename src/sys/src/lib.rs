#![allow(unsafe_code)]
//! The only unsafe code of the project: AF_PACKET sockets, ethtool ioctls and namespace syscalls.
