; Scopes, definitions and references for advp pipeline files (.advp).
;
; A file is one scope: declarations are global to it and may be referenced
; before they appear. A profile's declarations replace the file's nodes of
; the same name, so they stay in the same scope.

(source_file) @local.scope

(declaration
  name: (identifier) @local.definition)

; Names used as values

(path
  .
  (identifier) @local.reference)

(call
  function: (identifier) @local.reference)

(argument
  value: (identifier) @local.reference)

(field
  value: (identifier) @local.reference)

(list
  (identifier) @local.reference)

(set
  (identifier) @local.reference)

(binary_expression
  left: (identifier) @local.reference)

(binary_expression
  right: (identifier) @local.reference)

(unary_expression
  operand: (identifier) @local.reference)

(parenthesized_expression
  (identifier) @local.reference)

(declaration
  value: (identifier) @local.reference)

(override
  value: (identifier) @local.reference)

(setting_statement
  value: (identifier) @local.reference)

(schedule_statement
  value: (identifier) @local.reference)

(compare_statement
  left: (identifier) @local.reference)

(compare_statement
  right: (identifier) @local.reference)

(compare_at
  value: (identifier) @local.reference)

(report
  name: (identifier) @local.reference)
