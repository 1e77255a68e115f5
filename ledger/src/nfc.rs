//! NFC tags that cannot be copied: NXP NTAG 424 DNA Secure Unique NFC (SUN) messages, checked.
//!
//! A tag programmed for SUN puts two values into the URL it gives a phone on each tap: the
//! *PICC data*, its UID and its read counter encrypted with AES-128 (`picc_data=` or `e=`, 32 hex
//! digits), and the *SUN MAC*, an AES-CMAC over the tap under a session key derived from the
//! tag's own key, the UID and the counter (`cmac=` or `c=`, 16 hex digits). The counter goes up
//! by one on every tap, so a URL copied from a tag verifies once: the service accepts a tap only
//! when its counter is greater than the last it accepted for that tag (trace-api checks and
//! stores that in one statement).
//!
//! What this module does, as NXP application note AN12196 ("NTAG 424 DNA and NTAG 424 DNA
//! TagTamper features and hints") describes it:
//! - the PICC data is decrypted with `K_SDMMetaRead` (AES-128-CBC, IV zero, one block) into
//!   `PICCDataTag (C7) || UID (7 bytes) || SDMReadCtr (3 bytes, least significant first) ||
//!   padding (5 random bytes)`; `C7` says the UID (7 bytes) and the counter are mirrored, and a
//!   block that does not start with it was not encrypted with that key;
//! - the session MAC key is `AES-CMAC(K_SDMFileRead, 3C C3 00 01 00 80 || UID || SDMReadCtr)`;
//! - the SUN MAC is `AES-CMAC(session key, input)`, of which the 8 bytes at odd positions
//!   (1, 3, ..., 15) are sent. Our tags are programmed with an empty MAC input (the SDM MAC input
//!   offset equal to the SDM MAC offset): the UID and the counter are bound by the session key.
//!
//! Keys. `K_SDMMetaRead` is shared by every tag of a key version (the UID is only known once the
//! PICC data is decrypted). Each tag's `K_SDMFileRead` is diversified from its version's master
//! key by NXP AN10922 (AES-128): `AN10922(master, UID || "tagtrail")`. A re-programmed tag gets a
//! new key version, so a URL made under its old keys never verifies again. The key file
//! ([`Keys::parse`]) lives outside the database; keys are zeroed when dropped, never shown by
//! `Debug`, and MACs are compared in constant time.

use std::fmt;

use aes::Aes128;
use aes::cipher::{Array, BlockCipherDecrypt, BlockCipherEncrypt, KeyInit};
use cmac::{Cmac, Mac};
use serde::{Deserialize, Serialize};
use subtle::ConstantTimeEq as _;
use zeroize::{Zeroize as _, Zeroizing};

#[cfg(test)]
mod tests;

/// The bytes of an AES-128 key.
pub const KEY_LEN: usize = 16;

/// The bytes of an NTAG 424 DNA UID.
pub const UID_LEN: usize = 7;

/// The encrypted PICC data: one AES block.
pub const PICC_LEN: usize = 16;

/// The bytes of the SUN MAC a tap carries.
pub const MAC_LEN: usize = 8;

/// The first byte of decrypted PICC data with the UID (7 bytes) and the counter mirrored.
pub const PICC_DATA_TAG: u8 = 0xC7;

/// The greatest read counter a tag has (24 bits).
pub const MAX_COUNTER: u32 = 0x00FF_FFFF;

/// What follows the UID in the AN10922 diversification input of a tag's file-read key (its
/// "system identifier").
pub const SYSTEM_IDENTIFIER: &[u8] = b"tagtrail";

/// The most key versions a key file holds (each tap is tried against each, so they are bounded).
pub const MAX_VERSIONS: usize = 16;

