//! Finds the browser assets Trunk built (hashed names) and tells the server their names.
//!
//! The frontend must be built first (`./kiln.sh build` does it in order); running cargo from
//! here would deadlock on cargo's lock. Without it the server still builds, warns, and serves
//! pages that do not hydrate.

use std::path::PathBuf;

fn main() {
    println!("cargo:rerun-if-changed=../migrations");
    println!("cargo:rerun-if-changed=builtin-templates");
    println!("cargo:rerun-if-env-changed=KILN_SITE_DIR");
    let manifest =
        PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap_or_else(|_| ".".into()));
    let site = std::env::var("KILN_SITE_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|_| manifest.join("../target/site/pkg"));
    if let Err(e) = std::fs::create_dir_all(&site) {
        println!("cargo:warning=cannot create {}: {e}", site.display());
    }
    let site = site.canonicalize().unwrap_or(site);
    println!("cargo:rerun-if-changed={}", site.display());
    println!("cargo:rustc-env=KILN_SITE_DIR={}", site.display());

    let names: Vec<String> = std::fs::read_dir(&site)
        .map(|dir| {
            dir.filter_map(Result::ok)
                .filter_map(|e| e.file_name().into_string().ok())
                .collect()
        })
        .unwrap_or_default();
    let find =
        |pred: &dyn Fn(&str) -> bool| names.iter().find(|n| pred(n)).cloned().unwrap_or_default();
    let js = find(&|n| n.starts_with("kiln") && n.ends_with(".js"));
    let wasm = find(&|n| n.starts_with("kiln") && n.ends_with("_bg.wasm"));
    let css = find(&|n| n.ends_with(".css"));
    if js.is_empty() || wasm.is_empty() || css.is_empty() {
        println!(
            "cargo:warning=frontend assets not found in {} — pages will not hydrate; run `./kiln.sh build`",
            site.display()
        );
    }
    println!("cargo:rustc-env=KILN_ASSET_JS={js}");
    println!("cargo:rustc-env=KILN_ASSET_WASM={wasm}");
    println!("cargo:rustc-env=KILN_ASSET_CSS={css}");
}
