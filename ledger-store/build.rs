//! Rebuilds the crate when a migration is added to or changed in `sql/` (they are embedded).

fn main() {
    println!("cargo:rerun-if-changed=../sql");
}
