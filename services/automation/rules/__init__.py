"""Rules as data: their grammar (`grammar`), the interpreter that evaluates them (`interpreter`,
never `eval`), and the built-in rules (`builtin`)."""