/// Why a tap's parameters or a key file were refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SunError {
    #[error("the tap has `{present}` without `{missing}`")]
    Incomplete {
        present: &'static str,
        missing: &'static str,
    },
    #[error("the tap's parameter `{0}` is given more than once")]
    Repeated(&'static str),
    #[error("the tap's parameter `{name}` is not {digits} hex digits")]
    Malformed { name: &'static str, digits: usize },
    #[error("the NFC key file is not valid: {0}")]
    KeyFile(String),
}

/// Why a tap was not accepted, as the verdict names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Refusal {
    /// No key version's meta key decrypts the PICC data: not one of our tags, or altered.
    NotOurs,
    /// The PICC data decrypts, but the MAC is wrong: the UID, the counter or the MAC was
    /// altered, or the tag's keys are not the ones it was registered with.
    BadMac,
    /// The tag is not registered, or under another key version (re-programmed since).
    Unregistered,
    /// The tag is registered for another item: its URL was put on this one.
    OtherItem,
}

impl Refusal {
    /// In plain words.
    pub fn meaning(self) -> &'static str {
        match self {
            Self::NotOurs => "its data was not made by one of our tags, or was altered",
            Self::BadMac => "its MAC does not verify: the URL was altered",
            Self::Unregistered => "the tag is not registered (or was re-programmed since)",
            Self::OtherItem => "the tag belongs to another item",
        }
    }
}

/// What came of checking an NFC tap, as the verdict weighs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TapCheck {
    /// A valid SUN message with a counter above every one accepted before: the tag was there.
    Accepted { uid: Uid, counter: u32 },
    /// A valid SUN message whose counter is not above the last accepted for the tag: the URL
    /// was opened before (or copied from the tag).
    Replayed { uid: Uid, counter: u32, last: u32 },
    /// Not a valid tap of this item's tag.
    Refused(Refusal),
    /// The tap's parameters are malformed (a Digital Link may carry other parameters named
    /// like a tap's): weighs nothing.
    Malformed(SunError),
    /// A valid SUN message whose counter could not be checked against the last accepted (the
    /// database failed): it may be a replay, so the item is left unknown.
    Unconfirmed { uid: Uid, counter: u32 },
    /// The service could not check it (no NFC keys, or no database to record taps in): it weighs
    /// nothing.
    Unchecked(&'static str),
}

/// A tag's UID.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Uid(pub [u8; UID_LEN]);

impl Uid {
    /// The UID from 14 hex digits (either case).
    pub fn parse(text: &str) -> Option<Self> {
        let mut uid = [0u8; UID_LEN];
        decode_hex(text.trim(), &mut uid).then_some(Self(uid))
    }
}

impl fmt::Display for Uid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.iter().try_for_each(|byte| write!(f, "{byte:02X}"))
    }
}

impl fmt::Debug for Uid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Uid({self})")
    }
}

/// An AES-128 key. Secret: zeroed when dropped, never shown by `Debug`.
#[derive(Clone)]
pub struct SunKey(Zeroizing<[u8; KEY_LEN]>);

impl fmt::Debug for SunKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SunKey(..)")
    }
}

impl SunKey {
    pub fn from_bytes(bytes: [u8; KEY_LEN]) -> Self {
        Self(Zeroizing::new(bytes))
    }

    /// The key from 32 hex digits.
    pub fn parse(text: &str) -> Option<Self> {
        let mut key = Zeroizing::new([0u8; KEY_LEN]);
        decode_hex(text.trim(), key.as_mut()).then(|| Self(key))
    }

    /// Its bytes (secret).
    pub fn as_bytes(&self) -> &[u8; KEY_LEN] {
        &self.0
    }

    /// The cipher under this key (the key is read in place, never copied out of its zeroed
    /// home; the cipher's round keys are zeroed when it is dropped).
    fn cipher(&self) -> Aes128 {
        Aes128::new_from_slice(self.0.as_slice())
            .unwrap_or_else(|_| unreachable!("a 16-byte key is an AES-128 key"))
    }

    fn cmac(&self, message: &[u8]) -> Zeroizing<[u8; 16]> {
        let mut mac = <Cmac<Aes128> as KeyInit>::new_from_slice(self.0.as_slice())
            .unwrap_or_else(|_| unreachable!("a 16-byte key is an AES-128 key"));
        mac.update(message);
        let mut out = Zeroizing::new([0u8; 16]);
        out.copy_from_slice(&mac.finalize().into_bytes());
        out
    }
}

