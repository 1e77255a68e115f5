//! The bridge's TOML configuration: readers, what each reader/antenna means in business terms,
//! smoothing, sensors, spool and upload. Unknown keys are refused; every value is checked at start-up
//! and an error names the key.
//!
//! The file is read as every service's settings are (`service_kit::config`): every key of the
//! single-table sections (`device`, `smoothing`, `spool`, `upload`, `mqtt`, `metrics`, `log`) can
//! be set from the environment as `TAGTRAIL_BRIDGE_<SECTION>_<KEY>` (`TAGTRAIL_BRIDGE_UPLOAD_URL`,
//! `TAGTRAIL_BRIDGE_SPOOL_MAX_EVENTS`, ...), which wins over the file, and `--log-format` wins over
//! both; the value is read as a TOML value when it is one (`5000`, `true`) and as a string
//! otherwise. A variable naming no such setting is an error that names it. Readers, read points,
//! sensors and `[sealing]` (lists) are set in the file only.
//!
//! See the crate README for a complete example.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use epcis::document::Action;
use ledger::DeviceId;
use serde::Deserialize;
use service_kit::config::{Schema, optional_duration};
pub use service_kit::log::{LogConfig, LogFormat};

use crate::adapter::sensor::{MeasurementMap, MeasurementSpec};
use crate::read::ReaderId;
use crate::smoothing::SmoothingParams;

/// A configuration that cannot be used, naming the key at fault.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// Not TOML, an unknown key, a missing key, a value of the wrong type, or a
    /// `TAGTRAIL_BRIDGE_...` variable that names no setting.
    #[error(transparent)]
    Settings(#[from] service_kit::config::ConfigError),
    /// A value that parses but breaks a rule.
    #[error("config key {key}: {rule}")]
    Invalid {
        /// The key, as a TOML path (`read_point[2].biz_step`).
        key: String,
        /// The rule broken.
        rule: String,
    },
}

fn invalid(key: impl Into<String>, rule: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        key: key.into(),
        rule: rule.into(),
    }
}

/// A location id: an SGLN pure identity URI (`urn:epc:id:sgln:0614141.00777.0`).
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Location(String);

impl Location {
    /// Parses an SGLN URI.
    pub fn parse(text: &str) -> Result<Self, String> {
        match epcis::epc::Epc::parse(text) {
            Ok(epcis::epc::Epc::Sgln(_)) => Ok(Location(text.to_owned())),
            Ok(_) => Err(format!(
                "{text:?} is an EPC but not an SGLN (urn:epc:id:sgln:...)"
            )),
            Err(error) => Err(format!("{text:?} is not an SGLN URI: {error}")),
        }
    }

    /// The URI.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Location({})", self.0)
    }
}

/// A CBV word (`receiving`) or a URI, checked against one CBV vocabulary.
fn cbv_value(key: &str, value: &str, is_standard: fn(&str) -> bool) -> Result<String, ConfigError> {
    let uri = value.contains(':') && !value.contains(char::is_whitespace);
    if is_standard(value) || uri {
        Ok(value.to_owned())
    } else {
        Err(invalid(
            key,
            format!("{value:?} is neither a CBV 2.0 word nor a URI"),
        ))
    }
}

/// What reads at one reader (or one of its antennas) mean.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadPoint {
    /// The reader.
    pub reader: ReaderId,
    /// The antenna, or every antenna of the reader when `None`.
    pub antenna: Option<u16>,
    /// EPCIS `readPoint`.
    pub read_point: Location,
    /// EPCIS `bizLocation`.
    pub biz_location: Option<Location>,
    /// EPCIS `bizStep` (CBV word or URI).
    pub biz_step: Option<String>,
    /// EPCIS `disposition` (CBV word or URI).
    pub disposition: Option<String>,
    /// EPCIS `action`.
    pub action: Action,
    /// Whether tags' TIDs go into the events.
    pub capture_tid: bool,
}

/// Kinds of reader the bridge speaks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReaderKind {
    /// JRD-4035 / R200 serial module.
    Jrd,
    /// CF-RU5102 / UHFReader18 serial reader.
    Ru5102,
    /// Zebra FX/ATR over MQTT (IoT Connector).
    Zebra,
    /// Impinj over MQTT (IoT device interface).
    Impinj,
}

/// One reader.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReaderConfig {
    /// Its name (used by read points, metrics and logs).
    pub id: ReaderId,
    /// Its protocol.
    pub kind: ReaderKind,
    /// Serial device (serial kinds).
    pub port: Option<PathBuf>,
    /// Serial speed (serial kinds; 115,200 by default for JRD, 57,600 for RU5102).
    pub baud: u32,
    /// MQTT topic (MQTT kinds), below the MQTT topic prefix.
    pub topic: Option<String>,
    /// Transmit power to set at connect, in dBm.
    pub power_dbm: Option<u8>,
}

/// One sensor topic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SensorTopic {
    /// MQTT topic, below the MQTT topic prefix.
    pub topic: String,
    /// EPCIS `readPoint` of the sensor's events.
    pub read_point: Location,
    /// EPCIS `bizLocation` of the sensor's events.
    pub biz_location: Option<Location>,
    /// The sensor's device id (`sensorMetadata.deviceID`), a URI.
    pub device: Option<String>,
    /// Reading name → measurement type and unit.
    pub measurements: MeasurementMap,
}

