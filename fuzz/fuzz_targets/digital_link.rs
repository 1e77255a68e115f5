//! Any text given to the GS1 Digital Link parser and the EPC URN converters: no input may panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = epcis::digital_link::urn_to_digital_link(text);
    }
});
