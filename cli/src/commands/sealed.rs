//! Sealed event values (`ledger::sealed`): `tagtrail recipient keygen`, `tagtrail seal`,
//! `tagtrail open`, `tagtrail grant sealed` and `tagtrail erase`.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, bail};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use clap::{Args, Subcommand};
use ledger::LeafIndex;
use ledger::UnixMillis;
use ledger::key_file::{
    parse_recipient_key, parse_recipient_secret_file, recipient_key_file_text,
    recipient_secret_file_text,
};
use ledger::sealed::{
    self, Commitment, Envelope, FieldKey, KEYS_MEMBER, KeySet, Opening, RecipientKey,
    RecipientSecret, SealedField, Sealer,
};
use ledger_store::{Reader, Writer};
use serde_json::{Map, Value, json};
use zeroize::Zeroizing;

use super::ledger::{runtime, write_key_pair, write_new_file};
use super::org::parse_organisation;
use super::site::{DatabaseArgs, block_on_db};
use crate::input::read_input;

/// The longest erasure reference the ledger records (`erasures.request`).
const MAX_REQUEST_LEN: usize = 200;

fn random(bytes: &mut [u8]) {
    // The operating system's generator failing is not something to carry on from.
    #[allow(clippy::expect_used)]
    getrandom::fill(bytes).expect("the operating system gives random bytes");
}

#[derive(Debug, Subcommand)]
pub enum RecipientCommand {
    /// Generate an X25519 key pair for a recipient of sealed values: the private key file (mode
    /// 0600, for `tagtrail open --key`) and the public key file (`<FILE>.pub`, for `tagtrail
    /// seal --recipient`).
    Keygen {
        /// Where to write the private key (must not exist).
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
    },
    /// Register a public key of an organisation as a recipient of sealed values: capturers seal
    /// that organisation's data to its registered keys. A key belongs to one organisation, ever.
    Add {
        #[arg(long = "org", value_name = "ORG")]
        organisation: String,
        /// The public key: its file (`recipient keygen`'s `.pub`), or the key as base64 or hex.
        #[arg(long, value_name = "KEY")]
        public_key: String,
        #[command(flatten)]
        database: DatabaseArgs,
    },
    /// Retire a registered recipient key, for good (rotate by adding the new key first): ingest
    /// refuses documents sealed to it from now on. Values sealed to it before stay as they are.
    Retire {
        /// The key: its file, or the key as base64 or hex.
        #[arg(long, value_name = "KEY")]
        key: String,
        #[command(flatten)]
        database: DatabaseArgs,
    },
    /// List the registered recipient keys: organisation, state, key, added, retired.
    List {
        #[arg(long = "org", value_name = "ORG")]
        organisation: Option<String>,
        #[command(flatten)]
        database: DatabaseArgs,
    },
}

impl RecipientCommand {
    pub fn run(self) -> anyhow::Result<ExitCode> {
        let mut out = std::io::stdout().lock();
        match self {
            Self::Keygen { out: path } => {
                let secret = RecipientSecret::generate(&mut random);
                let public_text = recipient_key_file_text(&secret.public_key());
                write_key_pair(
                    &path,
                    recipient_secret_file_text(&secret).as_bytes(),
                    None,
                    public_text.as_bytes(),
                )?;
                write!(out, "{public_text}")?;
            }
            Self::Add {
                organisation,
                public_key,
                database,
            } => {
                let organisation = parse_organisation(&organisation)?;
                let key = read_recipient(&public_key)?;
                block_on_db(&database, |client| async move {
                    registry::add_recipient_key(&client, &organisation, &key)
                        .await
                        .context("Failed to add the recipient key")?;
                    writeln!(
                        out,
                        "recipient key {} added to organisation {}",
                        key.to_base64(),
                        organisation.as_str()
                    )?;
                    Ok(())
                })?;
            }
            Self::Retire { key, database } => {
                let key = read_recipient(&key)?;
                block_on_db(&database, |client| async move {
                    let info = registry::retire_recipient_key(&client, &key)
                        .await
                        .context("Failed to retire the recipient key")?;
                    let at = info
                        .retired_at
                        .map(UnixMillis::to_rfc3339)
                        .unwrap_or_default();
                    writeln!(
                        out,
                        "recipient key {} of organisation {} retired at {at}",
                        key.to_base64(),
                        info.organisation.as_str()
                    )?;
                    Ok(())
                })?;
            }
            Self::List {
                organisation,
                database,
            } => {
                let organisation = organisation
                    .as_deref()
                    .map(parse_organisation)
                    .transpose()?;
                block_on_db(&database, |client| async move {
                    for info in registry::list_recipient_keys(&client, organisation.as_ref())
                        .await
                        .context("Failed to list the recipient keys")?
                    {
                        let (state, retired) = match info.retired_at {
                            Some(at) => ("retired", at.to_rfc3339()),
                            None => ("current", String::new()),
                        };
                        writeln!(
                            out,
                            "{}\t{state}\t{}\t{}\t{retired}",
                            info.organisation.as_str(),
                            info.key.to_base64(),
                            info.added_at.to_rfc3339()
                        )?;
                    }
                    Ok(())
                })?;
            }
        }
        Ok(ExitCode::SUCCESS)
    }
}

