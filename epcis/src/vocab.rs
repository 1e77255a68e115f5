//! CBV 2.0 vocabularies: business steps, dispositions, and the other standard code lists.
//!
//! EPCIS 2.0 JSON-LD writes a standard vocabulary element as a bare word (`"shipping"`); EPCIS 1.x
//! XML writes it as a URN (`urn:epcglobal:cbv:bizstep:shipping`); the CBV 2.0 Web URI is
//! `https://ref.gs1.org/cbv/BizStep-shipping`. [`Vocabulary`] maps between the three forms and
//! tells whether a value names a standard term. The word lists are those of the EPCIS 2.0 JSON
//! schema (`bizStep`, `disposition`, `bizTransaction-type`, `source-dest-type`, `error-reason`,
//! `measurement-type`, `sensor-alert-type`, `component`).

/// A CBV 2.0 code list whose terms JSON-LD documents may write as bare words.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Vocabulary {
    /// Business steps (`bizStep`).
    BizStep,
    /// Dispositions (`disposition`, `persistentDisposition.set` / `.unset`).
    Disposition,
    /// Business transaction types (`bizTransactionList[].type`).
    BizTransactionType,
    /// Source and destination types (`sourceList[].type`, `destinationList[].type`).
    SourceDestinationType,
    /// Error reasons (`errorDeclaration.reason`).
    ErrorReason,
    /// Sensor measurement types (`sensorReport.type`), from the GS1 Web Vocabulary.
    MeasurementType,
    /// Sensor alert types (`sensorReport.exception`), from the GS1 Web Vocabulary.
    SensorAlertType,
    /// Coordinate components (`sensorReport.component`).
    Component,
}

impl Vocabulary {
    /// Every vocabulary, in declaration order.
    pub const ALL: [Vocabulary; 8] = [
        Vocabulary::BizStep,
        Vocabulary::Disposition,
        Vocabulary::BizTransactionType,
        Vocabulary::SourceDestinationType,
        Vocabulary::ErrorReason,
        Vocabulary::MeasurementType,
        Vocabulary::SensorAlertType,
        Vocabulary::Component,
    ];

    /// The Web URI prefix a bare word is appended to, e.g. `https://ref.gs1.org/cbv/BizStep-`.
    pub const fn web_uri_prefix(self) -> &'static str {
        match self {
            Vocabulary::BizStep => "https://ref.gs1.org/cbv/BizStep-",
            Vocabulary::Disposition => "https://ref.gs1.org/cbv/Disp-",
            Vocabulary::BizTransactionType => "https://ref.gs1.org/cbv/BTT-",
            Vocabulary::SourceDestinationType => "https://ref.gs1.org/cbv/SDT-",
            Vocabulary::ErrorReason => "https://ref.gs1.org/cbv/ER-",
            Vocabulary::MeasurementType | Vocabulary::SensorAlertType => "https://gs1.org/voc/",
            Vocabulary::Component => "https://ref.gs1.org/cbv/Comp-",
        }
    }

    /// The EPCIS 1.x URN prefix of the vocabulary, e.g. `urn:epcglobal:cbv:bizstep:`; `None` for
    /// the vocabularies introduced by EPCIS 2.0, which have no URN form.
    pub const fn urn_prefix(self) -> Option<&'static str> {
        match self {
            Vocabulary::BizStep => Some("urn:epcglobal:cbv:bizstep:"),
            Vocabulary::Disposition => Some("urn:epcglobal:cbv:disp:"),
            Vocabulary::BizTransactionType => Some("urn:epcglobal:cbv:btt:"),
            Vocabulary::SourceDestinationType => Some("urn:epcglobal:cbv:sdt:"),
            Vocabulary::ErrorReason => Some("urn:epcglobal:cbv:er:"),
            Vocabulary::MeasurementType | Vocabulary::SensorAlertType | Vocabulary::Component => {
                None
            }
        }
    }

    /// The standard bare words of the vocabulary, sorted by byte value.
    pub const fn standard_words(self) -> &'static [&'static str] {
        match self {
            Vocabulary::BizStep => BIZ_STEPS,
            Vocabulary::Disposition => DISPOSITIONS,
            Vocabulary::BizTransactionType => BIZ_TRANSACTION_TYPES,
            Vocabulary::SourceDestinationType => SOURCE_DESTINATION_TYPES,
            Vocabulary::ErrorReason => ERROR_REASONS,
            Vocabulary::MeasurementType => MEASUREMENT_TYPES,
            Vocabulary::SensorAlertType => SENSOR_ALERT_TYPES,
            Vocabulary::Component => COMPONENTS,
        }
    }

    /// Whether `word` is a standard bare word of this vocabulary (case-sensitive).
    pub fn is_standard_word(self, word: &str) -> bool {
        self.standard_words().binary_search(&word).is_ok()
    }

    /// The full Web URI of a standard bare word, or `None` if `word` is not one.
    pub fn web_uri(self, word: &str) -> Option<String> {
        if !self.is_standard_word(word) {
            return None;
        }
        let prefix = self.web_uri_prefix();
        let mut uri = String::with_capacity(prefix.len() + word.len());
        uri.push_str(prefix);
        uri.push_str(word);
        Some(uri)
    }

    /// The standard bare word named by `value`, written as a bare word, a Web URI or a URN;
    /// `None` if `value` does not name a standard term of this vocabulary.
    pub fn standard_word(self, value: &str) -> Option<&str> {
        let word = value
            .strip_prefix(self.web_uri_prefix())
            .or_else(|| self.urn_prefix().and_then(|p| value.strip_prefix(p)))
            .unwrap_or(value);
        self.is_standard_word(word).then_some(word)
    }

    /// The term `value` names, without this vocabulary's namespace: its Web URI, its URN or the
    /// standard context's compact form (`cbv:BizStep-shipping`, as the event hash expands it)
    /// stripped; any other value as written. Standard or not: `shipping` for each spelling of
    /// the business step, `urn:example:step` for that.
    pub fn term(self, value: &str) -> &str {
        let web = self.web_uri_prefix();
        let compact = web
            .strip_prefix("https://ref.gs1.org/cbv/")
            .and_then(|local| value.strip_prefix("cbv:")?.strip_prefix(local));
        value
            .strip_prefix(web)
            .or_else(|| self.urn_prefix().and_then(|urn| value.strip_prefix(urn)))
            .or(compact)
            .unwrap_or(value)
    }

    /// Whether `value` names a standard term of this vocabulary, in any of its three forms.
    pub fn is_standard(self, value: &str) -> bool {
        self.standard_word(value).is_some()
    }

    /// Rewrites an EPCIS 1.x URN of this vocabulary (standard term or not) into its Web URI form,
    /// e.g. `urn:epcglobal:cbv:disp:in_transit` to `https://ref.gs1.org/cbv/Disp-in_transit`.
    pub fn urn_to_web_uri(self, urn: &str) -> Option<String> {
        let rest = urn.strip_prefix(self.urn_prefix()?)?;
        let prefix = self.web_uri_prefix();
        let mut uri = String::with_capacity(prefix.len() + rest.len());
        uri.push_str(prefix);
        uri.push_str(rest);
        Some(uri)
    }
}