/// The two values of a tap's URL, as sent.
#[derive(Clone, PartialEq, Eq)]
pub struct Sun {
    /// The encrypted PICC data.
    pub picc: [u8; PICC_LEN],
    /// The SUN MAC.
    pub mac: [u8; MAC_LEN],
}

impl fmt::Debug for Sun {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Sun(e={}, c={})", hex(&self.picc), hex(&self.mac))
    }
}

/// How a tap URL names its two values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Form {
    /// `picc_data=...&cmac=...` (AN12196's names).
    Named,
    /// `e=...&c=...` (the short form).
    Short,
}

impl Sun {
    /// The tap in a URL's query string (without `?`), if it has one: `picc_data` and `cmac`, or
    /// `e` and `c`. Other parameters are left alone. One of a pair without the other, a parameter
    /// given twice (or both forms at once) and values that are not hex of the right length are
    /// refused.
    pub fn from_query(query: &str) -> Result<Option<Self>, SunError> {
        let mut picc: Option<(&'static str, &str)> = None;
        let mut mac: Option<(&'static str, &str)> = None;
        for pair in query.split('&') {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            let (slot, name) = match name {
                "picc_data" => (&mut picc, "picc_data"),
                "e" => (&mut picc, "e"),
                "cmac" => (&mut mac, "cmac"),
                "c" => (&mut mac, "c"),
                _ => continue,
            };
            if slot.is_some() {
                return Err(SunError::Repeated(name));
            }
            *slot = Some((name, value));
        }
        let ((picc_name, picc), (mac_name, mac)) = match (picc, mac) {
            (None, None) => return Ok(None),
            (Some((present, _)), None) => {
                return Err(SunError::Incomplete {
                    present,
                    missing: if present == "e" { "c" } else { "cmac" },
                });
            }
            (None, Some((present, _))) => {
                return Err(SunError::Incomplete {
                    present,
                    missing: if present == "c" { "e" } else { "picc_data" },
                });
            }
            (Some(picc), Some(mac)) => (picc, mac),
        };
        let mut sun = Self {
            picc: [0; PICC_LEN],
            mac: [0; MAC_LEN],
        };
        if !decode_hex(picc, &mut sun.picc) {
            return Err(SunError::Malformed {
                name: picc_name,
                digits: 2 * PICC_LEN,
            });
        }
        if !decode_hex(mac, &mut sun.mac) {
            return Err(SunError::Malformed {
                name: mac_name,
                digits: 2 * MAC_LEN,
            });
        }
        Ok(Some(sun))
    }

    /// The tap as query parameters (upper-case hex, as tags write them).
    pub fn query(&self, form: Form) -> String {
        let (picc, mac) = match form {
            Form::Named => ("picc_data", "cmac"),
            Form::Short => ("e", "c"),
        };
        format!("{picc}={}&{mac}={}", hex(&self.picc), hex(&self.mac))
    }

    /// What a tag with these keys sends on the tap that reads `counter`: the PICC data
    /// encrypted with `meta_read` (`padding` its last five bytes, random on a tag), and its MAC
    /// under `file_read`. For tests and `tagtrail nfc tap`.
    pub fn make(
        meta_read: &SunKey,
        file_read: &SunKey,
        uid: Uid,
        counter: u32,
        padding: [u8; 5],
    ) -> Self {
        let mut block = Array::from(picc_plain(uid, counter, padding));
        meta_read.cipher().encrypt_block(&mut block);
        let mut picc = [0u8; PICC_LEN];
        picc.copy_from_slice(&block);
        Self {
            picc,
            mac: sun_mac(file_read, uid, counter),
        }
    }
}

/// The plain PICC data of a tap.
fn picc_plain(uid: Uid, counter: u32, padding: [u8; 5]) -> [u8; PICC_LEN] {
    let mut plain = [0u8; PICC_LEN];
    plain[0] = PICC_DATA_TAG;
    plain[1..8].copy_from_slice(&uid.0);
    plain[8..11].copy_from_slice(&counter.to_le_bytes()[..3]);
    plain[11..].copy_from_slice(&padding);
    plain
}

/// What decrypted PICC data says: the tag and its read counter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Picc {
    pub uid: Uid,
    pub counter: u32,
}

/// Decrypts PICC data with a meta-read key; `None` when the block does not start with the
/// PICC data tag `C7` (it was not encrypted under that key).
pub fn decrypt(meta_read: &SunKey, picc: &[u8; PICC_LEN]) -> Option<Picc> {
    let mut block = Array::from(*picc);
    meta_read.cipher().decrypt_block(&mut block);
    let plain = Zeroizing::new(<[u8; PICC_LEN]>::from(block));
    block.as_mut_slice().zeroize();
    if plain[0] != PICC_DATA_TAG {
        return None;
    }
    let mut uid = [0u8; UID_LEN];
    uid.copy_from_slice(&plain[1..8]);
    let counter = u32::from_le_bytes([plain[8], plain[9], plain[10], 0]);
    Some(Picc {
        uid: Uid(uid),
        counter,
    })
}

/// The session MAC key of a tap (`SesSDMFileReadMACKey`).
pub fn session_mac_key(file_read: &SunKey, uid: Uid, counter: u32) -> SunKey {
    let mut sv2 = [0u8; 16];
    sv2[..6].copy_from_slice(&[0x3C, 0xC3, 0x00, 0x01, 0x00, 0x80]);
    sv2[6..13].copy_from_slice(&uid.0);
    sv2[13..].copy_from_slice(&counter.to_le_bytes()[..3]);
    SunKey(file_read.cmac(&sv2))
}

/// The SUN MAC of a tap with an empty MAC input: the odd bytes of the CMAC.
pub fn sun_mac(file_read: &SunKey, uid: Uid, counter: u32) -> [u8; MAC_LEN] {
    let full = session_mac_key(file_read, uid, counter).cmac(&[]);
    let mut mac = [0u8; MAC_LEN];
    for (i, byte) in mac.iter_mut().enumerate() {
        *byte = full[2 * i + 1];
    }
    mac
}

/// NXP AN10922 AES-128 key diversification: the key `master` diversifies for `input` (1 to 31
/// bytes). It is a CMAC of `01 || input` padded to two blocks (so it differs from a plain CMAC
/// when the input is shorter than 31 bytes).
pub fn diversify(master: &SunKey, input: &[u8]) -> Option<SunKey> {
    if input.is_empty() || input.len() > 31 {
        return None;
    }
    let cipher = master.cipher();
    let mut l = Array::from([0u8; 16]);
    cipher.encrypt_block(&mut l);
    let k1 = Zeroizing::new(double(&l.into()));
    // L (the cipher of the zero block) gives both subkeys: secret as they are.
    l.as_mut_slice().zeroize();
    let k2 = Zeroizing::new(double(&k1));
    let mut message = Zeroizing::new([0u8; 32]);
    message[0] = 0x01;
    message[1..=input.len()].copy_from_slice(input);
    let subkey = if input.len() < 31 {
        message[input.len() + 1] = 0x80;
        &k2
    } else {
        &k1
    };
    for (byte, key) in message[16..].iter_mut().zip(subkey.iter()) {
        *byte ^= key;
    }
    let mut state = Array::from([0u8; 16]);
    for block in message.chunks_exact(16) {
        for (byte, m) in state.iter_mut().zip(block) {
            *byte ^= m;
        }
        cipher.encrypt_block(&mut state);
    }
    let key = SunKey::from_bytes(state.into());
    state.as_mut_slice().zeroize();
    Some(key)
}

/// Doubling in GF(2^128), as CMAC's subkeys are made.
fn double(block: &[u8; 16]) -> [u8; 16] {
    let value = u128::from_be_bytes(*block);
    let carry = if value >> 127 == 1 { 0x87 } else { 0 };
    ((value << 1) ^ carry).to_be_bytes()
}

/// One key version: the meta-read key its tags share and the master their file-read keys are
/// diversified from.
#[derive(Debug, Clone)]
pub struct KeyVersion {
    pub version: u16,
    pub meta_read: SunKey,
    pub file_read_master: SunKey,
}

impl KeyVersion {
    /// A tag's file-read key under this version: `AN10922(master, UID || "tagtrail")`.
    pub fn file_read(&self, uid: Uid) -> SunKey {
        let mut input = [0u8; UID_LEN + SYSTEM_IDENTIFIER.len()];
        input[..UID_LEN].copy_from_slice(&uid.0);
        input[UID_LEN..].copy_from_slice(SYSTEM_IDENTIFIER);
        diversify(&self.file_read_master, &input)
            .unwrap_or_else(|| unreachable!("15 bytes are a diversification input"))
    }

