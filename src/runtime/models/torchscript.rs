//! A TorchScript module's failures in words: its own error and the lines of
//! the user's code it came through, libtorch's text without C++ frames, and a
//! `torch.save` pickle told from TorchScript.

use std::path::Path;

/// What a TorchScript `forward` returned instead of a tensor, in words.
pub(super) fn ivalue_kind(v: &tch::IValue) -> String {
    use tch::IValue as V;
    match v {
        V::Tuple(t) => format!("a tuple of {} values", t.len()),
        V::GenericList(l) => format!("a list of {} values", l.len()),
        V::TensorList(l) => format!("a list of {} tensors", l.len()),
        V::GenericDict(_) => "a dict".into(),
        V::None => "None".into(),
        V::Double(_) | V::Int(_) | V::Bool(_) => "a number".into(),
        V::String(_) => "a string".into(),
        _ => "a value that is not a tensor".into(),
    }
}

/// What kind of failure a forward pass met.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ScriptErrorKind {
    /// The module's own `raise` (a `ValueError`, an `AssertionError`, …).
    Raised,
    /// A shape, size or channel count that does not fit.
    Shape,
    /// Any other error inside the module (a dtype, a device).
    Other,
    /// `forward` ran but returned something else than one tensor.
    NotATensor,
    /// The model's own arguments do not fit the clips (a `python(…)`
    /// model's `mean` or `std` of another length than the channels).
    Arguments,
}

/// A failure of a model's forward pass as its author needs it: the error
/// line (the user's exception and message, or libtorch's shape or dtype
/// error) and the lines of their code it came through (TorchScript's
/// traceback of the original source), without C++ stack frames.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScriptError {
    pub kind: ScriptErrorKind,
    pub text: String,
}

impl ScriptError {
    /// From libtorch's text of the error (a `TchError`'s, or a panic's).
    pub fn of(raw: &str) -> ScriptError {
        let clean = libtorch_text(raw);
        let lines: Vec<&str> = clean.lines().collect();
        let last = lines
            .iter()
            .rev()
            .find(|l| !l.trim().is_empty())
            .map_or("", |l| l.trim());
        let error = last.strip_prefix("builtins.").unwrap_or(last).to_string();
        // The traceback through the user's own source, else the serialized one.
        let start = [
            "Traceback of TorchScript, original code",
            "Traceback of TorchScript",
        ]
        .iter()
        .find_map(|h| lines.iter().position(|l| l.starts_with(h)));
        let trace: Vec<&str> = match start {
            Some(s) => user_frames(&lines[s + 1..])
                .into_iter()
                .filter(|l| !l.trim().is_empty() && l.trim() != last)
                .collect(),
            None => Vec::new(),
        };
        let name = error.split(':').next().unwrap_or("");
        let raised = start.is_some()
            && !name.contains(' ')
            && (name.ends_with("Error") || name.ends_with("Exception"))
            && name != "RuntimeError";
        let lower = error.to_lowercase();
        let kind = if raised {
            ScriptErrorKind::Raised
        } else if [
            "shape",
            "size",
            "channel",
            "dimension",
            "dims",
            "expected input",
        ]
        .iter()
        .any(|w| lower.contains(w))
        {
            ScriptErrorKind::Shape
        } else {
            ScriptErrorKind::Other
        };
        let text = if trace.is_empty() {
            error
        } else {
            format!("{error}\n{}", trace.join("\n"))
        };
        ScriptError { kind, text }
    }
}

/// A traceback's frames in the user's own code: those in an installed
/// package (PyTorch's `nn.Linear`, …) are left out, unless no other is left.
fn user_frames<'a>(lines: &[&'a str]) -> Vec<&'a str> {
    let mut frames: Vec<Vec<&'a str>> = Vec::new();
    for l in lines {
        match frames.last_mut() {
            Some(f) if !l.trim_start().starts_with("File \"") => f.push(l),
            _ => frames.push(vec![l]),
        }
    }
    let library = |f: &Vec<&str>| {
        f[0].trim_start().starts_with("File \"")
            && (f[0].contains("/site-packages/") || f[0].contains("/dist-packages/"))
    };
    let own: Vec<&'a str> = frames
        .iter()
        .filter(|f| !library(f))
        .flatten()
        .copied()
        .collect();
    if own.iter().any(|l| l.trim_start().starts_with("File \"")) {
        own
    } else {
        lines.to_vec()
    }
}

/// libtorch's text of an error without what helps no user: `Result::unwrap()`
/// wrapping, escaped newlines of a debug-printed error, the C++ stack after
/// `Exception raised from`, `frame #N` lines.
pub fn libtorch_text(raw: &str) -> String {
    let mut t = raw.trim().to_string();
    if let Some(rest) = t.strip_prefix("called `Result::unwrap()` on an `Err` value: ") {
        t = rest.to_string();
    }
    // A debug-printed `TchError::Torch("…")`.
    if let Some(inner) = t
        .strip_prefix("Torch(\"")
        .and_then(|r| r.strip_suffix("\")"))
    {
        t = inner
            .replace("\\n", "\n")
            .replace("\\\"", "\"")
            .replace("\\'", "'");
    }
    for prefix in ["Internal torch error: ", "TorchScript forward failed: "] {
        if let Some(rest) = t.strip_prefix(prefix) {
            t = rest.to_string();
        }
    }
    if let Some(at) = t.find("Exception raised from ") {
        t.truncate(at);
    }
    t.lines()
        .filter(|l| !l.trim_start().starts_with("frame #"))
        .collect::<Vec<_>>()
        .join("\n")
        .trim_end()
        .to_string()
}