/// Whether `value` names a standard CBV business step (bare word, Web URI or URN).
pub fn is_standard_biz_step(value: &str) -> bool {
    Vocabulary::BizStep.is_standard(value)
}

/// Whether `value` names a standard CBV disposition (bare word, Web URI or URN).
pub fn is_standard_disposition(value: &str) -> bool {
    Vocabulary::Disposition.is_standard(value)
}

/// Whether `value` names a standard CBV business transaction type (bare word, Web URI or URN).
pub fn is_standard_biz_transaction_type(value: &str) -> bool {
    Vocabulary::BizTransactionType.is_standard(value)
}

/// Whether `value` names a standard CBV source/destination type (bare word, Web URI or URN).
pub fn is_standard_source_destination_type(value: &str) -> bool {
    Vocabulary::SourceDestinationType.is_standard(value)
}

/// Whether `value` names a standard CBV error reason (bare word, Web URI or URN).
pub fn is_standard_error_reason(value: &str) -> bool {
    Vocabulary::ErrorReason.is_standard(value)
}

/// Whether `value` names a standard sensor measurement type (bare word or Web URI).
pub fn is_standard_measurement_type(value: &str) -> bool {
    Vocabulary::MeasurementType.is_standard(value)
}

/// Whether `value` names a standard sensor alert type (bare word or Web URI).
pub fn is_standard_sensor_alert_type(value: &str) -> bool {
    Vocabulary::SensorAlertType.is_standard(value)
}

/// Whether `value` names a standard coordinate component (bare word or Web URI).
pub fn is_standard_component(value: &str) -> bool {
    Vocabulary::Component.is_standard(value)
}

const BIZ_STEPS: &[&str] = &[
    "accepting",
    "arriving",
    "assembling",
    "collecting",
    "commissioning",
    "consigning",
    "creating_class_instance",
    "cycle_counting",
    "decommissioning",
    "departing",
    "destroying",
    "disassembling",
    "dispensing",
    "encoding",
    "entering_exiting",
    "holding",
    "inspecting",
    "installing",
    "killing",
    "loading",
    "other",
    "packing",
    "picking",
    "receiving",
    "removing",
    "repackaging",
    "repairing",
    "replacing",
    "reserving",
    "retail_selling",
    "sampling",
    "sensor_reporting",
    "shipping",
    "staging_outbound",
    "stock_taking",
    "stocking",
    "storing",
    "transporting",
    "unloading",
    "unpacking",
    "void_shipping",
];

