//! The `bootlab` commands built on the stages below.

pub mod catalog;
pub mod decode;
pub mod matrix;
pub mod matrix_page;
pub mod merge;
pub mod output;
pub mod review;
pub mod run;
pub mod select;
pub mod shard;
pub mod shell;
