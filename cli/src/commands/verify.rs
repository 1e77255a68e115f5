//! `tagtrail verify`: offline checks of proof bundles, provenance bundles and C2SP tlog-proofs,
//! with no database and no network.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use clap::Args;
use ledger::DeviceId;
use ledger::bundle::{
    Check, CheckName, DeviceRegistry, Outcome, ProofBundle, ProvenanceBundle, Report,
    TLOG_PROOF_HEADER, TlogProof, TrustedKeys, verify_bundle, verify_provenance, verify_tlog_proof,
};
use ledger::checkpoint::{Origin, TrustedLog};
use ledger::key_file::parse_public_key_file;
use ledger::note::{NoteVerifierKey, NoteVerifiers};
use ledger::record::LeafRecord;

use crate::input::read_input;

/// Check proof bundles, provenance bundles and C2SP tlog-proofs offline (no database, no network).
///
/// Each FILE is recognised by its content: a proof bundle (JSON, `"version": 2`, one event), a
/// provenance bundle (JSON, `"version": 1`, `"events"`: an item's history), or a tlog-proof (text
/// starting `c2sp.org/tlog-proof@v1`, with the entry's leaf record as its extra data). Every check is
/// printed, one per line (`ok`, `FAILED: reason` or `skipped: reason`), per event for provenance
/// bundles, then a summary line per file and one for the whole run.
///
/// Exit status: 0 when nothing failed and nothing was skipped, except the checks that need an
/// anchor the bundle does not have yet and the device key check without --device-keys (the last
/// line then says `incomplete: ...`); 1 when a check failed (the last line names the first one);
/// 3 when nothing failed but the evidence itself leaves checks undone (an event accepted with a
/// site token and signed by no device, a version 1 leaf record); 2 for usage errors and files that
/// cannot be read or are not one of the three formats.
#[derive(Debug, Args)]
pub struct VerifyCommand {
    /// The files to check ('-' reads standard input).
    #[arg(required = true, value_name = "FILE")]
    files: Vec<String>,
    /// The log's checkpoint verifier key, `<name>+<key id>+<base64 key>` as `tagtrail keygen`
    /// prints it, or a file holding it. Repeat it to trust several keys (a key rotation).
    #[arg(long = "log-key", value_name = "KEY", required = true)]
    log_keys: Vec<String>,
    /// The log's origin (the first line of its checkpoints). Default: the name of the log key(s).
    #[arg(long, value_name = "ORIGIN")]
    origin: Option<String>,
    /// The registered device keys: one `<device id> <public key>` per line, the public key as a
    /// device public key file holds it (`{"algorithm": "ed25519", "key": "<base64>"}`); blank
    /// lines and lines starting with `#` are ignored. Without it the `device key registered`
    /// check is skipped.
    #[arg(long, value_name = "FILE")]
    device_keys: Option<PathBuf>,
}

impl VerifyCommand {
    pub fn run(self) -> anyhow::Result<ExitCode> {
        let trusted = self.trusted_keys()?;
        // Every file is read and decoded before anything is checked: an unreadable file is a
        // usage error (exit 2), not a verdict.
        let files = self
            .files
            .iter()
            .map(|name| Ok((name.as_str(), decode_file(name)?)))
            .collect::<anyhow::Result<Vec<_>>>()?;
        let policy = SkipPolicy {
            device_keys_given: self.device_keys.is_some(),
        };
        let mut out = std::io::stdout().lock();
        let mut run = Run::default();
        for (name, evidence) in &files {
            let file = check_file(&mut out, name, evidence, &trusted, policy)?;
            writeln!(out, "{name}: {}", file.summary())?;
            run.add(name, file);
        }
        let (line, code) = run.conclusion(files.len());
        writeln!(out, "{line}")?;
        Ok(ExitCode::from(code))
    }

