//! The closed word lists of the EPCIS 2.0 JSON schema (held by [`crate::vocab`]), and the URI
//! rules for values outside them.
//!
//! In the JSON binding a standard CBV value is written as its bare word (`shipping`); any other
//! value must be a URI, and for business steps, dispositions, transaction types, source and
//! destination types, error reasons and components that URI must not be in the CBV's own
//! namespaces (`urn:epcglobal:cbv:...`, `https://ns.gs1.org/cbv/...`): those are written as
//! bare words. Measurement types and alert types must not use the GS1 Web Vocabulary namespace.

use super::format::is_uri;
use crate::vocab::Vocabulary as CbvList;

/// How a vocabulary value may be written besides its bare words.
#[derive(Debug, Clone, Copy)]
pub(super) enum Namespace {
    /// Any URI outside `urn:epcglobal:cbv` and `http(s)://ns.gs1.org/cbv/`.
    OutsideCbv,
    /// Any URI outside `http(s)://gs1.org/voc/` and `http(s)://www.gs1.org/voc/`.
    OutsideGs1WebVocabulary,
}

/// A word list and the URIs allowed in its place.
#[derive(Debug, Clone, Copy)]
pub(super) struct Vocabulary {
    pub(super) list: CbvList,
    pub(super) namespace: Namespace,
}

/// Why a value is not in a vocabulary.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum VocabularyMiss {
    /// Neither a word of the list nor a URI.
    Unknown,
    /// A URI in the namespace reserved for the list's own words.
    ReservedNamespace,
}

impl Vocabulary {
    /// The standard word a URI form names (`urn:epcglobal:cbv:bizstep:shipping` names
    /// `shipping`), for hints.
    pub(super) fn standard_word(self, value: &str) -> Option<&str> {
        self.list.standard_word(value)
    }

    pub(super) fn check(self, value: &str) -> Result<(), VocabularyMiss> {
        if self.list.is_standard_word(value) {
            return Ok(());
        }
        if !is_uri(value) {
            return Err(VocabularyMiss::Unknown);
        }
        let reserved: &[&str] = match self.namespace {
            Namespace::OutsideCbv => &[
                "urn:epcglobal:cbv",
                "http://ns.gs1.org/cbv/",
                "https://ns.gs1.org/cbv/",
            ],
            Namespace::OutsideGs1WebVocabulary => &[
                "http://gs1.org/voc/",
                "https://gs1.org/voc/",
                "http://www.gs1.org/voc/",
                "https://www.gs1.org/voc/",
            ],
        };
        if reserved.iter().any(|prefix| value.starts_with(prefix)) {
            Err(VocabularyMiss::ReservedNamespace)
        } else {
            Ok(())
        }
    }
}

pub(super) const BIZ_STEP: Vocabulary = Vocabulary {
    list: CbvList::BizStep,
    namespace: Namespace::OutsideCbv,
};
pub(super) const DISPOSITION: Vocabulary = Vocabulary {
    list: CbvList::Disposition,
    namespace: Namespace::OutsideCbv,
};
pub(super) const BIZ_TRANSACTION_TYPE: Vocabulary = Vocabulary {
    list: CbvList::BizTransactionType,
    namespace: Namespace::OutsideCbv,
};
pub(super) const SOURCE_DESTINATION_TYPE: Vocabulary = Vocabulary {
    list: CbvList::SourceDestinationType,
    namespace: Namespace::OutsideCbv,
};
pub(super) const ERROR_REASON: Vocabulary = Vocabulary {
    list: CbvList::ErrorReason,
    namespace: Namespace::OutsideCbv,
};
pub(super) const COMPONENT: Vocabulary = Vocabulary {
    list: CbvList::Component,
    namespace: Namespace::OutsideCbv,
};
pub(super) const MEASUREMENT_TYPE: Vocabulary = Vocabulary {
    list: CbvList::MeasurementType,
    namespace: Namespace::OutsideGs1WebVocabulary,
};
pub(super) const SENSOR_ALERT_TYPE: Vocabulary = Vocabulary {
    list: CbvList::SensorAlertType,
    namespace: Namespace::OutsideGs1WebVocabulary,
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bare_cbv_word_is_accepted() {
        assert_eq!(BIZ_STEP.check("shipping"), Ok(()));
        assert_eq!(DISPOSITION.check("in_transit"), Ok(()));
    }

    #[test]
    fn a_private_uri_is_accepted_in_place_of_a_word() {
        assert_eq!(
            BIZ_STEP.check("http://epcis.example.org/hc/bizstep/summarising_discharge"),
            Ok(())
        );
    }

    #[test]
    fn a_cbv_uri_must_be_written_as_its_bare_word() {
        assert_eq!(
            BIZ_STEP.check("urn:epcglobal:cbv:bizstep:shipping"),
            Err(VocabularyMiss::ReservedNamespace)
        );
        assert_eq!(
            DISPOSITION.check("https://ns.gs1.org/cbv/Disp-in_transit"),
            Err(VocabularyMiss::ReservedNamespace)
        );
    }

    #[test]
    fn an_unknown_bare_word_is_rejected() {
        assert_eq!(BIZ_STEP.check("shippping"), Err(VocabularyMiss::Unknown));
        assert_eq!(BIZ_STEP.check("SHIPPING"), Err(VocabularyMiss::Unknown));
    }

    #[test]
    fn measurement_types_may_not_use_the_gs1_web_vocabulary_namespace() {
        assert_eq!(MEASUREMENT_TYPE.check("Temperature"), Ok(()));
        assert_eq!(
            MEASUREMENT_TYPE.check("https://gs1.org/voc/Temperature"),
            Err(VocabularyMiss::ReservedNamespace)
        );
        assert_eq!(MEASUREMENT_TYPE.check("https://example.org/Smell"), Ok(()));
    }
}
