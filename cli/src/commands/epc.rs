//! `tagtrail epc`: EPC memory bank contents to and from EPC URIs (GS1 Tag Data Standard).

use std::io::Write;
use std::process::ExitCode;

use anyhow::Context;
use clap::Subcommand;
use epcis::tds::{EpcTag, Filter, Scheme};

#[derive(Debug, Subcommand)]
pub enum EpcCommand {
    /// Decode the hex of EPC memory banks (e.g. `3074257BF7194E4000001A85`).
    ///
    /// For each input prints the pure identity URI, the tag URI and the GS1 Digital Link, one per
    /// line, then a blank line. With --json, one JSON object per input and line, with the keys
    /// `hex`, `scheme`, `filter`, `idUri`, `tagUri` and `digitalLink`. Exits 1 if any input does
    /// not decode (the others are still printed).
    Decode {
        /// One JSON object per line instead of text.
        #[arg(long)]
        json: bool,
        /// EPC bank contents in hex (either case; 96 to 202 bits depending on the scheme).
        #[arg(required = true, value_name = "HEX")]
        hex: Vec<String>,
    },
    /// Encode an EPC URI as EPC memory bank hex (upper case).
    ///
    /// Takes a tag URI (`urn:epc:tag:sgtin-96:3.0614141.812345.6789`), which names its scheme and
    /// filter, or a pure identity URI (`urn:epc:id:sgtin:0614141.812345.6789`) with --scheme and
    /// --filter.
    Encode {
        /// A tag URI, or a pure identity URI with --scheme and --filter.
        #[arg(value_name = "URI")]
        uri: String,
        /// The binary scheme for a pure identity URI, e.g. `sgtin-96`, `sgtin-198`, `sscc-96`.
        #[arg(long)]
        scheme: Option<String>,
        /// The filter value (0-7) for a pure identity URI, e.g. 1 for a point-of-sale item.
        #[arg(long)]
        filter: Option<u32>,
    },
}

impl EpcCommand {
    pub fn run(self) -> anyhow::Result<ExitCode> {
        match self {
            Self::Decode { json, hex } => decode(&hex, json),
            Self::Encode {
                uri,
                scheme,
                filter,
            } => encode(&uri, scheme.as_deref(), filter),
        }
    }
}

fn decode(inputs: &[String], json: bool) -> anyhow::Result<ExitCode> {
    let mut out = std::io::stdout().lock();
    let mut failed = false;
    for hex in inputs {
        match epcis::tds::describe_hex(hex) {
            Ok(tag) if json => writeln!(out, "{}", serde_json::to_string(&tag)?)?,
            Ok(tag) => {
                writeln!(out, "{}", tag.id_uri)?;
                writeln!(out, "{}", tag.tag_uri)?;
                writeln!(
                    out,
                    "{}",
                    tag.digital_link
                        .as_deref()
                        .unwrap_or("(no GS1 Digital Link for this scheme)")
                )?;
                writeln!(out)?;
            }
            Err(error) => {
                failed = true;
                out.flush()?;
                #[allow(clippy::print_stderr)]
                {
                    eprintln!("error: {hex}: {error}");
                }
            }
        }
    }
    Ok(if failed {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

fn encode(uri: &str, scheme: Option<&str>, filter: Option<u32>) -> anyhow::Result<ExitCode> {
    let scheme = scheme
        .map(|name| {
            Scheme::from_name(name).with_context(|| {
                let known: Vec<&str> = Scheme::ALL.iter().map(|s| s.name()).collect();
                format!(
                    "unknown scheme {name:?}; known schemes: {}",
                    known.join(", ")
                )
            })
        })
        .transpose()?;
    let filter = filter
        .map(|value| Filter::new(value).with_context(|| format!("filter {value} is out of range")))
        .transpose()?;
    let tag = EpcTag::from_uri(uri, scheme, filter)?;
    writeln!(std::io::stdout().lock(), "{}", tag.to_hex())?;
    Ok(ExitCode::SUCCESS)
}
