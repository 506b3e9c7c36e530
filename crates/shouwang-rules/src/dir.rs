//! The edge to the file system: reads a rules directory into
//! [`Sources`] and compiles it. std::fs only; watching the directory and
//! reloading are the collector's.

use std::path::{Path, PathBuf};

use crate::compile::{Ruleset, Sources, compile_sources};
use crate::diagnostic::Diagnostic;

fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    let mut entries: Vec<_> = std::fs::read_dir(dir)?.collect::<Result<_, _>>()?;
    entries.sort_by_key(std::fs::DirEntry::path);
    for e in entries {
        let p = e.path();
        if e.file_type()?.is_dir() {
            if p.file_name().is_some_and(|n| n != "lists") {
                walk(&p, out)?;
            }
        } else if p.extension().is_some_and(|x| x == "toml")
            && p.file_name().is_some_and(|n| n != "profiles.toml")
        {
            out.push(p);
        }
    }
    Ok(())
}

fn read(path: &Path, errors: &mut Vec<Diagnostic>) -> Option<String> {
    match std::fs::read_to_string(path) {
        Ok(s) => Some(s),
        Err(e) => {
            errors.push(Diagnostic::at_line(
                &path.display().to_string(),
                1,
                format!("cannot read: {e}"),
                None,
            ));
            None
        }
    }
}

/// Reads a rules directory: `*.toml` rules (any depth), `lists/*.txt`, and
/// `profiles.toml`. Files that cannot be read are errors in the second
/// half of the pair.
pub fn read_dir(dir: &Path) -> (Sources, Vec<Diagnostic>) {
    let mut errors = Vec::new();
    let mut sources = Sources {
        dir: dir.to_owned(),
        ..Sources::default()
    };
    let list_dir = dir.join("lists");
    if list_dir.is_dir() {
        let mut names: Vec<PathBuf> = std::fs::read_dir(&list_dir)
            .map(|rd| rd.filter_map(|e| e.ok().map(|e| e.path())).collect())
            .unwrap_or_default();
        names.sort();
        for p in names
            .into_iter()
            .filter(|p| p.extension().is_some_and(|x| x == "txt"))
        {
            let name = p
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default();
            if let Some(text) = read(&p, &mut errors) {
                sources.lists.push((name, p.display().to_string(), text));
            }
        }
    }
    let profiles_path = dir.join("profiles.toml");
    if profiles_path.is_file() {
        sources.profiles =
            read(&profiles_path, &mut errors).map(|t| (profiles_path.display().to_string(), t));
    }
    let mut files = Vec::new();
    if let Err(e) = walk(dir, &mut files) {
        errors.push(Diagnostic::at_line(
            &dir.display().to_string(),
            1,
            format!("cannot read the rules directory: {e}"),
            None,
        ));
    }
    for p in files {
        if let Some(text) = read(&p, &mut errors) {
            sources.rules.push((p.display().to_string(), text));
        }
    }
    (sources, errors)
}

/// Loads and compiles a rules directory ([`read_dir`], then
/// [`compile_sources`]). Every error of every file is returned.
pub fn load_dir(dir: &Path) -> Result<Ruleset, Vec<Diagnostic>> {
    let (sources, errors) = read_dir(dir);
    compile_sources(&sources, errors)
}
