"""``gradkit similarity``: winnowing against a plain re-implementation, and the report on a generated class.

The class (``similarity_class.py``) is built from a1's real reference, its stored
wrong answers and hand-written honest variants; copies are honest notebooks put
through a copier's transformations. The property the instructor relies on: every
disguised copy scores above every pair of students who worked alone.
"""

from __future__ import annotations

import csv
import random
import shutil
from pathlib import Path

import nbformat
import numpy as np
import pytest

import support.similarity_class as gen
from gradkit_autograder.commands import similarity as sim
from gradkit_autograder.similarity import scoring, winnowing
from gradkit_autograder.similarity.student_code import REFERENCE
from gradkit_autograder.grading.class_builder import build_class
from gradkit_autograder.cli import main
from gradkit_autograder.state.course import Course
from gradkit_autograder.commands.demo import plant_copy
from gradkit_autograder.commands.release import release
from gradkit_autograder.state.scratch_course import scratch_course
from support import REPO_COURSE

A1 = gen.A1


# --- the algorithm against a plain oracle ------------------------------------------------------

def naive_hashes(ids: list[int], k: int) -> list[int]:
    """The same polynomial hash as kgram_hashes, in Python integers modulo 2**64."""
    mask = (1 << 64) - 1
    mixed = [(i * 0x9E3779B97F4A7C15 + 1) & mask for i in ids]
    out = []
    for start in range(len(ids) - k + 1):
        h = 0
        for j in range(k):
            h = (h * 1099511628211 + mixed[start + j]) & mask
        out.append(h)
    return out


def naive_winnow(hashes: list[int], w: int) -> set[int]:
    """Schleimer et al.: in each window of w hashes keep the position of the rightmost minimum."""
    if len(hashes) <= w:
        m = min(hashes)
        return {max(i for i, h in enumerate(hashes) if h == m)} if hashes else set()
    kept = set()
    for s in range(len(hashes) - w + 1):
        window = hashes[s:s + w]
        m = min(window)
        kept.add(s + max(i for i, h in enumerate(window) if h == m))
    return kept


@pytest.mark.parametrize("seed", range(20))
def test_kgram_hashes_and_winnowing_match_a_plain_implementation(seed):
    rng = random.Random(seed)
    ids = [rng.randrange(4) for _ in range(rng.randrange(0, 60))]   # few symbols: many ties
    k, w = rng.randrange(1, 7), rng.randrange(1, 8)
    hashes = winnowing.kgram_hashes(np.array(ids, dtype=np.int64), k)
    assert hashes.tolist() == naive_hashes(ids, k)
    assert set(winnowing.winnow(hashes, w).tolist()) == naive_winnow(hashes.tolist(), w)


def test_winnowing_guarantee_a_long_enough_match_is_always_found():
    """Any shared run of k + w - 1 tokens yields at least one shared fingerprint."""
    rng = random.Random(7)
    for _ in range(50):
        common = [rng.randrange(50) for _ in range(winnowing.K + winnowing.WINDOW - 1)]
        a = [rng.randrange(50) for _ in range(rng.randrange(30))] + common + [rng.randrange(50) for _ in range(9)]
        b = [rng.randrange(50) for _ in range(rng.randrange(30))] + common
        fa, fb = ({int(h[i]) for i in winnowing.winnow(h)} for h in
                  (winnowing.kgram_hashes(np.array(x, dtype=np.int64)) for x in (a, b)))
        assert fa & fb


def test_renaming_comments_and_whitespace_change_no_symbol():
    a = "def area(r):\n    # the disc\n    return math.pi * r ** 2  # pi r^2\n"
    b = "def surface(radius):\n\n    return math.pi   *   radius ** 2\n"
    assert winnowing.normalise(a)[0] == winnowing.normalise(b)[0]
    assert winnowing.normalise(a)[0] == ("def", "V", "(", "V", ")", ":", "return", "V", ".", "pi", "*", "V", "**", "L")
    # an attribute is kept: the shape of np.mean is not np.sum
    assert winnowing.normalise("np.mean(x)")[0] != winnowing.normalise("np.sum(x)")[0]


def _code(owner, source, starter="", vocab=None):
    return winnowing.fingerprint(owner, [("cell", source, starter)], {} if vocab is None else vocab, 3, 2)


def test_scores_equal_a_set_computation_on_tiny_inputs():
    """Weights, shares and scores against Python sets over the same fingerprints."""
    vocab = {}
    sources = ["a = b + c * d - e\nf = g(a, b)\n", "x = y + z * w - v\nq = r(x, y)\nprint(q)\n",
               "for i in range(10):\n    s = s + i * i\n", "a = b + c * d - e\n"]
    codes = [winnowing.fingerprint(str(i), [("cell", s, "")], vocab, 3, 2) for i, s in enumerate(sources)]
    cmp = scoring.compare(codes, k=3)
    sets = [set(c.hashes.tolist()) for c in codes]
    n = len(sets)
    df = {h: sum(h in s for s in sets) for h in set().union(*sets)}
    weight = {h: min(1.0, max(0.0, (1 - d / n) / (1 - scoring.COMMON))) for h, d in df.items()}
    size = [sum(weight[h] for h in s) for s in sets]
    floor = scoring.FLOOR * float(np.median(size))
    for a in range(n):
        for b in range(n):
            if a == b:
                continue
            matched = sum(weight[h] for h in sets[a] & sets[b])
            assert cmp.matched[a, b] == pytest.approx(matched, abs=1e-5)
            assert cmp.share(a, b) == pytest.approx(matched / size[a] if size[a] else 0, abs=1e-5)
            assert cmp.score(a, b) == pytest.approx(min(1, matched / max(min(size[a], size[b]), floor)), abs=1e-5)


