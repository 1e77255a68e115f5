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
    CheckName, DeviceRegistry, EXPORT_FORMAT, ExportBundle, Outcome, Participants, ProofBundle,
    ProvenanceBundle, Report, TLOG_PROOF_HEADER, TlogProof, TrustedKeys, verify_bundle,
    verify_export, verify_provenance, verify_tlog_proof,
};
use ledger::checkpoint::{Origin, TrustedLog};
use ledger::key_file::parse_public_key_file;
use ledger::note::{NoteVerifierKey, NoteVerifiers};
use ledger::record::{EventBinding, LeafRecord};

use crate::input::read_input;
use on_chain::{AnchorVerdict, Chain, OnChain};

/// Check proof bundles, provenance bundles and C2SP tlog-proofs offline (no database, no network;
/// with --rpc, also the bundles' anchors on chain).
///
/// Each FILE is recognised by its content: a proof bundle (JSON, `"version": 2`, one event), a
/// provenance bundle (JSON, `"version": 1`, `"events"`: an item's history), or a tlog-proof (text
/// starting `c2sp.org/tlog-proof@v1`, with the entry's leaf record as its extra data). A summary
/// line is printed per file, then one for the whole run; --verbose prints every check, one per
/// line (`ok`, `FAILED: reason` or `skipped: reason`), per event for provenance bundles.
///
/// Exit status: 0 when every check that matters for the claim ran and passed (or was left undone
/// only for a reason named with --allow); 1 when a check failed (the last line names the first
/// one); 2 for usage errors, files that cannot be read or are not one of the three formats, and a
/// --rpc node that cannot be reached; 3 to 11 when nothing failed but checks were left undone,
/// each reason with its own status (the lowest applies): 3 the evidence itself leaves checks
/// undone (an event accepted with a site token, a version 1 leaf record), 4 not anchored (yet),
/// 5 anchors not confirmed deeply enough yet, 6 anchors not looked up on chain (no --rpc), 7
/// anchors on a chain the --rpc node does not serve, 8 device keys not checked (no
/// --device-keys), 9 a tlog-proof checked without its event (--event), 10 a history not
/// proven complete (a bundle without index proofs, or whose writer left events out), 11 a history whose authority marks were not judged (no
/// --participants).
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
    /// An export service's verifier key (trace-api's `exports.signing_key`, as `tagtrail keygen`
    /// prints it), or a file holding it: an export's signed manifest must be signed by one.
    /// Repeat it to trust several. Without it the `manifest` check is skipped.
    #[arg(long = "export-key", value_name = "KEY")]
    export_keys: Vec<String>,
    /// The registered device keys: one `<device id> <public key>` per line, the public key as a
    /// device public key file holds it (`{"algorithm": "ed25519", "key": "<base64>"}`); blank
    /// lines and lines starting with `#` are ignored. Without it the `device key registered`
    /// check is skipped.
    #[arg(long, value_name = "FILE")]
    device_keys: Option<PathBuf>,
    /// The registry of the parties, as `tagtrail participants` writes it (JSON: organisations
    /// with their company prefixes and delegates, sites, devices with their public keys). With
    /// it, who had authority for each event of a provenance bundle is judged, not taken from the
    /// bundle, and the device keys are checked against it (with --device-keys too, a key either
    /// lists counts).
    #[arg(long, value_name = "FILE")]
    participants: Option<PathBuf>,
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
    /// The event a tlog-proof is about: its JSON text, exactly as the ledger serves it. Every
    /// tlog-proof of the run must be of this event (its leaf record binds the event's hash and
    /// bytes). Without it, a tlog-proof shows that an entry is in the log, not which event.
    #[arg(long, value_name = "FILE")]
    event: Option<String>,
    /// Accept checks left undone for these reasons (exit 0 when nothing else is missing):
    /// unanchored, unconfirmed, unchecked-anchors, other-chain, unregistered-devices,
    /// event-not-shown, incomplete-history, unchecked-authority, unchecked-manifest. Repeat it or
    /// separate them with commas.
    #[arg(long, value_name = "REASON", value_delimiter = ',')]
    allow: Vec<Gap>,
    /// Print every check, not only a summary per file.
    #[arg(long, short)]
    verbose: bool,
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
        let event = self.event.as_deref().map(ShownEvent::read).transpose()?;
        let chain = self
            .rpc
            .as_deref()
            .map(|url| Chain::connect(url, self.confirmations))
            .transpose()?;
        let mut out = std::io::stdout().lock();
        let mut sink = std::io::sink();
        let mut run = Run::default();
        for (name, evidence) in &files {
            let details: &mut dyn Write = if self.verbose { &mut out } else { &mut sink };
            let checkpoints = match evidence {
                Evidence::Bundle(bundle) => Some((&bundle.checkpoint, bundle.anchored.as_ref())),
                Evidence::Provenance(bundle) => {
                    Some((&bundle.checkpoint, bundle.anchored.as_ref()))
                }
                Evidence::Export(export) => Some((&export.checkpoint, export.anchored.as_ref())),
                Evidence::TlogProof(_) => None,
            };
            let on_chain = checkpoints
                .map(|(checkpoint, anchored)| {
                    OnChain::of(checkpoint, anchored, chain.as_ref(), &trusted)
                })
                .transpose()
                .with_context(|| format!("{name}: the anchors could not be looked up"))?;
            let policy = GapPolicy {
                device_keys_given: self.device_keys.is_some() || self.participants.is_some(),
                on_chain: on_chain
                    .as_ref()
                    .map_or(Gap::Evidence, |on_chain| on_chain.anchors.gap),
                chain_agrees: on_chain
                    .as_ref()
                    .map_or(Gap::Evidence, |on_chain| on_chain.agrees_gap),
            };
            let file = check_file(
                details,
                name,
                evidence,
                &trusted,
                on_chain.as_ref(),
                event.as_ref(),
                policy,
            )?;
            writeln!(out, "{name}: {}", file.summary(&self.allow))?;
            run.add(name, file);
        }
        let (line, code) = run.conclusion(files.len(), &self.allow);
        writeln!(out, "{line}")?;
        Ok(ExitCode::from(code))
    }

    fn trusted_keys(&self) -> anyhow::Result<TrustedKeys> {
        let mut trusted = TrustedKeys::new(trusted_log(&self.log_keys, self.origin.as_deref())?);
        if !self.export_keys.is_empty() {
            let keys = self
                .export_keys
                .iter()
                .map(|key| read_log_key(key).context("Invalid --export-key"))
                .collect::<anyhow::Result<Vec<_>>>()?;
            trusted =
                trusted.with_exporters(NoteVerifiers::new(keys).context("Invalid --export-key")?);
        }
        let mut devices = match &self.device_keys {
            Some(path) => Some(read_device_keys(path)?),
            None => None,
        };
        if let Some(path) = &self.participants {
            let text = std::fs::read_to_string(path).with_context(|| {
                format!("Failed to read the participants file {}", path.display())
            })?;
            let participants: Participants = serde_json::from_str(&text)
                .with_context(|| format!("{}: not a participants file", path.display()))?;
            let parties = participants
                .parties()
                .with_context(|| format!("{}: not a usable participants file", path.display()))?;
            let registry = devices.get_or_insert_with(DeviceRegistry::new);
            registry.extend(&participants.device_keys());
            trusted = trusted.with_parties(parties);
        }
        Ok(match devices {
            Some(devices) => trusted.with_devices(devices),
            None => trusted,
        })
    }
}

