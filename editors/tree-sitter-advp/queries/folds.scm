; Folds for advp pipeline files (.advp): blocks, profiles and bracketed values
; that span several lines.

[
  (block)
  (profile)
  (arguments)
  (list)
  (set)
  (record)
] @fold
