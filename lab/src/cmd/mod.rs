//! The `bootlab` commands built on the stages below.

pub mod decode;
pub mod matrix;
pub mod review;
