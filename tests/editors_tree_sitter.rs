//! The tree-sitter grammar in `editors/tree-sitter-advp`, checked without its
//! CLI: every shipped pipeline parses without an ERROR or MISSING node, every
//! case of its corpus (`test/corpus/*.txt`) gives the expected tree, and its
//! queries name only nodes and fields that the grammar has.

use std::fs;
use std::path::{Path, PathBuf};

use tree_sitter::{Language, Node, Parser, Query, QueryCursor, StreamingIterator, Tree};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn grammar_dir() -> PathBuf {
    root().join("editors").join("tree-sitter-advp")
}

fn language() -> Language {
    tree_sitter_advp::LANGUAGE.into()
}

fn parse(text: &str) -> Tree {
    let mut parser = Parser::new();
    parser
        .set_language(&language())
        .expect("the generated parser's ABI is one the tree-sitter crate reads");
    parser
        .parse(text, None)
        .expect("a tree (no timeout is set)")
}

/// The files of `dir` (under the repository root) that end in `ext`, sorted.
fn files(dir: &str, ext: &str) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = fs::read_dir(root().join(dir))
        .unwrap_or_else(|e| panic!("{dir}: {e}"))
        .map(|e| e.expect("a directory entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == ext))
        .collect();
    out.sort();
    assert!(!out.is_empty(), "no .{ext} files in {dir}");
    out
}

/// Every ERROR and MISSING node of a tree, as `file:line:column: what`.
fn syntax_errors(tree: &Tree, text: &str, file: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut cursor = tree.walk();
    loop {
        let node: Node = cursor.node();
        if node.is_error() || node.is_missing() {
            let at = node.start_position();
            let what = if node.is_missing() {
                format!("missing `{}`", node.kind())
            } else {
                let snippet: String = text[node.byte_range()].chars().take(40).collect();
                format!("syntax error at `{snippet}`")
            };
            out.push(format!(
                "{}:{}:{}: {what}",
                file.display(),
                at.row + 1,
                at.column + 1
            ));
        }
        // Depth first: down, else right, else up until a right sibling exists.
        if cursor.goto_first_child() || cursor.goto_next_sibling() {
            continue;
        }
        loop {
            if !cursor.goto_parent() {
                return out;
            }
            if cursor.goto_next_sibling() {
                break;
            }
        }
    }
}

#[test]
fn every_shipped_pipeline_parses_without_errors() {
    let mut errors = Vec::new();
    let mut count = 0;
    for dir in ["pipelines", "stdlib"] {
        for path in files(dir, "advp") {
            let text = fs::read_to_string(&path).expect("a UTF-8 pipeline");
            let tree = parse(&text);
            let rel = path.strip_prefix(root()).unwrap_or(&path);
            errors.extend(syntax_errors(&tree, &text, rel));
            count += 1;
        }
    }
    assert!(count > 0);
    assert!(
        errors.is_empty(),
        "the tree-sitter grammar does not parse {} place(s) of the shipped files:\n{}",
        errors.len(),
        errors.join("\n")
    );
}

#[test]
fn syntax_errors_name_file_line_and_column() {
    let text = "seed 1\ntrain at = adversarial(net, ucf) {\n  budget fixed 8;\n}\n";
    let errors = syntax_errors(&parse(text), text, Path::new("x.advp"));
    assert!(
        errors.iter().any(|e| e.starts_with("x.advp:3:17: ")),
        "{errors:?}"
    );
    let text = "data d = f(a: [1, 2)\n";
    let errors = syntax_errors(&parse(text), text, Path::new("y.advp"));
    assert!(!errors.is_empty(), "an unclosed `[` is an error");
}

// ------------------------------------------------------------------- corpus

/// One case of a corpus file in tree-sitter's format.
struct Case {
    file: String,
    line: usize,
    name: String,
    input: String,
    expected: String,
    error: bool,
    skip: bool,
}

/// `===…` or `---…` (three or more), then `suffix`, alone on the line.
fn is_delimiter(line: &str, c: char, suffix: &str) -> bool {
    let line = line.trim_end_matches(['\r', '\n']);
    let rest = line.trim_start_matches(c);
    line.len() - rest.len() >= 3 && rest == suffix
}

/// The suffix of the first header line (`===|||` has `|||`), as the CLI reads it.
fn header_suffix(lines: &[&str]) -> String {
    lines
        .iter()
        .map(|l| l.trim_end_matches(['\r', '\n']))
        .find(|l| l.starts_with("===") && !l.trim_start_matches('=').is_empty())
        .map(|l| l.trim_start_matches('=').to_string())
        .unwrap_or_default()
}

/// A header at `i`: a `===` line, name and attribute lines (none blank
/// before the name), a closing `===` line. Returns the line after it.
fn header_at(lines: &[&str], i: usize, suffix: &str) -> Option<(usize, Vec<String>)> {
    if !is_delimiter(lines[i], '=', suffix) {
        return None;
    }
    let mut body = Vec::new();
    for (j, line) in lines.iter().enumerate().skip(i + 1) {
        if is_delimiter(line, '=', suffix) {
            return (!body.is_empty()).then_some((j + 1, body));
        }
        let t = line.trim();
        if t.is_empty() && body.is_empty() {
            return None;
        }
        if !t.is_empty() {
            body.push(t.to_string());
        }
    }
    None
}

fn corpus_cases(path: &Path) -> Vec<Case> {
    let content = fs::read_to_string(path).expect("a UTF-8 corpus file");
    let lines: Vec<&str> = content.split_inclusive('\n').collect();
    let suffix = header_suffix(&lines);
    let file = path.file_name().unwrap().to_string_lossy().to_string();
    // (line of the header, body start, name and attribute lines)
    let mut headers = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        match header_at(&lines, i, &suffix) {
            Some((next, body)) => {
                headers.push((i, next, body));
                i = next;
            }
            None => i += 1,
        }
    }
    let mut cases = Vec::new();
    for (k, (at, start, header)) in headers.iter().enumerate() {
        let end = headers.get(k + 1).map_or(lines.len(), |h| h.0);
        let body = &lines[*start..end];
        // The longest `---` line divides input from output; a later one wins a tie.
        let mut divider: Option<(usize, usize)> = None;
        for (j, line) in body.iter().enumerate() {
            if is_delimiter(line, '-', &suffix) {
                let len = line.trim_end().len();
                if divider.is_none_or(|(best, _)| len >= best) {
                    divider = Some((len, j));
                }
            }
        }
        let (_, d) = divider
            .unwrap_or_else(|| panic!("{file}:{}: a corpus case without a `---` line", at + 1));
        let mut input: String = body[..d].concat();
        if input.ends_with('\n') {
            input.pop();
        }
        if input.ends_with('\r') {
            input.pop();
        }
        let attribute = |a: &str| header.iter().any(|l| l == a);
        cases.push(Case {
            file: file.clone(),
            line: at + 1,
            name: header
                .iter()
                .filter(|l| !l.starts_with(':'))
                .cloned()
                .collect::<Vec<_>>()
                .join(" "),
            input,
            expected: normalize(&body[d + 1..].concat()),
            error: attribute(":error"),
            skip: attribute(":skip"),
        });
    }
    cases
}