    fn trusted_keys(&self) -> anyhow::Result<TrustedKeys> {
        let keys = self
            .log_keys
            .iter()
            .map(|key| read_log_key(key))
            .collect::<anyhow::Result<Vec<_>>>()?;
        let origin = match &self.origin {
            Some(origin) => Origin::parse(origin).context("Invalid --origin")?,
            None => origin_of(&keys)?,
        };
        let verifiers = NoteVerifiers::new(keys).context("Invalid --log-key")?;
        let trusted = TrustedKeys::new(TrustedLog::new(origin, verifiers));
        match &self.device_keys {
            Some(path) => Ok(trusted.with_devices(read_device_keys(path)?)),
            None => Ok(trusted),
        }
    }
}

/// A `--log-key` value: the key's text, or the path of a file holding it.
pub(crate) fn read_log_key(value: &str) -> anyhow::Result<NoteVerifierKey> {
    let as_text = match NoteVerifierKey::parse(value) {
        Ok(key) => return Ok(key),
        Err(error) => error,
    };
    let path = Path::new(value);
    if !path.exists() {
        anyhow::bail!(
            "Invalid --log-key {value}: not a verifier key ({as_text}) and no such file; expected \
             `<name>+<key id>+<base64 key>` as `tagtrail keygen` prints it, or a file holding it"
        );
    }
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("Failed to read the log key file {value}"))?;
    NoteVerifierKey::parse(text.trim())
        .with_context(|| format!("Invalid --log-key: {value} does not hold a verifier key"))
}

/// The origin named by the log keys, when they all have one name.
fn origin_of(keys: &[NoteVerifierKey]) -> anyhow::Result<Origin> {
    let mut names = keys.iter().map(|key| key.name().as_str());
    let first = names.next().context("--log-key is required")?;
    if let Some(other) = names.find(|name| *name != first) {
        anyhow::bail!(
            "The --log-key names differ ({first}, {other}): give the log's origin with --origin"
        );
    }
    Origin::parse(first).context("The --log-key name is not a valid origin; give --origin")
}

/// The `--device-keys` file: `<device id> <public key JSON>` per line, `#` comments.
fn read_device_keys(path: &Path) -> anyhow::Result<DeviceRegistry> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("Failed to read the device keys file {}", path.display()))?;
    let mut registry = DeviceRegistry::new();
    for (number, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let at = || format!("{} line {}", path.display(), number + 1);
        let (device, key) = line.split_once(char::is_whitespace).with_context(|| {
            format!(
                "{}: expected `<device id> <public key>`, found one word",
                at()
            )
        })?;
        let device = DeviceId::parse(device).with_context(|| format!("{}: device id", at()))?;
        let key = parse_public_key_file(key).with_context(at)?;
        registry.add(device, key);
    }
    Ok(registry)
}

/// What a file holds.
#[derive(Debug)]
enum Evidence {
    Bundle(Box<ProofBundle>),
    Provenance(ProvenanceBundle),
    TlogProof(TlogProof),
}

/// Reads a file and recognises its format by its content.
fn decode_file(name: &str) -> anyhow::Result<Evidence> {
    let bytes = read_input(name)?;
    if bytes.starts_with(b"c2sp.org/tlog-proof@") {
        let text = std::str::from_utf8(&bytes)
            .with_context(|| format!("{name}: a tlog-proof must be UTF-8 text"))?;
        let proof = TlogProof::decode(text).with_context(|| format!("{name}: not a tlog-proof"))?;
        return Ok(Evidence::TlogProof(proof));
    }
    let json: serde_json::Value = serde_json::from_slice(&bytes).with_context(|| {
        format!(
            "{name}: neither JSON (a proof or provenance bundle) nor a {TLOG_PROOF_HEADER} text"
        )
    })?;
    let is_member = |key: &str| json.as_object().is_some_and(|o| o.contains_key(key));
    if is_member("events") {
        let bundle = serde_json::from_slice(&bytes)
            .with_context(|| format!("{name}: not a valid provenance bundle"))?;
        Ok(Evidence::Provenance(bundle))
    } else if is_member("eventHash") || is_member("event") {
        let bundle = serde_json::from_slice(&bytes)
            .with_context(|| format!("{name}: not a valid proof bundle"))?;
        Ok(Evidence::Bundle(Box::new(bundle)))
    } else {
        anyhow::bail!(
            "{name}: a JSON document that is neither a proof bundle (with `event` and \
             `eventHash`) nor a provenance bundle (with `events`)"
        )
    }
}

