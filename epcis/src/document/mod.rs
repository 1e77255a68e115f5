//! EPCIS 2.0 documents and events.
