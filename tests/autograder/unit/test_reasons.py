"""The reasons a student reads (judging.reasons), on findings and cells made here.

The oracle is what the student can act on: the function and the author's words,
never a report key, a hidden line or an expected value; at most three lines.
"""

from __future__ import annotations

import re

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st
from nbformat.v4 import new_code_cell, new_output

from gradkit_autograder.judging.reasons import SUMMARY_LINES, build_reason, hidden_text, raised_in, safe_message
from gradkit_autograder.judging.trusted_checks import cell_findings
from gradkit_autograder.kernel.channel import Check, encode_value

MARKERS = ("### BEGIN HIDDEN TESTS", "### END HIDDEN TESTS")
QUOTIENT = Check("Dual.__truediv__", "random quotients of dual numbers",
                 hint="the quotient rule: (u/v)' = (u'v - uv')/v^2")
PRODUCT = Check("Dual.__mul__", "random products of dual numbers", hint="the product rule")


def _reference(n: int = 10) -> dict:
    rng = np.random.default_rng(0)
    ref = {f"dual_quotient_{k}": [encode_value(f"dual_quotient_{k}", rng.normal(size=2), check=QUOTIENT,
                                               example=f"u = Dual({k}, 1)")] for k in range(n)}
    ref.update({f"dual_product_{k}": [encode_value(f"dual_product_{k}", rng.normal(size=2), check=PRODUCT)]
                for k in range(n)})
    return ref


def _student(ref: dict, wrong: set[str]) -> dict:
    got = {}
    for key, [payload] in ref.items():
        values = np.array(payload["values"], dtype=float) + (1.5 if key in wrong else 0.0)
        got[key] = [encode_value(key, values)]
    return got


def test_values_that_differ_are_grouped_per_check_with_its_hint_and_no_key():
    ref = _reference()
    wrong = {f"dual_quotient_{k}" for k in (1, 4, 7)}
    findings, forged = cell_findings(ref, _student(ref, wrong), 1e-9, 1e-12)
    assert len(findings) == 3 and not forged
    reason = build_reason("test_dual_class", findings, ref)
    assert reason.summary[0].startswith("failed: Dual.__truediv__: 3 of 10 random quotients of dual numbers "
                                        "differ; largest error 1.5")
    assert "for example u = Dual(1, 1)" in reason.summary[0]          # the first failing report's example
    assert reason.summary[-1] == "Hint: the quotient rule: (u/v)' = (u'v - uv')/v^2"
    assert len(reason.summary) <= SUMMARY_LINES
    assert not re.search(r"dual_(quotient|product)_\d", reason.text + " ".join(reason.details) + reason.label)
    assert reason.label == "Dual.__truediv__: wrong values"


def test_two_failing_checks_fit_three_lines_and_the_details_keep_every_hint():
    ref = _reference()
    wrong = {"dual_quotient_0", "dual_product_2", "dual_product_3"}
    reason = build_reason("test_dual_class", cell_findings(ref, _student(ref, wrong), 1e-9, 0)[0], ref)
    assert len(reason.summary) == 3
    # in the order the hidden test reported them, each check once
    assert reason.summary[0].startswith("failed: Dual.__truediv__: 1 of 10")
    assert reason.summary[1].startswith("Dual.__mul__: 2 of 10")
    assert reason.summary[2] == "Hint: the quotient rule: (u/v)' = (u'v - uv')/v^2; the product rule"
    assert "Hint: the product rule" in reason.details


