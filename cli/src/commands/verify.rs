//! `tagtrail verify`: offline checks of proof bundles, provenance bundles and C2SP tlog-proofs,
//! with no database and no network; with `--rpc`, also the bundles' anchors on chain
//! (`verify/on_chain.rs`).

mod on_chain;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use clap::Args;
use ledger::DeviceId;
use ledger::bundle::{
    CheckName, DeviceRegistry, Outcome, ProofBundle, ProvenanceBundle, Report, TLOG_PROOF_HEADER,
    TlogProof, TrustedKeys, verify_bundle, verify_provenance, verify_tlog_proof,
};
use ledger::checkpoint::{Origin, TrustedLog};
use ledger::key_file::parse_public_key_file;
use ledger::note::{NoteVerifierKey, NoteVerifiers};
use ledger::record::LeafRecord;

use crate::input::read_input;
use on_chain::{AnchorVerdict, Chain, OnChain};

/// Check proof bundles, provenance bundles and C2SP tlog-proofs offline (no database, no network;
/// with --rpc, also the bundles' anchors on chain).
///
/// Each FILE is recognised by its content: a proof bundle (JSON, `"version": 2`, one event), a
/// provenance bundle (JSON, `"version": 1`, `"events"`: an item's history), or a tlog-proof (text
/// starting `c2sp.org/tlog-proof@v1`, with the entry's leaf record as its extra data). Every check is
/// printed, one per line (`ok`, `FAILED: reason` or `skipped: reason`), per event for provenance
/// bundles, then a summary line per file and one for the whole run. The `anchor on chain` check of
/// a bundle lists each of its anchors with the checks made on it.
///
/// Exit status: 0 when nothing failed and nothing was skipped, except the checks that need an
/// anchor the bundle does not have yet, the on-chain check of the anchors without --rpc (or with a
/// node of another chain) and the device key check without --device-keys (the last line then says
/// `incomplete: ...`); 1 when a check failed (the last line names the first one); 3 when nothing
/// failed but the evidence itself leaves checks undone (an event accepted with a site token and
/// signed by no device, a version 1 leaf record); 2 for usage errors, files that cannot be read or
/// are not one of the three formats, and a --rpc node that cannot be reached.
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
    /// Also look the bundles' anchors up on chain through this JSON-RPC node (http:// or
    /// https://; only its scheme and host are ever printed): each anchor's transaction, its block,
    /// the checkpoint it holds and its signature, and the bundle's stored block hash and receipt
    /// proof against that block. Anchors on another chain than the node's are skipped.
    #[arg(long = "rpc", value_name = "URL")]
    rpc: Option<String>,
    /// How deep an anchor's block must be (counting its own) for the anchor to pass with --rpc.
    /// The default is the anchor worker's; a local chain that mines a block per transaction
    /// needs 1.
    #[arg(long, value_name = "N", default_value_t = 12, requires = "rpc")]
    confirmations: u64,
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
        let chain = self
            .rpc
            .as_deref()
            .map(|url| Chain::connect(url, self.confirmations))
            .transpose()?;
        let mut out = std::io::stdout().lock();
        let mut run = Run::default();
        for (name, evidence) in &files {
            let anchored = match evidence {
                Evidence::Bundle(bundle) => Some(bundle.anchored.as_ref()),
                Evidence::Provenance(bundle) => Some(bundle.anchored.as_ref()),
                Evidence::TlogProof(_) => None,
            };
            let on_chain = anchored
                .map(|anchored| OnChain::of(anchored, chain.as_ref(), trusted.log().keys()))
                .transpose()
                .with_context(|| format!("{name}: the anchors could not be looked up"))?;
            let policy = SkipPolicy {
                device_keys_given: self.device_keys.is_some(),
                on_chain: on_chain
                    .as_ref()
                    .map_or(Skip::Evidence, |on_chain| on_chain.skip),
            };
            let file = check_file(
                &mut out,
                name,
                evidence,
                &trusted,
                on_chain.as_ref(),
                policy,
            )?;
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

/// Which skipped checks leave a run acceptable (exit 0): those waiting for an anchor, the on-chain
/// check of the anchors without a node of their chain, and the device key check when no device
/// keys were given. The verifier, not the evidence, lacks them.
#[derive(Clone, Copy, Debug)]
struct SkipPolicy {
    device_keys_given: bool,
    /// Why the file's `anchor on chain` check was skipped, if it was.
    on_chain: Skip,
}

/// Why a check was skipped, as far as the exit status is concerned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Skip {
    NotAnchored,
    NoDeviceKeys,
    /// No --rpc was given to look the anchors up.
    NoRpc,
    /// The --rpc node serves another chain than the anchors'.
    OtherChain,
    /// The evidence itself leaves the check undone.
    Evidence,
}

impl SkipPolicy {
    fn classify(self, name: CheckName) -> Skip {
        match name {
            CheckName::AnchoredCheckpoint
            | CheckName::Consistency
            | CheckName::AnchorCoversEvent => Skip::NotAnchored,
            CheckName::AnchorOnChain => self.on_chain,
            CheckName::DeviceKeyRegistered if !self.device_keys_given => Skip::NoDeviceKeys,
            _ => Skip::Evidence,
        }
    }
}

/// The checks skipped for want of something the verifier may still get: the run is acceptable,
/// and its last line says what was not covered.
#[derive(Clone, Copy, Debug, Default)]
struct Waiting {
    not_anchored: bool,
    no_rpc: bool,
    other_chain: bool,
    no_device_keys: bool,
}

