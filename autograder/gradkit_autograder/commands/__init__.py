"""The grader's verbs: one module a `gradkit` subcommand (release, collect, grade, ...)."""
