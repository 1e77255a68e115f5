//! `tagtrail dl`: GS1 Digital Link URIs to and from EPC URNs.

use std::io::Write;
use std::process::ExitCode;

use clap::Subcommand;

#[derive(Debug, Subcommand)]
pub enum DlCommand {
    /// Convert a GS1 Digital Link URI to its EPC URN.
    ///
    /// A Digital Link does not say where the GS1 company prefix ends inside the GTIN (or GLN,
    /// SSCC...), and an EPC URN must; give its length (6 to 12 digits) with
    /// --company-prefix-length. It is never guessed.
    ToUrn {
        /// A GS1 Digital Link, e.g. `https://id.gs1.org/01/10614141073464/21/2017` (any domain).
        #[arg(value_name = "URL")]
        url: String,
        /// Digits of the GS1 company prefix (6-12), e.g. 7 for 0614141.
        #[arg(long, short = 'p', value_name = "DIGITS")]
        company_prefix_length: Option<usize>,
    },
    /// Convert an EPC URN (pure identity, class or pattern) to its canonical GS1 Digital Link.
    FromUrn {
        /// e.g. `urn:epc:id:sgtin:0614141.107346.2017`.
        #[arg(value_name = "URN")]
        urn: String,
    },
}

impl DlCommand {
    pub fn run(self) -> anyhow::Result<ExitCode> {
        let line = match self {
            Self::ToUrn {
                url,
                company_prefix_length,
            } => {
                let Some(length) = company_prefix_length else {
                    anyhow::bail!(
                        "a Digital Link does not say how long the GS1 company prefix is; \
                         pass it with --company-prefix-length (for example 7 for 0614141)"
                    );
                };
                epcis::digital_link::digital_link_to_urn(&url, length)?
            }
            Self::FromUrn { urn } => epcis::digital_link::urn_to_digital_link(&urn)?,
        };
        writeln!(std::io::stdout().lock(), "{line}")?;
        Ok(ExitCode::SUCCESS)
    }
}