/// Which skipped checks leave a run acceptable (exit 0): those waiting for an anchor, and the
/// device key check when no device keys were given. The verifier, not the evidence, lacks them.
#[derive(Clone, Copy, Debug)]
struct SkipPolicy {
    device_keys_given: bool,
}

/// Why a check was skipped, as far as the exit status is concerned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Skip {
    NotAnchored,
    NoDeviceKeys,
    /// The evidence itself leaves the check undone.
    Evidence,
}

impl SkipPolicy {
    fn classify(self, name: CheckName) -> Skip {
        match name {
            CheckName::AnchoredCheckpoint
            | CheckName::Consistency
            | CheckName::AnchorCoversEvent => Skip::NotAnchored,
            CheckName::DeviceKeyRegistered if !self.device_keys_given => Skip::NoDeviceKeys,
            _ => Skip::Evidence,
        }
    }
}

/// How one file's checks came out.
#[derive(Debug, Default)]
struct FileOutcome {
    passed: usize,
    /// The first failed check: where (an event, or the bundle), its name and the reason.
    first_failure: Option<String>,
    /// The first check the evidence itself leaves undone.
    first_gap: Option<String>,
    not_anchored: bool,
    no_device_keys: bool,
}

impl FileOutcome {
    /// Records the checks of one report; `at` says where they were made ("" or "event 2 (leaf 7): ").
    fn record(&mut self, report: &Report, at: &str, policy: SkipPolicy) {
        for check in report.checks() {
            match &check.outcome {
                Outcome::Passed => self.passed += 1,
                Outcome::Failed(reason) => {
                    self.first_failure
                        .get_or_insert_with(|| format!("{at}{}: {reason}", check.name));
                }
                Outcome::Skipped(reason) => match policy.classify(check.name) {
                    Skip::NotAnchored => self.not_anchored = true,
                    Skip::NoDeviceKeys => self.no_device_keys = true,
                    Skip::Evidence => {
                        self.first_gap.get_or_insert_with(|| {
                            format!("{at}{} not checked: {reason}", check.name)
                        });
                    }
                },
            }
        }
    }

    fn summary(&self) -> String {
        if let Some(failure) = &self.first_failure {
            return format!("FAILED: {failure}");
        }
        if let Some(gap) = &self.first_gap {
            return format!("incomplete: {gap}");
        }
        match self.waiting() {
            Some(waiting) => format!("incomplete: {waiting}; every other check passed"),
            None => format!("valid: {} checks passed", self.passed),
        }
    }

    /// What the run waits for, when only acceptable checks were skipped.
    fn waiting(&self) -> Option<String> {
        let mut parts = Vec::new();
        if self.not_anchored {
            parts.push("not anchored yet");
        }
        if self.no_device_keys {
            parts.push("device keys not checked (give --device-keys)");
        }
        (!parts.is_empty()).then(|| parts.join(", "))
    }
}

/// The outcome of every file: the last line and the exit status.
#[derive(Debug, Default)]
struct Run {
    first_failure: Option<String>,
    first_gap: Option<String>,
    not_anchored: bool,
    no_device_keys: bool,
}

impl Run {
    fn add(&mut self, name: &str, file: FileOutcome) {
        if let Some(failure) = file.first_failure {
            self.first_failure
                .get_or_insert_with(|| format!("{name}: {failure}"));
        }
        if let Some(gap) = file.first_gap {
            self.first_gap
                .get_or_insert_with(|| format!("{name}: {gap}"));
        }
        self.not_anchored |= file.not_anchored;
        self.no_device_keys |= file.no_device_keys;
    }

