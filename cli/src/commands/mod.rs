//! One module per command family.

pub mod access_log;
pub mod anchor_audit;
pub mod anchors;
pub mod capture;
pub mod device;
pub mod dl;
pub mod epc;
pub mod epcis;
pub mod grant;
pub mod index_monitor;
pub mod ledger;
pub mod log_keys;
pub mod nfc;
pub mod org;
pub mod sealed;
pub mod site;
pub mod token;
pub mod verify;