@settings(max_examples=40, deadline=None)
@given(n_wrong=st.integers(1, 10), shape=st.lists(st.integers(1, 4), min_size=0, max_size=3))
def test_one_report_counts_its_values_and_never_quotes_them(n_wrong, shape):
    rng = np.random.default_rng(n_wrong)
    want = rng.normal(size=shape) if shape else rng.normal(size=(10,))
    flat = want.ravel()
    n_wrong = min(n_wrong, flat.size)
    got = flat.copy()
    got[:n_wrong] += 3.0
    check = Check("forward_difference", "random cubic+sine functions", hint="the step h")
    ref = {"forward_difference_random": [encode_value("forward_difference_random", want, check=check)]}
    student = {"forward_difference_random": [encode_value("forward_difference_random", got.reshape(want.shape))]}
    reason = build_reason("test_forward", cell_findings(ref, student, 1e-9, 0)[0], ref)
    counted = (f"{n_wrong} of {flat.size} random cubic+sine functions differ" if flat.size > 1
               else "the result for random cubic+sine functions differs")
    assert reason.summary[0] == f"failed: forward_difference: {counted}; largest error 3"
    for value in flat:
        assert f"{value:.6g}" not in reason.text


def test_a_wrong_shape_and_a_missing_report_say_so_in_the_students_words():
    ref = _reference(2)
    got = _student(ref, set())
    got["dual_quotient_0"] = [encode_value("dual_quotient_0", [1.0, 2.0, 3.0])]
    del got["dual_product_1"]
    reason = build_reason("test_dual_class", cell_findings(ref, got, 1e-9, 0)[0], ref)
    assert "Dual.__mul__: no result came back for 1 of 2 random products" in reason.text
    assert "Dual.__truediv__: returned shape (3,), but the test expected shape (2,)" in reason.text


def test_a_report_without_words_falls_back_to_the_test_not_the_key():
    ref = {"secret_key_17": [encode_value("secret_key_17", [1.0])]}
    reason = build_reason("test_x", cell_findings(ref, {"secret_key_17": [encode_value("k", [2.0])]}, 0, 0)[0], ref)
    assert reason.summary[0].startswith("failed: a hidden check of test_x: ")
    assert "secret_key" not in reason.text


def _cells(solution: str, test: str, error: dict):
    sol = new_code_cell(solution, execution_count=1)
    sol.metadata["nbgrader"] = {"solution": True, "grade": False, "grade_id": "dual_class"}
    tst = new_code_cell(test, execution_count=2, outputs=[new_output("error", **error)])
    tst.metadata["nbgrader"] = {"grade": True, "grade_id": "test_dual_class", "points": 3}
    return sol, tst, {1: sol, 2: tst}


TEST_SOURCE = ("assert Dual(1, 1) / Dual(2, 0) is not None\n" + MARKERS[0] + "\n_secret_rng = 5\n"
               "_q = Dual(_secret_rng, 1.0) / Dual(3.0, 0.5)\n" + MARKERS[1])


def test_an_exception_in_the_students_cell_names_their_line_and_function():
    tb = ["\x1b[0;31mZeroDivisionError\x1b[0m Traceback", "Cell In[2], line 4\n----> 4 _q = Dual(_secret_rng...",
          "Cell In[1], line 3, in Dual.__truediv__(self, other)\n----> 3 return self.value / 0"]
    sol, tst, by_count = _cells("class Dual:\n  def __truediv__(self, other):\n    return self.value / 0",
                                TEST_SOURCE, {"ename": "ZeroDivisionError", "evalue": "division by zero",
                                              "traceback": tb})
    raised = raised_in(tst, by_count, MARKERS)
    assert (raised.where, raised.cell, raised.line, raised.function) == ("solution", "dual_class", 3,
                                                                          "Dual.__truediv__")
    reason = build_reason("test_dual_class", [], {}, raised)
    assert reason.summary[0] == ("failed: Dual.__truediv__ raised ZeroDivisionError: division by zero "
                                 "(your cell 'dual_class', line 3)")
    assert reason.label == "Dual.__truediv__ raised ZeroDivisionError"


