"""What a course keeps: its folders and configuration, per-assignment settings, the roster, the gradebook writer, the grading ledger and late days."""