/// Seal private fields of a capture document's events, before it is captured.
///
/// Each value named is replaced, in place, by a sealed value (`{"sealed:field": "<base64>"}`,
/// ledger/README.md "Sealed fields, version 1"): a salted commitment to it and, for recipients,
/// its ciphertext. The document gets the keys the recipients open it with (`sealed:keys`, kept
/// by ingest apart from the log). The event hash, the leaf and every proof are computed over the
/// sealed event, so they stay valid whatever becomes of the value. Only extension fields (a
/// namespaced member at the top of the event or of its `ilmd`, or a part of one) can be sealed.
/// Every field named must be in every event sealed: a misspelt pointer is an error, never a
/// value sent in clear.
#[derive(Debug, Args)]
pub struct SealCommand {
    /// The capture document, EPCIS 2.0 JSON (`-` for standard input).
    #[arg(value_name = "FILE")]
    document: String,
    /// A field to seal, as a JSON Pointer from the event's root (`/example:delivery`,
    /// `/ilmd/example:lot`, `/example:contact/example:phone`). Repeat it.
    #[arg(long = "field", value_name = "POINTER", required = true)]
    fields: Vec<String>,
    /// A recipient's public key: its key file (`tagtrail recipient keygen`'s `.pub`), or the key
    /// as base64 or 64 hex digits. Repeat it (at most 16).
    #[arg(long = "recipient", value_name = "KEY")]
    recipients: Vec<String>,
    /// An organisation to seal to: its current recipient keys, as the participants file
    /// (`--participants`) lists them. Repeat it; with `--recipient` too, all of them.
    #[arg(long = "to", value_name = "ORG", requires = "participants")]
    to: Vec<String>,
    /// The participants file (`tagtrail participants`) `--to` reads organisations' keys from.
    #[arg(long, value_name = "FILE", requires = "to")]
    participants: Option<PathBuf>,
    /// With no recipient: seal commitments only, and write what opens them (salt and value,
    /// secret) to this file (must not exist; mode 0600). Whoever holds it can prove the values.
    #[arg(long, value_name = "FILE")]
    openings: Option<PathBuf>,
    /// Seal the fields of these events only (their places in `eventList`, from 0). Repeat it.
    /// Default: every event.
    #[arg(long = "event", value_name = "INDEX")]
    events: Vec<usize>,
    /// Write the sealed document here (must not exist) instead of to standard output.
    #[arg(long, value_name = "FILE")]
    out: Option<PathBuf>,
}

