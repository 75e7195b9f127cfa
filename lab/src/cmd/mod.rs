//! The `bootlab` commands built on the stages below.

pub mod decode;
pub mod matrix;
pub mod matrix_page;
pub mod review;
pub mod shell;
