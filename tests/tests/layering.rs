//! The server's shape, checked on its sources: its top-level modules depend on each other
//! without a cycle (handlers → services → repository; `AppState` assembled in one place), and
//! the storage backends decide nothing (no domain conflict code inside them).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

fn sources(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            sources(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

fn server_src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../server/src")
}

/// The code of a file without its comment lines (doc links name modules without using them).
fn code(path: &Path) -> String {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .filter(|l| !l.trim_start().starts_with("//"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Each top-level module of the server and the top-level modules its code names.
fn module_graph() -> BTreeMap<String, BTreeSet<String>> {
    let root = server_src();
    let mut files = Vec::new();
    sources(&root, &mut files);
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for file in files {
        let rel = file.strip_prefix(&root).unwrap();
        let first = rel
            .components()
            .next()
            .unwrap()
            .as_os_str()
            .to_string_lossy();
        let module = first.trim_end_matches(".rs").to_owned();
        if module == "lib" || module == "main" || module == "bin" {
            continue;
        }
        let text = code(&file);
        let deps = graph.entry(module.clone()).or_default();
        for (i, _) in text.match_indices("crate::") {
            let name: String = text[i + 7..]
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            if name != module && name.starts_with(|c: char| c.is_ascii_lowercase()) {
                deps.insert(name);
            }
        }
    }
    graph
}

/// A path `from` → … → `to` in the graph, if any.
fn path(
    graph: &BTreeMap<String, BTreeSet<String>>,
    from: &str,
    to: &str,
    seen: &mut BTreeSet<String>,
) -> Option<Vec<String>> {
    for next in graph.get(from).into_iter().flatten() {
        if next == to {
            return Some(vec![from.to_owned(), to.to_owned()]);
        }
        if seen.insert(next.clone())
            && let Some(mut rest) = path(graph, next, to, seen)
        {
            rest.insert(0, from.to_owned());
            return Some(rest);
        }
    }
    None
}

#[test]
fn the_servers_modules_have_no_import_cycle() {
    let graph = module_graph();
    assert!(graph.contains_key("service") && graph.contains_key("store"));
    for module in graph.keys() {
        if let Some(cycle) = path(&graph, module, module, &mut BTreeSet::new()) {
            panic!("import cycle: {}", cycle.join(" → "));
        }
    }
    // The layers, in the one direction they may be used.
    for (lower, upper) in [("store", "service"), ("service", "api"), ("store", "api")] {
        assert!(
            path(&graph, lower, upper, &mut BTreeSet::new()).is_none(),
            "{lower} must not depend on {upper}"
        );
    }
}

#[test]
fn storage_backends_make_no_business_decision() {
    let mut files = Vec::new();
    sources(&server_src().join("store/sqlite"), &mut files);
    assert!(!files.is_empty());
    for file in files {
        if file.ends_with("tests.rs") {
            continue;
        }
        let text = code(&file);
        assert!(
            !text.contains("StoreError::conflict") && !text.contains("StoreError::Conflict"),
            "{} decides a conflict: that belongs in a service",
            file.display()
        );
    }
}