/// The log as `--log-key` (repeated) and `--origin` give it: the origin defaults to the keys' one
/// name.
pub(crate) fn trusted_log(log_keys: &[String], origin: Option<&str>) -> anyhow::Result<TrustedLog> {
    let keys = log_keys
        .iter()
        .map(|key| read_log_key(key))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let origin = match origin {
        Some(origin) => Origin::parse(origin).context("Invalid --origin")?,
        None => origin_of(&keys)?,
    };
    let verifiers = NoteVerifiers::new(keys).context("Invalid --log-key")?;
    Ok(TrustedLog::new(origin, verifiers))
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
    Export(Box<ExportBundle>),
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
    if json.get("format").and_then(serde_json::Value::as_str) == Some(EXPORT_FORMAT) {
        let export = serde_json::from_slice(&bytes)
            .with_context(|| format!("{name}: not a valid export"))?;
        Ok(Evidence::Export(Box::new(export)))
    } else if is_member("events") {
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
             `eventHash`), a provenance bundle (with `events`) nor an export (with `format`: \
             `{EXPORT_FORMAT}`)"
        )
    }
}

/// Why a check was left undone, as far as the exit status is concerned. Each reason has its own
/// exit status (the lowest applies), and each but the evidence's can be accepted with --allow.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, clap::ValueEnum)]
enum Gap {
    /// The evidence itself leaves the check undone (exit 3; never accepted).
    #[value(skip)]
    Evidence,
    /// The bundle carries no anchored checkpoint, or its anchored tree does not reach the event
    /// (exit 4).
    Unanchored,
    /// The anchor is on chain, not yet as deep as --confirmations (exit 5).
    Unconfirmed,
    /// The anchors were not looked up on chain: no --rpc (exit 6).
    UncheckedAnchors,
    /// The --rpc node serves another chain than the anchors' (exit 7).
    OtherChain,
    /// No --device-keys: nothing says the key a bundle carries is the device's (exit 8).
    UnregisteredDevices,
    /// A tlog-proof checked without the event it is about: no --event (exit 9).
    EventNotShown,
    /// Nothing proves that a history lists every event of the item: the bundle carries no index
    /// proofs, or its writer says it left events out (exit 10). A bundle whose index proofs
    /// list an event it does not carry fails instead.
    IncompleteHistory,
    /// No --participants: each event's reporter and authority were taken as the bundle claims
    /// them (exit 11).
    UncheckedAuthority,
    /// An export's manifest was not checked: no --export-key, or the export carries none
    /// (exit 12).
    UncheckedManifest,
}

