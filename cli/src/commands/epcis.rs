//! `tagtrail epcis`: CBV 2.0 event hashes and validation of EPCIS 2.0 documents.

use std::io::Write;
use std::process::ExitCode;

use anyhow::Context;
use clap::Subcommand;

use crate::input::read_input;

#[derive(Debug, Subcommand)]
pub enum EpcisCommand {
    /// Print the CBV 2.0 event hash ID of every event, one line per event, in document order.
    ///
    /// Reads EPCISDocument and EPCISQueryDocument files (JSON / JSON-LD). The output is the
    /// `ni:///sha-256;<hex>?ver=CBV2.0` URI of each event, or its pre-hash string with --prehash.
    Hash {
        /// Print the canonical pre-hash string instead of the hash ID.
        #[arg(long)]
        prehash: bool,
        /// Documents to read; `-` reads standard input.
        #[arg(required = true, value_name = "FILE")]
        files: Vec<String>,
    },
    /// Check documents against the EPCIS 2.0 schema and the CBV rules.
    ///
    /// Exits 0 when every document is valid. Otherwise prints one problem per line
    /// (`FILE: <JSON pointer>: <rule>: <message>`) and exits 1.
    Validate {
        /// Documents to read; `-` reads standard input.
        #[arg(required = true, value_name = "FILE")]
        files: Vec<String>,
    },
}

impl EpcisCommand {
    pub fn run(self) -> anyhow::Result<ExitCode> {
        match self {
            Self::Hash { prehash, files } => hash(&files, prehash),
            Self::Validate { files } => validate(&files),
        }
    }
}

fn hash(files: &[String], prehash: bool) -> anyhow::Result<ExitCode> {
    let mut out = std::io::stdout().lock();
    for file in files {
        let bytes = read_input(file)?;
        let document: serde_json::Value = serde_json::from_slice(&bytes)
            .with_context(|| format!("{file} is not a JSON document"))?;
        let hashes = epcis::hash::document_hashes(&document)
            .with_context(|| format!("Failed to hash the events of {file}"))?;
        for (prehash_string, hash) in hashes {
            if prehash {
                writeln!(out, "{prehash_string}")?;
            } else {
                writeln!(out, "{hash}")?;
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn validate(files: &[String]) -> anyhow::Result<ExitCode> {
    let mut out = std::io::stdout().lock();
    let mut all_valid = true;
    for file in files {
        let bytes = read_input(file)?;
        let problems: Vec<String> = match epcis::document::Document::parse(&bytes) {
            Err(error) => vec![error.to_string()],
            Ok(document) => match epcis::validate::validate(&document) {
                Ok(()) => Vec::new(),
                Err(violations) => violations.iter().map(ToString::to_string).collect(),
            },
        };
        all_valid &= problems.is_empty();
        for problem in problems {
            writeln!(out, "{file}: {problem}")?;
        }
    }
    Ok(if all_valid {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
