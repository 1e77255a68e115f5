//! GS1 Digital Link URIs: parsing, canonical form, and conversion to and from EPC URNs.
