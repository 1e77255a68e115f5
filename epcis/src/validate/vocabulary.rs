//! The closed word lists of the EPCIS 2.0 JSON schema (held by [`crate::vocab`]), and the URI
//! rules for values outside them.
//!
//! In the JSON binding a standard CBV value is written as its bare word (`shipping`); any other
//! value must be a URI, and for business steps, dispositions, transaction types, source and
//! destination types, error reasons and components that URI must not be in the CBV's own
//! namespaces (`urn:epcglobal:cbv:...`, `https://ns.gs1.org/cbv/...`): those are written as
//! bare words. Measurement types and alert types must not use the GS1 Web Vocabulary namespace.

use super::format::is_uri;
use crate::hash::HashContext;
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
    /// Whether a standard term is taken only as its bare word (see
    /// [`check_expanded`](Self::check_expanded)): for the lists the custody and verdict rules
    /// and the queries read.
    pub(super) one_spelling: bool,
}

/// Why a value is not in a vocabulary.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum VocabularyMiss {
    /// Neither a word of the list nor a URI.
    Unknown,
    /// A URI in the namespace the schema reserves for the list's own words.
    ReservedNamespace,
    /// Another spelling of a standard term, which the schema admits and tagtrail does not: the
    /// CBV 2.0 Web URI, or a compact IRI that expands into a CBV namespace.
    OtherSpelling,
}

impl Vocabulary {
    /// The standard word a URI form names (`urn:epcglobal:cbv:bizstep:shipping` and, under the
    /// standard context, `cbv:BizStep-shipping` name `shipping`), for hints.
    pub(super) fn standard_word(self, value: &str, prefixes: &HashContext) -> Option<String> {
        let expanded = prefixes.expand_value(value);
        self.list.standard_word(&expanded).map(str::to_owned)
    }

    /// [`check`](Self::check), reading a compact IRI (`cbv:BizStep-shipping`, or any prefix
    /// the document declares) as the event hash does: a value is refused when its expansion
    /// lies in the list's reserved namespace, so that every standard term is logged in one
    /// spelling, its bare word, and every reader of the log reads it alike.
    pub(super) fn check_expanded(
        self,
        value: &str,
        prefixes: &HashContext,
    ) -> Result<(), VocabularyMiss> {
        self.check(value)?;
        // The other lists are read by no rule, and the official examples write them as compact
        // IRIs (`cbv:Comp-latitude`, `gs1:Angle`).
        if !self.one_spelling {
            return Ok(());
        }
        match self.check(&prefixes.expand_value(value)) {
            Ok(()) | Err(VocabularyMiss::Unknown) => Ok(()),
            Err(_) => Err(VocabularyMiss::OtherSpelling),
        }
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
        // CBV 2.0's own Web URIs, which the schema admits: one spelling per term.
        let other: &[&str] = match self.one_spelling {
            true => &["http://ref.gs1.org/cbv/", "https://ref.gs1.org/cbv/"],
            false => &[],
        };
        if reserved.iter().any(|prefix| value.starts_with(prefix)) {
            Err(VocabularyMiss::ReservedNamespace)
        } else if other.iter().any(|prefix| value.starts_with(prefix)) {
            Err(VocabularyMiss::OtherSpelling)
        } else {
            Ok(())
        }
    }
}

pub(super) const BIZ_STEP: Vocabulary = Vocabulary {
    list: CbvList::BizStep,
    namespace: Namespace::OutsideCbv,
    one_spelling: true,
};
pub(super) const DISPOSITION: Vocabulary = Vocabulary {
    list: CbvList::Disposition,
    namespace: Namespace::OutsideCbv,
    one_spelling: true,
};
pub(super) const BIZ_TRANSACTION_TYPE: Vocabulary = Vocabulary {
    list: CbvList::BizTransactionType,
    namespace: Namespace::OutsideCbv,
    one_spelling: true,
};
pub(super) const SOURCE_DESTINATION_TYPE: Vocabulary = Vocabulary {
    list: CbvList::SourceDestinationType,
    namespace: Namespace::OutsideCbv,
    one_spelling: true,
};
pub(super) const ERROR_REASON: Vocabulary = Vocabulary {
    list: CbvList::ErrorReason,
    namespace: Namespace::OutsideCbv,
    one_spelling: true,
};
pub(super) const COMPONENT: Vocabulary = Vocabulary {
    list: CbvList::Component,
    namespace: Namespace::OutsideCbv,
    one_spelling: false,
};
pub(super) const MEASUREMENT_TYPE: Vocabulary = Vocabulary {
    list: CbvList::MeasurementType,
    namespace: Namespace::OutsideGs1WebVocabulary,
    one_spelling: false,
};
pub(super) const SENSOR_ALERT_TYPE: Vocabulary = Vocabulary {
    list: CbvList::SensorAlertType,
    namespace: Namespace::OutsideGs1WebVocabulary,
    one_spelling: false,
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
    fn a_compact_cbv_iri_must_be_written_as_its_bare_word() {
        let standard = HashContext::default();
        assert_eq!(
            BIZ_STEP.check_expanded("cbv:BizStep-receiving", &standard),
            Err(VocabularyMiss::OtherSpelling)
        );
        assert_eq!(
            BIZ_STEP.standard_word("cbv:BizStep-receiving", &standard),
            Some("receiving".to_owned())
        );
        // A prefix of the document's own that stands for the CBV namespace, or for a list.
        let declared = standard
            .clone()
            .with_prefix("g", "https://ref.gs1.org/cbv/")
            .with_prefix("step", "https://ref.gs1.org/cbv/BizStep-");
        for value in ["g:BizStep-receiving", "step:receiving"] {
            assert_eq!(
                BIZ_STEP.check_expanded(value, &declared),
                Err(VocabularyMiss::OtherSpelling),
                "{value}"
            );
        }
        // The Web URI itself, and a non-standard term in the CBV namespace.
        for value in [
            "https://ref.gs1.org/cbv/BizStep-receiving",
            "https://ref.gs1.org/cbv/BizStep-teleporting",
        ] {
            assert_eq!(
                BIZ_STEP.check_expanded(value, &standard),
                Err(VocabularyMiss::OtherSpelling),
                "{value}"
            );
        }
        // A private vocabulary's compact IRI, undeclared or declared elsewhere, is a term of its own.
        let private = standard
            .clone()
            .with_prefix("ex", "https://example.com/steps/");
        assert_eq!(BIZ_STEP.check_expanded("ex:receiving", &private), Ok(()));
        assert_eq!(
            BIZ_STEP.check_expanded("urn:example:receiving", &standard),
            Ok(())
        );
        // Lists no rule reads keep the official examples' compact IRIs.
        assert_eq!(
            MEASUREMENT_TYPE.check_expanded("gs1:Angle", &standard),
            Ok(())
        );
        assert_eq!(
            COMPONENT.check_expanded("cbv:Comp-latitude", &standard),
            Ok(())
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
