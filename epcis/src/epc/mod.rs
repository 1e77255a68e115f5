//! EPC identifiers: pure identity URIs, class URIs, and GS1 check digits.

pub(crate) mod charset;
mod check_digit;
mod class;
pub(crate) mod components;
mod error;
mod identity;
mod keys;

pub use check_digit::{CheckDigitError, gs1_check_digit, has_valid_check_digit};
pub use class::{
    CLASS_PREFIX, EpcUri, IdPattern, Lgtin, PATTERN_PREFIX, PatternScheme, is_valid_epc_class_uri,
};
pub use error::EpcUriError;
pub(crate) use identity::CommonEpc;
pub use identity::{
    Cpi, Epc, Gdti, Giai, Gid, Ginc, Grai, Gsin, Gsrn, ID_PREFIX, Itip, Pgln, Sgcn, Sgln, Sgtin,
    Sscc, Upui, is_valid_epc_uri,
};
pub use keys::{CompanyPrefix, Gln, Gtin, KeyError, SsccKey};
