//! The syntax of cluster resource strings, in Slurm's own formats (sbatch(1)),
//! checked in one place: by `advp check` for a node's `resources { … }`, by the
//! lowering again, by the command line (`--time`, `--mem`, … as clap value
//! parsers) and by the job script's writer, which refuses any line that is not
//! of its directive's form. A value of the right form holds no control
//! character, space, quote, `#`, `;` or `$`, so it can neither end a
//! `#SBATCH` line nor reach a shell.

/// A Slurm field whose value is a string.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Field {
    Time,
    Mem,
    Partition,
    Account,
    Gres,
}

impl Field {
    /// The field of a `resources { … }` key or a command-line option.
    pub fn of(key: &str) -> Option<Field> {
        Some(match key {
            "time" => Field::Time,
            "mem" => Field::Mem,
            "partition" => Field::Partition,
            "account" => Field::Account,
            "gres" => Field::Gres,
            _ => return None,
        })
    }

    pub fn key(self) -> &'static str {
        match self {
            Field::Time => "time",
            Field::Mem => "mem",
            Field::Partition => "partition",
            Field::Account => "account",
            Field::Gres => "gres",
        }
    }

    /// What a value is, in words.
    pub fn noun(self) -> &'static str {
        match self {
            Field::Time => "time limit",
            Field::Mem => "memory size",
            Field::Partition => "partition",
            Field::Account => "account",
            Field::Gres => "list of generic resources",
        }
    }

    /// What a value looks like, for help lines.
    pub fn form(self) -> &'static str {
        match self {
            Field::Time => {
                "a time limit is `minutes`, `minutes:seconds`, `hours:minutes:seconds`, \
                 `days-hours`, `days-hours:minutes`, `days-hours:minutes:seconds` or \
                 `UNLIMITED`, e.g. `12:00:00` or `2-00:00:00`"
            }
            Field::Mem => {
                "memory is a whole number with an optional unit K, M, G or T, e.g. `16G` or `4000M`"
            }
            Field::Partition => {
                "a partition is a name of letters, digits, `_`, `.` and `-`, or several \
                 separated by commas, e.g. `gpu` or `gpu,gpu-long`"
            }
            Field::Account => {
                "an account is a name of letters, digits, `_`, `.` and `-`, e.g. `lab`"
            }
            Field::Gres => {
                "generic resources are `name[:type][:count]`, several separated by commas, \
                 e.g. `gpu:1` or `gpu:a100:2`"
            }
        }
    }

    /// Whether `v` is of this field's form.
    pub fn accepts(self, v: &str) -> bool {
        match self {
            Field::Time => time(v),
            Field::Mem => mem(v),
            Field::Partition => v.split(',').all(name),
            Field::Account => name(v),
            Field::Gres => v.split(',').all(gres),
        }
    }

    /// `Ok(())`, or why `v` is not of this field's form (the value shown
    /// escaped, so a control character prints as `\n`, `\u{1b}`, …).
    pub fn check(self, v: &str) -> Result<(), String> {
        if self.accepts(v) {
            return Ok(());
        }
        let why = if v.chars().any(char::is_control) {
            " (it holds a control character)"
        } else {
            ""
        };
        Err(format!(
            "{} is not a Slurm {}{why}",
            crate::util::quoted(v),
            self.noun()
        ))
    }
}

/// The clap value parser of a Slurm option: the value, or the error clap
/// prints with the accepted form.
pub fn parser(field: Field) -> impl Fn(&str) -> Result<String, String> + Clone + Send + Sync {
    move |v: &str| {
        field
            .check(v)
            .map(|()| v.to_string())
            .map_err(|e| format!("{e}; {}", field.form()))
    }
}

/// A name as Slurm's partitions and accounts have them.
pub fn name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 256
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b))
}

fn number(s: &str) -> bool {
    !s.is_empty() && s.len() <= 9 && s.bytes().all(|b| b.is_ascii_digit())
}

fn time(v: &str) -> bool {
    if v.eq_ignore_ascii_case("unlimited") || v.eq_ignore_ascii_case("infinite") {
        return true;
    }
    let (days, rest) = match v.split_once('-') {
        Some((d, r)) => (Some(d), r),
        None => (None, v),
    };
    let parts: Vec<&str> = rest.split(':').collect();
    if days.is_some_and(|d| !number(d)) || !parts.iter().all(|p| number(p)) {
        return false;
    }
    // minutes | minutes:seconds | hours:minutes:seconds, or after `days-`:
    // hours | hours:minutes | hours:minutes:seconds.
    (1..=3).contains(&parts.len())
}

fn mem(v: &str) -> bool {
    let digits = v
        .strip_suffix(['K', 'M', 'G', 'T', 'k', 'm', 'g', 't'])
        .unwrap_or(v);
    !digits.is_empty() && digits.len() <= 15 && digits.bytes().all(|b| b.is_ascii_digit())
}

fn gres(v: &str) -> bool {
    let parts: Vec<&str> = v.split(':').collect();
    match parts.as_slice() {
        [n] => name(n),
        [n, type_or_count] => name(n) && name(type_or_count),
        [n, t, count] => name(n) && name(t) && number(count),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::Field::*;

    #[test]
    fn slurms_forms_are_accepted() {
        for t in [
            "30",
            "30:15",
            "12:00:00",
            "2-12",
            "2-12:30",
            "2-12:30:00",
            "UNLIMITED",
            "infinite",
        ] {
            assert!(Time.accepts(t), "{t}");
        }
        for m in ["16G", "4000", "512m", "1T", "64k"] {
            assert!(Mem.accepts(m), "{m}");
        }
        for p in ["gpu", "gpu,gpu-long", "a100_x.8"] {
            assert!(Partition.accepts(p), "{p}");
        }
        for g in [
            "gpu",
            "gpu:1",
            "gpu:a100:2",
            "gpu:a100:2,mps:100",
            "shard:4",
        ] {
            assert!(Gres.accepts(g), "{g}");
        }
        assert!(Account.accepts("lab-1.x"));
    }

    #[test]
    fn anything_else_is_refused() {
        for t in [
            "",
            "1:2:3:4",
            "1-2-3",
            "-1",
            "12h",
            "1:",
            ":1",
            "1-",
            "12:00:00\n",
            "1 2",
            "a\nb",
        ] {
            assert!(!Time.accepts(t), "{t:?}");
        }
        for m in ["", "G", "16GB", "1.5G", "-1", "16G\n#SBATCH", "16 G"] {
            assert!(!Mem.accepts(m), "{m:?}");
        }
        for p in [
            "", "a,", ",a", "a b", "a\nb", "a\rb", "a\0b", "a;b", "$(id)", "#SBATCH", "a'b",
        ] {
            assert!(!Partition.accepts(p), "{p:?}");
            assert!(!Account.accepts(p), "{p:?}");
            assert!(!Gres.accepts(p), "{p:?}");
        }
        for g in ["gpu:a100:x", "gpu::1", "gpu:1:2:3", ":1"] {
            assert!(!Gres.accepts(g), "{g:?}");
        }
        assert!(!Account.accepts("a,b"));
    }

    #[test]
    fn a_refusal_shows_the_value_escaped() {
        let e = Partition.check("a\nb\u{1b}[2J").unwrap_err();
        assert!(!e.chars().any(char::is_control), "{e:?}");
        assert!(e.contains(r#""a\nb\u{1b}[2J""#), "{e}");
        assert!(e.contains("control character"), "{e}");
    }
}