/// Why a file given as TorchScript is a `torch.save` pickle instead: a zip
/// archive with `data.pkl` but no `code/` (`torch.save` of a module or a
/// state dict), or a legacy pickle (protocol 2 magic). `None` otherwise.
pub fn pickled(path: &Path) -> Option<&'static str> {
    use std::io::{Read, Seek, SeekFrom};
    let mut f = std::fs::File::open(path).ok()?;
    let len = f.metadata().ok()?.len();
    let mut head = [0u8; 2];
    f.read_exact(&mut head).ok()?;
    if head == [0x80, 0x02] {
        return Some("a Python pickle (`torch.save`)");
    }
    if &head != b"PK" {
        return None;
    }
    // The zip's central directory is at its end: its file names are there.
    let tail = len.min(4 << 20);
    f.seek(SeekFrom::Start(len - tail)).ok()?;
    let mut buf = Vec::with_capacity(tail as usize);
    f.take(tail).read_to_end(&mut buf).ok()?;
    let mut names = Vec::new();
    let mut i = 0;
    while i + 46 <= buf.len() {
        if buf[i..i + 4] == [0x50, 0x4b, 0x01, 0x02] {
            let n = u16::from_le_bytes([buf[i + 28], buf[i + 29]]) as usize;
            if let Some(name) = buf.get(i + 46..i + 46 + n) {
                names.push(String::from_utf8_lossy(name).into_owned());
            }
            i += 46 + n;
        } else {
            i += 1;
        }
    }
    let data = names.iter().any(|n| n.ends_with("data.pkl"));
    let code = names
        .iter()
        .any(|n| n.contains("/code/") || n.starts_with("code/"));
    (data && !code).then_some("a `torch.save` pickle (weights or a pickled module)")
}

/// A libtorch error as its first line (the C++ backtrace after it helps no user).
pub fn one_line(e: &dyn std::fmt::Display) -> String {
    let text = e.to_string();
    let first = text.lines().next().unwrap_or("").trim();
    first
        .split(" Exception raised from ")
        .next()
        .unwrap_or(first)
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// libtorch's text of a `raise` inside a TorchScript module, as tch
    /// gives it, with C++ frames after it.
    const RAISED: &str =
        "Internal torch error: The following operation failed in the TorchScript interpreter.
Traceback of TorchScript, serialized code (most recent call last):
  File \"code/__torch__.py\", line 11, in forward
      ops.prim.RaiseException(_0, \"builtins.ValueError\")
      ~~~~~~~~~~~~~~~~~~~~~~~ <--- HERE

Traceback of TorchScript, original code (most recent call last):
  File \"/home/u/export.py\", line 33, in forward
            raise ValueError(\"wants 8 frames\")
            ~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~ <--- HERE
  File \"/venv/lib/python3.11/site-packages/torch/nn/modules/linear.py\", line 134, in forward
        return F.linear(input, self.weight, self.bias)
builtins.ValueError: wants 8 frames

Exception raised from run at /pytorch/torch/csrc/jit/interpreter.cpp:1:
frame #0: c10::Error::Error() + 0x1
frame #1: torch::jit::Code::run() + 0x2
";

    #[test]
    fn a_modules_error_keeps_the_users_exception_and_code_and_drops_cpp_frames() {
        let e = ScriptError::of(RAISED);
        assert_eq!(e.kind, ScriptErrorKind::Raised);
        assert!(
            e.text.starts_with("ValueError: wants 8 frames\n"),
            "{}",
            e.text
        );
        assert!(
            e.text.contains("/home/u/export.py\", line 33"),
            "{}",
            e.text
        );
        assert!(e.text.contains("raise ValueError"), "{}", e.text);
        for gone in [
            "Exception raised",
            "frame #",
            "code/__torch__",
            "site-packages",
            "Internal torch",
        ] {
            assert!(!e.text.contains(gone), "{gone} in {}", e.text);
        }
        // A panic of tch's `unwrap()`: the error's debug text, escaped.
        let unwrapped = format!(
            "called `Result::unwrap()` on an `Err` value: Torch({:?})",
            "mat1 and mat2 shapes cannot be multiplied (2x3 and 5x3)\nException raised from meta at x.cpp:1:\nframe #0: f()"
        );
        let e = ScriptError::of(&unwrapped);
        assert_eq!(e.kind, ScriptErrorKind::Shape);
        assert_eq!(
            e.text,
            "mat1 and mat2 shapes cannot be multiplied (2x3 and 5x3)"
        );
        assert_eq!(
            ScriptError::of("expected scalar type Float but found Double").kind,
            ScriptErrorKind::Other
        );
    }

    #[test]
    fn a_torch_save_pickle_is_told_from_torchscript() {
        let dir = tempfile::tempdir().unwrap();
        let legacy = dir.path().join("legacy.pt");
        std::fs::write(&legacy, [0x80, 0x02, 0x8a, 0x0a]).unwrap();
        assert!(pickled(&legacy).is_some());
        // A zip's central directory entry: signature, fixed fields, name.
        let entry = |name: &str| {
            let mut e = vec![0x50, 0x4b, 0x01, 0x02];
            e.extend([0u8; 24]);
            e.extend((name.len() as u16).to_le_bytes());
            e.extend([0u8; 16]);
            e.extend(name.as_bytes());
            e
        };
        let zip = |names: &[&str]| {
            let mut z = b"PK\x03\x04".to_vec();
            for n in names {
                z.extend(entry(n));
            }
            z
        };
        let saved = dir.path().join("saved.pt");
        std::fs::write(&saved, zip(&["m/data.pkl", "m/data/0", "m/version"])).unwrap();
        assert!(pickled(&saved).is_some());
        let script = dir.path().join("script.pt");
        std::fs::write(
            &script,
            zip(&["m/data.pkl", "m/code/__torch__.py", "m/constants.pkl"]),
        )
        .unwrap();
        assert_eq!(pickled(&script), None);
    }
}