/// What to do when the spool is full.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WhenFull {
    /// Refuse new events (they are counted as dropped): nothing already spooled is ever lost.
    RefuseNew,
}

/// The on-disk spool.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpoolConfig {
    /// The SQLite file.
    pub path: PathBuf,
    /// Most events held.
    pub max_events: u64,
    /// Policy when `max_events` are held.
    pub when_full: WhenFull,
}

/// Where and how to upload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UploadConfig {
    /// The ingest capture URL: `https://` (certificates verified) or `http://` (plain; for
    /// loopback and development).
    pub url: String,
    /// A PEM file of certificate authorities trusted for `https://` in addition to Mozilla's roots
    /// (a site's private CA). Read and checked when the uploader is built
    /// ([`crate::uploader::Uploader::from_config`]).
    pub ca_file: Option<PathBuf>,
    /// Most events per capture request (and per signed batch).
    pub batch_size: usize,
    /// First retry delay (doubles per failure, with jitter).
    pub retry_min: Duration,
    /// Longest retry delay.
    pub retry_max: Duration,
}

/// The MQTT broker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MqttConfig {
    /// Broker host.
    pub host: String,
    /// Broker port.
    pub port: u16,
    /// Client id (non-empty and unique per gateway: the bridge keeps a persistent session).
    pub client_id: String,
    /// Prefix of every topic (`site-a/`).
    pub topic_prefix: String,
}

/// The whole configuration, checked.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// The device's id (as registered with ingest).
    pub device: DeviceId,
    /// File with the device's 32-byte Ed25519 seed, hex.
    pub device_key_file: PathBuf,
    /// Smoothing.
    pub smoothing: SmoothingParams,
    /// Readers.
    pub readers: Vec<ReaderConfig>,
    /// Read points.
    pub read_points: ReadPoints,
    /// Sensor topics.
    pub sensors: Vec<SensorTopic>,
    /// Spool.
    pub spool: SpoolConfig,
    /// Upload (absent: events stay in the spool).
    pub upload: Option<UploadConfig>,
    /// MQTT broker (required when a reader or sensor uses MQTT).
    pub mqtt: Option<MqttConfig>,
    /// Address of the metrics endpoint.
    pub metrics_listen: Option<std::net::SocketAddr>,
    /// Logging (`[log]`, as every service's).
    pub log: LogConfig,
    /// Fields of the bridge's events sealed for named recipients (`[sealing]`; absent: none).
    pub sealing: Option<Sealing>,
    /// Settings written under a deprecated name: what to tell the operator (at start-up).
    pub deprecated: Vec<String>,
}

/// The extension fields of the bridge's events that may be sealed: the tags' chip serials (TIDs,
/// which a brand may keep to itself: a published TID is one a cloner can copy) and the
/// smoothing that made the event (the site's reader set-up).
pub const SEALABLE_FIELDS: [&str; 2] = ["/tagtrail:tids", "/tagtrail:smoothing"];

/// The most EPCs per event (`smoothing.max_epcs_per_event`) when `/tagtrail:tids` is sealed: a
/// value sealed is at most `ledger::sealed::MAX_VALUE_LEN` (16 KiB) of JSON, and one tag's entry
/// (a long EPC URI and a 512-bit TID in hex) takes up to about 270 bytes.
pub const MAX_EPCS_SEALING_TIDS: usize = 48;

/// Fields of the bridge's events sealed before they are spooled (`ledger::sealed`): in place of
/// each value the event carries a commitment and its ciphertext, and only the recipients' private
/// keys open it. The value never reaches the spool, the network or the log in clear.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sealing {
    /// The fields, as JSON Pointers from the event's root (each one of [`SEALABLE_FIELDS`]).
    pub fields: Vec<String>,
    /// Who may open them: 1 to 16 X25519 public keys, each once.
    pub recipients: Vec<ledger::sealed::RecipientKey>,
}

/// The read points, looked up by reader and antenna.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReadPoints(Vec<ReadPoint>);

impl ReadPoints {
    /// Read points from a list (a later duplicate of reader and antenna is refused by the parser).
    pub fn new(points: Vec<ReadPoint>) -> Self {
        ReadPoints(points)
    }

    /// The read point for a read: the antenna's own, else the reader-wide one.
    pub fn resolve(&self, reader: &ReaderId, antenna: u16) -> Option<&ReadPoint> {
        self.0
            .iter()
            .find(|point| &point.reader == reader && point.antenna == Some(antenna))
            .or_else(|| {
                self.0
                    .iter()
                    .find(|point| &point.reader == reader && point.antenna.is_none())
            })
    }

