//! Layered settings, the same for every service: a TOML file, then `<PREFIX><SECTION>_<KEY>`
//! environment variables, then command-line flags; each layer wins over the one before. A service
//! describes its sections and keys ([`Schema`]), deserializes the merged table into its own
//! settings type and checks them.
//!
//! An unknown key in a `<PREFIX><SECTION>_...` variable is an error that names the variable (an
//! unknown key in the file is caught by the service's `deny_unknown_fields`). A variable's value is
//! read as a TOML value when it is one (`8080`, `true`, `"text"`), else as a string.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer};

/// The sections of a service's settings and the keys of each, in the order environment variables
/// are matched (so a section whose name is a prefix of another must come after it).
#[derive(Debug, Clone, Copy)]
pub struct Schema {
    /// The prefix of the service's environment variables, e.g. `TAGTRAIL_INGEST_`.
    pub env_prefix: &'static str,
    /// Each section's name and keys.
    pub sections: &'static [(&'static str, &'static [&'static str])],
    /// Whether a variable with the prefix that names no section is an error too (except
    /// `<PREFIX>CONFIG`, the settings file's own variable). Only where no other program's
    /// variables share the prefix (`TAGTRAIL_TRACE_` is also the start of `TAGTRAIL_TRACE_API_`).
    pub strict: bool,
}

/// A setting that must be given, and the flag that gives it.
#[derive(Debug, Clone, Copy)]
pub struct Required {
    pub section: &'static str,
    pub key: &'static str,
    pub flag: &'static str,
}

/// Why the settings could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("failed to read the config file {path}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("the config file {path} is not valid TOML")]
    Syntax {
        path: PathBuf,
        #[source]
        source: toml::de::Error,
    },
    #[error("{variable} does not name a setting: there is no key `{key}` in [{section}]")]
    UnknownVariable {
        variable: String,
        section: &'static str,
        key: String,
    },
    #[error(
        "{variable} does not name a setting: settable are {prefix}<SECTION>_<KEY> for the keys of {sections}"
    )]
    UnknownSection {
        variable: String,
        prefix: &'static str,
        sections: String,
    },
    /// A setting of the file that does not fit (an unknown key, a wrong type), with its line
    /// and column.
    #[error("the config file {path}: {message}")]
    Setting { path: PathBuf, message: String },
    #[error("invalid settings: {0}")]
    Invalid(String),
}