const DISPOSITIONS: &[&str] = &[
    "active",
    "available",
    "completeness_inferred",
    "completeness_verified",
    "conformant",
    "container_closed",
    "container_open",
    "damaged",
    "destroyed",
    "dispensed",
    "disposed",
    "encoded",
    "expired",
    "in_progress",
    "in_transit",
    "inactive",
    "mismatch_class",
    "mismatch_instance",
    "mismatch_quantity",
    "needs_replacement",
    "no_pedigree_match",
    "non_conformant",
    "non_sellable_other",
    "partially_dispensed",
    "recalled",
    "reserved",
    "retail_sold",
    "returned",
    "sellable_accessible",
    "sellable_not_accessible",
    "stolen",
    "unavailable",
    "unknown",
];

const BIZ_TRANSACTION_TYPES: &[&str] = &[
    "bol",
    "cert",
    "desadv",
    "inv",
    "pedigree",
    "po",
    "poc",
    "prodorder",
    "recadv",
    "rma",
    "testprd",
    "testres",
    "upevt",
];

const SOURCE_DESTINATION_TYPES: &[&str] = &["location", "owning_party", "possessing_party"];

const ERROR_REASONS: &[&str] = &["did_not_occur", "incorrect_data"];

const SENSOR_ALERT_TYPES: &[&str] = &["ALARM_CONDITION", "ERROR_CONDITION"];

const COMPONENTS: &[&str] = &[
    "altitude",
    "axial_distance",
    "azimuth",
    "easting",
    "elevation_angle",
    "height",
    "latitude",
    "longitude",
    "northing",
    "polar_angle",
    "spherical_radius",
    "x",
    "y",
    "z",
];

const MEASUREMENT_TYPES: &[&str] = &[
    "AbsoluteHumidity",
    "AbsorbedDose",
    "AbsorbedDoseRate",
    "Acceleration",
    "Altitude",
    "AmountOfSubstance",
    "AmountOfSubstancePerUnitVolume",
    "Angle",
    "AngularAcceleration",
    "AngularMomentum",
    "AngularVelocity",
    "Area",
    "Capacitance",
    "Conductance",
    "Conductivity",
    "Count",
    "Density",
    "Dimensionless",
    "DoseEquivalent",
    "DoseEquivalentRate",
    "DynamicViscosity",
    "ElectricCharge",
    "ElectricCurrent",
    "ElectricCurrentDensity",
    "ElectricFieldStrength",
    "Energy",
    "Exposure",
    "Force",
    "Frequency",
    "Illuminance",
    "Inductance",
    "Irradiance",
    "KinematicViscosity",
    "Length",
    "LinearMomentum",
    "Luminance",
    "LuminousFlux",
    "LuminousIntensity",
    "MagneticFlux",
    "MagneticFluxDensity",
    "MagneticVectorPotential",
    "Mass",
    "MassConcentration",
    "MassFlowRate",
    "MassPerAreaTime",
    "MemoryCapacity",
    "MolalityOfSolute",
    "MolarEnergy",
    "MolarMass",
    "MolarVolume",
    "Power",
    "Pressure",
    "RadiantFlux",
    "RadiantIntensity",
    "Radioactivity",
    "RelativeHumidity",
    "Resistance",
    "Resistivity",
    "SolidAngle",
    "SpecificVolume",
    "Speed",
    "SurfaceDensity",
    "SurfaceTension",
    "Temperature",
    "Time",
    "Torque",
    "Voltage",
    "Volume",
    "VolumeFlowRate",
    "VolumeFraction",
    "VolumetricFlux",
    "Wavenumber",
];

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)] // a failed unwrap is a failed test
mod tests {
    use super::*;

    #[test]
    fn every_word_list_is_sorted_and_free_of_duplicates() {
        for vocabulary in Vocabulary::ALL {
            let words = vocabulary.standard_words();
            assert!(
                words.windows(2).all(|pair| pair[0] < pair[1]),
                "{vocabulary:?} words must be strictly sorted for binary search"
            );
        }
    }

