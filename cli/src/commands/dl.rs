//! `tagtrail dl`: GS1 Digital Link URIs to and from EPC URNs, compressed and uncompressed.

use std::io::Write;
use std::process::ExitCode;

use clap::Subcommand;
use epcis::digital_link::{DigitalLink, compress, urn_to_digital_link};

#[derive(Debug, Subcommand)]
pub enum DlCommand {
    /// Convert a GS1 Digital Link URI (uncompressed or compressed) to its EPC URN.
    ///
    /// A Digital Link does not say where the GS1 company prefix ends inside the GTIN (or GLN,
    /// SSCC...), and an EPC URN must; give its length (6 to 12 digits) with
    /// --company-prefix-length. It is never guessed.
    ToUrn {
        /// A GS1 Digital Link, e.g. `https://id.gs1.org/01/10614141073464/21/2017` or its
        /// compressed form `https://id.gs1.org/DBNOmDdwcAg_C` (any domain).
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
        /// Write the compressed form of GS1 Digital Link 1.1 instead, e.g. for a smaller QR code.
        #[arg(long)]
        compressed: bool,
    },
    /// Write a GS1 Digital Link (either form) in compressed form, on its own domain.
    Compress {
        /// e.g. `https://example.com/01/09506000134352/10/AB-123?17=261231`.
        #[arg(value_name = "URL")]
        url: String,
    },
    /// Write a GS1 Digital Link (either form) uncompressed, on its own domain.
    Decompress {
        /// e.g. `https://id.gs1.org/ARHKVAdpQg`.
        #[arg(value_name = "URL")]
        url: String,
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
                DigitalLink::parse_any(&url)?
                    .to_epc_uri(length)?
                    .to_string()
            }
            Self::FromUrn { urn, compressed } => {
                let link = urn_to_digital_link(&urn)?;
                if compressed {
                    compress(&DigitalLink::parse(&link)?)?
                } else {
                    link
                }
            }
            Self::Compress { url } => compress(&DigitalLink::parse_any(&url)?)?,
            Self::Decompress { url } => DigitalLink::parse_any(&url)?.to_string(),
        };
        writeln!(std::io::stdout().lock(), "{line}")?;
        Ok(ExitCode::SUCCESS)
    }
}