impl Schema {
    /// Loads the settings: the file at `path` if any, then the schema's variables of
    /// `environment`, then `flags` (section, key, value); refuses a missing required setting,
    /// naming how to give it; deserializes the result.
    pub fn load<T: DeserializeOwned>(
        &self,
        path: Option<&Path>,
        environment: impl IntoIterator<Item = (String, String)>,
        flags: Vec<Flag>,
        required: &[Required],
    ) -> Result<T, ConfigError> {
        match path {
            Some(path) => {
                let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
                    path: path.to_owned(),
                    source,
                })?;
                self.load_text(&text, path, environment, flags, required)
            }
            None => self.merge(toml::Table::new(), None, environment, flags, required),
        }
    }

    /// [`Self::load`] of a file's text already read; `path` names it in errors. When neither
    /// the environment nor a flag sets anything, the settings are read straight from the text,
    /// so that an error in the file names its line and column.
    pub fn load_text<T: DeserializeOwned>(
        &self,
        text: &str,
        path: &Path,
        environment: impl IntoIterator<Item = (String, String)>,
        flags: Vec<Flag>,
        required: &[Required],
    ) -> Result<T, ConfigError> {
        let table = text
            .parse::<toml::Table>()
            .map_err(|source| ConfigError::Syntax {
                path: path.to_owned(),
                source,
            })?;
        self.merge(table, Some((text, path)), environment, flags, required)
    }

    /// The settings of `table` (parsed from `file`'s text, if any) with the environment and the
    /// flags applied, checked for what is required, deserialized.
    fn merge<T: DeserializeOwned>(
        &self,
        mut table: toml::Table,
        file: Option<(&str, &Path)>,
        environment: impl IntoIterator<Item = (String, String)>,
        flags: Vec<Flag>,
        required: &[Required],
    ) -> Result<T, ConfigError> {
        let set_by_environment = self.apply_environment(&mut table, environment)?;
        let untouched = !set_by_environment && flags.is_empty();
        for (section, key, value) in flags {
            set(&mut table, section, key, value)?;
        }
        for required in required {
            let present = table
                .get(required.section)
                .and_then(toml::Value::as_table)
                .is_some_and(|table| table.contains_key(required.key));
            if !present {
                return Err(ConfigError::Invalid(format!(
                    "{section}.{key} is required: set it in the config file, with {prefix}{}_{} or with {flag}",
                    required.section.to_uppercase(),
                    required.key.to_uppercase(),
                    section = required.section,
                    key = required.key,
                    prefix = self.env_prefix,
                    flag = required.flag,
                )));
            }
        }
        if let (true, Some((text, path))) = (untouched, file) {
            return toml::from_str(text).map_err(|error: toml::de::Error| ConfigError::Setting {
                path: path.to_owned(),
                message: error.to_string().trim_end().to_owned(),
            });
        }
        toml::Value::Table(table)
            .try_into()
            .map_err(|error: toml::de::Error| ConfigError::Invalid(error.message().to_owned()))
    }

    /// Applies the schema's variables of `environment` to `table`: whether any was set.
    fn apply_environment(
        &self,
        table: &mut toml::Table,
        environment: impl IntoIterator<Item = (String, String)>,
    ) -> Result<bool, ConfigError> {
        // Sorted by variable name, so that errors do not depend on the environment's order.
        let mut found: BTreeMap<String, (&'static str, String, String)> = BTreeMap::new();
        let mut unknown = None;
        for (variable, value) in environment {
            let Some(rest) = variable.strip_prefix(self.env_prefix) else {
                continue;
            };
            let lower = rest.to_ascii_lowercase();
            let Some((section, _)) = self
                .sections
                .iter()
                .find(|(section, _)| lower.starts_with(&format!("{section}_")))
            else {
                // The first in name order, like the other errors.
                let first = unknown.as_ref().is_none_or(|known| variable < *known);
                if self.strict && rest != "CONFIG" && first {
                    unknown = Some(variable);
                }
                continue;
            };
            let key = lower[section.len() + 1..].to_owned();
            found.insert(variable.clone(), (section, key, value));
        }
        if let Some(variable) = unknown {
            let sections: Vec<&str> = self.sections.iter().map(|(section, _)| *section).collect();
            return Err(ConfigError::UnknownSection {
                variable,
                prefix: self.env_prefix,
                sections: sections.join(", "),
            });
        }
        let set_any = !found.is_empty();
        for (variable, (section, key, value)) in found {
            let known = self
                .sections
                .iter()
                .any(|(name, keys)| *name == section && keys.contains(&key.as_str()));
            if !known {
                return Err(ConfigError::UnknownVariable {
                    variable,
                    section,
                    key,
                });
            }
            let parsed = format!("v = {value}")
                .parse::<toml::Table>()
                .ok()
                .and_then(|mut t| t.remove("v"))
                .unwrap_or(toml::Value::String(value));
            set(table, section, &key, parsed)?;
        }
        Ok(set_any)
    }
}

/// Sets `[section] key`; an error when the file has `section` as something other than a table.
fn set(
    table: &mut toml::Table,
    section: &str,
    key: &str,
    value: toml::Value,
) -> Result<(), ConfigError> {
    let entry = table
        .entry(section.to_owned())
        .or_insert_with(|| toml::Value::Table(toml::Table::new()));
    match entry {
        toml::Value::Table(section_table) => {
            section_table.insert(key.to_owned(), value);
            Ok(())
        }
        _ => Err(ConfigError::Invalid(format!(
            "{section} must be a table to set {section}.{key}"
        ))),
    }
}

/// The `[http]` section of a [`Schema`]: the keys of [`HttpConfig`].
pub const HTTP_SECTION: (&str, &[&str]) = (
    "http",
    &[
        "listen",
        "operator_listen",
        "workers",
        "shutdown_timeout",
        "request_timeout",
        "max_connections_per_client",
    ],
);

/// `[http]`, the same keys in every service that serves HTTP; the defaults are the service's:
/// `LISTEN_PORT` (on 127.0.0.1), `SHUTDOWN_SECONDS`, `REQUEST_SECONDS` (0: the service sets no
/// time limit on a request of its own, and refuses the setting).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpConfig<
    const LISTEN_PORT: u16,
    const SHUTDOWN_SECONDS: u64,
    const REQUEST_SECONDS: u64,