def test_the_stub_reads_not_written_yet():
    tb = ["Cell In[2], line 1", "Cell In[1], line 2, in derivative(f, x)\n----> 2 raise NotImplementedError()"]
    _, tst, by_count = _cells("def derivative(f, x):\n    raise NotImplementedError()", TEST_SOURCE,
                              {"ename": "NotImplementedError", "evalue": "", "traceback": tb})
    reason = build_reason("test_derivative", [], {}, raised_in(tst, by_count, MARKERS))
    assert reason.summary == ["failed: derivative: not written yet (NotImplementedError in your cell "
                              "'dual_class', line 2)"]


def test_an_error_raised_on_a_hidden_line_shows_no_hidden_line():
    tb = ["Cell In[2], line 4\n----> 4 _q = Dual(_secret_rng, 1.0) / Dual(3.0, 0.5)"]
    _, tst, by_count = _cells("class Dual: pass", TEST_SOURCE,
                              {"ename": "TypeError", "evalue": "unsupported operand type(s) for /: 'Dual' and 'Dual'",
                               "traceback": tb})
    raised = raised_in(tst, by_count, MARKERS)
    assert raised.where == "hidden"
    # nbgrader's own markers are matched inside the line, as ClearHiddenTests reads them
    assert raised_in(tst, by_count, ("BEGIN HIDDEN TESTS", "END HIDDEN TESTS")).where == "hidden"
    ref = _reference(1)
    reason = build_reason("test_dual_class", cell_findings(ref, {}, 0, 0)[0], ref, raised)
    assert reason.summary[0] == ("failed: Dual.__truediv__: a hidden check could not use your result: TypeError: "
                                 "unsupported operand type(s) for /: 'Dual' and 'Dual'")
    assert "_secret_rng" not in reason.text and "no result came back" not in reason.text


@pytest.mark.parametrize("message", [
    "x = _q = Dual(_secret_rng, 1.0) / Dual(3.0, 0.5)",      # a hidden line, quoted by the student's code
    "leak: _secret_rng",                                    # a name only the hidden block uses
])
def test_a_message_that_quotes_the_hidden_test_is_withheld(message):
    hidden = "\n".join(TEST_SOURCE.splitlines()[1:])
    assert safe_message(message, hidden) is None


def test_long_runs_are_cut_and_ordinary_messages_pass():
    assert safe_message("bad value " + "QUJD" * 20, "") == "bad value ..."
    assert safe_message("operands could not be broadcast together with shapes (3,) (4,)", "_x = 1") == \
        "operands could not be broadcast together with shapes (3,) (4,)"


def test_a_limit_or_an_own_code_verdict_comes_first_and_explains_the_missing_reports():
    ref = _reference(2)
    reason = build_reason("test_dual_class", cell_findings(ref, {}, 0, 0)[0], ref,
                          stopped="this test ran out of time (each cell may run 30 s)")
    assert reason.summary[0] == "failed: this test ran out of time (each cell may run 30 s)"
    assert "no result came back" not in reason.text
    judged = build_reason("test_dual_class", [], ref, judged="the cell 'dual_class' uses gradkit.autodiff.Dual, "
                                                             "which this assignment asks you to write")
    assert judged.summary[0].startswith("failed: the cell 'dual_class' uses gradkit.autodiff.Dual")


def test_a_visible_test_kept_apart_borrows_the_hint_of_its_functions_hidden_check():
    tb = ["Cell In[2], line 1\n----> 1 assert Dual(1, 1) / Dual(2, 0) is not None"]
    _, tst, by_count = _cells("class Dual: pass", TEST_SOURCE, {"ename": "AssertionError", "evalue": "",
                                                                "traceback": tb})
    reason = build_reason("test_dual_visible", [], {}, raised_in(tst, by_count, MARKERS),
                          related_hints=["the quotient rule"])
    assert reason.summary == ["failed: AssertionError (at the test's line 1: assert Dual(1, 1) / Dual(2, 0) is "
                              "not None)", "Hint: the quotient rule"]