def test_starter_code_and_kgrams_straddling_it_are_never_fingerprints():
    starter = "def forward(f, x, h):\n    # YOUR CODE HERE\n    raise NotImplementedError()\n"
    blank = _code("blank", starter, starter)
    assert len(blank.hashes) == 0
    answer = _code("answer", "def forward(f, x, h):\n    return (f(x + h) - f(x)) / h\n", starter)
    starts = answer.starts.tolist()
    # the signature's 8 tokens are starter: no kept k-gram (3 tokens) may begin before token 8
    assert starts and min(starts) >= 8


# --- a generated a1 class ----------------------------------------------------------------------

@pytest.fixture(scope="module")
def generated(tmp_path_factory):
    """A released a1 with 30 honest students, 6 disguised copies of each of 3 of them,
    a partial submission and the blank release, laid out as ``gradkit collect`` leaves them."""
    base = tmp_path_factory.mktemp("similarity")
    course = scratch_course(Course.open(REPO_COURSE), base, [A1])
    release(course, [A1])
    honest, copies = gen.build(course.source_dir(A1), course.release_dir(A1), honest=30, copies_of=3, seed=1)
    kinds = {}
    for student, nb in honest.items():
        _submit(course, student, nb)
        kinds[student] = "honest"
    for student, (original, nb) in copies.items():
        _submit(course, student, nb)
        kinds[student] = original
    # a partial submission: only the two one-line formulas, as the reference writes them
    blank = nbformat.read(str(course.release_dir(A1) / gen.NOTEBOOK), as_version=4)
    reference = gen.reference_bodies(course.source_dir(A1) / gen.NOTEBOOK)
    released = gen.release_cells(course.release_dir(A1) / gen.NOTEBOOK)
    partial = {c: gen.fill(released[c], [body for _, body in reference[c]])
               for c in ("forward_difference", "central_difference")}
    for cell in blank.cells:
        grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
        cell.source = partial.get(grade_id, cell.source)
    _submit(course, "partial", blank)
    _submit(course, "blank", nbformat.read(str(course.release_dir(A1) / gen.NOTEBOOK), as_version=4))
    cmp, current, pairs, unreadable = sim.compare_class(course, A1)
    assert unreadable == []
    return course, kinds, cmp, current, pairs


def _submit(course, student, nb):
    folder = course.submitted_dir(student, A1)
    folder.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, str(folder / gen.NOTEBOOK))


def _score(pairs, a, b):
    return next(p.score for p in pairs if {p.a, p.b} == {a, b})


def test_every_disguised_copy_ranks_above_every_honest_pair(generated):
    course, kinds, cmp, current, pairs = generated
    honest = [p.score for p in pairs if kinds.get(p.a) == "honest" and kinds.get(p.b) == "honest"]
    copies = {s: _score(pairs, s, original) for s, original in kinds.items() if original != "honest"}
    assert len(honest) > 400 and len(copies) == 3 * len(gen.DISGUISES)
    lowest = min(copies, key=copies.get)
    assert copies[lowest] > max(honest), (lowest, copies[lowest], max(honest))
    # and the honest students are not all alike: the weighting did not flatten everything
    assert np.median(honest) > 0.1


def test_reference_starter_and_partial_work_do_not_rank_high(generated):
    course, kinds, cmp, current, pairs = generated
    honest_max = max(p.score for p in pairs if kinds.get(p.a) == "honest" and kinds.get(p.b) == "honest")
    blank = [p for p in pairs if "blank" in (p.a, p.b)]
    assert blank == []   # the release's code alone has no fingerprint, so no pair with it matches
    partial = [p for p in pairs if "partial" in (p.a, p.b)]
    assert partial and max(p.score for p in partial) < honest_max
    # its own code is mostly in the reference, which the directed share shows
    assert max(p.share_a if p.a == "partial" else p.share_b for p in partial) > 0.5


def test_matches_map_back_to_the_cells_the_copier_changed(generated):
    course, kinds, cmp, current, pairs = generated
    owners = [c.owner for c in cmp.codes]
    copy = next(s for s, o in kinds.items() if s.startswith("copy-split-"))
    a, b = owners.index(copy), owners.index(kinds[copy])
    cells = scoring.matched_cells(cmp, b, [a])[0]
    assert {"numerical_gradient", "topological_order", "dual_class", "value_class"} <= set(cells)
    lines = scoring.shared_lines(cmp, b, a)
    value_cell = [label for label, _ in cmp.codes[b].cells].index("value_class")
    assert any(cell == value_cell for cell, _ in lines)
    # a split cell shows up as the added cell after it
    assert any(label.endswith("(+)") for label in scoring.matched_cells(cmp, a, [b])[0])


