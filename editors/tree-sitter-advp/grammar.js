/**
 * @file Tree-sitter grammar for advp pipeline files (`.advp`).
 * @license MIT OR Apache-2.0
 *
 * Mirrors grammar/advp.pest, the grammar the real parser uses. Newlines are
 * whitespace: statements are told apart by their leading keyword. Keywords
 * are contextual (not reserved): `word` makes tree-sitter lex e.g. `attack`
 * as a keyword only where a keyword is expected, and as an identifier in
 * `attack pgd_inf` inside a block or in `attacks: [...]`.
 *
 * Regenerate with tree-sitter CLI 0.27.1: `tree-sitter generate --abi 14`
 * (see README.md).
 */

/// <reference types="tree-sitter-cli/dsl" />
// @ts-check

const PREC = {
  compose: 1, // `>>` binds loosest and groups to the right
  additive: 2,
  multiplicative: 3,
  unary: 4,
};

const DECLARATION_KINDS = [
  'data', 'model', 'attack', 'defense', 'rule', 'train', 'eval', 'analyze',
];

// File-level keywords that may also start an entry of a profile.
const PROFILE_SETTING_KEYWORDS = ['seed', 'seeds', 'device', 'precision', 'threads'];

/**
 * One or more `rule`s separated by commas.
 * @param {RuleOrLiteral} rule
 */
function commaSep1(rule) {
  return seq(rule, repeat(seq(',', rule)));
}

/**
 * `rule, rule, …` with an optional trailing comma, possibly empty.
 * @param {RuleOrLiteral} rule
 */
function commaSepTrailing(rule) {
  return optional(seq(commaSep1(rule), optional(',')));
}

