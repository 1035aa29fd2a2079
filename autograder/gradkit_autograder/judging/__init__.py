"""Deciding a submission's points outside the student's kernel: screening, trusted checks, the own-code check, the decision and its reasons."""