impl SealCommand {
    pub fn run(self) -> anyhow::Result<ExitCode> {
        let mut recipients = self
            .recipients
            .iter()
            .map(|spelling| read_recipient(spelling))
            .collect::<anyhow::Result<Vec<_>>>()?;
        if let Some(path) = &self.participants {
            recipients.extend(organisations_keys(path, &self.to)?);
        }
        match (recipients.is_empty(), &self.openings) {
            (false, Some(_)) => {
                bail!("--openings is for commitments only: give it or --recipient, not both")
            }
            (true, None) => bail!(
                "give --recipient or --to (who may open the values) or --openings (where to \
                 keep what opens commitments): without any, nobody could ever open them"
            ),
            _ => {}
        }
        let mut document: Value = serde_json::from_slice(&read_input(&self.document)?)
            .with_context(|| format!("{} is not JSON", self.document))?;
        let pointers: Vec<&str> = self.fields.iter().map(String::as_str).collect();
        let mut sealer = if recipients.is_empty() {
            None
        } else {
            Some(
                Sealer::new(&recipients, &mut random)
                    .context("Cannot seal for these recipients")?,
            )
        };
        let root = document
            .as_object_mut()
            .context("the document is not a JSON object")?;
        sealed::declare_namespace(root)?;
        let events = root
            .get_mut("epcisBody")
            .and_then(|body| body.get_mut("eventList"))
            .and_then(Value::as_array_mut)
            .context("the document has no epcisBody.eventList")?;
        let chosen: Vec<usize> = if self.events.is_empty() {
            (0..events.len()).collect()
        } else {
            self.events.clone()
        };
        let mut openings = Vec::new();
        // Salts and field keys from one stream seeded by the operating system: one read of its
        // generator for the document, not one per value.
        let mut stream = sealed::KeyStream::new(&mut random);
        let mut draw = |bytes: &mut [u8]| stream.fill(bytes);
        for &index in &chosen {
            let event = events
                .get_mut(index)
                .and_then(Value::as_object_mut)
                .with_context(|| format!("the document has no event {index}"))?;
            let opened = sealed::seal_event_fields(event, &pointers, sealer.as_mut(), &mut draw)
                .with_context(|| format!("event {index}"))?;
            for (pointer, opening) in pointers.iter().zip(opened) {
                if let Some(opening) = opening {
                    openings.push(opening_json(index, pointer, &opening));
                }
            }
        }
        if let Some(sealer) = &sealer {
            let keys = root
                .entry(KEYS_MEMBER)
                .or_insert_with(|| Value::Array(Vec::new()));
            let list = keys
                .as_array_mut()
                .with_context(|| format!("the document's {KEYS_MEMBER} is not a list"))?;
            list.push(Value::String(sealer.key_set().to_base64()));
        }
        if let Some(path) = &self.openings {
            let text = Zeroizing::new(
                serde_json::to_string_pretty(&json!({ "openings": openings }))? + "\n",
            );
            write_new_file(path, text.as_bytes(), 0o600)
                .with_context(|| format!("Failed to write the openings to {}", path.display()))?;
        }
        let text = serde_json::to_string(&document)? + "\n";
        match &self.out {
            Some(path) => write_new_file(path, text.as_bytes(), 0o644)
                .with_context(|| format!("Failed to write {}", path.display()))?,
            None => std::io::stdout().lock().write_all(text.as_bytes())?,
        }
        Ok(ExitCode::SUCCESS)
    }
}

/// An opening as the openings file holds it: the value's JSON text as a string (the commitment
/// is over exactly those bytes).
fn opening_json(event: usize, pointer: &str, opening: &Opening) -> Value {
    json!({
        "event": event,
        "field": pointer,
        "commitment": opening.commitment().to_hex(),
        "salt": BASE64.encode(opening.salt()),
        "value": String::from_utf8_lossy(opening.value()),
    })
}

/// The current recipient keys of each organisation of `to`, from the participants file at
/// `path`; an organisation the file does not list, or lists with no current key, is refused.
fn organisations_keys(path: &Path, to: &[String]) -> anyhow::Result<Vec<RecipientKey>> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("Failed to read the participants file {}", path.display()))?;
    let participants: ledger::bundle::Participants = serde_json::from_str(&text)
        .with_context(|| format!("{} is not a participants file", path.display()))?;
    let mut keys = Vec::new();
    for name in to {
        let organisation = ledger::OrganisationId::parse(name)
            .map_err(|error| anyhow::anyhow!("--to {name:?}: {error}"))?;
        if !participants
            .organisations
            .iter()
            .any(|listed| listed.id == organisation)
        {
            bail!(
                "--to {organisation}: {} lists no such organisation",
                path.display()
            );
        }
        let current = participants
            .current_recipient_keys(&organisation)
            .with_context(|| format!("{} is not a valid participants file", path.display()))?;
        if current.is_empty() {
            bail!(
                "--to {organisation}: {} lists no current recipient key of it (it registers \
                 one with tagtrail recipient add)",
                path.display()
            );
        }
        keys.extend(current);
    }
    Ok(keys)
}

fn read_recipient(spelling: &str) -> anyhow::Result<RecipientKey> {
    let text = if Path::new(spelling).is_file() {
        std::fs::read_to_string(spelling).with_context(|| format!("Failed to read {spelling}"))?
    } else {
        spelling.to_owned()
    };
    Ok(parse_recipient_key(&text)?)
}

