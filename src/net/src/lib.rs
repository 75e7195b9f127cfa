//! What every daemon of ours shares around its pure core: machine-readable events, seeded
//! randomness, a time scale for scenarios, logging set-up, and reply delivery to clients that have
//! no address yet (shared by the server and the relay, RFC 1542 §5.4 / RFC 2131 §4.1).

pub mod clock;
pub mod config;
pub mod delivery;
pub mod events;
pub mod log;
