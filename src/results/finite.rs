//! Results hold finite numbers: JSON writes NaN and ±∞ as `null`, which no
//! result type reads back (or reads as "no value"). [`non_finite`] walks a
//! value as serde sees it and names the first field that is not finite, so a
//! result is refused before it is written; [`unreadable`] reads an entry's
//! results back as their types, as `advp cache verify` and every run do.

use super::{AnalysisResult, ClipRecord, EpochMetrics, EvalResult};
use crate::language::ast::DeclKind;
use serde::ser::{self, Serialize};
use std::fmt::Display;
use std::path::Path;

/// The first number of `v` that is not finite: its field path
/// (`rows[2].accuracy`) and value.
pub fn non_finite<T: Serialize + ?Sized>(v: &T) -> Option<(String, f64)> {
    let mut w = Walk {
        path: Vec::new(),
        found: None,
    };
    let _ = v.serialize(&mut w);
    w.found
}

/// `Err` naming `what` (a file), the field and its value when `v` holds a
/// number that is not finite.
pub fn refuse_non_finite<T: Serialize + ?Sized>(v: &T, what: &str) -> Result<(), String> {
    match non_finite(v) {
        None => Ok(()),
        Some((field, x)) => Err(format!(
            "the result `{field}` is {x}, not a finite number, so {what} was not written and nothing was cached; a NaN usually comes from a diverged training or a loss over no clips"
        )),
    }
}

/// Why an entry's results do not read back as the node kind's result types
/// (one line per file); empty when they do. `node.json` says the kind; an
/// entry without it (written before it existed) is not read here.
pub fn unreadable(dir: &Path) -> Vec<String> {
    let Ok(text) = std::fs::read_to_string(dir.join("node.json")) else {
        return Vec::new();
    };
    let Ok(doc) = serde_json::from_str::<serde_json::Value>(&text) else {
        return vec!["node.json is not JSON".into()];
    };
    let kind = DeclKind::ALL
        .into_iter()
        .find(|k| doc["node"]["kind"].as_str() == Some(k.as_str()));
    let builtin = doc["node"]["builtin"].as_str().unwrap_or("");
    let Some(kind) = kind.and_then(|k| crate::language::builtins::reports_as(k, builtin)) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    let mut read = |file: &str, parse: &dyn Fn(&str) -> Result<(), String>| {
        let path = dir.join(file);
        if let Ok(text) = std::fs::read_to_string(&path) {
            if let Err(e) = parse(&text) {
                out.push(format!("{file} does not read as a result: {e}"));
            }
        } else if file == "result.json" || file == "metrics.jsonl" {
            out.push(format!("{file} is missing"));
        }
    };
    match kind {
        DeclKind::Eval => {
            read("result.json", &|t| {
                serde_json::from_str::<EvalResult>(t)
                    .map(drop)
                    .map_err(|e| e.to_string())
            });
            read("records.jsonl", &|t| ClipRecord::parse_jsonl(t).map(drop));
        }
        DeclKind::Analyze => read("result.json", &|t| {
            serde_json::from_str::<AnalysisResult>(t)
                .map(drop)
                .map_err(|e| e.to_string())
        }),
        DeclKind::Train => read("metrics.jsonl", &|t| EpochMetrics::parse_jsonl(t).map(drop)),
        _ => {}
    }
    out
}

/// A serializer that writes nothing: it follows the fields and stops at the
/// first number that is not finite.
struct Walk {
    path: Vec<String>,
    found: Option<(String, f64)>,
}

#[derive(Debug)]
struct Stop;

impl Display for Stop {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a number that is not finite")
    }
}
impl std::error::Error for Stop {}
impl ser::Error for Stop {
    fn custom<M: Display>(_: M) -> Self {
        Stop
    }
}

impl Walk {
    fn number(&mut self, v: f64) -> Result<(), Stop> {
        if v.is_finite() {
            return Ok(());
        }
        let mut path = String::new();
        for p in &self.path {
            if !p.starts_with('[') && !path.is_empty() {
                path.push('.');
            }
            path.push_str(p);
        }
        self.found = Some((path, v));
        Err(Stop)
    }
    fn at<T: Serialize + ?Sized>(&mut self, part: String, v: &T) -> Result<(), Stop> {
        self.path.push(part);
        let r = v.serialize(&mut *self);
        self.path.pop();
        r
    }
}