impl Gap {
    /// The exit status of a run whose first unaccepted gap is this one.
    fn exit_code(self) -> u8 {
        match self {
            Self::Evidence => 3,
            Self::Unanchored => 4,
            Self::Unconfirmed => 5,
            Self::UncheckedAnchors => 6,
            Self::OtherChain => 7,
            Self::UnregisteredDevices => 8,
            Self::EventNotShown => 9,
            Self::IncompleteHistory => 10,
            Self::UncheckedAuthority => 11,
            Self::UncheckedManifest => 12,
        }
    }

    /// What the run lacks, in the summary line; `None` for the evidence's gaps, whose first
    /// reason is given instead.
    fn describe(self) -> Option<&'static str> {
        Some(match self {
            Self::Evidence => return None,
            Self::Unanchored => "not anchored yet",
            Self::Unconfirmed => "anchors not confirmed deeply enough yet",
            Self::UncheckedAnchors => "anchors not looked up on chain (give --rpc)",
            Self::OtherChain => "anchors not looked up on chain (the node serves another chain)",
            Self::UnregisteredDevices => "device keys not checked (give --device-keys)",
            Self::EventNotShown => "the event of a tlog-proof was not shown (give --event)",
            Self::IncompleteHistory => "the history or the export is not proven complete",
            Self::UncheckedAuthority => {
                "who had authority for each event not checked (give --participants)"
            }
            Self::UncheckedManifest => {
                "who made the export not checked (give --export-key, or it has no manifest)"
            }
        })
    }
}