> {
    /// The address to listen on; port 0 picks a free port.
    #[serde(default = "default_listen::<LISTEN_PORT>")]
    pub listen: std::net::SocketAddr,
    /// Where the health probes and the metrics are served, apart from the public
    /// ([`crate::listeners`]): there only, and not rate limited. `None`: they are public routes
    /// on `listen`, rate limited like every other.
    #[serde(default)]
    pub operator_listen: Option<std::net::SocketAddr>,
    /// HTTP worker threads; `None` means one per CPU.
    #[serde(default)]
    pub workers: Option<usize>,
    /// How long in-flight requests may run after a shutdown signal.
    #[serde(default = "seconds::<SHUTDOWN_SECONDS>", deserialize_with = "duration")]
    pub shutdown_timeout: Duration,
    /// The longest a request may take.
    #[serde(
        default = "some_seconds::<REQUEST_SECONDS>",
        deserialize_with = "optional_duration"
    )]
    pub request_timeout: Option<Duration>,
    /// The most connections one client (an IPv4 address, an IPv6 /64) may hold open; the
    /// requests of one more are answered 429 and the connection closed.
    #[serde(default = "default_max_connections_per_client")]
    pub max_connections_per_client: usize,
}

impl<const L: u16, const S: u64, const R: u64> Default for HttpConfig<L, S, R> {
    fn default() -> Self {
        Self {
            listen: default_listen::<L>(),
            operator_listen: None,
            workers: None,
            shutdown_timeout: seconds::<S>(),
            request_timeout: some_seconds::<R>(),
            max_connections_per_client: default_max_connections_per_client(),
        }
    }
}

impl<const L: u16, const S: u64, const R: u64> HttpConfig<L, S, R> {
    /// Refuses settings a server cannot run with: no workers, no connection per client, the
    /// operator listener on the public address, a zero request time limit, or one the service
    /// does not have.
    pub fn check(&self) -> Result<(), ConfigError> {
        let invalid = |message: &str| Err(ConfigError::Invalid(message.to_owned()));
        if self.workers == Some(0) {
            return invalid("http.workers must be at least 1");
        }
        if self.max_connections_per_client == 0 {
            return invalid("http.max_connections_per_client must be at least 1");
        }
        if !crate::listeners::apart(self.listen, self.operator_listen) {
            return invalid("http.operator_listen must be another address than http.listen");
        }
        match self.request_timeout {
            Some(timeout) if R == 0 => Err(ConfigError::Invalid(format!(
                "http.request_timeout ({timeout:?}) is not a setting of this service: it sets no \
                 time limit of its own on a request"
            ))),
            Some(timeout) if timeout.is_zero() => {
                invalid("http.request_timeout must be above zero")
            }
            _ => Ok(()),
        }
    }
}

fn default_listen<const PORT: u16>() -> std::net::SocketAddr {
    std::net::SocketAddr::from(([127, 0, 0, 1], PORT))
}
fn seconds<const SECONDS: u64>() -> Duration {
    Duration::from_secs(SECONDS)
}
fn some_seconds<const SECONDS: u64>() -> Option<Duration> {
    (SECONDS > 0).then(|| Duration::from_secs(SECONDS))
}
fn default_max_connections_per_client() -> usize {
    64
}

/// A setting given by a flag: `[section] key = value`.
pub type Flag = (&'static str, &'static str, toml::Value);

/// The database URL, which every service with a database must be given.
pub const DATABASE_URL: Required = Required {
    section: "database",
    key: "url",
    flag: "--database-url",
};

/// The flags every service takes alike, which win over the file and the environment.
#[derive(Debug, Clone, Default)]
pub struct CommonFlags {
    /// `--database-url`: `[database] url`.
    pub database_url: Option<secrecy::SecretString>,
    /// `--listen` (the anchor worker's `--metrics-listen`): `listen` of the section
    /// [`settings`](Self::settings) is given.
    pub listen: Option<std::net::SocketAddr>,
    /// `--log-format`: `[log] format`.
    pub log_format: Option<crate::log::LogFormat>,
}

impl CommonFlags {
    /// The flags given, as settings; `--listen` sets `[listen_section] listen`.
    pub fn settings(&self, listen_section: &'static str) -> Vec<Flag> {
        use secrecy::ExposeSecret;
        let text = |value: String| toml::Value::String(value);
        let mut flags = Vec::new();
        if let Some(url) = &self.database_url {
            flags.push(("database", "url", text(url.expose_secret().to_owned())));
        }
        if let Some(listen) = self.listen {
            flags.push((listen_section, "listen", text(listen.to_string())));
        }
        if let Some(format) = self.log_format {
            flags.push(("log", "format", text(format.name().to_owned())));
        }
        flags
    }
}

/// Variables as [`Schema::load`] takes them, from pairs written in code (tests, embedding
/// programs that do not read the process environment).
pub fn environment(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(name, value)| ((*name).to_owned(), (*value).to_owned()))
        .collect()
}

