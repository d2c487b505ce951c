//! pest's errors as coded diagnostics with a fix.

use super::*;

/// Parses again with pest's attempt tracking on (slow, so only after a failure) for the message.
pub(super) fn detailed_error(rule: Rule, src: &str, file: FileId) -> Diagnostic {
    pest::set_error_detail(true);
    let result = AdvpParser::parse(rule, src);
    pest::set_error_detail(false);
    match result {
        Err(e) => diagnostic_of_pest(&e, src, file),
        Ok(_) => unreachable!("the same input parsed the second time"),
    }
}

pub(super) fn describe_rule(rule: Rule) -> Option<&'static str> {
    Some(match rule {
        Rule::name | Rule::path => "a name",
        Rule::expr
        | Rule::operand
        | Rule::number
        | Rule::signed
        | Rule::range
        | Rule::list
        | Rule::set
        | Rule::record
        | Rule::call
        | Rule::paren
        | Rule::boolean
        | Rule::inf
        | Rule::neg => "a value",
        Rule::string | Rule::str_inner => "a string",
        Rule::decl | Rule::decl_kind => "a declaration (`data`, `model`, `train`, …)",
        Rule::use_item | Rule::kw_use => "`use`",
        Rule::seed_item | Rule::kw_seed => "`seed`",
        Rule::seeds_item | Rule::kw_seeds => "`seeds`",
        Rule::compare_stmt | Rule::kw_compare => "`compare`",
        Rule::cmp_op => "`>` or `<`",
        Rule::kw_at => "`at`",
        Rule::device_item | Rule::kw_device => "`device`",
        Rule::precision_item | Rule::kw_precision => "`precision`",
        Rule::word => "a word",
        Rule::threads_item | Rule::kw_threads => "`threads`",
        Rule::profile | Rule::kw_profile => "`profile`",
        Rule::report | Rule::kw_report => "`report`",
        Rule::kw_to => "`to`",
        Rule::report_mode => "a report mode",
        Rule::every | Rule::kw_every => "`every`",
        Rule::kw_step => "`step`",
        Rule::grid | Rule::kw_grid => "`grid`",
        Rule::mode => {
            "a schedule mode (`fixed`, `curriculum`, `adaptive`, `uniform`, `sweep`, `each`)"
        }
        Rule::block => "a block `{ … }`",
        Rule::schedule_stmt | Rule::schedule_key | Rule::setting_stmt | Rule::setting_key => {
            "a statement"
        }
        Rule::r#override => "an override such as `train.epochs = 8`",
        Rule::device_spec => "a device (`auto`, `cpu`, `cuda`, `cuda:1`)",
        Rule::arg => "an argument",
        Rule::field => "a field `name: value`",
        Rule::compose | Rule::add | Rule::sub | Rule::mul | Rule::div => "an operator",
        Rule::EOI => "the end of the file",
        _ => return None,
    })
}

/// The token at `pos`, for "unexpected X" messages.
pub(super) fn token_at(src: &str, pos: usize) -> Span {
    let rest = &src[pos..];
    let Some(c) = rest.chars().next() else {
        return Span::new(pos, pos);
    };
    let len = if c.is_ascii_alphanumeric() || c == '_' {
        rest.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '.'))
            .unwrap_or(rest.len())
    } else if c == '"' {
        rest[1..].find('"').map_or(rest.len(), |i| i + 2)
    } else if rest.starts_with(">>") || rest.starts_with("..") {
        2
    } else {
        c.len_utf8()
    };
    // A number like `0..12` must not swallow the dots.
    let tok = &rest[..len];
    let len = if tok.contains("..") {
        tok.find("..").unwrap().max(1)
    } else {
        len
    };
    Span::new(pos, pos + len)
}

