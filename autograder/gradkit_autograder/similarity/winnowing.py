"""Winnowing: the fingerprints of one submission's code (Schleimer, Wilkerson and Aiken, SIGMOD 2003).

A submission's cells are read as one stream of Python tokens in which names become
``V``, literals ``L``, and comments and docstrings vanish, so renaming a variable
or re-spacing a line changes nothing. Every k consecutive tokens (a k-gram) are
hashed, and winnowing keeps the minimum hash of every window of hashes: a small
sample of the k-grams that two submissions still share whenever they share a run of
K + WINDOW - 1 tokens. k-grams touching the released starter code, or found anywhere
in the release, are not fingerprints.

Pure functions on strings and numpy arrays; ``similarity.student_code`` reads the notebooks
and compares the class.
"""

from __future__ import annotations

import builtins
import functools
import keyword
import tokenize
from dataclasses import dataclass

import numpy as np

K = 6            # tokens per k-gram: shorter matches are noise
WINDOW = 6       # a match of K + WINDOW - 1 tokens is always found
STARTER_BLOCK = 4   # a run of tokens this long also in the released cell is starter code


# --- tokens ----------------------------------------------------------------------------------

SKIPPED = {tokenize.COMMENT, tokenize.NL, tokenize.NEWLINE, tokenize.INDENT, tokenize.DEDENT,
           tokenize.ENCODING, tokenize.ENDMARKER}
LITERALS = {tokenize.NUMBER, tokenize.STRING} | {getattr(tokenize, name) for name in
                                                 ("FSTRING_START", "FSTRING_MIDDLE", "FSTRING_END")
                                                 if hasattr(tokenize, name)}
KEPT_NAMES = frozenset(dir(builtins)) | frozenset(keyword.kwlist) | frozenset(keyword.softkwlist) | {"self"}


def python_tokens(source: str) -> list[tokenize.TokenInfo]:
    """Python's own tokens of a cell; after a line it cannot read (a student's typo), it goes on."""
    lines = source.splitlines(keepends=True)
    tokens, first = [], 0
    while first < len(lines):
        reader = iter(lines[first:])
        try:
            for tok in tokenize.generate_tokens(lambda: next(reader, "")):
                tokens.append(tok._replace(start=(tok.start[0] + first, tok.start[1])))
            break
        except (tokenize.TokenError, SyntaxError) as err:
            bad = getattr(err, "lineno", None) or (err.args[1][0] if len(err.args) > 1 else len(lines))
            first = max(first + 1, first + bad)   # skip the unreadable line, tokenise the rest
    return tokens


def _is_docstring(tokens: list, i: int) -> bool:
    """A string standing alone as a statement (a docstring or a bare string): prose, not code."""
    before = tokens[i - 1].type if i else tokenize.NEWLINE
    after = tokens[i + 1].type if i + 1 < len(tokens) else tokenize.NEWLINE
    return before in (tokenize.NEWLINE, tokenize.INDENT, tokenize.DEDENT, tokenize.NL) and \
        after in (tokenize.NEWLINE, tokenize.ENDMARKER, tokenize.COMMENT)


@functools.lru_cache(maxsize=4096)
def normalise(source: str) -> tuple[tuple[str, ...], tuple[int, ...]]:
    """(symbols, lines) of the significant tokens: names -> V, literals -> L, comments dropped.

    Keywords, operators, builtins (``self``, ``len``) and attribute names after a
    dot (``.tangent``, ``np.mean``) stay as written: renaming a variable changes
    none of the symbols, while the shape of the code is kept.
    """
    tokens = python_tokens(source)
    symbols, lines, previous = [], [], ""
    for i, tok in enumerate(tokens):
        if tok.type in SKIPPED or not tok.string.strip():
            continue
        if tok.type in LITERALS:
            if tok.type == tokenize.STRING and _is_docstring(tokens, i):
                continue
            if symbols and symbols[-1] == "L":
                continue   # "a" "b" and the parts of an f-string are one literal
            symbol = "L"
        elif tok.type == tokenize.NAME and previous != "." and tok.string not in KEPT_NAMES:
            symbol = "V"
        else:
            symbol = tok.string
        symbols.append(symbol)
        lines.append(tok.start[0])
        previous = tok.string
    return tuple(symbols), tuple(lines)


