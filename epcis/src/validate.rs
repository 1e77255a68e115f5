//! Validation of EPCIS 2.0 documents against the standard and the CBV.
