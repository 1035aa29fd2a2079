"""The hidden-test lines of a source notebook: what no page a student receives may contain."""

from __future__ import annotations

from pathlib import Path

import nbformat


def hidden_lines(notebook: Path) -> list[str]:
    """Non-blank lines between the hidden-test markers of every cell of ``notebook``."""
    nb = nbformat.read(str(notebook), as_version=4)
    lines = []
    for cell in nb.cells:
        inside = False
        for line in cell.source.splitlines():
            if "BEGIN HIDDEN TESTS" in line:
                inside = True
            elif "END HIDDEN TESTS" in line:
                inside = False
            elif inside and line.strip():
                lines.append(line.strip())
    return lines
