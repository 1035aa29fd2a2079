"""The HTML page of ``gradkit similarity``: ranked pairs, each with both students' code side by side.

Per pair, every cell where either student's code matches the other's is shown
in two columns with the matching lines highlighted; cells without a match are
only named. The page is self-contained (no script, no network) and stays in the
course folder.
"""

from __future__ import annotations

from html import escape

NOTE = ("A high score is a reason to look at two submissions, not a verdict. Code the assignment dictates "
        "(short formulas, methods whose bodies the instructions fix) is alike in honest work, and weighs "
        "less here because much of the class shares it; students who worked together as allowed, "
        "or who both followed the lecture's code, also score high. Read the highlighted code, then talk "
        "to the students before deciding anything.")

STYLE = """
body { font-family: system-ui, sans-serif; margin: 1.5em; max-width: 1400px; }
table.pairs td, table.pairs th { padding: 2px 10px; text-align: right; }
table.pairs td:nth-child(2), table.pairs td:nth-child(3) { text-align: left; }
.note { background: #fff6d8; border-left: 4px solid #e0b400; padding: 0.6em 1em; }
.side { display: grid; grid-template-columns: 1fr 1fr; gap: 8px; }
pre { margin: 0; font-size: 12px; background: #f7f7f7; padding: 4px; overflow-x: auto; }
pre span.hit { background: #ffd6d6; display: block; }
pre span.line { display: block; }
h3 { margin-top: 2em; border-top: 1px solid #ccc; padding-top: 0.5em; }
summary { cursor: pointer; color: #555; }
"""


def _code(source: str, hits: set[int]) -> str:
    lines = source.splitlines() or [""]
    return "".join(f'<span class="{"hit" if n in hits else "line"}">{escape(text) or " "}</span>'
                   for n, text in enumerate(lines, start=1))


def pair_section(anchor: str, pair, cells_a, cells_b, hits_a: set, hits_b: set) -> list[str]:
    """One pair: its figures, then per cell label both students' code (matching lines highlighted)."""
    out = [f'<h3 id="{anchor}">{escape(pair.a)} and {escape(pair.b)}: score {pair.score:.2f}</h3>',
           f"<p>{pair.share_a:.0%} of {escape(pair.a)}'s code (by weight) is also in {escape(pair.b)}'s; "
           f"{pair.share_b:.0%} of {escape(pair.b)}'s is in {escape(pair.a)}'s. Matched tokens: "
           f"{pair.tokens_a} of {escape(pair.a)}'s, {pair.tokens_b} of {escape(pair.b)}'s.</p>"]
    labels = list(dict.fromkeys([label for label, _ in cells_a] + [label for label, _ in cells_b]))
    by_a = {label: (i, src) for i, (label, src) in enumerate(cells_a)}
    by_b = {label: (i, src) for i, (label, src) in enumerate(cells_b)}
    unmatched = []
    for label in labels:
        ia, src_a = by_a.get(label, (None, ""))
        ib, src_b = by_b.get(label, (None, ""))
        ha = {line for cell, line in hits_a if cell == ia}
        hb = {line for cell, line in hits_b if cell == ib}
        if ha or hb:
            out.append(f'<h4>{escape(label)}</h4><div class="side"><pre>{_code(src_a, ha)}</pre>'
                       f'<pre>{_code(src_b, hb)}</pre></div>')
        else:
            unmatched.append(label)
    if unmatched:
        out.append(f"<p>No match in: {escape(', '.join(unmatched))}.</p>")
    return out


def page(assignment: str, summary: list[str], pairs_shown: list, sections: list[str], plot_name: str,
         csv_name: str) -> str:
    rows = "".join(
        f'<tr><td>{i}</td><td><a href="#pair{i}">{escape(p.a)}</a></td><td>{escape(p.b)}</td>'
        f"<td>{p.score:.2f}</td><td>{p.share_a:.2f}</td><td>{p.share_b:.2f}</td>"
        f"<td>{p.tokens_a}</td><td>{p.tokens_b}</td></tr>"
        for i, p in enumerate(pairs_shown, start=1))
    return "\n".join([
        "<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{escape(assignment)}: similarity</title><style>{STYLE}</style></head><body>",
        f"<h1>{escape(assignment)}: code shared between submissions</h1>",
        f'<p class="note">{escape(NOTE)}</p>',
        "<ul>" + "".join(f"<li>{escape(line)}</li>" for line in summary) + "</ul>",
        f'<p><img src="{escape(plot_name)}" alt="distribution of pair scores"> '
        f'Every pair: <a href="{escape(csv_name)}">{escape(csv_name)}</a>.</p>',
        '<table class="pairs"><tr><th>#</th><th>student a</th><th>student b</th><th>score</th>'
        "<th>share of a in b</th><th>share of b in a</th><th>matched tokens of a</th>"
        "<th>of b</th></tr>" + rows + "</table>",
        *sections, "</body></html>"])
