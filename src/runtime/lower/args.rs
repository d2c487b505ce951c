//! A built-in call's arguments, read by the table's names: each reader
//! refuses a missing or mistyped value with the [`Refusal`] that names it.

use super::{Bug, Cx, Refusal, R};
use crate::language::ast::DeclKind;
use crate::language::builtins::{self, Builtin};
use crate::language::program::Value;
use crate::runtime::models::python_spec::PyValue;
use crate::runtime::spec::*;
use std::collections::BTreeMap;
use std::path::PathBuf;

/// A built-in call's arguments, read by the table's names.
pub(super) struct Args<'a> {
    pub(super) builtin: &'static Builtin,
    pub(super) args: &'a BTreeMap<String, Value>,
    pub(super) cx: &'a Cx<'a>,
}

impl<'a> Args<'a> {
    pub(super) fn get(&self, k: &str) -> R<&'a Value> {
        debug_assert!(
            self.builtin.param(k).is_some(),
            "`{}` has no parameter `{k}` in the table",
            self.builtin.name
        );
        self.args.get(k).ok_or_else(|| {
            Bug::MissingArgument {
                builtin: self.builtin.name,
                key: k.to_string(),
            }
            .into()
        })
    }
    pub(super) fn opt(&self, k: &str) -> Option<&'a Value> {
        self.args.get(k)
    }
    pub(super) fn bad(&self, k: &str, v: &Value, want: &str) -> Refusal {
        Bug::BadArgument {
            builtin: self.builtin.name,
            key: k.to_string(),
            value: serde_json::to_string(v).unwrap_or_default(),
            want: want.to_string(),
        }
        .into()
    }
    pub(super) fn num(&self, k: &str) -> R<f64> {
        let v = self.get(k)?;
        v.as_f64().ok_or_else(|| self.bad(k, v, "a number"))
    }
    pub(super) fn int(&self, k: &str) -> R<i64> {
        let v = self.get(k)?;
        match v {
            Value::Int(i) => Ok(*i),
            Value::Num(f) if f.fract() == 0.0 => Ok(*f as i64),
            _ => Err(self.bad(k, v, "a whole number")),
        }
    }
    pub(super) fn count(&self, k: &str) -> R<usize> {
        let i = self.int(k)?;
        usize::try_from(i)
            .map_err(|_| Refusal::bug(format!("`{}`'s `{k}` is negative", self.builtin.name)))
    }
    pub(super) fn boolean(&self, k: &str) -> R<bool> {
        match self.get(k)? {
            Value::Bool(b) => Ok(*b),
            v => Err(self.bad(k, v, "`true` or `false`")),
        }
    }
    /// A choice word, checked against the table's words for the parameter.
    pub(super) fn word(&self, k: &str) -> R<&'a str> {
        let v = self.get(k)?;
        match (v, self.builtin.param(k).map(|p| p.ty)) {
            (Value::Choice(w), Some(builtins::Ty::Choice(words)))
                if words.contains(&w.as_str()) =>
            {
                Ok(w)
            }
            (Value::Choice(w), Some(builtins::Ty::Position)) => Ok(w),
            _ => Err(self.bad(k, v, "one of the listed words")),
        }
    }
    pub(super) fn string(&self, k: &str) -> R<&'a str> {
        match self.get(k)? {
            Value::Str(s) => Ok(s),
            v => Err(self.bad(k, v, "a string")),
        }
    }
    pub(super) fn path(&self, k: &str) -> R<PathBuf> {
        Ok(self.cx.path(self.string(k)?))
    }
    pub(super) fn opt_path(&self, k: &str) -> R<Option<PathBuf>> {
        match self.opt(k) {
            None => Ok(None),
            Some(_) => self.path(k).map(Some),
        }
    }
    pub(super) fn numbers(&self, k: &str) -> R<Vec<f64>> {
        let v = self.get(k)?;
        numbers(v).ok_or_else(|| self.bad(k, v, "numbers"))
    }
    /// The arguments bound to the built-in's open parameter
    /// ([`builtins::EXTRA`]): every name the table does not have, in order.
    pub(super) fn extras(&self) -> R<Vec<(String, PyValue)>> {
        self.args
            .iter()
            .filter(|(k, _)| self.builtin.param(k).is_none())
            .map(|(k, v)| {
                py_value(v)
                    .map(|p| (k.clone(), p))
                    .ok_or_else(|| self.bad(k, v, "a number, string, boolean or list"))
            })
            .collect()
    }
    /// The name of the node argument `k` names.
    pub(super) fn node_name(&self, k: &str) -> R<&'a str> {
        match self.get(k)? {
            Value::Node(n) => Ok(n),
            v => Err(self.bad(k, v, "a node")),
        }
    }
    pub(super) fn data(&self, k: &str) -> R<DataId> {
        self.cx.data_id(self.node_name(k)?)
    }
    pub(super) fn train_node(&self, k: &str) -> R<TrainId> {
        let i = self
            .cx
            .id_of(self.node_name(k)?, DeclKind::Train, "a train node")?;
        Ok(TrainId::new(i))
    }
    pub(super) fn ape(&self, k: &str) -> R<ApeId> {
        self.cx.ape_id(self.node_name(k)?)
    }
    pub(super) fn opt_defense(&self, k: &str) -> R<Option<DefenseId>> {
        match self.opt(k) {
            None => Ok(None),
            Some(_) => self.cx.defense_id(self.node_name(k)?).map(Some),
        }
    }
    pub(super) fn model(&self, k: &str) -> R<ModelRef> {
        self.cx.model_ref(self.get(k)?)
    }
    pub(super) fn split(&self, k: &str) -> R<SplitRef> {
        self.cx.split(self.get(k)?)
    }
    pub(super) fn attack(&self, k: &str) -> R<AttackSpec> {
        self.cx.attack(self.get(k)?)
    }
}

/// A plain value as the factory receives it.
fn py_value(v: &Value) -> Option<PyValue> {
    Some(match v {
        Value::Int(i) => PyValue::Int(*i),
        Value::Num(f) => PyValue::Float(*f),
        Value::Str(s) => PyValue::Str(s.clone()),
        Value::Bool(b) => PyValue::Bool(*b),
        Value::List(items) => PyValue::List(items.iter().map(py_value).collect::<Option<_>>()?),
        _ => return None,
    })
}

/// Numbers of a list, set or range (flattened), or one number.
pub(super) fn numbers(v: &Value) -> Option<Vec<f64>> {
    match v {
        Value::List(items) => {
            let mut out = Vec::new();
            for i in items {
                out.extend(numbers(i)?);
            }
            Some(out)
        }
        other => other.as_f64().map(|x| vec![x]),
    }
}