/// A compound value: elements by index, fields by name.
struct Compound<'w> {
    w: &'w mut Walk,
    next: usize,
    key: Option<String>,
}

macro_rules! nothing {
    ($($name:ident: $t:ty),*) => {
        $(fn $name(self, _: $t) -> Result<(), Stop> { Ok(()) })*
    };
}

impl<'w> ser::Serializer for &'w mut Walk {
    type Ok = ();
    type Error = Stop;
    type SerializeSeq = Compound<'w>;
    type SerializeTuple = Compound<'w>;
    type SerializeTupleStruct = Compound<'w>;
    type SerializeTupleVariant = Compound<'w>;
    type SerializeMap = Compound<'w>;
    type SerializeStruct = Compound<'w>;
    type SerializeStructVariant = Compound<'w>;

    nothing!(serialize_bool: bool, serialize_i8: i8, serialize_i16: i16, serialize_i32: i32,
        serialize_i64: i64, serialize_u8: u8, serialize_u16: u16, serialize_u32: u32,
        serialize_u64: u64, serialize_char: char, serialize_str: &str, serialize_bytes: &[u8],
        serialize_unit_struct: &'static str);

    fn serialize_f32(self, v: f32) -> Result<(), Stop> {
        self.number(v as f64)
    }
    fn serialize_f64(self, v: f64) -> Result<(), Stop> {
        self.number(v)
    }
    fn serialize_none(self) -> Result<(), Stop> {
        Ok(())
    }
    fn serialize_some<T: Serialize + ?Sized>(self, v: &T) -> Result<(), Stop> {
        v.serialize(self)
    }
    fn serialize_unit(self) -> Result<(), Stop> {
        Ok(())
    }
    fn serialize_unit_variant(self, _: &'static str, _: u32, _: &'static str) -> Result<(), Stop> {
        Ok(())
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        v: &T,
    ) -> Result<(), Stop> {
        v.serialize(self)
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
        v: &T,
    ) -> Result<(), Stop> {
        self.at(variant.to_string(), v)
    }
    fn serialize_seq(self, _: Option<usize>) -> Result<Compound<'w>, Stop> {
        Ok(Compound {
            w: self,
            next: 0,
            key: None,
        })
    }
    fn serialize_tuple(self, n: usize) -> Result<Compound<'w>, Stop> {
        self.serialize_seq(Some(n))
    }
    fn serialize_tuple_struct(self, _: &'static str, n: usize) -> Result<Compound<'w>, Stop> {
        self.serialize_seq(Some(n))
    }
    fn serialize_tuple_variant(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
        n: usize,
    ) -> Result<Compound<'w>, Stop> {
        self.path.push(variant.to_string());
        self.serialize_seq(Some(n))
    }
    fn serialize_map(self, _: Option<usize>) -> Result<Compound<'w>, Stop> {
        self.serialize_seq(None)
    }
    fn serialize_struct(self, _: &'static str, _: usize) -> Result<Compound<'w>, Stop> {
        self.serialize_seq(None)
    }
    fn serialize_struct_variant(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
        _: usize,
    ) -> Result<Compound<'w>, Stop> {
        self.path.push(variant.to_string());
        self.serialize_seq(None)
    }
}

impl Compound<'_> {
    fn element<T: Serialize + ?Sized>(&mut self, v: &T) -> Result<(), Stop> {
        let i = self.next;
        self.next += 1;
        self.w.at(format!("[{i}]"), v)
    }
    fn field<T: Serialize + ?Sized>(&mut self, name: &str, v: &T) -> Result<(), Stop> {
        self.w.at(name.to_string(), v)
    }
    /// Ends a variant's compound, whose name was pushed when it began.
    fn end_variant(self) -> Result<(), Stop> {
        self.w.path.pop();
        Ok(())
    }
}