/// Grant sealed values you can open to further recipients (a regulator, an auditor).
///
/// Reads a capture document, one event, or a bundle, opens each value sealed to `--key` (with
/// the keys the input carries or trace-api's, as `open` does; each is checked against its
/// commitment), and writes a grant file, `{"sealed:keys": ["<base64 key set>"]}`: a fresh batch
/// key sent to each `--to`, with those values' field keys wrapped anew under it. Hand it to the
/// recipients, who open the same input with `tagtrail open --key THEIRS --keys GRANT`. The log
/// and its proofs are untouched. A grant, like a copy of the value, is beyond the reach of a
/// later `tagtrail erase`: grant only what the recipients may keep. Exits 0 when every value
/// sealed to `--key` was granted, 1 when there was none, 2 on bad input.
#[derive(Debug, Args)]
pub struct GrantCommand {
    /// The document, event or bundle (`-` for standard input).
    #[arg(value_name = "FILE")]
    input: String,
    /// Your private key file (`tagtrail recipient keygen`): a recipient of the values.
    #[arg(long, value_name = "FILE")]
    key: PathBuf,
    /// Who to grant them to: a public key file (`.pub`) or the key in base64 or hex; 1 to 16.
    #[arg(long = "to", value_name = "KEY", required = true)]
    to: Vec<String>,
    /// Only the values at these JSON Pointers (as `seal --field` names them); every value sealed
    /// to `--key` if none is given.
    #[arg(long = "field", value_name = "POINTER")]
    fields: Vec<String>,
    /// trace-api's base URL, where the keys of values sealed to `--key` are fetched.
    #[arg(long, value_name = "URL")]
    trace_api: Option<String>,
    /// Write the grant file here (must not exist) instead of to standard output.
    #[arg(long, value_name = "FILE")]
    out: Option<PathBuf>,
}

impl GrantCommand {
    pub fn run(self) -> anyhow::Result<ExitCode> {
        let text = Zeroizing::new(
            std::fs::read_to_string(&self.key)
                .with_context(|| format!("Failed to read {}", self.key.display()))?,
        );
        let secret = parse_recipient_secret_file(&text)?;
        let to = self
            .to
            .iter()
            .map(|spelling| {
                read_recipient(spelling).with_context(|| format!("Invalid --to {spelling}"))
            })
            .collect::<anyhow::Result<Vec<RecipientKey>>>()?;
        let mut input: Value = serde_json::from_slice(&read_input(&self.input)?)
            .with_context(|| format!("{} is not JSON", self.input))?;
        let key_sets = document_key_sets(&input)?;
        let trace_api = self.trace_api.as_deref().map(TraceApi::new);
        let me = secret.public_key();
        let mut granted: Vec<(SealedField, FieldKey, Envelope)> = Vec::new();
        let mut report = std::io::stderr().lock();
        for_each_event(&mut input, &mut |name, event| {
            for at in sealed::sealed_fields(event) {
                let Ok(field) = at.field else { continue };
                if !field.is_encrypted()
                    || (!self.fields.is_empty() && !self.fields.contains(&at.pointer))
                {
                    continue;
                }
                match keys_for(&field, &me, &key_sets, trace_api.as_ref())? {
                    Ok((field_key, envelope)) => {
                        writeln!(report, "{name} {}: granted", at.pointer)?;
                        granted.push((field, field_key, envelope));
                    }
                    Err(why) => writeln!(report, "{name} {}: not granted: {why}", at.pointer)?,
                }
            }
            Ok(())
        })?;
        if granted.is_empty() {
            writeln!(report, "no value sealed to this key was found to grant")?;
            return Ok(ExitCode::from(1));
        }
        let values: Vec<(&SealedField, &FieldKey, &Envelope)> =
            granted.iter().map(|(f, k, e)| (f, k, e)).collect();
        let grant = sealed::grant(&values, &secret, &to, &mut random)?;
        let text = serde_json::to_string(&json!({ KEYS_MEMBER: [grant.to_base64()] }))? + "\n";
        match &self.out {
            Some(path) => write_new_file(path, text.as_bytes(), 0o644)
                .with_context(|| format!("Failed to write {}", path.display()))?,
            None => std::io::stdout().lock().write_all(text.as_bytes())?,
        }
        Ok(ExitCode::SUCCESS)
    }
}