pub(super) fn diagnostic_of_pest(
    e: &pest::error::Error<Rule>,
    src: &str,
    file: FileId,
) -> Diagnostic {
    let pos = match e.location {
        pest::error::InputLocation::Pos(p) => p,
        pest::error::InputLocation::Span((s, _)) => s,
    };
    let attempts = e.parse_attempts();
    let pos = attempts.as_ref().map_or(pos, |a| a.max_position.max(pos));
    let mut pos = pos.min(src.len());
    // Whitespace such as U+0085 or U+2028 is more than one byte.
    while let Some(c) = src[pos..].chars().next().filter(|c| c.is_whitespace()) {
        pos += c.len_utf8();
    }
    let span = token_at(src, pos);
    let mut expected: Vec<String> = Vec::new();
    if let Some(attempts) = attempts {
        for t in attempts.expected_tokens() {
            let token = t.to_string();
            if token.trim().is_empty() || token == "#" || token == "_" {
                continue;
            }
            // Literal tokens only; character ranges and built-ins say nothing useful.
            if token.is_empty()
                || token.contains("..")
                || token == "BUILTIN_RULE"
                || token.chars().all(|c| c.is_ascii_alphanumeric()) && token.len() == 1
            {
                continue;
            }
            let t = format!("`{token}`");
            if !expected.contains(&t) {
                expected.push(t);
            }
        }
    }
    if let pest::error::ErrorVariant::ParsingError { positives, .. } = &e.variant {
        for r in positives {
            if let Some(d) = describe_rule(*r) {
                let d = d.to_string();
                if !expected.contains(&d) {
                    expected.push(d);
                }
            }
        }
    }
    // Plain punctuation first, then words; keep the list short enough to read.
    expected.sort_by_key(|s| (!s.starts_with('`'), s.clone()));
    expected.truncate(6);
    // Inside a call, right after a name: the `:` of a named argument is what is missing.
    let before = src[..pos].trim_end();
    let open_parens = before.matches('(').count() > before.matches(')').count();
    let after_name = before.ends_with(|c: char| c.is_ascii_alphanumeric() || c == '_');
    let starts_value =
        src[pos..].starts_with(|c: char| c.is_ascii_alphanumeric() || c == '"' || c == '[');
    if open_parens && after_name && starts_value {
        expected = vec!["`:`".into(), "`,`".into(), "`)`".into()];
    }
    let found = if span.is_empty() {
        "the end of the file".to_string()
    } else {
        format!("`{}`", &src[span.start..span.end])
    };
    let message = if expected.is_empty() {
        format!("unexpected {found}")
    } else {
        format!("unexpected {found}; expected {}", join_or(&expected))
    };
    let help = if open_parens && after_name && starts_value {
        "arguments are `name: value`, separated by `,`, e.g. `synthetic(classes: 10, frames: 8)`"
            .to_string()
    } else {
        help_for(src, pos, &expected)
    };
    Diagnostic::new(Code::Unexpected, file, span, message)
        .label("unexpected here")
        .help(help)
}

pub(super) fn join_or(items: &[String]) -> String {
    match items.len() {
        0 => String::new(),
        1 => items[0].clone(),
        n => format!("{} or {}", items[..n - 1].join(", "), items[n - 1]),
    }
}

/// A fix suggestion from what the parser was looking for.
pub(super) fn help_for(src: &str, pos: usize, expected: &[String]) -> String {
    let line_start = src[..pos].rfind('\n').map_or(0, |i| i + 1);
    let line = src[line_start..].lines().next().unwrap_or("").trim();
    let has = |s: &str| expected.iter().any(|e| e == s);
    if line.starts_with("budget") || line.starts_with("attacks") {
        return "a schedule reads `budget fixed 8`, `budget curriculum 0..12 step 2 every 10`, `budget uniform {0, 4, 8}` or `budget sweep [0, 4, 8]`".into();
    }
    if has("`=`") {
        return "a declaration reads `kind name = builtin(arguments)`, e.g. `data ucf = synthetic(classes: 10)`".into();
    }
    if has("`to`") {
        return "a report reads `report node to \"file.md\", \"file.csv\"`".into();
    }
    if has("`,`") || has("`)`") || has("`]`") {
        return "separate items with `,` and close the bracket".into();
    }
    if expected.iter().any(|e| e.starts_with("a declaration")) {
        return "each top-level line starts with `use`, `seed`, `device`, `threads`, `profile`, `report` or a declaration keyword".into();
    }
    if expected.iter().any(|e| e == "a value") {
        return "write a value here: a number, a string, a name, a list `[…]`, a set `{…}`, a range `0..12 step 2` or a call `f(…)`".into();
    }
    "see docs/language.md for the syntax".into()
}