impl ser::SerializeSeq for Compound<'_> {
    type Ok = ();
    type Error = Stop;
    fn serialize_element<T: Serialize + ?Sized>(&mut self, v: &T) -> Result<(), Stop> {
        self.element(v)
    }
    fn end(self) -> Result<(), Stop> {
        Ok(())
    }
}
impl ser::SerializeTuple for Compound<'_> {
    type Ok = ();
    type Error = Stop;
    fn serialize_element<T: Serialize + ?Sized>(&mut self, v: &T) -> Result<(), Stop> {
        self.element(v)
    }
    fn end(self) -> Result<(), Stop> {
        Ok(())
    }
}
impl ser::SerializeTupleStruct for Compound<'_> {
    type Ok = ();
    type Error = Stop;
    fn serialize_field<T: Serialize + ?Sized>(&mut self, v: &T) -> Result<(), Stop> {
        self.element(v)
    }
    fn end(self) -> Result<(), Stop> {
        Ok(())
    }
}
impl ser::SerializeTupleVariant for Compound<'_> {
    type Ok = ();
    type Error = Stop;
    fn serialize_field<T: Serialize + ?Sized>(&mut self, v: &T) -> Result<(), Stop> {
        self.element(v)
    }
    fn end(self) -> Result<(), Stop> {
        self.end_variant()
    }
}
impl ser::SerializeMap for Compound<'_> {
    type Ok = ();
    type Error = Stop;
    fn serialize_key<T: Serialize + ?Sized>(&mut self, k: &T) -> Result<(), Stop> {
        // A key names the field; a number as a key is written as text.
        self.key = Some(match serde_json::to_value(k) {
            Ok(serde_json::Value::String(s)) => s,
            Ok(other) => other.to_string(),
            Err(_) => "?".into(),
        });
        Ok(())
    }
    fn serialize_value<T: Serialize + ?Sized>(&mut self, v: &T) -> Result<(), Stop> {
        let key = self.key.take().unwrap_or_default();
        self.field(&key, v)
    }
    fn end(self) -> Result<(), Stop> {
        Ok(())
    }
}
impl ser::SerializeStruct for Compound<'_> {
    type Ok = ();
    type Error = Stop;
    fn serialize_field<T: Serialize + ?Sized>(
        &mut self,
        name: &'static str,
        v: &T,
    ) -> Result<(), Stop> {
        self.field(name, v)
    }
    fn end(self) -> Result<(), Stop> {
        Ok(())
    }
}
impl ser::SerializeStructVariant for Compound<'_> {
    type Ok = ();
    type Error = Stop;
    fn serialize_field<T: Serialize + ?Sized>(
        &mut self,
        name: &'static str,
        v: &T,
    ) -> Result<(), Stop> {
        self.field(name, v)
    }
    fn end(self) -> Result<(), Stop> {
        self.end_variant()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    #[derive(serde::Serialize)]
    struct Row {
        model: String,
        accuracy: f64,
        interval: Option<(f64, f64)>,
    }

    #[derive(serde::Serialize)]
    enum Shape {
        Line { a: f64, b: f64 },
        Pair(f64, f64),
    }

    #[test]
    fn finds_the_first_non_finite_number_by_its_path() {
        let rows = vec![
            Row {
                model: "a".into(),
                accuracy: 0.5,
                interval: Some((0.1, 0.9)),
            },
            Row {
                model: "b".into(),
                accuracy: 0.25,
                interval: Some((0.0, f64::NAN)),
            },
        ];
        let found = non_finite(&rows).unwrap();
        assert_eq!(found.0, "[1].interval[1]");
        assert!(found.1.is_nan());
        let mut m = BTreeMap::new();
        m.insert("eps", vec![1.0, f64::INFINITY]);
        assert_eq!(non_finite(&m), Some(("eps[1]".into(), f64::INFINITY)));
        let line = Shape::Line {
            a: 1.0,
            b: f64::NEG_INFINITY,
        };
        assert_eq!(
            non_finite(&line),
            Some(("Line.b".into(), f64::NEG_INFINITY))
        );
        assert_eq!(
            non_finite(&vec![Shape::Pair(1.0, 2.0), Shape::Pair(f64::NAN, 0.0)]).map(|f| f.0),
            Some("[1].Pair[0]".into())
        );
        assert_eq!(
            non_finite(&(1.0f32, f32::NAN)).map(|f| f.0),
            Some("[1]".into())
        );
    }

    #[test]
    fn finite_values_pass() {
        let rows = vec![Row {
            model: "a".into(),
            accuracy: 0.0,
            interval: None,
        }];
        assert_eq!(non_finite(&rows), None);
        assert_eq!(non_finite(&(f64::MAX, f64::MIN_POSITIVE, -0.0)), None);
        assert!(refuse_non_finite(&rows, "result.json").is_ok());
        let bad = Row {
            model: "a".into(),
            accuracy: f64::NAN,
            interval: None,
        };
        let e = refuse_non_finite(&bad, "result.json").unwrap_err();
        assert!(
            e.contains("`accuracy` is NaN") && e.contains("result.json"),
            "{e}"
        );
    }
}