/// How the skipped checks of one file are classified.
#[derive(Clone, Copy, Debug)]
struct GapPolicy {
    device_keys_given: bool,
    /// Why the file's `anchor on chain` check was skipped, if it was.
    on_chain: Gap,
    /// Why its `chain agrees` check was skipped, if it was.
    chain_agrees: Gap,
}

impl GapPolicy {
    fn classify(self, name: CheckName) -> Gap {
        match name {
            CheckName::AnchoredCheckpoint
            | CheckName::Consistency
            | CheckName::AnchorCoversEvent => Gap::Unanchored,
            CheckName::AnchorOnChain => self.on_chain,
            CheckName::ChainAgrees => self.chain_agrees,
            CheckName::DeviceKeyRegistered if !self.device_keys_given => Gap::UnregisteredDevices,
            CheckName::EventHash => Gap::EventNotShown,
            CheckName::Complete => Gap::IncompleteHistory,
            CheckName::Authority => Gap::UncheckedAuthority,
            CheckName::Manifest => Gap::UncheckedManifest,
            _ => Gap::Evidence,
        }
    }
}

/// What was not checked, and why.
#[derive(Debug, Default)]
struct Gaps {
    /// Each reason, once, with the first check it left undone.
    found: std::collections::BTreeMap<Gap, String>,
}

impl Gaps {
    fn note(&mut self, gap: Gap, first: impl FnOnce() -> String) {
        self.found.entry(gap).or_insert_with(first);
    }

    fn merge(&mut self, other: Self, name: &str) {
        for (gap, first) in other.found {
            self.found
                .entry(gap)
                .or_insert_with(|| format!("{name}: {first}"));
        }
    }

    /// The gaps not accepted by --allow, lowest exit status first.
    fn unaccepted<'a>(&'a self, allow: &'a [Gap]) -> impl Iterator<Item = (Gap, &'a str)> + 'a {
        self.found
            .iter()
            .filter(|(gap, _)| !allow.contains(gap))
            .map(|(gap, first)| (*gap, first.as_str()))
    }

    /// `incomplete: ...` naming every unaccepted gap (the evidence's by its first check), or
    /// `None` when every gap was accepted.
    fn describe(&self, allow: &[Gap]) -> Option<String> {
        let parts: Vec<String> = self
            .unaccepted(allow)
            .map(|(gap, first)| match gap.describe() {
                Some(words) => words.to_owned(),
                None => first.to_owned(),
            })
            .collect();
        (!parts.is_empty()).then(|| parts.join("; "))
    }
}

/// How one file's checks came out.
#[derive(Debug, Default)]
struct FileOutcome {
    passed: usize,
    skipped: usize,
    /// The first failed check: where (an event, or the bundle), its name and the reason.
    first_failure: Option<String>,
    gaps: Gaps,
    /// For a provenance bundle or an export proven complete: the index size it is complete up
    /// to, and what is ("history", "export").
    complete_through: Option<(u64, &'static str)>,
}

impl FileOutcome {
    /// Records the checks of one report; `at` says where they were made ("" or "event 2 (leaf 7): ").
    fn record(&mut self, report: &Report, at: &str, policy: GapPolicy) {
        for check in report.checks() {
            match &check.outcome {
                Outcome::Passed => self.passed += 1,
                Outcome::Failed(reason) => {
                    self.first_failure
                        .get_or_insert_with(|| format!("{at}{}: {reason}", check.name));
                }
                Outcome::Skipped(reason) => {
                    self.skipped += 1;
                    self.gaps.note(policy.classify(check.name), || {
                        format!("{at}{} not checked: {reason}", check.name)
                    });
                }
            }
        }
    }