    /// Every read point.
    pub fn iter(&self) -> impl Iterator<Item = &ReadPoint> {
        self.0.iter()
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    device: RawDevice,
    #[serde(default)]
    smoothing: RawSmoothing,
    #[serde(default, rename = "reader")]
    readers: Vec<RawReader>,
    #[serde(default, rename = "read_point")]
    read_points: Vec<RawReadPoint>,
    #[serde(default, rename = "sensor")]
    sensors: Vec<RawSensor>,
    spool: RawSpool,
    upload: Option<RawUpload>,
    mqtt: Option<RawMqtt>,
    metrics: Option<RawMetrics>,
    #[serde(default)]
    log: LogConfig,
    sealing: Option<RawSealing>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSealing {
    fields: Vec<String>,
    recipients: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDevice {
    id: String,
    key_file: PathBuf,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSmoothing {
    #[serde(default, deserialize_with = "optional_duration")]
    cycle: Option<Duration>,
    #[serde(default, deserialize_with = "optional_duration")]
    absence: Option<Duration>,
    /// The old names, in milliseconds: read, with a warning, for one release.
    cycle_ms: Option<u64>,
    absence_ms: Option<u64>,
    #[serde(default = "default_max_epcs")]
    max_epcs_per_event: usize,
}

impl Default for RawSmoothing {
    fn default() -> Self {
        RawSmoothing {
            cycle: None,
            absence: None,
            cycle_ms: None,
            absence_ms: None,
            max_epcs_per_event: default_max_epcs(),
        }
    }
}

/// A duration setting, written `"500ms"` under `key`, or in milliseconds under its old name
/// `<key>_ms` (still read for one release, with a note in `deprecated`); both at once is an
/// error, neither is `default`.
fn duration_setting(
    section: &str,
    (key, value): (&str, Option<Duration>),
    old: Option<u64>,
    default: Duration,
    deprecated: &mut Vec<String>,
) -> Result<Duration, ConfigError> {
    match (value, old) {
        (Some(_), Some(_)) => Err(invalid(
            format!("{section}.{key}_ms"),
            format!("is the old name of {section}.{key}: set only {section}.{key}"),
        )),
        (Some(value), None) => Ok(value),
        (None, Some(millis)) => {
            deprecated.push(format!(
                "{section}.{key}_ms is deprecated and will not be read after this release: write {section}.{key} = \"{millis}ms\""
            ));
            Ok(Duration::from_millis(millis))
        }
        (None, None) => Ok(default),
    }
}
fn default_max_epcs() -> usize {
    500
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawReader {
    id: String,
    kind: ReaderKind,
    port: Option<PathBuf>,
    baud: Option<u32>,
    topic: Option<String>,
    power_dbm: Option<u8>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawReadPoint {
    reader: String,
    antenna: Option<u16>,
    read_point: String,
    biz_location: Option<String>,
    biz_step: Option<String>,
    disposition: Option<String>,
    #[serde(default = "default_action")]
    action: String,
    #[serde(default)]
    capture_tid: bool,
}

fn default_action() -> String {
    "OBSERVE".to_owned()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSensor {
    topic: String,
    read_point: String,
    biz_location: Option<String>,
    device: Option<String>,
    #[serde(default)]
    measurements: BTreeMap<String, MeasurementSpec>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSpool {
    path: PathBuf,
    #[serde(default = "default_max_events")]
    max_events: u64,
    #[serde(default = "default_when_full")]
    when_full: WhenFull,
}

fn default_max_events() -> u64 {
    1_000_000
}
fn default_when_full() -> WhenFull {
    WhenFull::RefuseNew
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawUpload {
    url: String,
    ca_file: Option<PathBuf>,
    #[serde(default = "default_batch_size")]
    batch_size: usize,
    #[serde(default, deserialize_with = "optional_duration")]
    retry_min: Option<Duration>,
    #[serde(default, deserialize_with = "optional_duration")]
    retry_max: Option<Duration>,
    /// The old names, in milliseconds: read, with a warning, for one release.
    retry_min_ms: Option<u64>,
    retry_max_ms: Option<u64>,
}

fn default_batch_size() -> usize {
    1000
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawMqtt {
    #[serde(default = "default_mqtt_host")]
    host: String,
    #[serde(default = "default_mqtt_port")]
    port: u16,
    client_id: String,
    #[serde(default)]
    topic_prefix: String,
}

fn default_mqtt_host() -> String {
    "127.0.0.1".to_owned()
}
fn default_mqtt_port() -> u16 {
    1883
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawMetrics {
    listen: std::net::SocketAddr,
}

/// The prefix of the environment variables that override the file's settings.
pub const ENV_PREFIX: &str = "TAGTRAIL_BRIDGE_";

/// The sections an environment variable can set, with their keys; any other
/// `TAGTRAIL_BRIDGE_...` variable but `TAGTRAIL_BRIDGE_CONFIG` (the file) is an error.
const SCHEMA: Schema = Schema {
    env_prefix: ENV_PREFIX,
    sections: &[
        ("device", &["id", "key_file"]),
        (
            "smoothing",
            &[
                "cycle",
                "absence",
                "max_epcs_per_event",
                "cycle_ms",
                "absence_ms",
            ],
        ),
        ("spool", &["path", "max_events", "when_full"]),
        (
            "upload",
            &[
                "url",
                "ca_file",
                "batch_size",
                "retry_min",
                "retry_max",
                "retry_min_ms",
                "retry_max_ms",
            ],
        ),
        ("mqtt", &["host", "port", "client_id", "topic_prefix"]),
        ("metrics", &["listen"]),
        ("log", &["format", "filter"]),
    ],
    strict: true,
};

impl Config {
    /// Parses and checks a configuration file's text.
    pub fn from_toml(text: &str) -> Result<Self, ConfigError> {
        Self::load(text, std::iter::empty())
    }

    /// Parses a configuration file's text, applies the `TAGTRAIL_BRIDGE_<SECTION>_<KEY>` variables
    /// of `environment` over it (pass `std::env::vars()`), and checks the result.
    pub fn load(
        text: &str,
        environment: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Self, ConfigError> {
        Self::load_flagged(text, Path::new("(text)"), environment, None)
    }

    /// Reads the configuration file at `path`, applies the variables of `environment` and then
    /// `--log-format` (`log_format`) over it, and checks the result.
    pub fn read(
        path: &Path,
        environment: impl IntoIterator<Item = (String, String)>,
        log_format: Option<LogFormat>,
    ) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| {
            service_kit::config::ConfigError::Read {
                path: path.to_owned(),
                source,
            }
        })?;
        Self::load_flagged(&text, path, environment, log_format)
    }

    fn load_flagged(
        text: &str,
        path: &Path,
        environment: impl IntoIterator<Item = (String, String)>,
        log_format: Option<LogFormat>,
    ) -> Result<Self, ConfigError> {
        let flags = log_format
            .map(|format| {
                let value = toml::Value::String(format.name().to_owned());
                ("log", "format", value)
            })
            .into_iter()
            .collect();
        let raw: RawConfig = SCHEMA.load_text(text, path, environment, flags, &[])?;
        let device = DeviceId::parse(&raw.device.id)
            .map_err(|error| invalid("device.id", error.to_string()))?;
        let mut deprecated = Vec::new();
        let smoothing = SmoothingParams::new(
            duration_setting(
                "smoothing",
                ("cycle", raw.smoothing.cycle),
                raw.smoothing.cycle_ms,
                Duration::from_millis(500),
                &mut deprecated,
            )?,
            duration_setting(
                "smoothing",
                ("absence", raw.smoothing.absence),
                raw.smoothing.absence_ms,
                Duration::from_secs(5),
                &mut deprecated,
            )?,
            raw.smoothing.max_epcs_per_event,
        )
        .map_err(|error| invalid("smoothing", error.to_string()))?;

        let mut readers: Vec<ReaderConfig> = Vec::new();
        for (index, reader) in raw.readers.into_iter().enumerate() {
            let key = |field: &str| format!("reader[{index}].{field}");
            let id = ReaderId::parse(&reader.id)
                .map_err(|error| invalid(key("id"), error.to_string()))?;
            if readers.iter().any(|other| other.id == id) {
                return Err(invalid(key("id"), format!("{id} is configured twice")));
            }
            let serial = matches!(reader.kind, ReaderKind::Jrd | ReaderKind::Ru5102);
            if serial && reader.port.is_none() {
                return Err(invalid(key("port"), "is required for a serial reader"));
            }
            if !serial && reader.topic.is_none() {
                return Err(invalid(key("topic"), "is required for an MQTT reader"));
            }
            if reader.power_dbm.is_some_and(|dbm| dbm > 33) {
                return Err(invalid(key("power_dbm"), "must be at most 33 dBm"));
            }
            let default_baud = if reader.kind == ReaderKind::Ru5102 {
                57_600
            } else {
                115_200
            };
            readers.push(ReaderConfig {
                id,
                kind: reader.kind,
                port: reader.port,
                baud: reader.baud.unwrap_or(default_baud),
                topic: reader.topic,
                power_dbm: reader.power_dbm,
            });
        }

        let mut points: Vec<ReadPoint> = Vec::new();
        for (index, point) in raw.read_points.into_iter().enumerate() {
            let key = |field: &str| format!("read_point[{index}].{field}");
            let reader = ReaderId::parse(&point.reader)
                .map_err(|error| invalid(key("reader"), error.to_string()))?;
            if !readers.iter().any(|configured| configured.id == reader) {
                return Err(invalid(
                    key("reader"),
                    format!("no [[reader]] has id {reader}"),
                ));
            }
            if points
                .iter()
                .any(|other| other.reader == reader && other.antenna == point.antenna)
            {
                return Err(invalid(
                    key("antenna"),
                    "this reader and antenna already have a read point",
                ));
            }
            let action = Action::parse(&point.action)
                .map_err(|_| invalid(key("action"), "must be ADD, OBSERVE or DELETE"))?;
            points.push(ReadPoint {
                reader,
                antenna: point.antenna,
                read_point: Location::parse(&point.read_point)
                    .map_err(|rule| invalid(key("read_point"), rule))?,
                biz_location: point
                    .biz_location
                    .map(|text| {
                        Location::parse(&text).map_err(|rule| invalid(key("biz_location"), rule))
                    })
                    .transpose()?,
                biz_step: point
                    .biz_step
                    .map(|step| {
                        cbv_value(&key("biz_step"), &step, epcis::vocab::is_standard_biz_step)
                    })
                    .transpose()?,
                disposition: point
                    .disposition
                    .map(|value| {
                        cbv_value(
                            &key("disposition"),
                            &value,
                            epcis::vocab::is_standard_disposition,
                        )
                    })
                    .transpose()?,
                action,
                capture_tid: point.capture_tid,
            });
        }

        let mut sensors = Vec::new();
        for (index, sensor) in raw.sensors.into_iter().enumerate() {
            let key = |field: &str| format!("sensor[{index}].{field}");
            if sensor.topic.is_empty() {
                return Err(invalid(key("topic"), "must not be empty"));
            }
            if let Some(device) = &sensor.device
                && (!device.contains(':') || device.contains(char::is_whitespace))
            {
                return Err(invalid(key("device"), "must be a URI"));
            }
            sensors.push(SensorTopic {
                topic: sensor.topic,
                read_point: Location::parse(&sensor.read_point)
                    .map_err(|rule| invalid(key("read_point"), rule))?,
                biz_location: sensor
                    .biz_location
                    .map(|text| {
                        Location::parse(&text).map_err(|rule| invalid(key("biz_location"), rule))
                    })
                    .transpose()?,
                device: sensor.device,
                measurements: MeasurementMap::with_overrides(&sensor.measurements)
                    .map_err(|error| invalid(key("measurements"), error.to_string()))?,
            });
        }

        if raw.spool.max_events == 0 {
            return Err(invalid("spool.max_events", "must be at least 1"));
        }
        let upload = raw
            .upload
            .map(|upload| {
                if !(upload.url.starts_with("http://") || upload.url.starts_with("https://")) {
                    return Err(invalid("upload.url", "must be an http:// or https:// URL"));
                }
                if !(1..=ledger::batch::MAX_BATCH_SIZE as usize).contains(&upload.batch_size) {
                    return Err(invalid(
                        "upload.batch_size",
                        format!("must be 1 to {}", ledger::batch::MAX_BATCH_SIZE),
                    ));
                }
                let retry_min = duration_setting(
                    "upload",
                    ("retry_min", upload.retry_min),
                    upload.retry_min_ms,
                    Duration::from_millis(200),
                    &mut deprecated,
                )?;
                let retry_max = duration_setting(
                    "upload",
                    ("retry_max", upload.retry_max),
                    upload.retry_max_ms,
                    Duration::from_secs(60),
                    &mut deprecated,
                )?;
                if retry_min.is_zero() || retry_min > retry_max {
                    return Err(invalid(
                        "upload.retry_min",
                        "must be above zero and at most upload.retry_max",
                    ));
                }
                if upload
                    .ca_file
                    .as_ref()
                    .is_some_and(|path| path.as_os_str().is_empty())
                {
                    return Err(invalid(
                        "upload.ca_file",
                        "must be the path of a PEM file of CA certificates (omit the key to trust only the built-in roots)",
                    ));
                }
                Ok(UploadConfig {
                    url: upload.url,
                    ca_file: upload.ca_file,
                    batch_size: upload.batch_size,
                    retry_min,
                    retry_max,
                })
            })
            .transpose()?;
        let uses_mqtt = !sensors.is_empty()
            || readers
                .iter()
                .any(|reader| matches!(reader.kind, ReaderKind::Zebra | ReaderKind::Impinj));
        if raw
            .mqtt
            .as_ref()
            .is_some_and(|mqtt| mqtt.client_id.is_empty())
        {
            // The MQTT transport keeps a persistent session, which needs a client id.
            return Err(invalid("mqtt.client_id", "must not be empty"));
        }
        if uses_mqtt && raw.mqtt.is_none() {
            return Err(invalid(
                "mqtt",
                "is required when a reader or sensor uses MQTT",
            ));
        }
        let sealing = raw
            .sealing
            .map(|sealing| check_sealing(sealing, smoothing.max_epcs_per_event()))
            .transpose()?;
        Ok(Config {
            device,
            device_key_file: raw.device.key_file,
            smoothing,
            readers,
            read_points: ReadPoints(points),
            sensors,
            spool: SpoolConfig {
                path: raw.spool.path,
                max_events: raw.spool.max_events,
                when_full: raw.spool.when_full,
            },
            upload,
            mqtt: raw.mqtt.map(|mqtt| MqttConfig {
                host: mqtt.host,
                port: mqtt.port,
                client_id: mqtt.client_id,
                topic_prefix: mqtt.topic_prefix,
            }),
            metrics_listen: raw.metrics.map(|metrics| metrics.listen),
            log: raw.log,
            sealing,
            deprecated,
        })
    }
}

/// Checks `[sealing]`: known fields, each once; 1 to 16 recipients, each a key (a `.pub` file's
/// path, or the key itself in base64 or hex) and each once.
fn check_sealing(raw: RawSealing, max_epcs_per_event: usize) -> Result<Sealing, ConfigError> {
    if raw.fields.is_empty() {
        return Err(invalid("sealing.fields", "names no field to seal"));
    }
    if raw.fields.iter().any(|field| field == "/tagtrail:tids")
        && max_epcs_per_event > MAX_EPCS_SEALING_TIDS
    {
        return Err(invalid(
            "smoothing.max_epcs_per_event",
            format!(
                "must be at most {MAX_EPCS_SEALING_TIDS} when /tagtrail:tids is sealed (an \
                 event's TIDs are sealed as one value of at most 16 KiB)"
            ),
        ));
    }
    for (index, field) in raw.fields.iter().enumerate() {
        if !SEALABLE_FIELDS.contains(&field.as_str()) {
            return Err(invalid(
                format!("sealing.fields[{index}]"),
                format!(
                    "{field:?} is not a field the bridge writes and can seal: one of {}",
                    SEALABLE_FIELDS.join(", ")
                ),
            ));
        }
        if raw.fields[..index].contains(field) {
            return Err(invalid(
                format!("sealing.fields[{index}]"),
                format!("{field} is named twice"),
            ));
        }
    }
    let most = ledger::sealed::MAX_RECIPIENTS;
    if raw.recipients.is_empty() || raw.recipients.len() > most {
        return Err(invalid(
            "sealing.recipients",
            format!("must name 1 to {most} recipients' public keys"),
        ));
    }
    let mut recipients = Vec::with_capacity(raw.recipients.len());
    for (index, recipient) in raw.recipients.iter().enumerate() {
        let key = format!("sealing.recipients[{index}]");
        let text = match ledger::key_file::parse_recipient_key(recipient) {
            Ok(_) => recipient.clone(),
            Err(_) => std::fs::read_to_string(recipient).map_err(|error| {
                invalid(
                    &key,
                    format!("{recipient:?} is neither a key nor a readable key file: {error}"),
                )
            })?,
        };
        let parsed = ledger::key_file::parse_recipient_key(&text).map_err(|error| {
            invalid(
                &key,
                format!("{recipient:?} is not a recipient's public key: {error}"),
            )
        })?;
        if recipients.contains(&parsed) {
            return Err(invalid(&key, "the same key is named twice"));
        }
        // A key HPKE cannot encapsulate to (a low-order point) would fail every tick's sealing.
        if let Err(error) = ledger::sealed::Sealer::new(&[parsed], &mut |bytes: &mut [u8]| {
            bytes.fill(0x5a);
        }) {
            return Err(invalid(
                &key,
                format!("{recipient:?} cannot be sealed to: {error}"),
            ));
        }
        recipients.push(parsed);
    }
    Ok(Sealing {
        fields: raw.fields,
        recipients,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The example from the README, which must keep working.
    pub(crate) const EXAMPLE: &str = include_str!("../bridge.example.toml");

    #[test]
    fn the_example_configuration_parses() {
        let config = Config::from_toml(EXAMPLE).unwrap();
        assert_eq!(config.device.as_str(), "urn:tagtrail:device:demo-dock-3");
        let dock = ReaderId::parse("dock-door-3").unwrap();
        let inbound = config.read_points.resolve(&dock, 1).unwrap();
        assert_eq!(inbound.biz_step.as_deref(), Some("receiving"));
        let outbound = config.read_points.resolve(&dock, 2).unwrap();
        assert_eq!(outbound.biz_step.as_deref(), Some("shipping"));
        assert!(config.read_points.resolve(&dock, 3).is_none());
        assert_eq!(
            config.sensors[0]
                .measurements
                .get("temperature")
                .unwrap()
                .uom
                .as_str(),
            "CEL"
        );
    }

    /// The example with `[sealing]` added and `max_epcs_per_event` set.
    fn sealing(table: &str, max_epcs: usize) -> Result<Config, ConfigError> {
        let text = EXAMPLE.replace(
            "max_epcs_per_event = 500",
            &format!("max_epcs_per_event = {max_epcs}"),
        );
        Config::from_toml(&format!("{text}\n[sealing]\n{table}\n"))
    }

    fn refused_key(result: Result<Config, ConfigError>) -> (String, String) {
        match result {
            Err(ConfigError::Invalid { key, rule }) => (key, rule),
            other => panic!("not refused by a rule: {other:?}"),
        }
    }

    #[test]
    fn sealed_fields_name_recipients_by_key_or_key_file_and_each_mistake_is_named() {
        let mut byte = 0u8;
        let mut random = |bytes: &mut [u8]| {
            for b in bytes {
                byte = byte.wrapping_add(29);
                *b = byte;
            }
        };
        let brand = ledger::sealed::RecipientSecret::generate(&mut random).public_key();
        let carrier = ledger::sealed::RecipientSecret::generate(&mut random).public_key();
        let dir = std::env::temp_dir().join(format!("bridge-sealing-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("carrier.pub");
        std::fs::write(&file, ledger::key_file::recipient_key_file_text(&carrier)).unwrap();
        let garbage = dir.join("not-a-key.pub");
        std::fs::write(&garbage, "{\"algorithm\": \"x25519\", \"key\": \"short\"}").unwrap();
        let config = sealing(
            &format!(
                "fields = [\"/tagtrail:tids\"]\nrecipients = [\"{}\", \"{}\"]",
                brand.to_base64(),
                file.display()
            ),
            48,
        )
        .unwrap();
        let configured = config.sealing.unwrap();
        assert_eq!(configured.fields, ["/tagtrail:tids"]);
        assert_eq!(configured.recipients, [brand, carrier]);
        // Without the table, nothing is sealed.
        assert!(Config::from_toml(EXAMPLE).unwrap().sealing.is_none());

        let key = brand.to_base64();
        for (table, max_epcs, at, says) in [
            (
                format!("fields = []\nrecipients = [\"{key}\"]"),
                48,
                "sealing.fields",
                "names no field",
            ),
            (
                format!("fields = [\"/epcList\"]\nrecipients = [\"{key}\"]"),
                48,
                "sealing.fields[0]",
                "is not a field the bridge writes",
            ),
            (
                format!(
                    "fields = [\"/tagtrail:smoothing\", \"/tagtrail:smoothing\"]\nrecipients = [\"{key}\"]"
                ),
                500,
                "sealing.fields[1]",
                "named twice",
            ),
            (
                format!("fields = [\"/tagtrail:tids\"]\nrecipients = [\"{key}\"]"),
                49,
                "smoothing.max_epcs_per_event",
                "at most 48",
            ),
            (
                "fields = [\"/tagtrail:tids\"]\nrecipients = []".to_owned(),
                48,
                "sealing.recipients",
                "1 to 16",
            ),
            (
                format!("fields = [\"/tagtrail:tids\"]\nrecipients = [\"{key}\", \"{key}\"]"),
                48,
                "sealing.recipients[1]",
                "named twice",
            ),
            (
                // A low-order point: HPKE cannot encapsulate to it.
                format!(
                    "fields = [\"/tagtrail:tids\"]\nrecipients = [\"{}=\"]",
                    "A".repeat(43)
                ),
                48,
                "sealing.recipients[0]",
                "cannot be sealed to",
            ),
            (
                "fields = [\"/tagtrail:tids\"]\nrecipients = [\"/no/such/key.pub\"]".to_owned(),
                48,
                "sealing.recipients[0]",
                "neither a key nor a readable key file",
            ),
            (
                format!(
                    "fields = [\"/tagtrail:tids\"]\nrecipients = [\"{}\"]",
                    garbage.display()
                ),
                48,
                "sealing.recipients[0]",
                "is not a recipient's public key",
            ),
        ] {
            let (key, rule) = refused_key(sealing(&table, max_epcs));
            assert_eq!(key, at, "{table}: {rule}");
            assert!(rule.contains(says), "{table}: {rule}");
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(name, value)| ((*name).to_owned(), (*value).to_owned()))
            .collect()
    }

    #[test]
    fn environment_variables_override_the_file() {
        let config = Config::load(
            EXAMPLE,
            env(&[
                (
                    "TAGTRAIL_BRIDGE_UPLOAD_URL",
                    "http://ingest.example:9000/capture",
                ),
                ("TAGTRAIL_BRIDGE_SPOOL_MAX_EVENTS", "5000"),
                ("TAGTRAIL_BRIDGE_SMOOTHING_CYCLE", "250ms"),
                ("TAGTRAIL_BRIDGE_MQTT_CLIENT_ID", "from-env"),
                ("TAGTRAIL_BRIDGE_CONFIG", "/etc/tagtrail/bridge.toml"),
                ("PATH", "/usr/bin"),
            ]),
        )
        .unwrap();
        let upload = config.upload.unwrap();
        assert_eq!(upload.url, "http://ingest.example:9000/capture");
        assert_eq!(
            upload.batch_size, 1000,
            "keys not overridden keep the file's value"
        );
        assert_eq!(config.spool.max_events, 5000);
        assert_eq!(config.smoothing.cycle(), Duration::from_millis(250));
        assert_eq!(config.mqtt.unwrap().client_id, "from-env");
    }

    #[test]
    fn durations_have_units_and_the_old_millisecond_keys_are_read_with_a_warning() {
        let config = Config::from_toml(EXAMPLE).unwrap();
        assert_eq!(config.smoothing.cycle(), Duration::from_millis(500));
        assert_eq!(config.smoothing.absence(), Duration::from_secs(5));
        assert_eq!(config.upload.unwrap().retry_max, Duration::from_secs(60));
        assert!(config.deprecated.is_empty());

        let old = EXAMPLE
            .replace("cycle = \"500ms\"", "cycle_ms = 250")
            .replace("retry_min = \"200ms\"", "retry_min_ms = 100");
        let config = Config::from_toml(&old).unwrap();
        assert_eq!(config.smoothing.cycle(), Duration::from_millis(250));
        assert_eq!(config.upload.unwrap().retry_min, Duration::from_millis(100));
        assert_eq!(
            config.deprecated,
            [
                "smoothing.cycle_ms is deprecated and will not be read after this release: write smoothing.cycle = \"250ms\"",
                "upload.retry_min_ms is deprecated and will not be read after this release: write upload.retry_min = \"100ms\"",
            ]
        );
        // From the environment too, but never both names at once.
        let both = Config::load(
            EXAMPLE,
            env(&[("TAGTRAIL_BRIDGE_SMOOTHING_CYCLE_MS", "250")]),
        );
        assert_eq!(
            both.unwrap_err().to_string(),
            "config key smoothing.cycle_ms: is the old name of smoothing.cycle: set only smoothing.cycle"
        );
        let unitless = EXAMPLE.replace("cycle = \"500ms\"", "cycle = \"500\"");
        let error = Config::from_toml(&unitless).unwrap_err().to_string();
        assert!(error.contains("has no unit"), "{error}");
        let backwards = EXAMPLE.replace("retry_min = \"200ms\"", "retry_min = \"2m\"");
        assert_eq!(
            Config::from_toml(&backwards).unwrap_err().to_string(),
            "config key upload.retry_min: must be above zero and at most upload.retry_max"
        );
    }

    #[test]
    fn a_ca_file_is_read_from_the_file_or_the_environment() {
        assert_eq!(
            Config::from_toml(EXAMPLE).unwrap().upload.unwrap().ca_file,
            None
        );
        let text = EXAMPLE.replace(
            "[upload]\n",
            "[upload]\nca_file = \"/etc/tagtrail/site-ca.pem\"\n",
        );
        let upload = Config::from_toml(&text).unwrap().upload.unwrap();
        assert_eq!(
            upload.ca_file,
            Some(PathBuf::from("/etc/tagtrail/site-ca.pem"))
        );
        let upload = Config::load(
            EXAMPLE,
            env(&[("TAGTRAIL_BRIDGE_UPLOAD_CA_FILE", "/run/secrets/ca.pem")]),
        )
        .unwrap()
        .upload
        .unwrap();
        assert_eq!(upload.ca_file, Some(PathBuf::from("/run/secrets/ca.pem")));
    }

    #[test]
    fn an_empty_ca_file_is_refused_with_its_key() {
        let error =
            Config::load(EXAMPLE, env(&[("TAGTRAIL_BRIDGE_UPLOAD_CA_FILE", "")])).unwrap_err();
        assert!(
            matches!(&error, ConfigError::Invalid { key, .. } if key == "upload.ca_file"),
            "{error}"
        );
    }

    #[test]
    fn an_environment_variable_can_supply_a_section_the_file_lacks() {
        let text = EXAMPLE.replace("[metrics]\nlisten = \"127.0.0.1:9464\"", "");
        assert!(Config::from_toml(&text).unwrap().metrics_listen.is_none());
        let config = Config::load(
            &text,
            env(&[("TAGTRAIL_BRIDGE_METRICS_LISTEN", "127.0.0.1:9999")]),
        )
        .unwrap();
        assert_eq!(
            config.metrics_listen,
            Some("127.0.0.1:9999".parse().unwrap())
        );
    }

    #[test]
    fn an_unknown_environment_variable_is_named() {
        for variable in [
            "TAGTRAIL_BRIDGE_SPOOL_COLOUR",
            "TAGTRAIL_BRIDGE_READER_PORT",
            "TAGTRAIL_BRIDGE_UPLOADURL",
        ] {
            let error = Config::load(EXAMPLE, env(&[(variable, "x")])).unwrap_err();
            assert!(
                matches!(&error, ConfigError::Settings(
                    service_kit::config::ConfigError::UnknownSection { variable: named, .. }
                    | service_kit::config::ConfigError::UnknownVariable { variable: named, .. }
                ) if named == variable),
                "{error}"
            );
        }
    }

    #[test]
    fn a_bad_environment_value_is_refused_like_a_bad_file_value() {
        let error = Config::load(
            EXAMPLE,
            env(&[("TAGTRAIL_BRIDGE_SPOOL_MAX_EVENTS", "lots")]),
        )
        .unwrap_err();
        assert!(
            matches!(
                error,
                ConfigError::Settings(service_kit::config::ConfigError::Invalid(_))
            ),
            "{error}"
        );
        let error =
            Config::load(EXAMPLE, env(&[("TAGTRAIL_BRIDGE_DEVICE_ID", "not a urn")])).unwrap_err();
        assert!(
            matches!(&error, ConfigError::Invalid { key, .. } if key == "device.id"),
            "{error}"
        );
    }

    #[test]
    fn an_unknown_key_is_refused_by_name() {
        let text = EXAMPLE.replace("[spool]", "[spool]\ncolour = \"red\"");
        let error = Config::from_toml(&text).unwrap_err();
        assert!(error.to_string().contains("colour"), "{error}");
    }

    #[test]
    fn a_biz_step_outside_the_cbv_is_refused_with_its_key() {
        let text = EXAMPLE.replace("biz_step = \"receiving\"", "biz_step = \"recieving\"");
        let error = Config::from_toml(&text).unwrap_err();
        assert!(
            matches!(&error, ConfigError::Invalid { key, .. } if key == "read_point[0].biz_step"),
            "{error}"
        );
    }

    #[test]
    fn a_read_point_that_is_not_an_sgln_is_refused() {
        let text = EXAMPLE.replacen(
            "urn:epc:id:sgln:0614141.00777.0",
            "urn:epc:id:sgtin:0614141.107346.2017",
            1,
        );
        let error = Config::from_toml(&text).unwrap_err();
        assert!(
            matches!(&error, ConfigError::Invalid { key, .. } if key == "read_point[0].read_point"),
            "{error}"
        );
    }

    #[test]
    fn a_read_point_for_an_unconfigured_reader_is_refused() {
        let text = EXAMPLE.replacen("reader = \"dock-door-3\"", "reader = \"dock-door-9\"", 1);
        let error = Config::from_toml(&text).unwrap_err();
        assert!(
            matches!(&error, ConfigError::Invalid { key, .. } if key == "read_point[0].reader"),
            "{error}"
        );
    }
}
