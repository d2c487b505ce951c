//! The output folder and the cache folder never overlap: reports written
//! over the cache (an examples folder replaced whole, `--out .` holding
//! `.advp/cache`) could replace or delete cached results.

use std::path::{Component, Path, PathBuf};

/// `p` as an absolute path, its symbolic links resolved as far as it
/// exists and `.`/`..` taken lexically after that.
fn resolved(p: &Path) -> PathBuf {
    let abs = std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf());
    // The longest part that exists, with its links resolved; the rest as written.
    let mut existing = abs.clone();
    let mut rest = Vec::new();
    let base = loop {
        if let Ok(c) = existing.canonicalize() {
            break c;
        }
        match (existing.file_name(), existing.parent()) {
            (Some(name), Some(parent)) => {
                rest.push(name.to_os_string());
                existing = parent.to_path_buf();
            }
            _ => break existing,
        }
    };
    let mut out = base;
    for part in rest.iter().rev() {
        for c in Path::new(part).components() {
            match c {
                Component::ParentDir => {
                    out.pop();
                }
                Component::Normal(n) => out.push(n),
                _ => {}
            }
        }
    }
    // `absolute` keeps `..`; a path that did not exist at all still has them.
    let mut clean = PathBuf::new();
    for c in out.components() {
        match c {
            Component::ParentDir => {
                clean.pop();
            }
            Component::CurDir => {}
            c => clean.push(c),
        }
    }
    clean
}

/// An `--out` that is, holds or sits inside the cache folder is refused,
/// with what to do instead; checked before any work.
pub(super) fn apart(out: &Path, cache: &Path) -> Result<(), String> {
    let (o, c) = (resolved(out), resolved(cache));
    let how = if o == c {
        "is"
    } else if c.starts_with(&o) {
        "holds"
    } else if o.starts_with(&c) {
        "is inside"
    } else {
        return Ok(());
    };
    Err(format!(
        "the output folder {} {how} the cache folder {}: reports written there could replace or delete cached results. \
         Write the reports to a folder of their own (`--out results/NAME`, or leave `--out` out), or keep the cache elsewhere (`--cache DIR`)",
        out.display(),
        cache.display()
    ))
}

#[cfg(test)]
mod tests {
    #[test]
    fn folders_compare_as_the_file_system_sees_them() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        std::fs::create_dir_all(d.join("a/cache")).unwrap();
        std::os::unix::fs::symlink(d.join("a"), d.join("link")).unwrap();
        assert!(super::apart(&d.join("a"), &d.join("a/cache")).is_err());
        assert!(super::apart(&d.join("a/./cache/"), &d.join("a/cache")).is_err());
        assert!(super::apart(&d.join("a/cache/new/r"), &d.join("a/cache")).is_err());
        assert!(super::apart(&d.join("link"), &d.join("a/cache")).is_err());
        assert!(super::apart(&d.join("b/../a"), &d.join("a/cache")).is_err());
        assert!(super::apart(&d.join("results"), &d.join("a/cache")).is_ok());
        assert!(super::apart(&d.join("a/cachex"), &d.join("a/cache")).is_ok());
    }
}
