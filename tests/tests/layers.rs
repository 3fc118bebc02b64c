//! The layout holds (README "Architecture"): each layer of `shared/src/lib.rs` imports only the
//! layers listed before it, and inside `domain/` and `usecases/` each concept imports only what
//! its `mod.rs` declares before it (the kernels and shared files come first). So the domain
//! imports nothing of the store, the outbox, the use cases or the handlers, and no two concepts
//! import each other. Test modules may reach anywhere and are not read.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};

fn source_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/src")
}

/// `pub mod x;` declarations of a module file, in their written order.
fn declared(file: &Path) -> Vec<String> {
    fs::read_to_string(file)
        .unwrap()
        .lines()
        .filter_map(|line| line.trim().strip_prefix("pub mod "))
        .filter_map(|rest| rest.strip_suffix(';'))
        .map(str::to_string)
        .collect()
}

fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    if dir.is_file() {
        return vec![dir.to_path_buf()];
    }
    for entry in fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            found.extend(rust_files(&path));
        } else if path.extension().is_some_and(|ext| ext == "rs") {
            found.push(path);
        }
    }
    found
}

/// The code of a file without its test modules (they come last) and its comments.
fn code_of(file: &Path) -> String {
    let text = fs::read_to_string(file).unwrap();
    let code = match text.find("#[cfg(test)]") {
        Some(start) if !file.ends_with("tests.rs") => &text[..start],
        Some(_) => "",
        None if file.ends_with("tests.rs") => "",
        None => &text,
    };
    code.lines()
        .map(|line| line.split("//").next().unwrap_or(""))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The first path segment after each `crate::{prefix}` in `code`, including every name of a
/// grouped import (`crate::domain::{money, ids::VendorId}` → money, ids).
fn referenced(code: &str, prefix: &str) -> BTreeSet<String> {
    let needle = format!("crate::{prefix}");
    let mut names = BTreeSet::new();
    let mut rest = code;
    while let Some(at) = rest.find(&needle) {
        rest = &rest[at + needle.len()..];
        if let Some(group) = rest.strip_prefix('{') {
            let body = &group[..group.find('}').unwrap_or(group.len())];
            for part in body.split(',') {
                let name: String = part
                    .trim()
                    .chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_')
                    .collect();
                if !name.is_empty() {
                    names.insert(name);
                }
            }
        } else {
            let name: String = rest
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            if !name.is_empty() {
                names.insert(name);
            }
        }
    }
    names
}

/// Every module of `order` that a file of `order[i]` (below `dir`) imports out of order.
fn out_of_order(dir: &Path, prefix: &str, order: &[String]) -> Vec<String> {
    let mut wrong = Vec::new();
    for (rank, module) in order.iter().enumerate() {
        // A module is its file (`app.rs`), its folder (`app/`), or both.
        let places = [dir.join(format!("{module}.rs")), dir.join(module)];
        let files = places
            .iter()
            .filter(|place| place.exists())
            .flat_map(|place| rust_files(place));
        for file in files {
            for name in referenced(&code_of(&file), prefix) {
                match order.iter().position(|m| *m == name) {
                    Some(other) if other > rank => wrong.push(format!(
                        "{} imports {prefix}{name}, declared after {module}",
                        file.strip_prefix(source_root()).unwrap_or(&file).display()
                    )),
                    _ => {}
                }
            }
        }
    }
    wrong
}

#[test]
fn each_layer_imports_only_the_layers_below_it() {
    // given the layers as lib.rs lists them, bottom up
    let root = source_root();
    let layers = declared(&root.join("lib.rs"));
    assert_eq!(
        &layers[..2],
        ["domain", "store"],
        "lib.rs lists the domain first"
    );
    // when every file of every layer is read, then none reaches up
    assert_eq!(out_of_order(&root, "", &layers), Vec::<String>::new());
}

#[test]
fn the_domain_imports_nothing_above_it() {
    // given every file of the domain
    let domain = source_root().join("domain");
    for file in rust_files(&domain) {
        // then it names no other layer
        let above: BTreeSet<String> = referenced(&code_of(&file), "")
            .into_iter()
            .filter(|layer| layer != "domain")
            .collect();
        assert!(above.is_empty(), "{} imports {above:?}", file.display());
    }
}

#[test]
fn domain_concepts_import_only_kernels_and_the_concepts_before_them() {
    let domain = source_root().join("domain");
    let order = declared(&domain.join("mod.rs"));
    assert_eq!(
        out_of_order(&domain, "domain::", &order),
        Vec::<String>::new()
    );
}

#[test]
fn use_case_concepts_import_only_ports_shared_files_and_the_concepts_before_them() {
    let usecases = source_root().join("usecases");
    let order = declared(&usecases.join("mod.rs"));
    assert_eq!(order.first().map(String::as_str), Some("ports"));
    assert_eq!(
        out_of_order(&usecases, "usecases::", &order),
        Vec::<String>::new()
    );
}
