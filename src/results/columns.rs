//! The names the runtime and the reports agree on, as types: a table's
//! column ([`Column`]), a saved adversarial clip's key ([`ColumnKey`]), the
//! attack a record's column ran ([`ColumnAttack`]) and what fooled a clip
//! ([`FooledBy`]). Each is written as the text every earlier advp version
//! wrote (`none`, `eps8`, `clean`), so caches and reports keep their bytes.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;
use std::str::FromStr;

/// The text of the clean column of an `attacks each {…}` table.
const NONE: &str = "none";
/// The text of a clip misclassified unattacked.
const CLEAN: &str = "clean";
/// The prefix of a budget column's key: `eps8`.
const EPS: &str = "eps";

/// The clean clips' tensor in a saved `adversarial.safetensors`.
pub const CLEAN_CLIPS: &str = "clean";
/// The labels' tensor in a saved `adversarial.safetensors`.
pub const LABELS: &str = "labels";

/// A column of an evaluation's table.
#[derive(Clone, Debug, PartialEq)]
pub enum Column {
    /// `none` in `attacks each {…}`: the clean clips, unattacked.
    Clean,
    /// A budget sweep's column at ε (0..255 units), written `eps8`.
    Budget(f64),
    /// An `attacks each {…}` column, by its attack's label.
    Attack(String),
}

impl Column {
    /// The column as a row names it ([`super::Row::attack`]): the attack of
    /// an `attacks each {…}` column (`none` for the clean one); `None` in a
    /// budget sweep.
    pub fn row_attack(&self) -> Option<String> {
        match self {
            Column::Budget(_) => None,
            c => Some(c.to_string()),
        }
    }
}

impl fmt::Display for Column {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Column::Clean => f.write_str(NONE),
            Column::Budget(eps) => write!(f, "{EPS}{eps}"),
            Column::Attack(label) => f.write_str(label),
        }
    }
}

/// Every text is a column: `none`, `eps` and a number, or an attack's label
/// (no attack's label is `none` or starts `eps` and a number).
impl FromStr for Column {
    type Err = std::convert::Infallible;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(if s == NONE {
            Column::Clean
        } else if let Some(eps) = s.strip_prefix(EPS).and_then(|e| e.parse::<f64>().ok()) {
            Column::Budget(eps)
        } else {
            Column::Attack(s.to_string())
        })
    }
}

/// A saved adversarial clip's key in `adversarial.safetensors`:
/// `model/column`, e.g. `at/eps4` or `benign/apgd_ce+square`.
#[derive(Clone, Debug, PartialEq)]
pub struct ColumnKey {
    /// The model's row label (`d >> m`).
    pub model: String,
    pub column: Column,
}

impl fmt::Display for ColumnKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.model, self.column)
    }
}

/// A tensor name that is not `model/column` (`clean`, `labels`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NotAColumnKey(pub String);

impl fmt::Display for NotAColumnKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "`{}` is not a saved column's key (`model/column`)",
            self.0
        )
    }
}

impl std::error::Error for NotAColumnKey {}

/// The column follows the last `/`: a model's label may hold one, no
/// column's does.
impl FromStr for ColumnKey {
    type Err = NotAColumnKey;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (model, column) = s
            .rsplit_once('/')
            .ok_or_else(|| NotAColumnKey(s.to_string()))?;
        let Ok(column) = column.parse();
        Ok(ColumnKey {
            model: model.to_string(),
            column,
        })
    }
}

/// The attack a record's column ran ([`super::ClipRecord::attack`]): none,
/// in the clean column of an `attacks each {…}` table (written `none`), or
/// an attack by name: the column's label, or the attack a budget sweep runs
/// at every ε (its ε = 0 column included).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ColumnAttack {
    Clean,
    Named(String),
}

/// What first fooled a clip ([`super::ClipRecord::fooled_by`]): nothing
/// (misclassified unattacked, written `clean`), or an attack by name (an
/// ensemble's member, or the column's attack).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum FooledBy {
    Clean,
    Attack(String),
}

