//! `tagtrail nfc`: NTAG 424 DNA tags that cannot be copied (`ledger::nfc`): their key file, their
//! registration in the registry (`registry::nfc`), and tap URLs made as a tag makes them, for
//! tests and demos.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::Subcommand;
use ledger::history::Item;
use ledger::nfc::{Form, KeyVersion, Keys, SunKey, Uid};
use registry::nfc::{Registered, is_scanned_item};
use zeroize::Zeroizing;

use super::site::{DatabaseArgs, block_on_db};

// The doc comments are `--help` text, printed as written: its example URL stays bare.
#[allow(rustdoc::bare_urls)]
#[derive(Debug, Subcommand)]
pub enum NfcCommand {
    /// Write a new NFC key file: the AES-128 keys tags are programmed with and trace-api checks
    /// taps with (`[scans] nfc_keys`). Keep it outside the database, readable by trace-api
    /// alone (written with mode 0600).
    ///
    /// With --from, the new file holds every version of that one and a new version numbered
    /// one above its newest: tags programmed from then on use the new version, and tags
    /// programmed before keep verifying under theirs.
    Keygen {
        /// Where to write it (refused if it exists).
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
        /// An existing key file to add a version to.
        #[arg(long, value_name = "FILE")]
        from: Option<PathBuf>,
    },
    /// Register a tag as attached to an item, under the key version it was programmed with.
    ///
    /// A tag registered already is registered again only under a newer key version (it was
    /// re-programmed): its counter then starts again, and URLs read from it before never verify.
    Register {
        /// The tag's UID, 14 hex digits (e.g. 04DE5F1EACC040).
        #[arg(long, value_name = "HEX")]
        uid: String,
        /// The item: its EPC URI (urn:epc:id:sgtin:...) or GS1 Digital Link.
        #[arg(long, value_name = "ID")]
        item: String,
        /// The key version the tag was programmed with.
        #[arg(long, value_name = "N")]
        key_version: u16,
        #[command(flatten)]
        database: DatabaseArgs,
    },
    /// List the registered tags: UID, item, key version and the last counter accepted.
    List {
        #[command(flatten)]
        database: DatabaseArgs,
    },
    /// Print the URL a tag with these keys gives a phone when it reads COUNTER: the item's
    /// link with the tag's encrypted UID and counter and its MAC (`picc_data=...&cmac=...`, or
    /// `e=...&c=...` with --short). For tests and demos: a real tag makes these itself.
    Tap {
        /// The link the tag carries, e.g. https://example.com/01/10614141073464/21/2017.
        #[arg(value_name = "URL")]
        url: String,
        /// The NFC key file.
        #[arg(long, value_name = "FILE")]
        keys: PathBuf,
        /// The tag's UID, 14 hex digits.
        #[arg(long, value_name = "HEX")]
        uid: String,
        /// The tag's read counter (0 to 16777215; each tap reads one more).
        #[arg(long, value_name = "N")]
        counter: u32,
        /// The key version (default: the file's newest).
        #[arg(long, value_name = "N")]
        key_version: Option<u16>,
        /// The short form, `e=` and `c=`.
        #[arg(long)]
        short: bool,
    },
}

impl NfcCommand {
    pub fn run(self) -> anyhow::Result<ExitCode> {
        let mut out = std::io::stdout().lock();
        match self {
            Self::Keygen { out: path, from } => {
                let mut versions = match &from {
                    Some(from) => Keys::read(from)?.versions().to_vec(),
                    None => Vec::new(),
                };
                let number = match versions.iter().map(|version| version.version).max() {
                    Some(newest) => newest.checked_add(1).context("no key version is left")?,
                    None => 1,
                };
                versions.push(KeyVersion {
                    version: number,
                    meta_read: random_key()?,
                    file_read_master: random_key()?,
                });
                let keys = Keys::new(versions)?;
                super::ledger::write_new_file(&path, keys.file_text().as_bytes(), 0o600)
                    .with_context(|| format!("Failed to write {}", path.display()))?;
                writeln!(
                    out,
                    "wrote {} with key version {number} (new tags are programmed with it)",
                    path.display()
                )?;
            }
            Self::Register {
                uid,
                item,
                key_version,
                database,
            } => {
                let uid = parse_uid(&uid)?;
                let item = canonical_item(&item)?;
                block_on_db(&database, |client| async move {
                    let registered =
                        registry::nfc::register_tag(&client, uid, &item, key_version).await?;
                    match registered {
                        Registered::New => writeln!(
                            out,
                            "tag {uid} registered for {item} under key version {key_version}"
                        )?,
                        Registered::Unchanged => writeln!(
                            out,
                            "tag {uid} was registered for {item} under key version {key_version} already"
                        )?,
                        Registered::Reprogrammed { from } => writeln!(
                            out,
                            "tag {uid} registered for {item} under key version {key_version} \
                             (was {from}): its counter starts again"
                        )?,
                    }
                    Ok(())
                })?;
            }
            Self::List { database } => {
                block_on_db(&database, |client| async move {
                    for tag in registry::nfc::list_tags(&client).await? {
                        let last = tag
                            .last_counter
                            .map_or_else(|| "-".to_owned(), |counter| counter.to_string());
                        writeln!(
                            out,
                            "{}\t{}\tversion {}\tlast counter {last}",
                            tag.uid, tag.item, tag.key_version
                        )?;
                    }
                    Ok(())
                })?;
            }
            Self::Tap {
                url,
                keys,
                uid,
                counter,
                key_version,
                short,
            } => {
                let keys = Keys::read(&keys)?;
                let uid = parse_uid(&uid)?;
                if counter > ledger::nfc::MAX_COUNTER {
                    anyhow::bail!(
                        "a tag's counter is at most {} (24 bits)",
                        ledger::nfc::MAX_COUNTER
                    );
                }
                let version = match key_version {
                    Some(number) => keys
                        .version(number)
                        .with_context(|| format!("the key file has no key version {number}"))?,
                    None => keys.newest(),
                };
                let mut padding = [0u8; 5];
                getrandom::fill(&mut padding)
                    .map_err(|error| anyhow::anyhow!("no random bytes: {error}"))?;
                let sun = version.tap(uid, counter, padding);
                let form = if short { Form::Short } else { Form::Named };
                let separator = if url.contains('?') { '&' } else { '?' };
                writeln!(out, "{url}{separator}{}", sun.query(form))?;
            }
        }
        Ok(ExitCode::SUCCESS)
    }
}

fn parse_uid(text: &str) -> anyhow::Result<Uid> {
    Uid::parse(text).with_context(|| format!("{text:?} is not a tag UID (14 hex digits)"))
}

/// The item's canonical GS1 Digital Link, from any identifier of one item a consumer scans (a
/// trade item with its serial, or a logistic unit).
fn canonical_item(given: &str) -> anyhow::Result<String> {
    let item = Item::parse(given)?;
    item.names
        .iter()
        .find(|name| is_scanned_item(name))
        .cloned()
        .with_context(|| {
            format!(
                "{given} is not an item a tag can be attached to: a serialised trade item \
                 (SGTIN) or a logistic unit (SSCC)"
            )
        })
}

fn random_key() -> anyhow::Result<SunKey> {
    let mut bytes = Zeroizing::new([0u8; ledger::nfc::KEY_LEN]);
    getrandom::fill(bytes.as_mut_slice())
        .map_err(|error| anyhow::anyhow!("no random bytes: {error}"))?;
    Ok(SunKey::from_bytes(*bytes))
}
