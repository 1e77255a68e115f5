//! GS1 Tag Data Standard binary encodings of the EPC memory bank.
//!
//! [`EpcTag`] decodes and encodes every supported scheme (see [`Scheme`]) from and to hex, and
//! parses and formats tag URIs. [`Sgtin96`] is the allocation-free fast path for SGTIN-96.

mod bits;
mod codec;
mod error;
mod scheme;
mod sgtin96;

pub use codec::{EpcTag, TAG_PREFIX, TagDescription, describe_hex};
pub use error::{DecodeError, EncodeError, TagUriError};
pub use scheme::{Filter, Scheme};
pub use sgtin96::Sgtin96;