    #[test]
    fn the_word_lists_match_the_epcis_json_schema_sizes() {
        // Counts of the `enum` arrays in the EPCIS 2.0 JSON schema files.
        assert_eq!(Vocabulary::BizStep.standard_words().len(), 41);
        assert_eq!(Vocabulary::Disposition.standard_words().len(), 33);
        assert_eq!(Vocabulary::BizTransactionType.standard_words().len(), 13);
        assert_eq!(Vocabulary::SourceDestinationType.standard_words().len(), 3);
        assert_eq!(Vocabulary::ErrorReason.standard_words().len(), 2);
        assert_eq!(Vocabulary::MeasurementType.standard_words().len(), 72);
        assert_eq!(Vocabulary::SensorAlertType.standard_words().len(), 2);
        assert_eq!(Vocabulary::Component.standard_words().len(), 14);
    }

    #[test]
    fn a_term_is_read_the_same_in_every_spelling() {
        for spelling in [
            "receiving",
            "urn:epcglobal:cbv:bizstep:receiving",
            "https://ref.gs1.org/cbv/BizStep-receiving",
            "cbv:BizStep-receiving",
        ] {
            assert_eq!(
                Vocabulary::BizStep.term(spelling),
                "receiving",
                "{spelling}"
            );
        }
        // Each vocabulary's compact form; another vocabulary's namespace, another prefix, or no
        // namespace: as written.
        for (vocabulary, spelling, term) in [
            (Vocabulary::Disposition, "cbv:Disp-recalled", "recalled"),
            (
                Vocabulary::SourceDestinationType,
                "cbv:SDT-owning_party",
                "owning_party",
            ),
            (
                Vocabulary::BizStep,
                "cbv:Disp-recalled",
                "cbv:Disp-recalled",
            ),
            (
                Vocabulary::BizStep,
                "ex:BizStep-receiving",
                "ex:BizStep-receiving",
            ),
            (Vocabulary::BizStep, "urn:example:step", "urn:example:step"),
        ] {
            assert_eq!(vocabulary.term(spelling), term, "{spelling}");
        }
    }

    #[test]
    fn a_bare_biz_step_expands_to_its_cbv_web_uri() {
        assert_eq!(
            Vocabulary::BizStep.web_uri("shipping").as_deref(),
            Some("https://ref.gs1.org/cbv/BizStep-shipping")
        );
        assert_eq!(Vocabulary::BizStep.web_uri("teleporting"), None);
    }

    #[test]
    fn sensor_vocabularies_expand_into_the_gs1_web_vocabulary() {
        assert_eq!(
            Vocabulary::MeasurementType
                .web_uri("Temperature")
                .as_deref(),
            Some("https://gs1.org/voc/Temperature")
        );
        assert_eq!(
            Vocabulary::SensorAlertType
                .web_uri("ALARM_CONDITION")
                .as_deref(),
            Some("https://gs1.org/voc/ALARM_CONDITION")
        );
        assert_eq!(
            Vocabulary::Component.web_uri("latitude").as_deref(),
            Some("https://ref.gs1.org/cbv/Comp-latitude")
        );
    }

    #[test]
    fn a_standard_term_is_recognised_in_all_three_forms() {
        assert!(is_standard_biz_step("shipping"));
        assert!(is_standard_biz_step("urn:epcglobal:cbv:bizstep:shipping"));
        assert!(is_standard_biz_step(
            "https://ref.gs1.org/cbv/BizStep-shipping"
        ));
        assert!(!is_standard_biz_step("Shipping"));
        assert!(!is_standard_biz_step(
            "https://example.com/bizstep/shipping"
        ));
        assert_eq!(
            Vocabulary::Disposition.standard_word("urn:epcglobal:cbv:disp:in_transit"),
            Some("in_transit")
        );
    }

    #[test]
    fn a_term_of_one_vocabulary_is_not_standard_in_another() {
        assert!(is_standard_disposition("in_transit"));
        assert!(!is_standard_biz_step("in_transit"));
        assert!(is_standard_biz_transaction_type("po"));
        assert!(is_standard_source_destination_type("owning_party"));
        assert!(is_standard_error_reason("did_not_occur"));
        assert!(is_standard_measurement_type(
            "https://gs1.org/voc/Temperature"
        ));
        assert!(is_standard_sensor_alert_type("ERROR_CONDITION"));
        assert!(is_standard_component("longitude"));
        assert!(!is_standard_component("urn:epcglobal:cbv:comp:longitude"));
    }

    #[test]
    fn any_cbv_urn_rewrites_to_the_web_uri_form() {
        assert_eq!(
            Vocabulary::SourceDestinationType
                .urn_to_web_uri("urn:epcglobal:cbv:sdt:owning_party")
                .as_deref(),
            Some("https://ref.gs1.org/cbv/SDT-owning_party")
        );
        assert_eq!(Vocabulary::MeasurementType.urn_to_web_uri("urn:x"), None);
        assert_eq!(
            Vocabulary::BizStep.urn_to_web_uri("urn:epcglobal:cbv:disp:x"),
            None
        );
    }
}
