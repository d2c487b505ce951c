//! "Did you mean …?": the one wording of a typo hint, for every checker error that offers one.

use crate::language::diagnostic::nearest;
use std::fmt::Display;

/// The hint for `shown`: "did you mean `x`?".
pub(super) fn did_you_mean(shown: impl Display) -> String {
    format!("did you mean `{shown}`?")
}

/// The hint for the candidate nearest `word`, if one is close enough to be a likely typo.
pub(super) fn suggest<'c>(
    word: &str,
    candidates: impl IntoIterator<Item = &'c str>,
) -> Option<String> {
    nearest(word, candidates).map(did_you_mean)
}

/// `rest`, preceded by the hint when there is one: "did you mean `x`? rest".
pub(super) fn hint_then(hint: Option<String>, rest: impl Into<String>) -> String {
    match hint {
        Some(h) => format!("{h} {}", rest.into()),
        None => rest.into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hints_have_one_wording() {
        assert_eq!(did_you_mean("pgd"), "did you mean `pgd`?");
        assert_eq!(
            suggest("trian", ["train", "eval"]),
            Some("did you mean `train`?".to_string())
        );
        assert_eq!(suggest("banana", ["train", "eval"]), None);
        assert_eq!(
            hint_then(Some(did_you_mean("fixed")), "`eps` takes `fixed`"),
            "did you mean `fixed`? `eps` takes `fixed`"
        );
        assert_eq!(
            hint_then(None, "`eps` takes `fixed`"),
            "`eps` takes `fixed`"
        );
    }
}