/// The CLI's normalisation: `;` comment lines dropped, whitespace runs made
/// one space, no space before `)`.
fn normalize(sexp: &str) -> String {
    let mut out = String::new();
    for line in sexp.lines().filter(|l| !l.trim_start().starts_with(';')) {
        for word in line.split_whitespace() {
            if !out.is_empty() && !word.starts_with(')') {
                out.push(' ');
            }
            out.push_str(word);
        }
    }
    out
}

/// `(a name: (b))` as `(a (b))`, for expected trees written without fields.
fn strip_fields(sexp: &str) -> String {
    sexp.split(' ')
        .filter(|w| !(w.ends_with(':') && w.len() > 1))
        .collect::<Vec<_>>()
        .join(" ")
}

#[test]
fn corpus_cases_give_their_trees() {
    let corpus = files("editors/tree-sitter-advp/test/corpus", "txt");
    let mut failures = Vec::new();
    let mut ran = 0;
    for path in &corpus {
        for case in corpus_cases(path) {
            if case.skip {
                continue;
            }
            ran += 1;
            let tree = parse(&case.input);
            let root = tree.root_node();
            if case.error {
                if !root.has_error() {
                    failures.push(format!(
                        "{}:{} {:?}: expected a syntax error, got {}",
                        case.file,
                        case.line,
                        case.name,
                        root.to_sexp()
                    ));
                }
                continue;
            }
            let mut actual = normalize(&root.to_sexp());
            if !case.expected.contains(": (") {
                actual = strip_fields(&actual);
            }
            if actual != case.expected {
                failures.push(format!(
                    "{}:{} {:?}:\n  expected: {}\n  actual:   {}",
                    case.file, case.line, case.name, case.expected, actual
                ));
            }
        }
    }
    // One case per shipped pipeline and standard-library file at least.
    let shipped = files("pipelines", "advp").len() + files("stdlib", "advp").len();
    assert!(
        ran >= shipped,
        "only {ran} corpus cases in {}",
        grammar_dir().join("test/corpus").display()
    );
    assert!(
        failures.is_empty(),
        "{} of {ran} corpus case(s) fail (after a grammar change: `tree-sitter generate --abi 14`, \
         then scripts/corpus-from-pipelines.py and `tree-sitter test --update` in \
         editors/tree-sitter-advp):\n{}",
        failures.len(),
        failures.join("\n")
    );
}