    /// The tap a tag of this version with `uid` sends when it reads `counter`.
    pub fn tap(&self, uid: Uid, counter: u32, padding: [u8; 5]) -> Sun {
        Sun::make(&self.meta_read, &self.file_read(uid), uid, counter, padding)
    }
}

/// A valid SUN message: which tag, under which key version, read which counter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tap {
    pub uid: Uid,
    pub counter: u32,
    pub version: u16,
}

/// The NFC keys a service holds, by version.
#[derive(Debug, Clone)]
pub struct Keys {
    versions: Vec<KeyVersion>,
}

/// The key file, as `tagtrail nfc keygen` writes it.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct KeyFile {
    algorithm: String,
    versions: Vec<KeyFileVersion>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct KeyFileVersion {
    version: u16,
    meta_read: SecretHex,
    file_read_master: SecretHex,
}

/// A key's hex in the key file: zeroed when dropped.
#[derive(Serialize, Deserialize)]
#[serde(transparent)]
struct SecretHex(String);

impl Drop for SecretHex {
    fn drop(&mut self) {
        zeroize::Zeroize::zeroize(&mut self.0);
    }
}

/// Why the NFC key file at a path could not be used.
#[derive(Debug, thiserror::Error)]
pub enum KeyFileError {
    #[error("Failed to read the NFC key file {}", path.display())]
    Read {
        path: std::path::PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("The NFC key file {}", path.display())]
    Invalid {
        path: std::path::PathBuf,
        #[source]
        source: SunError,
    },
}