    fn summary(&self, allow: &[Gap]) -> String {
        if let Some(failure) = &self.first_failure {
            return format!("FAILED: {failure}");
        }
        let complete = self
            .complete_through
            .map_or_else(String::new, |(size, what)| {
                format!("; the {what} is complete up to entry {size} of the log")
            });
        match self.gaps.describe(allow) {
            Some(missing) => format!("incomplete: {missing}; every other check passed{complete}"),
            None if self.gaps.found.is_empty() => {
                format!("valid: {} checks passed{complete}", self.passed)
            }
            None => format!(
                "valid as allowed: {} checks passed, {} left undone as --allow accepts{complete}",
                self.passed, self.skipped
            ),
        }
    }
}

/// The outcome of every file: the last line and the exit status.
#[derive(Debug, Default)]
struct Run {
    first_failure: Option<String>,
    gaps: Gaps,
}

impl Run {
    fn add(&mut self, name: &str, file: FileOutcome) {
        if let Some(failure) = file.first_failure {
            self.first_failure
                .get_or_insert_with(|| format!("{name}: {failure}"));
        }
        self.gaps.merge(file.gaps, name);
    }

    fn conclusion(self, files: usize, allow: &[Gap]) -> (String, u8) {
        let files = count(files, "file");
        if let Some(failure) = self.first_failure {
            return (format!("FAILED: {failure}"), 1);
        }
        let first = self.gaps.unaccepted(allow).next().map(|(gap, _)| gap);
        match (first, self.gaps.describe(allow)) {
            (Some(gap), Some(missing)) => (
                format!("incomplete: {missing}; nothing failed in {files}"),
                gap.exit_code(),
            ),
            _ if self.gaps.found.is_empty() => (format!("valid: every check of {files} passed"), 0),
            _ => (
                format!(
                    "valid as allowed: nothing failed in {files}; checks left undone only for \
                     the reasons --allow names"
                ),
                0,
            ),
        }
    }
}

/// The event a tlog-proof is about (`--event`): its exact text and CBV 2.0 hash.
#[derive(Debug)]
struct ShownEvent {
    text: String,
    hash: epcis::EventHash,
}

impl ShownEvent {
    fn read(name: &str) -> anyhow::Result<Self> {
        let bytes = read_input(name)?;
        let text = String::from_utf8(bytes)
            .with_context(|| format!("--event {name}: the event must be UTF-8 JSON text"))?;
        let event: serde_json::Map<String, serde_json::Value> = serde_json::from_str(&text)
            .with_context(|| format!("--event {name}: not a JSON object"))?;
        let hash = ledger::bundle::recompute_event_hash(&event, None)
            .with_context(|| format!("--event {name}: the event cannot be hashed"))?;
        Ok(Self { text, hash })
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
    out: &mut dyn Write,
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
fn print_anchors(out: &mut dyn Write, on_chain: &OnChain, indent: &str) -> std::io::Result<()> {
    for anchor in &on_chain.anchors.anchors {
        let verdict = match &anchor.verdict {
            AnchorVerdict::Verified => "verified".to_owned(),
            // The reason is on the check's own line, below.
            AnchorVerdict::Failed { check, .. } => format!("FAILED: {check}"),
            AnchorVerdict::OtherChain { reason, .. } | AnchorVerdict::Unchecked(reason) => {
                format!("skipped: {reason}")
            }
            AnchorVerdict::Unconfirmed => "skipped: not confirmed deeply enough yet".to_owned(),
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
    out: &mut dyn Write,
    name: &str,
    evidence: &Evidence,
    trusted: &TrustedKeys,
    on_chain: Option<&OnChain>,
    event: Option<&ShownEvent>,
    policy: GapPolicy,
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
                on_chain.push_checks(&mut report);
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
                on_chain.push_checks(&mut bundle_checks);
            }
            print_checks(out, &bundle_checks, "  ", on_chain)?;
            outcome.record(&bundle_checks, "", policy);
            outcome.complete_through = report.complete_through().map(|size| (size, "history"));
            if let Some(size) = report.complete_through() {
                writeln!(
                    out,
                    "  the index proofs show every event of the history among the log's first \
                     {size} entries in the bundle"
                )?;
            }
            for (event, checked) in bundle.events.iter().zip(report.events()) {
                let at = format!("event {} (leaf {})", checked.position, checked.leaf_index);
                let why: Vec<String> = event.why.iter().map(ToString::to_string).collect();
                writeln!(out, "  {at}: {}; why: {}", event.event_hash, why.join("; "))?;
                print_checks(out, &checked.report, "    ", None)?;
                outcome.record(&checked.report, &format!("{at}: "), policy);
            }
        }
        Evidence::Export(export) => {
            let (answers, taken) = match (&export.query, &export.trace) {
                (Some(query), None) => {
                    let query: Vec<String> = query
                        .iter()
                        .map(|(name, value)| format!("{name}={value}"))
                        .collect();
                    (format!("the query {}", query.join("&")), "matching")
                }
                (None, Some(trace)) => {
                    let span = match (&trace.from, &trace.until) {
                        (None, None) => String::new(),
                        (from, until) => format!(
                            " from {} until {}",
                            from.as_deref().unwrap_or("the start"),
                            until.as_deref().unwrap_or("now")
                        ),
                    };
                    (
                        format!("the {} trace of {}{span}", trace.direction, trace.start),
                        "read by the trace",
                    )
                }
                _ => ("neither one query nor one trace".to_owned(), "matching"),
            };
            let report = verify_export(export, trusted);
            writeln!(
                out,
                "{name}: export of {answers}, {} ({} {taken})",
                count(export.events.len(), "event"),
                report.matching()
            )?;
            let mut checks = report.export_checks().clone();
            if let Some(on_chain) = on_chain {
                on_chain.push_checks(&mut checks);
            }
            print_checks(out, &checks, "  ", on_chain)?;
            outcome.record(&checks, "", policy);
            outcome.complete_through = report.complete_through().map(|size| (size, "export"));
            if let Some(made_by) = report.made_by() {
                writeln!(out, "  made by the export key {made_by}")?;
            }
            if let Some(size) = report.complete_through() {
                let what = match export.trace {
                    Some(_) => "the trace reads",
                    None => "matching the query",
                };
                writeln!(
                    out,
                    "  the index proofs show every event {what} among the log's first {size} \
                     entries in the export"
                )?;
            }
            for (event, checked) in export.events.iter().zip(report.events()) {
                let at = format!("event {} (leaf {})", checked.position, checked.leaf_index);
                writeln!(out, "  {at}: {}", event.event_hash)?;
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
            let mut report = verify_tlog_proof(proof, trusted.log(), event.map(|e| &e.hash));
            if let Some(event) = event {
                report.push(CheckName::EventBytes, event_bytes(proof, &event.text));
            }
            print_checks(out, &report, "  ", None)?;
            outcome.record(&report, "", policy);
        }
    }
    Ok(outcome)
}

/// Whether a tlog-proof's leaf record commits to the exact bytes of the event given with --event.
fn event_bytes(proof: &TlogProof, text: &str) -> Outcome {
    let Some(record) = proof
        .extra()
        .and_then(|bytes| LeafRecord::decode(bytes).ok())
    else {
        return Outcome::Skipped("the proof carries no leaf record to bind the event".to_owned());
    };
    match record.binds_event(text.as_bytes()) {
        EventBinding::Exact => Outcome::Passed,
        EventBinding::Differs { committed, found } => Outcome::Failed(format!(
            "the event's bytes have SHA-256 {found}; the leaf record commits to {committed}"
        )),
        EventBinding::HashOnly => Outcome::Skipped(
            "a version 1 leaf record commits to the CBV 2.0 hash only, not the event's bytes"
                .to_owned(),
        ),
    }
}

/// `1 event`, `2 events`.
fn count(n: usize, noun: &str) -> String {
    if n == 1 {
        format!("1 {noun}")
    } else {
        format!("{n} {noun}s")
    }
}
