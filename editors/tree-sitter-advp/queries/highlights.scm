; Highlights for advp pipeline files (.advp).
;
; The patterns do not overlap, so the result is the same whether an editor
; gives the first matching pattern priority (tree-sitter-highlight, Helix) or
; the last one (Neovim). Plain references to names are left uncaptured.

; Comments

(comment) @comment @spell

; Literals

(number) @number

(string) @string

(escape_sequence) @string.escape

(boolean) @boolean

(inf) @constant.builtin

; Keywords

"use" @keyword.import

[
  "seed"
  "seeds"
  "device"
  "precision"
  "threads"
  "profile"
  "report"
  "to"
] @keyword

(declaration_kind) @keyword.type

[
  "compare"
  "at"
  "budget"
  "attacks"
  "every"
  "grid"
  "step"
] @keyword

; Definitions: a rule is a function of eps and an attack preset can be called
; with arguments; every other declaration names a node of the graph.

(declaration
  kind: (declaration_kind
    [
      "rule"
      "attack"
    ])
  name: (identifier) @function)

(declaration
  kind: (declaration_kind
    [
      "data"
      "model"
      "defense"
      "train"
      "eval"
      "analyze"
    ])
  name: (identifier) @variable)

(profile
  name: (identifier) @module)

; Calls and arguments

(call
  function: (identifier) @function.call)

(argument
  name: (identifier) @property)

(field
  name: (identifier) @property)

; `ucf.test`, `train.epochs`: the names after a dot

(path
  "."
  .
  (identifier) @property)

; Statements

(setting_statement
  key: (identifier) @property)

(schedule_statement
  mode: (identifier) @constant)

(compare_at
  key: (identifier) @property)

(report
  mode: (identifier) @constant)

(device_statement
  value: (identifier) @constant.builtin)

(precision_statement
  value: (identifier) @constant.builtin)

; Operators and punctuation

[
  "="
  "+"
  "-"
  "*"
  "/"
  ">>"
  ">"
  "<"
  ".."
] @operator

[
  "("
  ")"
  "["
  "]"
  "{"
  "}"
] @punctuation.bracket

[
  ","
  ":"
  "."
] @punctuation.delimiter