/// The `algorithm` of an NFC key file.
pub const KEY_FILE_ALGORITHM: &str = "ntag424-sun";

impl Keys {
    /// Keys from their versions: at least one, at most [`MAX_VERSIONS`], each version once, and
    /// no key used twice (a version whose keys another has would let a re-programmed tag's old
    /// URLs verify again).
    pub fn new(versions: Vec<KeyVersion>) -> Result<Self, SunError> {
        let refuse = |why: &str| Err(SunError::KeyFile(why.to_owned()));
        if versions.is_empty() {
            return refuse("it has no key version");
        }
        if versions.len() > MAX_VERSIONS {
            return refuse(&format!("it has more than {MAX_VERSIONS} key versions"));
        }
        for (i, a) in versions.iter().enumerate() {
            if versions[i + 1..].iter().any(|b| b.version == a.version) {
                return refuse(&format!("key version {} is given twice", a.version));
            }
        }
        let keys: Vec<(u16, &SunKey)> = versions
            .iter()
            .flat_map(|v| [(v.version, &v.meta_read), (v.version, &v.file_read_master)])
            .collect();
        for (i, (version, key)) in keys.iter().enumerate() {
            let reused = keys[i + 1..]
                .iter()
                .any(|(_, other)| bool::from(other.as_bytes().ct_eq(key.as_bytes())));
            if reused {
                return refuse(&format!("a key of version {version} is used twice"));
            }
        }
        Ok(Self { versions })
    }

    /// The keys in the key file at `path` ([`parse`](Self::parse)), its text zeroed once read.
    /// No key appears in an error; the path does.
    pub fn read(path: &std::path::Path) -> Result<Self, KeyFileError> {
        let text =
            Zeroizing::new(
                std::fs::read_to_string(path).map_err(|source| KeyFileError::Read {
                    path: path.to_owned(),
                    source,
                })?,
            );
        Self::parse(&text).map_err(|source| KeyFileError::Invalid {
            path: path.to_owned(),
            source,
        })
    }

