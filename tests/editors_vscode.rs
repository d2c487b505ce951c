//! The VS Code extension (`editors/vscode`): `scripts/package-vscode` builds
//! it into a .vsix (its `npm test` passing on the way) that holds what VS Code
//! loads — the manifest, the client, the grammar, the editing rules and
//! vscode-languageclient — and the grammar names every built-in, statement
//! key and declaration kind of the language.
//!
//! Packaging needs npm and the npm registry (or npm's cache); without npm the
//! test is listed as skipped (a failure under `CI=true`).

use advp::language::ast::DeclKind;
use advp::language::builtins::BUILTINS;
use std::collections::BTreeSet;
use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn on_path(program: &str) -> bool {
    Command::new(program)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

#[test]
fn the_vscode_extension_packages_into_a_vsix_with_its_client_and_grammar() {
    let test = "the_vscode_extension_packages_into_a_vsix_with_its_client_and_grammar";
    if !on_path("npm") {
        advp::util::skipped(
            test,
            "npm is not on PATH (install Node.js 20 or later to build editors/vscode)",
        );
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let vsix = tmp.path().join("advp.vsix");
    let o = Command::new("bash")
        .arg(root().join("scripts/package-vscode"))
        .arg(&vsix)
        .current_dir(root())
        .stdin(Stdio::null())
        .output()
        .expect("bash runs scripts/package-vscode");
    let out = String::from_utf8_lossy(&o.stdout);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{out}\n{err}");
    assert_eq!(
        out.lines().last(),
        Some(vsix.to_str().unwrap()),
        "the script prints the .vsix's path last:\n{out}"
    );

    let bytes = std::fs::read(&vsix).unwrap();
    let entries = zip_entries(&bytes);
    let names: BTreeSet<&str> = entries.iter().map(|e| e.name.as_str()).collect();
    for want in [
        "extension/package.json",
        "extension/extension.js",
        "extension/folding.js",
        "extension/syntaxes/advp.tmLanguage.json",
        "extension/language-configuration.json",
        "extension/node_modules/vscode-languageclient/package.json",
        "extension/node_modules/vscode-languageclient/node.js",
    ] {
        assert!(
            names.contains(want),
            "{want} missing from the .vsix: {names:?}"
        );
    }
    // Tests and dev tools stay out.
    for name in &names {
        assert!(
            !name.starts_with("extension/test/")
                && !name.starts_with("extension/node_modules/@vscode/vsce/")
                && !name.starts_with("extension/node_modules/vscode-tmgrammar-test/"),
            "{name} should not be in the .vsix"
        );
    }

    let manifest = entries
        .iter()
        .find(|e| e.name == "extension/package.json")
        .unwrap();
    let manifest: serde_json::Value = serde_json::from_slice(&entry_data(&bytes, manifest))
        .expect("the packaged package.json is JSON");
    assert_eq!(manifest["name"], "advp");
    assert_eq!(manifest["main"], "./extension.js");
    let language = &manifest["contributes"]["languages"][0];
    assert_eq!(language["id"], "advp");
    let extensions = language["extensions"]
        .as_array()
        .unwrap_or_else(|| panic!("no contributes.languages[0].extensions in {manifest}"));
    assert!(
        extensions.iter().any(|e| e == ".advp"),
        "{extensions:?} lacks .advp"
    );
    assert_eq!(
        manifest["contributes"]["grammars"][0]["scopeName"],
        "source.advp"
    );
}

/// `advp builtins` and the grammar agree: a new built-in, statement key or
/// declaration kind needs a line in `editors/vscode/syntaxes/advp.tmLanguage.json`.
#[test]
fn the_vscode_grammar_knows_every_builtin_statement_and_kind() {
    let text = std::fs::read_to_string(root().join("editors/vscode/syntaxes/advp.tmLanguage.json"))
        .unwrap();
    let grammar: serde_json::Value = serde_json::from_str(&text).unwrap();
    let repo = &grammar["repository"];

    // The built-ins' alternation: `(synthetic|tensors|…)(?=\s*\()`.
    let call = repo["call"]["patterns"][0]["match"]
        .as_str()
        .expect("repository.call.patterns[0].match");
    let end = call
        .find(r")(?=\s*\()")
        .unwrap_or_else(|| panic!("no built-in alternation in {call}"));
    let start = call[..end].rfind('(').unwrap() + 1;
    let listed: BTreeSet<&str> = call[start..end].split('|').collect();
    let builtins: BTreeSet<&str> = BUILTINS.iter().map(|b| b.name).collect();
    assert_eq!(
        listed, builtins,
        "the grammar's built-ins (left) differ from src/language/builtins.rs (right)"
    );

    let words = |value: &serde_json::Value| -> BTreeSet<String> {
        let mut all = BTreeSet::new();
        collect_matches(value, &mut all);
        all.iter()
            .flat_map(|m| {
                m.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                    .map(str::to_string)
                    .collect::<Vec<_>>()
            })
            .collect()
    };
    let statements: BTreeSet<String> = words(&repo["statement"])
        .union(&words(&repo["keywords"]))
        .cloned()
        .collect();
    for b in BUILTINS {
        for s in b.stmts {
            assert!(
                statements.contains(s.key),
                "the grammar does not highlight the statement key `{}` (of {})",
                s.key,
                b.name
            );
        }
    }
    let declaration = words(&repo["declaration"]);
    for kind in DeclKind::ALL {
        assert!(
            declaration.contains(kind.as_str()),
            "the grammar does not know the declaration kind `{}`",
            kind.as_str()
        );
    }
}

fn collect_matches(value: &serde_json::Value, out: &mut BTreeSet<String>) {
    match value {
        serde_json::Value::Object(map) => {
            for (k, v) in map {
                match (k.as_str(), v) {
                    ("match" | "begin" | "end", serde_json::Value::String(s)) => {
                        out.insert(s.clone());
                    }
                    _ => collect_matches(v, out),
                }
            }
        }
        serde_json::Value::Array(items) => items.iter().for_each(|v| collect_matches(v, out)),
        _ => {}
    }
}

/// One file of a zip archive, from its central directory.
struct Entry {
    name: String,
    method: u16,
    compressed: usize,
    local_header: usize,
}

fn u16_at(b: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([b[at], b[at + 1]])
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

/// The entries of a zip archive (no zip64: a .vsix of this size has none).
fn zip_entries(b: &[u8]) -> Vec<Entry> {
    // The end-of-central-directory record: the last `PK\x05\x06`, within the
    // 22 bytes of the record and up to 64 KiB of comment from the end.
    assert!(b.len() >= 22, "not a zip: {} bytes", b.len());
    let lowest = b.len().saturating_sub(22 + 0xFFFF);
    let eocd = (lowest..=b.len() - 22)
        .rev()
        .find(|&i| u32_at(b, i) == 0x0605_4b50)
        .expect("a zip's end-of-central-directory record");
    let count = u16_at(b, eocd + 10) as usize;
    let mut at = u32_at(b, eocd + 16) as usize;
    let mut entries = Vec::with_capacity(count);
    for _ in 0..count {
        assert_eq!(
            u32_at(b, at),
            0x0201_4b50,
            "a central directory entry at {at}"
        );
        let name_len = u16_at(b, at + 28) as usize;
        let extra_len = u16_at(b, at + 30) as usize;
        let comment_len = u16_at(b, at + 32) as usize;
        entries.push(Entry {
            name: String::from_utf8_lossy(&b[at + 46..at + 46 + name_len]).into_owned(),
            method: u16_at(b, at + 10),
            compressed: u32_at(b, at + 20) as usize,
            local_header: u32_at(b, at + 42) as usize,
        });
        at += 46 + name_len + extra_len + comment_len;
    }
    entries
}

/// An entry's bytes: stored as they are, or deflated (inflated by node's
/// zlib: node is there wherever npm is, and advp has no inflate of its own).
fn entry_data(b: &[u8], e: &Entry) -> Vec<u8> {
    let h = e.local_header;
    assert_eq!(u32_at(b, h), 0x0403_4b50, "a local header for {}", e.name);
    let start = h + 30 + u16_at(b, h + 26) as usize + u16_at(b, h + 28) as usize;
    let raw = &b[start..start + e.compressed];
    match e.method {
        0 => raw.to_vec(),
        8 => {
            let mut child = Command::new("node")
                .args([
                    "-e",
                    "process.stdout.write(require('zlib').inflateRawSync(require('fs').readFileSync(0)))",
                ])
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .expect("node runs");
            child.stdin.take().unwrap().write_all(raw).unwrap();
            let o = child.wait_with_output().unwrap();
            assert!(
                o.status.success(),
                "inflating {}: {}",
                e.name,
                String::from_utf8_lossy(&o.stderr)
            );
            o.stdout
        }
        m => panic!(
            "{}: zip compression method {m} (only stored and deflate)",
            e.name
        ),
    }
}