# --- the command ---------------------------------------------------------------------------------

def test_similarity_command_writes_html_csv_and_plot(generated, capsys):
    course, kinds, cmp, current, pairs = generated
    assert main(["similarity", A1, "--course", str(course.root)]) == 0
    out = capsys.readouterr().out
    assert "threshold" in out and "gap of" in out
    folder = course.root / "reports" / A1
    rows = list(csv.DictReader(open(folder / "similarity.csv")))
    assert list(rows[0]) == ["student_a", "student_b", "score", "share_a_in_b", "share_b_in_a",
                             "matched_tokens_a", "matched_tokens_b", "cells"]
    assert len(rows) == len(pairs)
    top = {frozenset((r["student_a"], r["student_b"])) for r in rows[:3 * len(gen.DISGUISES)]}
    for copy, original in kinds.items():
        if original != "honest" and copy.startswith("copy-renamed"):
            assert frozenset((copy, original)) in top or _score(pairs, copy, original) > 0.9
    html = (folder / "similarity.html").read_text()
    assert "not a verdict" in html and 'class="hit"' in html and "similarity.png" in html
    first = rows[0]
    assert f"{first['student_a']} and {first['student_b']}" in html
    assert (folder / "similarity.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize("argv, message", [
    (["similarity", "no_such"], "gradkit similarity: error: no source notebooks for assignment 'no_such'"),
    (["similarity", A1, "--threshold", "2"], "gradkit similarity: error: --threshold 2.0: expected a score"),
    (["similarity", A1, "--archive", "/no/such/dir"], "gradkit similarity: error: --archive /no/such/dir: not a folder"),
])
def test_bad_input_is_one_line_and_exit_2(generated, capsys, argv, message):
    course = generated[0]
    assert main(argv + ["--course", str(course.root)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(message), err


@pytest.fixture(scope="module")
def a0_released(tmp_path_factory) -> Path:
    """A scratch course with a0 released once; tests work on copies of it."""
    base = tmp_path_factory.mktemp("a0")
    release(scratch_course(Course.open(REPO_COURSE), base, ["a0_warmup"]), ["a0_warmup"])
    return base


def test_nothing_released_or_submitted_says_what_to_run(tmp_path, a0_released, capsys):
    course = scratch_course(Course.open(REPO_COURSE), tmp_path / "bare", ["a0_warmup"])
    assert main(["similarity", "a0_warmup", "--course", str(course.root)]) == 2
    assert "run `gradkit release a0_warmup` first" in capsys.readouterr().err
    assert main(["similarity", "a0_warmup", "--course", str(a0_released / "course")]) == 2
    assert "run `gradkit collect` first" in capsys.readouterr().err


def _demo_class(tmp_path, a0_released):
    """A copy of the released a0, with the demo's class (reference, blank, wrong answers) submitted."""
    shutil.copytree(a0_released, tmp_path / "copy")
    course = Course.open(tmp_path / "copy" / "course")
    kinds = build_class(course, "a0_warmup", tmp_path / "class")
    for student in kinds:
        target = course.submitted_dir(student, "a0_warmup")
        target.parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / "class" / student / "a0_warmup").rename(target)
    return course, kinds


def test_demo_class_finds_the_planted_archive_copy_first(tmp_path, a0_released):
    """The demo's class (reference, blank, wrong answers) and a renamed copy from an earlier term."""
    course, kinds = _demo_class(tmp_path, a0_released)
    student = sorted(s for s in kinds if s.startswith("mutant-"))[0]
    planted = plant_copy(course, "a0_warmup", student, tmp_path / "earlier-term")
    report = sim.write_similarity(course, "a0_warmup", [tmp_path / "earlier-term"])
    # the student "reference" handed in the reference solution itself: that pair is identical
    others = [p for p in report.pairs if not {p.a, p.b} <= {"reference", REFERENCE}]
    assert {others[0].a, others[0].b} == {student, planted}, others[:3]
    assert others[0] in report.flagged and others[0].score > others[1].score


def test_report_section_links_the_page_and_names_unreadable_notebooks(tmp_path, a0_released):
    """What ``gradkit report`` shows; a notebook that is not JSON is named, the rest still compared."""
    course, kinds = _demo_class(tmp_path, a0_released)
    broken = course.submitted_dir("broken", "a0_warmup")
    broken.mkdir(parents=True)
    (broken / "warmup.ipynb").write_text("{ not json")
    lines = sim.report_section(course, "a0_warmup")
    assert lines[0].startswith("- [similarity.html](similarity.html)") and "not a verdict" in lines[0]
    assert any("reference" in line and REFERENCE in line for line in lines)   # identical code, flagged
    html = (course.root / "reports" / "a0_warmup" / "similarity.html").read_text()
    assert "not compared (counted as empty)" in html and "warmup.ipynb is not a readable notebook" in html
    assert sim.report_section(course, "no_such")[0].startswith("- not computed: no source notebooks")
