//! One module per command family.

pub mod dl;
pub mod epc;
pub mod epcis;
pub mod ledger;