/// Open the sealed values of events, as their recipient or with their openings.
///
/// Reads a capture document, one event, or a proof bundle or provenance bundle (whose events are
/// opened), and writes it back with every sealed value it could open in clear: values sealed to
/// `--key`, with their keys from the document itself (a document `tagtrail seal` wrote) or from
/// trace-api (`--trace-api`); commitments with `--openings`, each checked against its
/// commitment. Says on standard error what became of each sealed value. Exits 0 when every
/// sealed value was opened, 1 when some were not (erased, sealed to other keys, or no opening).
#[derive(Debug, Args)]
pub struct OpenCommand {
    /// The document, event or bundle (`-` for standard input).
    #[arg(value_name = "FILE")]
    input: String,
    /// The recipient's private key file (`tagtrail recipient keygen`).
    #[arg(long, value_name = "FILE")]
    key: Option<PathBuf>,
    /// trace-api's base URL (`http://host:port`): where the keys of values sealed to `--key` are
    /// fetched (`GET /sealed/{commitment}/{recipient}`).
    #[arg(long, value_name = "URL")]
    trace_api: Option<String>,
    /// An openings file (`tagtrail seal --openings`), for values sealed as commitments only.
    #[arg(long, value_name = "FILE")]
    openings: Option<PathBuf>,
    /// A grant file (`tagtrail grant sealed`): key sets that open values for `--key`, beside those of
    /// the input and trace-api's.
    #[arg(long = "keys", value_name = "FILE")]
    grants: Option<PathBuf>,
    /// Write the opened result here (must not exist; mode 0600: it holds the values in clear)
    /// instead of to standard output.
    #[arg(long, value_name = "FILE")]
    out: Option<PathBuf>,
}

/// What became of one sealed value.
enum Outcome {
    Opened(Value),
    Not(String),
}

impl OpenCommand {
    pub fn run(self) -> anyhow::Result<ExitCode> {
        let secret = self
            .key
            .as_deref()
            .map(|path| {
                let text = Zeroizing::new(
                    std::fs::read_to_string(path)
                        .with_context(|| format!("Failed to read {}", path.display()))?,
                );
                anyhow::Ok(parse_recipient_secret_file(&text)?)
            })
            .transpose()?;
        if secret.is_none() && self.openings.is_none() {
            bail!("give --key (a recipient's private key) or --openings (commitments' openings)");
        }
        if self.trace_api.is_some() && secret.is_none() {
            bail!("--trace-api fetches the keys of --key: give --key too");
        }
        let openings = match &self.openings {
            Some(path) => read_openings(path)?,
            None => Vec::new(),
        };
        let mut input: Value = serde_json::from_slice(&read_input(&self.input)?)
            .with_context(|| format!("{} is not JSON", self.input))?;
        let mut key_sets = document_key_sets(&input)?;
        if let Some(path) = &self.grants {
            let grant: Value = serde_json::from_slice(
                &std::fs::read(path)
                    .with_context(|| format!("Failed to read {}", path.display()))?,
            )
            .with_context(|| format!("{} is not JSON", path.display()))?;
            if grant.get(KEYS_MEMBER).is_none() {
                bail!(
                    "{} is not a grant file: it has no {KEYS_MEMBER}",
                    path.display()
                );
            }
            key_sets.extend(
                document_key_sets(&grant)
                    .with_context(|| format!("{} is not a grant file", path.display()))?,
            );
        }
        let keys = KeySource {
            secret: secret.as_ref(),
            key_sets: &key_sets,
            trace_api: self.trace_api.as_deref().map(TraceApi::new),
        };
        let mut report = std::io::stderr().lock();
        let mut unopened = 0usize;
        let mut total = 0usize;
        for_each_event(&mut input, &mut |name, event| {
            for at in sealed::sealed_fields(event) {
                total += 1;
                let outcome = match &at.field {
                    Ok(field) => open_one(field, &keys, &openings)?,
                    Err(error) => Outcome::Not(format!("not a sealed value: {error}")),
                };
                match outcome {
                    Outcome::Opened(value) => {
                        let mut whole = Value::Object(std::mem::take(event));
                        if let Some(slot) = whole.pointer_mut(&at.pointer) {
                            *slot = value;
                        }
                        if let Value::Object(map) = whole {
                            *event = map;
                        }
                        writeln!(report, "{name} {}: opened", at.pointer)?;
                    }
                    Outcome::Not(why) => {
                        unopened += 1;
                        writeln!(report, "{name} {}: not opened: {why}", at.pointer)?;
                    }
                }
            }
            Ok(())
        })?;
        if total == 0 {
            bail!("no sealed value in {}", self.input);
        }
        if let Value::Object(root) = &mut input {
            // The keys are no use to whoever reads the values in clear.
            root.remove(KEYS_MEMBER);
        }
        let text = Zeroizing::new(serde_json::to_string(&input)? + "\n");
        match &self.out {
            Some(path) => write_new_file(path, text.as_bytes(), 0o600)
                .with_context(|| format!("Failed to write {}", path.display()))?,
            None => std::io::stdout().lock().write_all(text.as_bytes())?,
        }
        Ok(if unopened == 0 {
            ExitCode::SUCCESS
        } else {
            ExitCode::from(1)
        })
    }
}