    fn conclusion(self, files: usize) -> (String, u8) {
        let files = count(files, "file");
        if let Some(failure) = self.first_failure {
            return (format!("FAILED: {failure}"), 1);
        }
        if let Some(gap) = self.first_gap {
            return (format!("incomplete: {gap}"), 3);
        }
        let waiting = FileOutcome {
            not_anchored: self.not_anchored,
            no_device_keys: self.no_device_keys,
            ..FileOutcome::default()
        }
        .waiting();
        match waiting {
            Some(waiting) => (
                format!("incomplete: {waiting}; nothing failed in {files}"),
                0,
            ),
            None => (format!("valid: every check of {files} passed"), 0),
        }
    }
}

/// A check in plain words: `<name>: ok`, `<name>: FAILED: <reason>`, `<name>: skipped: <reason>`.
fn check_line(check: &Check) -> String {
    match &check.outcome {
        Outcome::Passed => format!("{}: ok", check.name),
        Outcome::Failed(reason) => format!("{}: FAILED: {reason}", check.name),
        Outcome::Skipped(reason) => format!("{}: skipped: {reason}", check.name),
    }
}

fn print_checks(out: &mut impl Write, report: &Report, indent: &str) -> std::io::Result<()> {
    for check in report.checks() {
        writeln!(out, "{indent}{}", check_line(check))?;
    }
    Ok(())
}

/// Checks one file, printing its heading and every check.
fn check_file(
    out: &mut impl Write,
    name: &str,
    evidence: &Evidence,
    trusted: &TrustedKeys,
    policy: SkipPolicy,
) -> std::io::Result<FileOutcome> {
    let mut outcome = FileOutcome::default();
    match evidence {
        Evidence::Bundle(bundle) => {
            writeln!(
                out,
                "{name}: proof bundle of event {}, leaf {} in a tree of {}",
                bundle.event_hash,
                bundle.inclusion.leaf_index(),
                bundle.inclusion.tree_size()
            )?;
            let report = verify_bundle(bundle, trusted);
            print_checks(out, &report, "  ")?;
            outcome.record(&report, "", policy);
        }
        Evidence::Provenance(bundle) => {
            writeln!(
                out,
                "{name}: provenance bundle of {}, {}",
                bundle.item,
                count(bundle.events.len(), "event")
            )?;
            let report = verify_provenance(bundle, trusted);
            print_checks(out, report.bundle_checks(), "  ")?;
            outcome.record(report.bundle_checks(), "", policy);
            for (event, checked) in bundle.events.iter().zip(report.events()) {
                let at = format!("event {} (leaf {})", checked.position, checked.leaf_index);
                let why: Vec<String> = event.why.iter().map(ToString::to_string).collect();
                writeln!(out, "  {at}: {}; why: {}", event.event_hash, why.join("; "))?;
                print_checks(out, &checked.report, "    ")?;
                outcome.record(&checked.report, &format!("{at}: "), policy);
            }
        }
        Evidence::TlogProof(proof) => {
            let entry = proof
                .extra()
                .and_then(|bytes| LeafRecord::decode(bytes).ok())
                .map_or_else(
                    || "an entry".to_owned(),
                    |record| format!("the entry of event {}", record.event_hash()),
                );
            writeln!(out, "{name}: tlog-proof of {entry}, leaf {}", proof.index())?;
            let report = verify_tlog_proof(proof, trusted.log(), None);
            print_checks(out, &report, "  ")?;
            outcome.record(&report, "", policy);
        }
    }
    Ok(outcome)
}

/// `1 event`, `2 events`.
fn count(n: usize, noun: &str) -> String {
    if n == 1 {
        format!("1 {noun}")
    } else {
        format!("{n} {noun}s")
    }
}
