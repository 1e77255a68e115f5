//! EPC identifiers: pure identity URIs, class URIs, and GS1 check digits.