impl Waiting {
    /// Notes an acceptable skip; `false` for a skip the evidence itself causes.
    fn note(&mut self, skip: Skip) -> bool {
        match skip {
            Skip::NotAnchored => self.not_anchored = true,
            Skip::NoRpc => self.no_rpc = true,
            Skip::OtherChain => self.other_chain = true,
            Skip::NoDeviceKeys => self.no_device_keys = true,
            Skip::Evidence => return false,
        }
        true
    }

    fn merge(&mut self, other: Self) {
        self.not_anchored |= other.not_anchored;
        self.no_rpc |= other.no_rpc;
        self.other_chain |= other.other_chain;
        self.no_device_keys |= other.no_device_keys;
    }

    /// What the run waits for, when only acceptable checks were skipped.
    fn describe(self) -> Option<String> {
        let parts: Vec<&str> = [
            (self.not_anchored, "not anchored yet"),
            (self.no_rpc, "anchors not looked up on chain (give --rpc)"),
            (
                self.other_chain,
                "anchors not looked up on chain (the node serves another chain)",
            ),
            (
                self.no_device_keys,
                "device keys not checked (give --device-keys)",
            ),
        ]
        .into_iter()
        .filter_map(|(waiting, part)| waiting.then_some(part))
        .collect();
        (!parts.is_empty()).then(|| parts.join(", "))
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
    waiting: Waiting,
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
                Outcome::Skipped(reason) => {
                    if !self.waiting.note(policy.classify(check.name)) {
                        self.first_gap.get_or_insert_with(|| {
                            format!("{at}{} not checked: {reason}", check.name)
                        });
                    }
                }
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
        match self.waiting.describe() {
            Some(waiting) => format!("incomplete: {waiting}; every other check passed"),
            None => format!("valid: {} checks passed", self.passed),
        }
    }
}

/// The outcome of every file: the last line and the exit status.
#[derive(Debug, Default)]
struct Run {
    first_failure: Option<String>,
    first_gap: Option<String>,
    waiting: Waiting,
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
        self.waiting.merge(file.waiting);
    }

    fn conclusion(self, files: usize) -> (String, u8) {
        let files = count(files, "file");
        if let Some(failure) = self.first_failure {
            return (format!("FAILED: {failure}"), 1);
        }
        if let Some(gap) = self.first_gap {
            return (format!("incomplete: {gap}"), 3);
        }
        match self.waiting.describe() {
            Some(waiting) => (
                format!("incomplete: {waiting}; nothing failed in {files}"),
                0,
            ),
            None => (format!("valid: every check of {files} passed"), 0),
        }
    }
}

/// A check in plain words: `<name>: ok`, `<name>: FAILED: <reason>`, `<name>: skipped: <reason>`.
fn check_line(name: impl std::fmt::Display, outcome: &Outcome) -> String {
    match outcome {
        Outcome::Passed => format!("{name}: ok"),
        Outcome::Failed(reason) => format!("{name}: FAILED: {reason}"),
        Outcome::Skipped(reason) => format!("{name}: skipped: {reason}"),
    }
}

/// Prints a report's checks, with each anchor looked up under the `anchor on chain` check.
fn print_checks(
    out: &mut impl Write,
    report: &Report,
    indent: &str,
    on_chain: Option<&OnChain>,
) -> std::io::Result<()> {
    for check in report.checks() {
        writeln!(out, "{indent}{}", check_line(check.name, &check.outcome))?;
        if check.name == CheckName::AnchorOnChain
            && let Some(on_chain) = on_chain
        {
            print_anchors(out, on_chain, &format!("{indent}  "))?;
        }
    }
    Ok(())
}

/// Each anchor looked up, then its checks indented under it.
fn print_anchors(out: &mut impl Write, on_chain: &OnChain, indent: &str) -> std::io::Result<()> {
    for anchor in &on_chain.anchors {
        let verdict = match &anchor.verdict {
            AnchorVerdict::Verified => "verified".to_owned(),
            // The reason is on the check's own line, below.
            AnchorVerdict::Failed { check, .. } => format!("FAILED: {check}"),
            AnchorVerdict::OtherChain { reason, .. } | AnchorVerdict::Unchecked(reason) => {
                format!("skipped: {reason}")
            }
        };
        writeln!(out, "{indent}anchor in {}: {verdict}", anchor.place)?;
        for (name, outcome) in &anchor.checks {
            writeln!(out, "{indent}  {}", check_line(name, outcome))?;
        }
    }
    Ok(())
}

/// Checks one file, printing its heading and every check.
fn check_file(
    out: &mut impl Write,
    name: &str,
    evidence: &Evidence,
    trusted: &TrustedKeys,
    on_chain: Option<&OnChain>,
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
            let mut report = verify_bundle(bundle, trusted);
            if let Some(on_chain) = on_chain {
                report.push(CheckName::AnchorOnChain, on_chain.outcome.clone());
            }
            print_checks(out, &report, "  ", on_chain)?;
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
            // The anchors are the bundle's, shared by every event: looked up once, reported with
            // the checks of the bundle as a whole.
            let mut bundle_checks = report.bundle_checks().clone();
            if let Some(on_chain) = on_chain {
                bundle_checks.push(CheckName::AnchorOnChain, on_chain.outcome.clone());
            }
            print_checks(out, &bundle_checks, "  ", on_chain)?;
            outcome.record(&bundle_checks, "", policy);
            for (event, checked) in bundle.events.iter().zip(report.events()) {
                let at = format!("event {} (leaf {})", checked.position, checked.leaf_index);
                let why: Vec<String> = event.why.iter().map(ToString::to_string).collect();
                writeln!(out, "  {at}: {}; why: {}", event.event_hash, why.join("; "))?;
                print_checks(out, &checked.report, "    ", None)?;
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
            print_checks(out, &report, "  ", None)?;
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