    /// The keys in a key file's text:
    ///
    /// ```text
    /// {"algorithm": "ntag424-sun", "versions": [
    ///   {"version": 1, "meta_read": "<32 hex digits>", "file_read_master": "<32 hex digits>"}]}
    /// ```
    ///
    /// No key appears in an error.
    pub fn parse(text: &str) -> Result<Self, SunError> {
        let file: KeyFile = serde_json::from_str(text).map_err(|error| {
            SunError::KeyFile(format!(
                "not the JSON of an NFC key file (line {}, column {})",
                error.line(),
                error.column()
            ))
        })?;
        if file.algorithm != KEY_FILE_ALGORITHM {
            return Err(SunError::KeyFile(format!(
                "its algorithm is not \"{KEY_FILE_ALGORITHM}\""
            )));
        }
        let versions = file
            .versions
            .iter()
            .map(|version| {
                let key = |text: &str, name: &str| {
                    SunKey::parse(text).ok_or_else(|| {
                        SunError::KeyFile(format!(
                            "{name} of version {} is not 32 hex digits",
                            version.version
                        ))
                    })
                };
                Ok(KeyVersion {
                    version: version.version,
                    meta_read: key(&version.meta_read.0, "meta_read")?,
                    file_read_master: key(&version.file_read_master.0, "file_read_master")?,
                })
            })
            .collect::<Result<Vec<_>, SunError>>()?;
        Self::new(versions)
    }

    /// The key file's text for these keys (secret: zeroed when dropped).
    pub fn file_text(&self) -> Zeroizing<String> {
        let file = KeyFile {
            algorithm: KEY_FILE_ALGORITHM.to_owned(),
            versions: self
                .versions
                .iter()
                .map(|version| KeyFileVersion {
                    version: version.version,
                    meta_read: SecretHex(hex(version.meta_read.as_bytes())),
                    file_read_master: SecretHex(hex(version.file_read_master.as_bytes())),
                })
                .collect(),
        };
        // Serialising strings and numbers cannot fail.
        Zeroizing::new(serde_json::to_string_pretty(&file).unwrap_or_default() + "\n")
    }

    /// Every version, in the file's order.
    pub fn versions(&self) -> &[KeyVersion] {
        &self.versions
    }

    /// The version numbered `version`.
    pub fn version(&self, version: u16) -> Option<&KeyVersion> {
        self.versions.iter().find(|v| v.version == version)
    }

    /// The newest version (the greatest number): what new tags are programmed with.
    pub fn newest(&self) -> &KeyVersion {
        self.versions
            .iter()
            .max_by_key(|version| version.version)
            .unwrap_or_else(|| unreachable!("keys have at least one version"))
    }

    /// Checks a tap: which version's meta key decrypts its PICC data, and whether its MAC
    /// verifies under that tag's file-read key (compared in constant time). Every version is
    /// tried, so how long this takes does not say which one matched.
    pub fn verify(&self, sun: &Sun) -> Result<Tap, Refusal> {
        let mut found: Option<Tap> = None;
        let mut decrypted = false;
        for version in &self.versions {
            let Some(picc) = decrypt(&version.meta_read, &sun.picc) else {
                continue;
            };
            decrypted = true;
            let mac = sun_mac(&version.file_read(picc.uid), picc.uid, picc.counter);
            if bool::from(mac.ct_eq(&sun.mac)) && found.is_none() {
                found = Some(Tap {
                    uid: picc.uid,
                    counter: picc.counter,
                    version: version.version,
                });
            }
        }
        match found {
            Some(tap) => Ok(tap),
            None if decrypted => Err(Refusal::BadMac),
            None => Err(Refusal::NotOurs),
        }
    }
}

/// Upper-case hex.
fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02X}")).collect()
}

/// Decodes exactly `out.len()` bytes of hex (either case) into `out`.
fn decode_hex(text: &str, out: &mut [u8]) -> bool {
    let text = text.as_bytes();
    if text.len() != 2 * out.len() {
        return false;
    }
    let digit = |c: u8| (c as char).to_digit(16);
    for (byte, pair) in out.iter_mut().zip(text.chunks_exact(2)) {
        match (digit(pair[0]), digit(pair[1])) {
            (Some(high), Some(low)) => *byte = (high * 16 + low) as u8,
            _ => return false,
        }
    }
    true
}
