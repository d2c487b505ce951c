//! The lexical pre-scan: what pest would report poorly (strings and brackets
//! left open, stray characters), found first.

use super::*;

/// Finds what pest would report poorly: strings and brackets left open, stray characters.
pub(super) fn prescan(src: &str, file: FileId) -> Vec<Diagnostic> {
    let mut errors = Vec::new();
    let mut stack: Vec<(char, usize)> = Vec::new();
    let mut too_deep = false;
    let mut string_open = false;
    let mut chars = src.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        match c {
            '#' => {
                while let Some(&(_, c)) = chars.peek() {
                    if c == '\n' {
                        break;
                    }
                    chars.next();
                }
            }
            '"' => {
                let mut closed = false;
                let mut end = src.len();
                while let Some((j, c)) = chars.next() {
                    match c {
                        '"' => {
                            closed = true;
                            break;
                        }
                        '\n' => {
                            end = j;
                            break;
                        }
                        '\\' => match chars.peek() {
                            Some(&(_, '"' | '\\' | 'n' | 't')) => {
                                chars.next();
                            }
                            Some(&(k, e)) if e != '\n' => {
                                chars.next();
                                errors.push(
                                    Diagnostic::new(
                                        Code::InvalidEscape,
                                        file,
                                        Span::new(j, k + e.len_utf8()),
                                        format!("unknown escape `\\{e}` in a string"),
                                    )
                                    .label("not an escape")
                                    .help("the escapes are `\\\"`, `\\\\`, `\\n` and `\\t`; write `\\\\` for a backslash"),
                                );
                            }
                            _ => {}
                        },
                        _ => {}
                    }
                }
                if !closed {
                    // Brackets after an open string are unreliable; report the string alone.
                    string_open = true;
                    errors.push(
                        Diagnostic::new(
                            Code::UnterminatedString,
                            file,
                            Span::new(i, end),
                            "this string is never closed",
                        )
                        .label("string starts here")
                        .help("add a closing `\"` before the end of the line"),
                    );
                }
            }
            '(' | '[' | '{' => {
                stack.push((c, i));
                if stack.len() > MAX_DEPTH && !too_deep {
                    too_deep = true;
                    errors.push(
                        Diagnostic::new(
                            Code::TooDeep,
                            file,
                            Span::new(i, i + 1),
                            "nesting is too deep",
                        )
                        .label(format!("more than {MAX_DEPTH} levels of brackets"))
                        .help("split the value into named declarations"),
                    );
                }
            }
            ')' | ']' | '}' => {
                let want = match c {
                    ')' => '(',
                    ']' => '[',
                    _ => '{',
                };
                match stack.pop() {
                    Some((open, _)) if open == want => {}
                    Some((open, at)) => {
                        errors.push(
                            Diagnostic::new(
                                Code::MismatchedDelimiter,
                                file,
                                Span::new(i, i + 1),
                                format!("`{c}` does not close `{open}`"),
                            )
                            .label(format!("expected `{}` here", closer(open)))
                            .also(Span::new(at, at + 1), "opened here")
                            .help(format!("close `{open}` with `{}` first", closer(open))),
                        );
                        return errors;
                    }
                    None => {
                        errors.push(
                            Diagnostic::new(
                                Code::UnmatchedClose,
                                file,
                                Span::new(i, i + 1),
                                format!("`{c}` closes nothing"),
                            )
                            .label("no matching opening bracket")
                            .help(format!("remove it, or add the `{want}` it should close")),
                        );
                        return errors;
                    }
                }
            }
            // A byte-order mark from Windows editors is whitespace.
            c if c.is_ascii_alphanumeric()
                || c.is_whitespace()
                || c == '\u{feff}'
                || "_,:.=+-*/><".contains(c) => {}
            c => {
                let help = match c {
                    ';' => "remove `;`: a statement ends where the next keyword begins".to_string(),
                    '\'' => "strings are written in double quotes: \"…\"".to_string(),
                    'ε' => "write `eps` for ε".to_string(),
                    'α' => "write `alpha` for α".to_string(),
                    _ => "names use ASCII letters, digits and `_`; other text goes in a string"
                        .to_string(),
                };
                errors.push(
                    Diagnostic::new(
                        Code::InvalidCharacter,
                        file,
                        Span::new(i, i + c.len_utf8()),
                        format!("unexpected character `{c}`"),
                    )
                    .label("not part of the language")
                    .help(help),
                );
            }
        }
    }
    if let Some(&(open, at)) = stack.last().filter(|_| !string_open) {
        errors.push(
            Diagnostic::new(
                Code::UnclosedDelimiter,
                file,
                Span::new(at, at + 1),
                format!("`{open}` is never closed"),
            )
            .label("opened here")
            .also(
                Span::new(src.len(), src.len()),
                format!("expected `{}` before the end of the file", closer(open)),
            )
            .help(format!("add the missing `{}`", closer(open))),
        );
    }
    errors
}

pub(super) fn closer(open: char) -> char {
    match open {
        '(' => ')',
        '[' => ']',
        _ => '}',
    }
}