/// Where the keys of values sealed to a recipient come from.
struct KeySource<'a> {
    secret: Option<&'a RecipientSecret>,
    key_sets: &'a [KeySet],
    trace_api: Option<TraceApi>,
}

fn open_one(
    field: &SealedField,
    keys: &KeySource<'_>,
    openings: &[(Commitment, Opening)],
) -> anyhow::Result<Outcome> {
    let opened = |bytes: &[u8]| -> anyhow::Result<Outcome> {
        Ok(Outcome::Opened(serde_json::from_slice(bytes).context(
            "a sealed value opened to text that is not JSON",
        )?))
    };
    if !field.is_encrypted() {
        return match openings
            .iter()
            .find(|(claimed, _)| claimed == field.commitment())
        {
            Some((_, opening)) if opening.opens(field) => opened(opening.value()),
            Some(_) => Ok(Outcome::Not(
                "the opening given does not match its commitment".to_owned(),
            )),
            None => Ok(Outcome::Not(
                "a commitment only, and no opening of it was given".to_owned(),
            )),
        };
    }
    let Some(secret) = keys.secret else {
        return Ok(Outcome::Not(
            "sealed for recipients, and no --key was given".to_owned(),
        ));
    };
    let me = secret.public_key();
    let (field_key, envelope) = match keys_for(field, &me, keys.key_sets, keys.trace_api.as_ref())?
    {
        Ok(found) => found,
        Err(why) => return Ok(Outcome::Not(why)),
    };
    match sealed::open(field, &field_key, &envelope, secret) {
        Ok(opening) => opened(opening.value()),
        // trace-api answers every key alike, a key the value is not sealed to with an envelope
        // no key opens (so that nobody learns by asking to whom a value was sealed).
        Err(sealed::OpenError::Envelope) => Ok(Outcome::Not(
            "not sealed to this key (its envelope does not open with it)".to_owned(),
        )),
        Err(error) => Ok(Outcome::Not(format!("cannot open it: {error}"))),
    }
}

/// The keys that open `field` for recipient `me`: from `key_sets` (the input's, a grant's), else
/// from trace-api; or why there are none.
fn keys_for(
    field: &SealedField,
    me: &RecipientKey,
    key_sets: &[KeySet],
    trace_api: Option<&TraceApi>,
) -> anyhow::Result<Result<(FieldKey, Envelope), String>> {
    let own = key_sets.iter().find_map(|set| {
        let field_key = set
            .field_keys()
            .iter()
            .find(|k| k.commitment() == field.commitment())?;
        let envelope = set.envelopes().iter().find(|e| e.recipient() == *me)?;
        Some((field_key.clone(), envelope.clone()))
    });
    match (own, trace_api) {
        (Some(found), _) => Ok(Ok(found)),
        (None, Some(trace_api)) => trace_api.keys(field.commitment(), me),
        (None, None) => Ok(Err(
            "no keys for this key in the input; give --trace-api to fetch them".to_owned(),
        )),
    }
}

/// trace-api, asked for the keys of sealed values.
struct TraceApi {
    base: String,
    agent: ureq::Agent,
}

impl TraceApi {
    fn new(base: &str) -> Self {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(30)))
            .build()
            .into();
        Self {
            base: base.trim_end_matches('/').to_owned(),
            agent,
        }
    }

    /// The keys of one value for one recipient, or why there are none.
    fn keys(
        &self,
        commitment: &Commitment,
        recipient: &RecipientKey,
    ) -> anyhow::Result<Result<(FieldKey, Envelope), String>> {
        let url = format!(
            "{}/sealed/{}/{}",
            self.base,
            commitment.to_hex(),
            recipient.to_hex()
        );
        let mut response = self
            .agent
            .get(&url)
            .call()
            .with_context(|| format!("Failed to ask {} for keys", self.base))?;
        let status = response.status().as_u16();
        let bytes = response
            .body_mut()
            .with_config()
            .limit(64 * 1024)
            .read_to_vec()
            .with_context(|| format!("Failed to read the answer of {url}"))?;
        let body: Value = serde_json::from_slice(&bytes)
            .with_context(|| format!("{url} answered {status} with no JSON"))?;
        let detail = || body["detail"].as_str().unwrap_or("").to_owned();
        match status {
            200 => {}
            404 => return Ok(Err(format!("not sealed to this key ({})", detail()))),
            410 => return Ok(Err(format!("erased ({})", detail()))),
            _ => bail!("{url} answered {status}: {}", detail()),
        }
        let bytes = |name: &str| {
            body[name]
                .as_str()
                .and_then(|text| BASE64.decode(text).ok())
                .with_context(|| format!("{url} answered no base64 {name}"))
        };
        let field_key = FieldKey::from_parts(*commitment, &bytes("fieldKey")?)
            .with_context(|| format!("{url} answered a field key of the wrong length"))?;
        let envelope = Envelope::from_parts(*recipient, &bytes("envelope")?)
            .with_context(|| format!("{url} answered an envelope of the wrong length"))?;
        Ok(Ok((field_key, envelope)))
    }
}

