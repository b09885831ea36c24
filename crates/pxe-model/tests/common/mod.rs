//! Shared by the integration tests: the render-lab inventory.
#![allow(dead_code, unreachable_pub)]

use std::path::{Path, PathBuf};

pub fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures")
}

pub fn lab() -> pxe_model::Inventory {
    pxe_model::load(&fixtures().join("inventory/good/render-lab.yaml"))
        .unwrap_or_else(|e| panic!("{e}"))
}