/// Parses a duration written as a number and a unit: `250ms`, `30s`, `5m`, `1h`.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .ok_or_else(|| format!("{text:?} has no unit: write e.g. \"500ms\", \"30s\" or \"5m\""))?;
    let (number, unit) = text.split_at(split);
    let number: u64 = number
        .parse()
        .map_err(|_| format!("{text:?} does not start with a whole number"))?;
    match unit {
        "ms" => Ok(Duration::from_millis(number)),
        "s" => Ok(Duration::from_secs(number)),
        "m" => Ok(Duration::from_secs(number.saturating_mul(60))),
        "h" => Ok(Duration::from_secs(number.saturating_mul(3600))),
        _ => Err(format!(
            "{text:?} has an unknown unit {unit:?}: use ms, s, m or h"
        )),
    }
}

/// Deserializes a [`parse_duration`] text (`#[serde(deserialize_with = "...")]`).
pub fn duration<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Duration, D::Error> {
    let text = String::deserialize(deserializer)?;
    parse_duration(&text).map_err(serde::de::Error::custom)
}

/// Deserializes an optional [`parse_duration`] text (`#[serde(default, deserialize_with = "...")]`).
pub fn optional_duration<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<Duration>, D::Error> {
    duration(deserializer).map(Some)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a failed unwrap is a failed test
mod tests {
    use super::*;

    const SCHEMA: Schema = Schema {
        env_prefix: "TEST_",
        sections: &[("http", &["listen", "workers"]), ("log", &["format"])],
        strict: false,
    };

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Settings {
        http: Http,
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Http {
        listen: String,
        workers: Option<u32>,
    }

    use super::environment as env;

    #[test]
    fn flags_win_over_the_environment_which_wins_over_the_file() {
        let dir = std::env::temp_dir().join(format!("service-kit-config-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("settings.toml");
        std::fs::write(&file, "[http]\nlisten = \"file\"\nworkers = 1\n").unwrap();
        let settings: Settings = SCHEMA
            .load(
                Some(&file),
                env(&[("TEST_HTTP_WORKERS", "3"), ("OTHER_HTTP_LISTEN", "x")]),
                vec![],
                &[],
            )
            .unwrap();
        assert_eq!(
            (settings.http.listen.as_str(), settings.http.workers),
            ("file", Some(3))
        );
        let settings: Settings = SCHEMA
            .load(
                Some(&file),
                env(&[("TEST_HTTP_LISTEN", "env")]),
                vec![("http", "listen", toml::Value::String("flag".to_owned()))],
                &[],
            )
            .unwrap();
        assert_eq!(settings.http.listen, "flag");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn an_unknown_variable_and_a_missing_setting_are_named() {
        let error = SCHEMA
            .load::<Settings>(None, env(&[("TEST_HTTP_LISTN", "x")]), vec![], &[])
            .unwrap_err();
        assert!(
            matches!(&error, ConfigError::UnknownVariable { variable, key, .. }
                if variable == "TEST_HTTP_LISTN" && key == "listn"),
            "{error}"
        );
        let required = Required {
            section: "http",
            key: "listen",
            flag: "--listen",
        };
        let error = SCHEMA
            .load::<Settings>(None, env(&[]), vec![], &[required])
            .unwrap_err();
        assert_eq!(
            error.to_string(),
            "invalid settings: http.listen is required: set it in the config file, with TEST_HTTP_LISTEN or with --listen"
        );
    }

    #[test]
    fn a_strict_schema_refuses_a_variable_of_no_section() {
        let strict = Schema {
            strict: true,
            ..SCHEMA
        };
        let variables = [
            ("TEST_LISTEN", "x"),
            ("TEST_HTTPLISTEN", "x"),
            ("TEST_CONFIG", "settings.toml"),
        ];
        let error = strict
            .load::<Settings>(None, env(&variables), vec![], &[])
            .unwrap_err();
        assert_eq!(
            error.to_string(),
            "TEST_HTTPLISTEN does not name a setting: settable are TEST_<SECTION>_<KEY> for the keys of http, log"
        );
        // The same variables are someone else's to a schema that is not strict.
        let settings: Settings = SCHEMA
            .load(
                None,
                env(&[variables[0], variables[1], ("TEST_HTTP_LISTEN", "env")]),
                vec![],
                &[],
            )
            .unwrap();
        assert_eq!(settings.http.listen, "env");
    }

    #[test]
    fn an_error_in_the_file_names_its_line_unless_other_layers_were_merged() {
        let text = "[http]\nlisten = \"file\"\nworkers = \"many\"\n";
        let path = Path::new("settings.toml");
        let error = SCHEMA
            .load_text::<Settings>(text, path, env(&[]), vec![], &[])
            .unwrap_err();
        let ConfigError::Setting { message, .. } = &error else {
            panic!("{error}");
        };
        assert!(message.contains("line 3"), "{message}");
        // A file whose section is not a table cannot take a variable's setting.
        let error = SCHEMA
            .load_text::<Settings>(
                "http = 1\n",
                path,
                env(&[("TEST_HTTP_LISTEN", "x")]),
                vec![],
                &[],
            )
            .unwrap_err();
        assert_eq!(
            error.to_string(),
            "invalid settings: http must be a table to set http.listen"
        );
    }

    #[test]
    fn a_missing_file_is_named() {
        let error = SCHEMA
            .load::<Settings>(
                Some(Path::new("/nonexistent/x.toml")),
                env(&[]),
                vec![],
                &[],
            )
            .unwrap_err();
        assert!(error.to_string().contains("/nonexistent/x.toml"), "{error}");
    }

    #[test]
    fn durations_need_a_unit() {
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("5m"), Ok(Duration::from_secs(300)));
        assert!(parse_duration("30").unwrap_err().contains("no unit"));
        assert_eq!(parse_duration("2h"), Ok(Duration::from_secs(7200)));
        assert!(parse_duration("3d").unwrap_err().contains("unknown unit"));
    }

    #[test]
    fn the_common_flags_are_settings_and_win_over_the_file() {
        #[derive(Debug, Deserialize)]
        struct Service {
            database: toml::Table,
            metrics: toml::Table,
            log: crate::log::LogConfig,
        }
        const SERVICE: Schema = Schema {
            env_prefix: "TEST_",
            sections: &[
                ("database", &["url"]),
                ("metrics", &["listen"]),
                ("log", &["format", "filter"]),
            ],
            strict: true,
        };
        let flags = CommonFlags {
            database_url: Some(secrecy::SecretString::from("postgres://flag/db")),
            listen: Some("127.0.0.1:9100".parse().unwrap()),
            log_format: Some(crate::log::LogFormat::Json),
        };
        let text = "[database]\nurl = \"postgres://file/db\"\n[metrics]\nlisten = \"x\"\n";
        let service: Service = SERVICE
            .load_text(
                text,
                Path::new("s.toml"),
                env(&[]),
                flags.settings("metrics"),
                &[DATABASE_URL],
            )
            .unwrap();
        assert_eq!(service.database["url"].as_str(), Some("postgres://flag/db"));
        assert_eq!(service.metrics["listen"].as_str(), Some("127.0.0.1:9100"));
        assert_eq!(service.log.format, crate::log::LogFormat::Json);
        // Without the flag, the required URL is asked for by its flag.
        let error = SERVICE
            .load::<Service>(
                None,
                env(&[]),
                CommonFlags::default().settings("metrics"),
                &[DATABASE_URL],
            )
            .unwrap_err();
        assert!(error.to_string().contains("--database-url"), "{error}");
    }

    #[test]
    fn http_settings_default_per_service_and_refuse_what_cannot_run() {
        type WithLimit = HttpConfig<8090, 10, 10>;
        type WithoutLimit = HttpConfig<8080, 30, 0>;
        let with = WithLimit::default();
        assert_eq!(with.listen, "127.0.0.1:8090".parse().unwrap());
        assert_eq!(with.shutdown_timeout, Duration::from_secs(10));
        assert_eq!(with.request_timeout, Some(Duration::from_secs(10)));
        let without: WithoutLimit = toml::from_str("workers = 2").unwrap();
        assert_eq!(without.listen, "127.0.0.1:8080".parse().unwrap());
        assert_eq!(without.request_timeout, None);
        assert_eq!(without.workers, Some(2));
        without.check().unwrap();
        with.check().unwrap();
        // A time limit the service does not apply is refused, not ignored.
        let error = toml::from_str::<WithoutLimit>("request_timeout = \"5s\"")
            .unwrap()
            .check()
            .unwrap_err();
        assert!(
            error.to_string().contains("http.request_timeout"),
            "{error}"
        );
        for (text, named) in [
            ("request_timeout = \"0s\"", "http.request_timeout"),
            ("workers = 0", "http.workers"),
            (
                "max_connections_per_client = 0",
                "http.max_connections_per_client",
            ),
            (
                "listen = \"127.0.0.1:1\"\noperator_listen = \"127.0.0.1:1\"",
                "http.operator_listen",
            ),
        ] {
            let error = toml::from_str::<WithLimit>(text)
                .unwrap()
                .check()
                .unwrap_err();
            assert!(error.to_string().contains(named), "{text}: {error}");
        }
        assert!(toml::from_str::<WithLimit>("listen_on = \"x\"").is_err());
    }
}
