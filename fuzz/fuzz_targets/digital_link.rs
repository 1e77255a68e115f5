//! Any text given to the GS1 Digital Link parser, the EPC URI parsers and the converters between
//! them: no input may panic, and a link that parses has a canonical form that parses again to the
//! same canonical form.
#![no_main]

use epcis::digital_link::DigitalLink;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(link) = DigitalLink::parse(text) {
        let canonical = link.canonical();
        let again = DigitalLink::parse(&canonical).expect("a canonical link parses");
        assert_eq!(again.canonical(), canonical, "canonical form is not stable");
        for length in 6..=12 {
            let _ = epcis::digital_link::digital_link_to_urn(text, length);
        }
    }
    let _ = epcis::digital_link::urn_to_digital_link(text);
    let _ = epcis::epc::Epc::parse(text);
    let _ = epcis::epc::EpcUri::parse(text);
});