/// A record's word that is either `Clean` (written `$clean`) or a name:
/// its text, conversions from text, and serde as that text.
macro_rules! clean_or_named {
    ($ty:ident, $named:ident, $clean:expr) => {
        impl $ty {
            /// As written in the records.
            pub fn as_str(&self) -> &str {
                match self {
                    $ty::Clean => $clean,
                    $ty::$named(name) => name,
                }
            }

            pub fn is_clean(&self) -> bool {
                *self == $ty::Clean
            }
        }

        impl From<String> for $ty {
            fn from(s: String) -> Self {
                if s == $clean {
                    $ty::Clean
                } else {
                    $ty::$named(s)
                }
            }
        }

        impl From<&str> for $ty {
            fn from(s: &str) -> Self {
                $ty::from(s.to_string())
            }
        }

        impl fmt::Display for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl Serialize for $ty {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }

        impl<'de> Deserialize<'de> for $ty {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                String::deserialize(d).map($ty::from)
            }
        }
    };
}

clean_or_named!(ColumnAttack, Named, NONE);
clean_or_named!(FooledBy, Attack, CLEAN);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_column_key_reads_back_as_written() {
        for (text, column) in [
            ("at/eps4", Column::Budget(4.0)),
            ("at/eps0", Column::Budget(0.0)),
            ("at/eps0.5", Column::Budget(0.5)),
            ("at/eps255", Column::Budget(255.0)),
            ("at/none", Column::Clean),
            (
                "at/apgd_ce+apgd_t+square",
                Column::Attack("apgd_ce+apgd_t+square".into()),
            ),
            ("at/square", Column::Attack("square".into())),
        ] {
            let key: ColumnKey = text.parse().unwrap();
            assert_eq!(
                key,
                ColumnKey {
                    model: "at".into(),
                    column
                }
            );
            assert_eq!(key.to_string(), text);
        }
        // As the runtime wrote keys: `format!("{label}/eps{eps}")`.
        for eps in [0.0, 1.0, 2.5, 8.0, 1.0 / 3.0, 1e-3] {
            let key = ColumnKey {
                model: "h264 >> t".into(),
                column: Column::Budget(eps),
            };
            assert_eq!(key.to_string(), format!("h264 >> t/eps{eps}"));
            assert_eq!(key.to_string().parse::<ColumnKey>().unwrap(), key);
        }
        // A model's label with a `/`: the column follows the last one.
        let key: ColumnKey = "a/b/eps8".parse().unwrap();
        assert_eq!(
            (key.model.as_str(), key.column),
            ("a/b", Column::Budget(8.0))
        );
        // The clean clips and the labels are not columns.
        for name in [CLEAN_CLIPS, LABELS] {
            assert_eq!(name.parse::<ColumnKey>(), Err(NotAColumnKey(name.into())));
        }
        // `eps` not followed by a number is an attack's label.
        assert_eq!("epsx".parse::<Column>(), Ok(Column::Attack("epsx".into())));
    }

    #[test]
    fn a_column_names_its_rows_attack_as_before() {
        assert_eq!(Column::Clean.row_attack().as_deref(), Some("none"));
        assert_eq!(Column::Budget(8.0).row_attack(), None);
        assert_eq!(
            Column::Attack("pgd".into()).row_attack().as_deref(),
            Some("pgd")
        );
    }

    #[test]
    fn record_words_keep_their_json() {
        let text = |by: &FooledBy| serde_json::to_string(by).unwrap();
        assert_eq!(text(&FooledBy::Clean), "\"clean\"");
        assert_eq!(text(&FooledBy::Attack("square#2".into())), "\"square#2\"");
        let text = |a: &ColumnAttack| serde_json::to_string(a).unwrap();
        assert_eq!(text(&ColumnAttack::Clean), "\"none\"");
        assert_eq!(text(&ColumnAttack::Named("pgd".into())), "\"pgd\"");
        let by: Vec<Option<FooledBy>> =
            serde_json::from_str("[\"clean\", \"apgd_ce\", null]").unwrap();
        assert_eq!(
            by,
            [
                Some(FooledBy::Clean),
                Some(FooledBy::Attack("apgd_ce".into())),
                None
            ]
        );
        let attack: Vec<ColumnAttack> = serde_json::from_str("[\"none\", \"pgd\"]").unwrap();
        assert_eq!(
            attack,
            [ColumnAttack::Clean, ColumnAttack::Named("pgd".into())]
        );
    }
}
