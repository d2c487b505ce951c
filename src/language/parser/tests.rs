use super::*;

fn ok(src: &str) -> Module {
    parse(src, FileId(0)).unwrap_or_else(|e| panic!("{src:?}: {e:?}"))
}
fn err(src: &str) -> Diagnostic {
    parse(src, FileId(0)).expect_err("should fail").remove(0)
}

#[test]
fn curriculum_line_parses_as_written() {
    let m = ok("train a = adversarial(net, d) {\n  budget curriculum 0..12 step 2 every 10\n}");
    let Item::Decl(d) = &m.items[0] else { panic!() };
    let Stmt::Schedule {
        key,
        mode,
        value,
        every,
        ..
    } = &d.block.as_ref().unwrap().stmts[0]
    else {
        panic!()
    };
    assert_eq!(
        (key.name.as_str(), mode.name.as_str()),
        ("budget", "curriculum")
    );
    let ExprKind::Range { start, end, step } = &value.kind else {
        panic!()
    };
    assert_eq!(
        (start.value, end.value, step.as_ref().unwrap().value),
        (0.0, 12.0, 2.0)
    );
    assert!(
        matches!(every.as_ref().unwrap().kind, ExprKind::Number { value, .. } if value == 10.0)
    );
}

#[test]
fn precedence_and_spans() {
    let e = parse_expr("0.2 * (eps + 1) / 2", FileId(0)).unwrap();
    // ((0.2 * (eps + 1)) / 2)
    let ExprKind::Binary {
        op: BinOp::Div,
        lhs,
        ..
    } = &e.kind
    else {
        panic!("{e:?}")
    };
    assert!(matches!(lhs.kind, ExprKind::Binary { op: BinOp::Mul, .. }));
    assert_eq!(lhs.span, Span::new(0, 15));
    let c = parse_expr("h264 >> a + b", FileId(0)).unwrap();
    assert!(matches!(
        c.kind,
        ExprKind::Binary {
            op: BinOp::Compose,
            ..
        }
    ));
}

#[test]
fn negative_range_ends() {
    let e = parse_expr("-1..1 step 0.5", FileId(0)).unwrap();
    let ExprKind::Range { start, .. } = e.kind else {
        panic!()
    };
    assert_eq!(start.value, -1.0);
}

#[test]
fn unclosed_brace_points_at_opener() {
    let d = err("train a = standard(n, d) {\n  budget fixed 8\n");
    assert_eq!(d.code, Code::UnclosedDelimiter);
    assert_eq!(d.span, Span::new(25, 26));
}

#[test]
fn reserved_word_as_name() {
    let d = err("data train = synthetic()");
    assert_eq!(d.code, Code::ReservedWord);
    assert_eq!(d.span, Span::new(5, 10));
}

#[test]
fn missing_equals_names_it() {
    let d = err("data ucf synthetic()");
    assert_eq!(d.code, Code::Unexpected);
    assert!(d.message.contains("`=`"), "{}", d.message);
    assert_eq!(d.span, Span::new(9, 18));
}

#[test]
fn comments_skip_strings() {
    let src = "use \"a#b\" # real\n# two\n";
    let c = comments(src);
    assert_eq!(c.len(), 2);
    assert_eq!(&src[c[0].start..c[0].end], "# real");
}

#[test]
fn multi_byte_whitespace_at_an_error_is_no_panic() {
    for src in ["\u{85}", "data d = \u{2028}", "data\u{85}\u{85}d"] {
        let e = err(src);
        assert!(
            src.is_char_boundary(e.span.start) && src.is_char_boundary(e.span.end),
            "{src:?}"
        );
    }
}

#[test]
fn the_fast_path_builds_pests_tree_for_every_shipped_and_golden_pipeline() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    for dir in ["pipelines", "stdlib", "tests/golden/valid"] {
        for e in std::fs::read_dir(root.join(dir)).unwrap().flatten() {
            if e.path().extension().is_some_and(|x| x == "advp") {
                files.push(e.path());
            }
        }
    }
    assert!(files.len() > 30, "{}", files.len());
    for f in files {
        let src = std::fs::read_to_string(&f).unwrap();
        let fast =
            super::fast::parse(&src).unwrap_or_else(|| panic!("{}: left to pest", f.display()));
        let pest = super::parse_pest(&src, FileId(0)).unwrap();
        assert_eq!(fast, pest.items, "{}", f.display());
    }
    // What the fast path leaves to pest: errors, and reserved names.
    for src in [
        "data d = ",
        "data seed = synthetic(classes: 2)",
        "x = 1",
        "seed 1e999",
    ] {
        assert!(super::fast::parse(src).is_none(), "{src}");
    }
}
