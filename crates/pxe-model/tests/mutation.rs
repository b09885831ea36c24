//! Mutation test: a key nobody defined, added to any mapping of any example, is
//! rejected at its own line. Only `vars:` (free-form template variables) takes any key.

use std::path::Path;

const MUTANT: &str = "bogus_mutant_key";

/// Every example inventory that must load as it is.
fn examples() -> Vec<std::path::PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let mut v = vec![root.join("deploy/examples/inventory.yaml")];
    let good = root.join("tests/fixtures/inventory/good");
    let mut more: Vec<_> = std::fs::read_dir(&good)
        .expect("good fixtures")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
        .collect();
    more.sort();
    v.extend(more);
    v
}

/// Lines that hold a block-mapping key: (line index, indent of its mapping, parent key).
fn key_lines(text: &str) -> Vec<(usize, usize, Option<String>)> {
    let mut out = Vec::new();
    let mut stack: Vec<(usize, String)> = Vec::new(); // (indent, key)
    for (i, line) in text.lines().enumerate() {
        let trimmed = line.trim_start();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        let mut indent = line.len() - trimmed.len();
        let mut body = trimmed;
        if let Some(rest) = body.strip_prefix("- ") {
            indent += 2;
            body = rest;
        }
        // A key ends at `: ` or at a `:` that ends the line (`52:54:…` is a scalar).
        let key = match body.split_once(": ") {
            Some((k, _)) => k,
            None => match body.strip_suffix(':') {
                Some(k) => k,
                None => continue,
            },
        };
        if key.is_empty() || key.contains([' ', '[', '{', '"']) {
            continue;
        }
        while stack.last().is_some_and(|(ind, _)| *ind >= indent) {
            stack.pop();
        }
        out.push((i, indent, stack.last().map(|(_, k)| k.clone())));
        stack.push((indent, key.to_owned()));
    }
    out
}

#[test]
fn an_unknown_key_in_any_mapping_is_rejected_at_its_line() {
    let mut mutations = 0;
    for path in examples() {
        let text = std::fs::read_to_string(&path).expect("read example");
        let base = path.parent().expect("dir");
        pxe_model::load_str("example.yaml", &text, base)
            .unwrap_or_else(|d| panic!("{} must load as it is:\n{}", path.display(), d.render()));
        for (line, indent, parent) in key_lines(&text) {
            if parent.as_deref() == Some("vars") {
                continue;
            }
            let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
            lines.insert(line, format!("{}{MUTANT}: 1", " ".repeat(indent)));
            let mutated = lines.join("\n");
            let d = match pxe_model::load_str("mutant.yaml", &mutated, base) {
                Ok(_) => panic!(
                    "{}: key inserted at line {} was accepted:\n{mutated}",
                    path.display(),
                    line + 1
                ),
                Err(d) => d,
            };
            let at_line = d.items.iter().any(|i| i.pos.line as usize == line + 1);
            assert!(
                at_line,
                "{}: no error at inserted line {}:\n{}",
                path.display(),
                line + 1,
                d.render()
            );
            mutations += 1;
        }
    }
    assert!(
        mutations > 40,
        "only {mutations} mutations: the key finder is broken"
    );
}

#[test]
fn key_finder_sees_nested_and_sequence_mappings() {
    let keys = key_lines("a:\n  b: 1\n  vars:\n    x: 1\nc:\n  - d: 1\n    e: 2\n");
    let lines: Vec<usize> = keys.iter().map(|k| k.0).collect();
    assert_eq!(lines, [0, 1, 2, 3, 4, 5, 6]);
    assert_eq!(keys[3].2.as_deref(), Some("vars"));
    assert_eq!(keys[5].1, 4);
}