def starter_mask(symbols: list[int], starter: list[int], n: int = STARTER_BLOCK) -> np.ndarray:
    """True for each token inside a run of n tokens that also occurs in the released cell."""
    mask = np.zeros(len(symbols), dtype=bool)
    if len(starter) < n or len(symbols) < n:
        return mask
    hits = np.isin(kgram_hashes(np.array(symbols, dtype=np.int64), n),
                   kgram_hashes(np.array(starter, dtype=np.int64), n))
    for offset in range(n):
        mask[offset:offset + len(hits)] |= hits
    return mask


# --- winnowing -------------------------------------------------------------------------------

_MULT = np.uint64(1099511628211)   # FNV prime: mixes the k symbols of a k-gram


def kgram_hashes(ids: np.ndarray, k: int = K) -> np.ndarray:
    """A 64-bit hash of every k consecutive token ids (arithmetic wraps modulo 2**64)."""
    n = len(ids) - k + 1
    if n <= 0:
        return np.zeros(0, dtype=np.uint64)
    ids = ids.astype(np.uint64) * np.uint64(0x9E3779B97F4A7C15) + np.uint64(1)
    h = np.zeros(n, dtype=np.uint64)
    with np.errstate(over="ignore"):
        for j in range(k):
            h = h * _MULT + ids[j:j + n]
    return h


def winnow(hashes: np.ndarray, window: int = WINDOW) -> np.ndarray:
    """Positions kept by winnowing: in every window of hashes, the rightmost minimum."""
    if len(hashes) == 0:
        return np.zeros(0, dtype=np.int64)
    if len(hashes) <= window:
        return np.array([len(hashes) - 1 - int(np.argmin(hashes[::-1]))])
    windows = np.lib.stride_tricks.sliding_window_view(hashes, window)
    rightmost = window - 1 - np.argmin(windows[:, ::-1], axis=1)
    return np.unique(np.arange(len(windows)) + rightmost)


# --- one submission -------------------------------------------------------------------------

@dataclass
class Code:
    """One submission's code: its cells, tokens and fingerprints."""

    owner: str
    cells: list[tuple[str, str]]               # (label, source) in notebook order
    token_cell: np.ndarray                     # the cell index of each token
    token_line: np.ndarray                     # the line (1-based, within its cell) of each token
    hashes: np.ndarray = None   # fingerprints: k-gram hashes kept by winnowing ...
    starts: np.ndarray = None   # ... and the token each one starts at

    @property
    def tokens(self) -> int:
        return len(self.token_cell)


def fingerprint(owner: str, cells: list[tuple[str, str, str]], vocab: dict[str, int],
                k: int = K, window: int = WINDOW, boilerplate: np.ndarray | None = None) -> Code:
    """Tokenise the cells as one stream (so splitting a cell changes nothing) and winnow it.

    k-grams holding a starter token are never fingerprints, nor are those in
    ``boilerplate`` (every k-gram of the release, wherever the student pasted it).
    """
    ids, cell_of, line_of, starter = [], [], [], []
    for index, (_, source, released) in enumerate(cells):
        symbols, lines = normalise(source)
        cell_ids = [vocab.setdefault(s, len(vocab)) for s in symbols]
        starter.append(starter_mask(cell_ids, [vocab.setdefault(s, len(vocab)) for s in normalise(released)[0]]))
        ids += cell_ids
        cell_of += [index] * len(symbols)
        line_of += lines
    code = Code(owner, [(label, source) for label, source, _ in cells],
                np.array(cell_of, dtype=np.int32), np.array(line_of, dtype=np.int32))
    hashes = kgram_hashes(np.array(ids, dtype=np.int64), k)
    keep = winnow(hashes, window)
    if len(keep):
        in_starter = np.concatenate(starter) if starter else np.zeros(0, dtype=bool)
        touched = np.convolve(in_starter.astype(np.int32), np.ones(k, dtype=np.int32))[k - 1:k - 1 + len(hashes)]
        keep = keep[touched[keep] == 0]
    if boilerplate is not None and len(keep):
        keep = keep[~np.isin(hashes[keep], boilerplate)]
    code.hashes, code.starts = hashes[keep], keep
    return code
