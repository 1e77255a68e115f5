//! Rebuilds the crate when a migration is added to `sql/` (the readiness check embeds them).

fn main() {
    println!("cargo:rerun-if-changed=../sql");
}