def test_check_words_are_validated_where_they_are_written():
    with pytest.raises(ValueError, match="Check function must be a non-empty string"):
        Check("", "inputs")
    with pytest.raises(TypeError, match="report\\(check=...\\) takes a Check"):
        encode_value("k", 1.0, check="derivative")


def test_a_visible_tests_message_keeps_what_was_expected_and_what_came_back():
    _, tst, by_count = _cells("class Dual: pass", TEST_SOURCE, {
        "ename": "AssertionError", "traceback": ["AssertionError: 1 / d: (value, tangent):"],
        "evalue": "1 / d with d = Dual(3, 1): (value, tangent):\n  expected (0.333, -0.111)\n  got      (0.333, 0.111)"})
    raised = raised_in(tst, by_count, MARKERS)
    assert raised.where == "unknown"        # the helpers print their message without frames
    reason = build_reason("test_dual_class", [], {}, raised)
    assert reason.summary == ["failed: AssertionError: 1 / d with d = Dual(3, 1): (value, tangent): expected "
                              "(0.333, -0.111) got (0.333, 0.111)"]
    assert reason.label == "AssertionError: 1 / d with d = Dual(3, 1)"


def test_a_visible_failure_shows_the_hint_of_the_function_its_message_names():
    total = Check("sum_vjp", "random sums", hint="copy grad back over the summed axes")
    mean = Check("mean_vjp", "random means", hint="divide by the number of averaged entries")
    ref = {"sum_vjp_0": [encode_value("sum_vjp_0", [1.0], check=total)],
           "mean_vjp_0": [encode_value("mean_vjp_0", [1.0], check=mean)]}

    def visible(message: str):
        return raised_in(_cells("pass", TEST_SOURCE, {"ename": "AssertionError", "traceback": [],
                                                      "evalue": message})[1], {}, MARKERS)
    named = visible("mean_vjp(grad=[3, 6, 9], shape=(3, 3), axis=0): expected [[1, 2, 3]] got [[3, 6, 9]]")
    assert build_reason("test_reduction_vjps", [], ref, named).summary[-1] == \
        "Hint: divide by the number of averaged entries"
    unnamed = visible("expected 1 got 2")     # no function named: the first check's hint
    assert build_reason("test_reduction_vjps", [], ref, unnamed).summary[-1] == \
        "Hint: copy grad back over the summed axes"


def test_a_message_quoting_another_cells_hidden_test_is_withheld_too():
    """A student's code can read earlier cells' sources in the kernel (IPython's ``In``)."""
    earlier = new_code_cell("x = 1\n" + MARKERS[0] + "\n_other_rng = grading_rng('test_softplus')\n" + MARKERS[1],
                            execution_count=3)
    _, tst, by_count = _cells("def f():\n    raise ValueError(In[3])", TEST_SOURCE, {
        "ename": "ValueError", "evalue": "_other_rng = grading_rng('test_softplus')",
        "traceback": ["Cell In[1], line 2, in f()"]})
    assert raised_in(tst, by_count, MARKERS).message is not None            # this cell's hidden block alone
    assert raised_in(tst, by_count, MARKERS, hidden_text([earlier, tst], MARKERS)).message is None


def test_many_failing_checks_are_counted_on_one_line_with_the_first_ones_hint():
    checks = [Check(f"f{k}", f"inputs {k}", hint=f"hint {k}") for k in range(4)]
    ref = {f"k{k}": [encode_value(f"k{k}", [1.0], check=c)] for k, c in enumerate(checks)}
    got = {f"k{k}": [encode_value(f"k{k}", [2.0])] for k in range(4)}
    reason = build_reason("test_many", cell_findings(ref, got, 0, 0)[0], ref)
    assert reason.summary == ["failed: f0: the result for inputs 0 differs; largest error 1",
                              "also failed: 3 more checks (f1, f2, f3); all are listed at the test",
                              "Hint: hint 0"]
    assert [d for d in reason.details if d.startswith("Hint:")] == [f"Hint: hint {k}" for k in range(4)]
