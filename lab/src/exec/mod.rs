//! Exec: running one scenario in its own world, and the batch scheduler the commands share.

pub mod batch;
pub mod runner;
