//! Positions and names as the protocol has them: lines and UTF-16 columns
//! for byte offsets, `file://` URIs for paths, and the embedded stdlib as
//! read-only files an editor can open.

use lsp_types::{Position, Range, Uri};
use std::path::{Path, PathBuf};

/// Byte offsets ↔ LSP positions (0-based lines, UTF-16 code units).
pub struct Lines<'t> {
    text: &'t str,
    starts: Vec<usize>,
}

impl<'t> Lines<'t> {
    pub fn new(text: &'t str) -> Self {
        let mut starts = vec![0];
        starts.extend(text.match_indices('\n').map(|(i, _)| i + 1));
        Lines { text, starts }
    }

    pub fn position(&self, offset: usize) -> Position {
        let offset = offset.min(self.text.len());
        let line = self.starts.partition_point(|&s| s <= offset) - 1;
        let start = self.starts[line];
        let mut end = offset;
        while !self.text.is_char_boundary(end) {
            end -= 1;
        }
        let col: usize = self.text[start..end].chars().map(char::len_utf16).sum();
        Position::new(line as u32, col as u32)
    }

    pub fn range(&self, start: usize, end: usize) -> Range {
        Range::new(self.position(start), self.position(end))
    }

    pub fn offset(&self, p: Position) -> usize {
        let Some(&start) = self.starts.get(p.line as usize) else {
            return self.text.len();
        };
        let line_end = self
            .starts
            .get(p.line as usize + 1)
            .map_or(self.text.len(), |e| e - 1);
        let mut units = 0u32;
        for (i, c) in self.text[start..line_end].char_indices() {
            if units >= p.character {
                return start + i;
            }
            units += c.len_utf16() as u32;
        }
        line_end
    }
}

/// Bytes a path keeps as they are in a URI.
fn plain(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'/' | b'-' | b'_' | b'.' | b'~')
}

pub fn uri_of(path: &Path) -> Uri {
    let mut s = String::from("file://");
    for &b in path.to_string_lossy().as_bytes() {
        if plain(b) {
            s.push(b as char);
        } else {
            s.push_str(&format!("%{b:02X}"));
        }
    }
    s.parse()
        .unwrap_or_else(|_| "file:///".parse().expect("a URI"))
}

/// The path of a `file://` URI (percent-decoded); `None` for another scheme.
pub fn path_of(uri: &Uri) -> Option<PathBuf> {
    let rest = uri.as_str().strip_prefix("file://")?;
    // `file:///path` and `file://localhost/path` are this machine's;
    // `file://host/path` is not.
    let slash = rest.find('/')?;
    if !matches!(&rest[..slash], "" | "localhost") {
        return None;
    }
    let rest = &rest[slash..];
    let bytes = rest.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            if let Ok(b) = u8::from_str_radix(&rest[i + 1..i + 3], 16) {
                out.push(b);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    Some(PathBuf::from(String::from_utf8_lossy(&out).into_owned()))
}

/// The embedded stdlib written once as read-only files (in the temporary
/// folder, under a name that changes with its contents), so an editor can
/// open `stdlib/attacks.advp` from a go-to-definition.
pub fn stdlib_path(name: &str) -> Option<PathBuf> {
    use sha2::{Digest, Sha256};
    let text = crate::language::loader::stdlib(name)?;
    let mut h = Sha256::new();
    for (n, t) in crate::language::loader::STDLIB {
        h.update(n.as_bytes());
        h.update(t.as_bytes());
    }
    let tag: String = h.finalize()[..6]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    use std::os::unix::fs::{DirBuilderExt, MetadataExt};
    // A folder of this user's alone (0700, owned by this user): another
    // user cannot put a file or a link where the copies go.
    let me = std::fs::metadata("/proc/self").map(|m| m.uid()).ok()?;
    let dir = std::env::temp_dir().join(format!("advp-{me}-stdlib-{tag}"));
    let _ = std::fs::DirBuilder::new().mode(0o700).create(&dir);
    let meta = std::fs::symlink_metadata(&dir).ok()?;
    if !meta.is_dir() || meta.uid() != me || meta.mode() & 0o077 != 0 {
        return None;
    }
    let path = dir.join(name);
    if std::fs::read_to_string(&path).ok().as_deref() != Some(text) {
        let dir = path.parent()?;
        std::fs::create_dir_all(dir).ok()?;
        let tmp = dir.join(format!(
            ".{}.tmp{}",
            name.replace('/', "_"),
            std::process::id()
        ));
        std::fs::write(&tmp, text).ok()?;
        use std::os::unix::fs::PermissionsExt;
        let _ = std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o444));
        std::fs::rename(&tmp, &path).ok()?;
    }
    Some(path)
}

/// Which stdlib file a path is a copy of.
pub fn stdlib_name(path: &Path) -> Option<&'static str> {
    crate::language::loader::STDLIB
        .iter()
        .map(|(n, _)| *n)
        .find(|n| stdlib_path(n).is_some_and(|p| p == path))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_count_utf16_units_and_round_trip() {
        let text = "a = 1\n# é𝄞x\nb";
        let lines = Lines::new(text);
        let x = text.find('x').unwrap();
        // `# ` 2, `é` 1, `𝄞` 2 units.
        assert_eq!(lines.position(x), Position::new(1, 5));
        assert_eq!(lines.offset(Position::new(1, 5)), x);
        assert_eq!(lines.offset(Position::new(2, 0)), text.len() - 1);
        assert_eq!(lines.offset(Position::new(9, 0)), text.len());
        let path = Path::new("/tmp/a b/é.advp");
        assert_eq!(path_of(&uri_of(path)).unwrap(), path);
        assert_eq!(uri_of(path).as_str(), "file:///tmp/a%20b/%C3%A9.advp");
    }
}