// ------------------------------------------------------------------ queries

#[test]
fn queries_name_only_what_the_grammar_has() {
    let language = language();
    for (name, source) in [
        ("highlights.scm", tree_sitter_advp::HIGHLIGHTS_QUERY),
        ("locals.scm", tree_sitter_advp::LOCALS_QUERY),
        ("folds.scm", tree_sitter_advp::FOLDS_QUERY),
    ] {
        let on_disk = fs::read_to_string(grammar_dir().join("queries").join(name))
            .unwrap_or_else(|e| panic!("queries/{name}: {e}"));
        assert_eq!(
            source, on_disk,
            "queries/{name} differs from the crate's copy"
        );
        if let Err(e) = Query::new(&language, source) {
            panic!(
                "queries/{name}:{}:{}: {:?}: {}",
                e.row + 1,
                e.column + 1,
                e.kind,
                e.message
            );
        }
    }
}

#[test]
fn highlights_capture_declarations_keywords_and_calls() {
    let query = Query::new(&language(), tree_sitter_advp::HIGHLIGHTS_QUERY).expect("a query");
    let text = "use \"stdlib/rules.advp\"\n\
                attack pgd_inf = pgd(norm: inf, steps: 10)\n\
                train at = adversarial(net, ucf.test) {\n  budget fixed 8\n}\n";
    let tree = parse(text);
    let mut seen = Vec::new();
    let mut cursor = QueryCursor::new();
    let mut captures = cursor.captures(&query, tree.root_node(), text.as_bytes());
    while let Some((m, i)) = captures.next() {
        let c = m.captures()[*i];
        let name = query.capture_names()[c.index as usize];
        seen.push(format!("{name}={}", &text[c.node.byte_range()]));
    }
    for want in [
        "keyword.import=use",
        "keyword.type=attack",
        "function=pgd_inf",
        "function.call=pgd",
        "property=norm",
        "constant.builtin=inf",
        "variable=at",
        "property=test",
        "keyword=budget",
        "constant=fixed",
        "number=8",
    ] {
        assert!(seen.iter().any(|s| s == want), "no {want} in {seen:?}");
    }
}
