//! Reading the command's inputs: files, or standard input for `-`.

use std::io::Read;

use anyhow::Context;

/// Reads a whole input: the file at `path`, or standard input when `path` is `-`.
pub fn read_input(path: &str) -> anyhow::Result<Vec<u8>> {
    if path == "-" {
        let mut bytes = Vec::new();
        std::io::stdin()
            .read_to_end(&mut bytes)
            .context("Failed to read standard input")?;
        Ok(bytes)
    } else {
        std::fs::read(path).with_context(|| format!("Failed to read {path}"))
    }
}
