#![doc = include_str!("../README.md")]

pub mod digital_link;
pub mod document;
pub mod epc;
pub mod hash;
mod json;
pub mod tds;
pub mod validate;
pub mod vocab;

pub use hash::EventHash;