/// The key sets a document carries (`sealed:keys`), if it is one.
fn document_key_sets(input: &Value) -> anyhow::Result<Vec<KeySet>> {
    let Some(list) = input.get(KEYS_MEMBER) else {
        return Ok(Vec::new());
    };
    list.as_array()
        .with_context(|| format!("{KEYS_MEMBER} is not a list"))?
        .iter()
        .map(|item| {
            let text = item
                .as_str()
                .with_context(|| format!("{KEYS_MEMBER} holds a non-string"))?;
            KeySet::parse_base64(text).with_context(|| format!("{KEYS_MEMBER} holds a bad key set"))
        })
        .collect()
}

/// What is done with each event found: its name (`event 0`, ...) and its members.
type Visit<'a> = dyn FnMut(&str, &mut Map<String, Value>) -> anyhow::Result<()> + 'a;

/// Calls `visit` with each event of a document, an event, or a bundle (whose events are JSON
/// text: they are parsed, visited, and written back as JSON, no longer the bytes proofs cover).
fn for_each_event(input: &mut Value, visit: &mut Visit<'_>) -> anyhow::Result<()> {
    let as_text = |slot: &mut Value, name: &str, visit: &mut Visit<'_>| -> anyhow::Result<()> {
        let text = slot
            .as_str()
            .with_context(|| format!("{name} is not JSON text"))?;
        let mut event: Value =
            serde_json::from_str(text).with_context(|| format!("{name} is not JSON"))?;
        let map = event
            .as_object_mut()
            .with_context(|| format!("{name} is not an object"))?;
        visit(name, map)?;
        *slot = event;
        Ok(())
    };
    if let Some(events) = input
        .pointer_mut("/epcisBody/eventList")
        .and_then(Value::as_array_mut)
    {
        for (index, event) in events.iter_mut().enumerate() {
            let name = format!("event {index}");
            let map = event
                .as_object_mut()
                .with_context(|| format!("{name} is not an object"))?;
            visit(&name, map)?;
        }
        return Ok(());
    }
    if let Some(events) = input.get_mut("events").and_then(Value::as_array_mut) {
        for (index, entry) in events.iter_mut().enumerate() {
            let slot = entry
                .get_mut("event")
                .with_context(|| format!("bundle event {index} has no event"))?;
            as_text(slot, &format!("event {index}"), visit)?;
        }
        return Ok(());
    }
    if input.get("event").is_some_and(Value::is_string) {
        if let Some(slot) = input.get_mut("event") {
            as_text(slot, "event", visit)?;
        }
        return Ok(());
    }
    let map = input
        .as_object_mut()
        .context("the input is not a JSON object")?;
    visit("event", map)
}

/// The openings of a file, each with the commitment the file says it opens.
fn read_openings(path: &Path) -> anyhow::Result<Vec<(Commitment, Opening)>> {
    let text = Zeroizing::new(
        std::fs::read_to_string(path)
            .with_context(|| format!("Failed to read {}", path.display()))?,
    );
    let malformed = || {
        format!(
            "{} is not an openings file (tagtrail seal --openings)",
            path.display()
        )
    };
    let json: Value = serde_json::from_str(&text).with_context(malformed)?;
    json["openings"]
        .as_array()
        .with_context(malformed)?
        .iter()
        .map(|item| {
            let salt: [u8; 32] = item["salt"]
                .as_str()
                .and_then(|text| BASE64.decode(text).ok())
                .and_then(|bytes| bytes.try_into().ok())
                .with_context(malformed)?;
            let value = item["value"].as_str().with_context(malformed)?;
            let claimed = item["commitment"]
                .as_str()
                .and_then(Commitment::parse_hex)
                .with_context(malformed)?;
            Ok((claimed, Opening::new(salt, value.as_bytes().to_vec())))
        })
        .collect()
}

