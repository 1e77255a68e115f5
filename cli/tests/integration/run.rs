//! Running the `tagtrail` binary in the tests that check its output.

use std::io::Write as _;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};

/// `tagtrail ARGS...`, without a database URL from the environment.
pub fn tagtrail(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_tagtrail"))
        .args(args)
        .env_remove("TAGTRAIL_DATABASE_URL")
        .output()
        .expect("the tagtrail binary runs")
}

/// `tagtrail ARGS...` reading `stdin`.
pub fn tagtrail_with_stdin(args: &[&str], stdin: &[u8]) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_tagtrail"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the tagtrail binary starts");
    child
        .stdin
        .take()
        .expect("stdin is piped")
        .write_all(stdin)
        .expect("stdin takes the document");
    child
        .wait_with_output()
        .expect("the tagtrail binary finishes")
}

/// Output bytes as text.
pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// The command's stdout, after checking its exit status.
pub fn stdout_of(output: &Output, code: i32) -> String {
    assert_eq!(
        output.status.code(),
        Some(code),
        "stdout:\n{}\nstderr:\n{}",
        text(&output.stdout),
        text(&output.stderr)
    );
    text(&output.stdout)
}

/// `tagtrail ARGS... --database-url URL`: a runner of registry commands on one database.
pub fn on_database(url: &str) -> impl Fn(&[&str]) -> Output + '_ {
    move |args: &[&str]| {
        let mut all = args.to_vec();
        all.extend(["--database-url", url]);
        tagtrail(&all)
    }
}

/// A directory of its own under the system temporary directory, removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(name: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("tagtrail-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Self(dir)
    }

    /// The path of `name` in it, as text.
    pub fn path(&self, name: &str) -> String {
        self.0.join(name).to_str().unwrap().to_owned()
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
