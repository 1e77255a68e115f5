//! Checking a service against an OpenAPI document with schemathesis, for the services'
//! integration tests (behind the `testing` feature).
//!
//! Schemathesis comes from PyPI: `scripts/services` installs it into a virtual environment and
//! writes its path to `TAGTRAIL_SCHEMATHESIS` in the settings file the tests load. A run is one
//! `schemathesis --config-file <config> run <location> --no-color --generation-database none ...`
//! process (no examples kept from one run for the next, which would replay them; Hypothesis's
//! caches go under the temporary directory, not the source tree); its standard output and error
//! together are the report a failed test shows.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The environment variable naming the schemathesis executable.
pub const SCHEMATHESIS_VARIABLE: &str = "TAGTRAIL_SCHEMATHESIS";

/// Why schemathesis could not be run (not: that it found a failure, which is a [`Report`]).
#[derive(Debug, thiserror::Error)]
pub enum SchemathesisError {
    #[error(
        "{SCHEMATHESIS_VARIABLE} does not name the schemathesis executable: run scripts/services, \
         which installs it into a virtual environment, and load the settings it writes"
    )]
    NotInstalled,
    #[error("failed to run {0}")]
    Spawn(String, #[source] std::io::Error),
    #[error("schemathesis did not finish")]
    Join(#[source] tokio::task::JoinError),
}

/// A path in the workspace, from its root (`["ingest", "tests", "conformance", "hooks.py"]`).
pub fn workspace_path(parts: &[&str]) -> PathBuf {
    // Every crate of the workspace is a directory of its root, this one too.
    let mut path: PathBuf = [env!("CARGO_MANIFEST_DIR"), ".."].iter().collect();
    path.extend(parts);
    path
}

/// One `schemathesis run`, built up before it starts.
#[derive(Debug)]
pub struct Schemathesis {
    program: OsString,
    args: Vec<OsString>,
    envs: Vec<(OsString, OsString)>,
}

impl Schemathesis {
    /// `schemathesis --config-file <config> run <location> --no-color --generation-database none`:
    /// the executable that `TAGTRAIL_SCHEMATHESIS` names, run against the OpenAPI document at
    /// `location` (a file or a URL) with the settings file `config`.
    pub fn run(config: &Path, location: &str) -> Result<Self, SchemathesisError> {
        let program = std::env::var_os(SCHEMATHESIS_VARIABLE)
            .filter(|program| !program.is_empty())
            .ok_or(SchemathesisError::NotInstalled)?;
        Ok(Self {
            program,
            args: vec![
                "--config-file".into(),
                config.into(),
                "run".into(),
                location.into(),
                "--no-color".into(),
                "--generation-database".into(),
                "none".into(),
            ],
            // Hypothesis keeps its caches (and, unless told otherwise, the examples it found) in
            // `.hypothesis` under the working directory, which is the crate's source.
            envs: vec![(
                "HYPOTHESIS_STORAGE_DIRECTORY".into(),
                std::env::temp_dir().join("tagtrail-hypothesis").into(),
            )],
        })
    }

    /// Adds options of `run` (`--checks`, `--max-examples`, ...).
    #[must_use]
    pub fn args<I, S>(mut self, args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<OsString>,
    {
        self.args.extend(args.into_iter().map(Into::into));
        self
    }

    /// Loads the hooks module at `path` (`SCHEMATHESIS_HOOKS`).
    #[must_use]
    pub fn hooks(self, path: &Path) -> Self {
        self.env("SCHEMATHESIS_HOOKS", path)
    }

    /// Sets an environment variable of the run (for the hooks).
    #[must_use]
    pub fn env(mut self, name: impl Into<OsString>, value: impl Into<OsString>) -> Self {
        self.envs.push((name.into(), value.into()));
        self
    }

    /// Runs it to the end, off the runtime's threads.
    pub async fn finish(self) -> Result<Report, SchemathesisError> {
        let mut command = Command::new(&self.program);
        command.args(&self.args).envs(self.envs);
        let program = self.program.to_string_lossy().into_owned();
        let output = tokio::task::spawn_blocking(move || command.output())
            .await
            .map_err(SchemathesisError::Join)?
            .map_err(|error| SchemathesisError::Spawn(program, error))?;
        Ok(Report {
            passed: output.status.success(),
            text: format!(
                "{}\n{}",
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr)
            ),
        })
    }
}

/// What a run found.
#[derive(Debug)]
pub struct Report {
    /// Schemathesis exited 0: every check passed on every case.
    pub passed: bool,
    /// Its standard output, then its standard error.
    pub text: String,
}

impl Report {
    /// Whether the run selected `operations` operations of the document, tested every one of
    /// them (none skipped) and counted passed checks: that it tested what it was meant to.
    pub fn tested_every_operation(&self, operations: usize) -> bool {
        self.text.contains(&format!("Selected: {operations}/"))
            && self.text.contains(&format!("Tested: {operations}"))
            && !self.text.contains("Skipped:")
            && self.text.contains(" passed")
    }
}