module.exports = grammar({
  name: 'advp',

  extras: $ => [/[\s\uFEFF]/, $.comment],

  word: $ => $.identifier,

  conflicts: $ => [
    // `compare a >> b > c …` against the setting `compare a >> b` (see
    // setting_statement): the token after the sides decides.
    [$._compare_composition, $._primary],
    // `budget x - 1` and `budget f (x)`: a schedule of mode `x` (or `f`),
    // or the setting `budget x - 1` (or `budget f(x)`); the schedule wins.
    [$.schedule_statement, $._primary],
    [$.argument, $.parenthesized_expression],
  ],

  rules: {
    source_file: $ => repeat($._item),

    _item: $ => choice(
      $.use_statement,
      $.seeds_statement,
      $.seed_statement,
      $.device_statement,
      $.precision_statement,
      $.threads_statement,
      $.profile,
      $.report,
      $.declaration,
    ),

    // ------------------------------------------------------------ file level

    // use "stdlib/attacks.advp"
    use_statement: $ => seq('use', field('path', $.string)),

    // seed 1
    seed_statement: $ => seq('seed', field('value', $._expression)),

    // seeds [1, 2, 3]    seeds 1..5
    seeds_statement: $ => seq('seeds', field('value', $._expression)),

    // threads 16
    threads_statement: $ => seq('threads', field('value', $._expression)),

    // device auto    device cuda:1
    device_statement: $ => seq(
      'device',
      field('value', $.identifier),
      optional(seq(
        token.immediate(':'),
        field('index', alias(token.immediate(/[0-9]+/), $.number)),
      )),
    ),

    // precision bf16
    precision_statement: $ => seq('precision', field('value', $.identifier)),

    // data ucf = ucf101(root: "data/ucf101")     train at = adversarial(…) { … }
    declaration: $ => seq(
      field('kind', $.declaration_kind),
      field('name', $.identifier),
      '=',
      field('value', $._expression),
      optional(field('body', $.block)),
    ),

    declaration_kind: _ => choice(...DECLARATION_KINDS),

    // report table2 to "table2.md", "table2.csv"
    // report table4 examples to "examples"
    report: $ => seq(
      'report',
      field('name', $.identifier),
      optional(field('mode', $.identifier)),
      'to',
      commaSep1(field('output', $.string)),
    ),

    // profile quick { data ucf = synthetic(…)  train.epochs = 8 }
    profile: $ => seq(
      'profile',
      field('name', $.identifier),
      '{',
      repeat($._profile_entry),
      '}',
    ),

    _profile_entry: $ => choice(
      $.declaration,
      $.seeds_statement,
      $.seed_statement,
      $.device_statement,
      $.precision_statement,
      $.threads_statement,
      $.override,
    ),

    // train.epochs = 8    at.model = benign    attack.steps = 10
    override: $ => seq(
      field('target', alias($._override_target, $.path)),
      '=',
      field('value', $._expression),
    ),

    // The first name may be a word that is a keyword elsewhere in a profile
    // (`train.epochs`, `attack.steps`, `eval.batch`): it reads as a name here.
    _override_target: $ => seq(
      choice(
        $.identifier,
        alias(choice(...DECLARATION_KINDS, ...PROFILE_SETTING_KEYWORDS), $.identifier),
      ),
      repeat1(seq('.', $.identifier)),
    ),

    // ---------------------------------------------------------------- blocks

    block: $ => seq('{', repeat($._statement), '}'),

    _statement: $ => choice(
      $.compare_statement,
      $.schedule_statement,
      $.setting_statement,
    ),

    // compare cat_up > cat_down at eps 8
    // compare h264 >> benign > benign at attack flicker
    compare_statement: $ => seq(
      'compare',
      field('left', $._compare_side),
      field('operator', choice('>', '<')),
      field('right', $._compare_side),
      optional(seq('at', commaSep1(field('condition', $.compare_at)))),
    ),

    _compare_side: $ => choice(
      $.identifier,
      alias($._compare_composition, $.binary_expression),
    ),

    _compare_composition: $ => seq(
      field('left', $.identifier),
      field('operator', '>>'),
      field('right', $._compare_side),
    ),

    // eps 8    attack flicker
    compare_at: $ => seq(field('key', $.identifier), field('value', $._expression)),

    // budget curriculum 0..12 step 2 every 10      attacks each {none, flicker}
    schedule_statement: $ => seq(
      field('key', choice('budget', 'attacks')),
      field('mode', $.identifier),
      field('value', $._expression),
      optional(seq('every', field('every', $._expression))),
    ),

    // alpha optimal / 2      attack pgd_inf(steps: 10)      steps grid 1..20
    // As in the pest grammar, a statement that starts with `budget`,
    // `attacks` or `compare` but is not a schedule or a claim reads as a
    // setting (`budget 8`), which the checker then rejects with its own
    // diagnostic; a schedule or a claim wins wherever both parse.
    setting_statement: $ => prec.dynamic(-1, seq(
      field('key', choice(
        $.identifier,
        alias(choice('budget', 'attacks', 'compare'), $.identifier),
      )),
      optional('grid'),
      field('value', $._expression),
    )),

    // ----------------------------------------------------------- expressions

    _expression: $ => choice(
      $.binary_expression,
      $.unary_expression,
      $.range,
      $._primary,
    ),

    binary_expression: $ => choice(
      prec.right(PREC.compose, seq(
        field('left', $._expression),
        field('operator', '>>'),
        field('right', $._expression),
      )),
      ...[
        [PREC.additive, choice('+', '-')],
        [PREC.multiplicative, choice('*', '/')],
      ].map(([p, op]) => prec.left(/** @type {number} */ (p), seq(
        field('left', $._expression),
        field('operator', /** @type {RuleOrLiteral} */ (op)),
        field('right', $._expression),
      ))),
    ),

    // A minus sign applies to one operand: `-eps * -1` is `(-eps) * (-1)`.
    unary_expression: $ => prec(PREC.unary, seq(
      field('operator', '-'),
      field('operand', $._primary),
    )),

    // 0..12 step 2    12..0 step 2    -1..1 step 0.5    1..20
    // The ends and the step are number literals, the ends optionally negative.
    range: $ => seq(
      field('start', $._signed_number),
      '..',
      field('end', $._signed_number),
      optional(seq('step', field('step', $._signed_number))),
    ),

    _signed_number: $ => choice(
      $.number,
      alias($._negative_number, $.unary_expression),
    ),

    _negative_number: $ => seq(field('operator', '-'), field('operand', $.number)),

    _primary: $ => choice(
      $.number,
      $.string,
      $.boolean,
      $.inf,
      $.list,
      $.record,
      $.set,
      $.call,
      $.path,
      $.identifier,
      $.parenthesized_expression,
    ),

    // [0, 4, 8]
    list: $ => seq('[', commaSepTrailing($._expression), ']'),

    // {0, 4, 8}    {masked_pgd, flicker}    {}
    set: $ => seq('{', commaSepTrailing($._expression), '}'),

    // { gpus: 1, time: "12:00:00" }
    record: $ => seq('{', commaSep1($.field), optional(','), '}'),

    field: $ => seq(field('name', $.identifier), ':', field('value', $._expression)),

    // pgd_inf(steps: 5)    standard(net, ucf, epochs: 60)
    call: $ => seq(field('function', $.identifier), field('arguments', $.arguments)),

    arguments: $ => seq('(', commaSepTrailing($.argument), ')'),

    argument: $ => seq(
      optional(seq(field('name', $.identifier), ':')),
      field('value', $._expression),
    ),

    // ucf.classes    ucf.test
    path: $ => seq($.identifier, repeat1(seq('.', $.identifier))),

    parenthesized_expression: $ => seq('(', $._expression, ')'),

    // ---------------------------------------------------------------- tokens

    // 8    0.25    2e-4    1E3   (`.5` and `5.` are not numbers)
    number: _ => token(/[0-9]+(\.[0-9]+)?([eE][+-]?[0-9]+)?/),

    // "data/ucf101"; ends on the same line; escapes \" \\ \n \t
    string: $ => seq(
      '"',
      repeat(choice($._string_content, $.escape_sequence)),
      token.immediate('"'),
    ),

    _string_content: _ => token.immediate(prec(1, /[^"\\\n]+/)),

    escape_sequence: _ => token.immediate(/\\[^\n]/),

    boolean: _ => choice('true', 'false'),

    inf: _ => 'inf',

    identifier: _ => /[A-Za-z_][A-Za-z0-9_]*/,

    comment: _ => token(seq('#', /[^\n]*/)),
  },
});