/// Erase sealed values of a logged event: destroy the keys that open them, for good.
///
/// Erases every sealed value of the entry at `--leaf` (or those at `--field`): their field keys
/// and the batch keys' envelopes no other value needs are deleted and vacuumed away, and each
/// erasure is recorded with `--request`, in one transaction. The event, its hash, its leaf and
/// every proof stay as they were and still verify; the value can no longer be opened, nor
/// confirmed by guessing (its salt was inside the ciphertext). Prints the record of what was
/// erased (JSON: no personal data). Erasing again changes nothing and says when it was done.
#[derive(Debug, Args)]
pub struct EraseCommand {
    /// The log entry (leaf index) whose event holds the values.
    #[arg(long, value_name = "N")]
    leaf: u64,
    /// Erase only the sealed value at this JSON Pointer of the event. Repeat it. Default: every
    /// sealed value of the event.
    #[arg(long = "field", value_name = "POINTER")]
    fields: Vec<String>,
    /// The operator's reference for the erasure request (a ticket number: no personal data;
    /// 1 to 200 characters). Recorded with the erasure.
    #[arg(long, value_name = "TEXT")]
    request: String,
    #[command(flatten)]
    database: DatabaseArgs,
}

impl EraseCommand {
    pub fn run(self) -> anyhow::Result<ExitCode> {
        let length = self.request.chars().count();
        if length == 0 || length > MAX_REQUEST_LEN || self.request.len() > 4 * MAX_REQUEST_LEN {
            bail!("--request must be 1 to {MAX_REQUEST_LEN} characters, not {length}");
        }
        let leaf = LeafIndex::new(self.leaf).context("--leaf is beyond the largest log")?;
        let url = self.database.database_url.as_str();
        let reader = Reader::connect(url).context("Invalid --database-url")?;
        let writer = Writer::connect(url).context("Invalid --database-url")?;
        let record = runtime()?.block_on(async {
            let entry = reader
                .entry(leaf)
                .await
                .context("Failed to read the log")?
                .with_context(|| format!("the log has no entry {}", self.leaf))?;
            let event: Value = serde_json::from_str(&entry.event)
                .with_context(|| format!("entry {} holds no JSON event", self.leaf))?;
            let map = event
                .as_object()
                .with_context(|| format!("entry {} holds no JSON object", self.leaf))?;
            let mut chosen = sealed::sealed_fields(map);
            if chosen.is_empty() {
                bail!("the event of entry {} holds no sealed value", self.leaf);
            }
            if !self.fields.is_empty() {
                for field in &self.fields {
                    if !chosen.iter().any(|at| &at.pointer == field) {
                        bail!(
                            "the event of entry {} holds no sealed value at {field}; it has: {}",
                            self.leaf,
                            chosen
                                .iter()
                                .map(|at| at.pointer.as_str())
                                .collect::<Vec<_>>()
                                .join(", ")
                        );
                    }
                }
                chosen.retain(|at| self.fields.contains(&at.pointer));
            }
            let commitments = chosen
                .iter()
                .map(|at| match &at.field {
                    Ok(field) => Ok(*field.commitment()),
                    Err(error) => Err(anyhow::anyhow!(
                        "the sealed value at {} of entry {} is malformed: {error}",
                        at.pointer,
                        self.leaf
                    )),
                })
                .collect::<anyhow::Result<Vec<Commitment>>>()?;
            let erased = writer
                .erase(leaf, &commitments, &self.request)
                .await
                .context("Failed to erase")?;
            let fields: Vec<Value> = chosen
                .iter()
                .zip(&erased)
                .map(|(at, erasure)| {
                    json!({
                        "field": at.pointer,
                        "commitment": erasure.commitment.to_hex(),
                        "erasedAt": UnixMillis::from_millis(erasure.erased_at_unix_ms).to_rfc3339(),
                        "keysDestroyed": erasure.keys_destroyed,
                        "alreadyErased": erasure.already_erased,
                    })
                })
                .collect();
            anyhow::Ok(json!({
                "leafIndex": self.leaf,
                "eventHash": entry.record.event_hash().to_ni_uri(),
                "request": self.request,
                "erased": fields,
            }))
        })?;
        writeln!(
            std::io::stdout().lock(),
            "{}",
            serde_json::to_string_pretty(&record)?
        )?;
        Ok(ExitCode::SUCCESS)
    }
}
