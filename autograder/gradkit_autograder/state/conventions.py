"""nbgrader's conventions, read in one place from nbgrader's own configuration.

The markers of solutions and hidden tests, the course id and the timestamp
file are nbgrader's, configurable in ``nbgrader_config.py``; every module of
the grader asks here instead of spelling them out.
"""

from __future__ import annotations

from typing import Any, Mapping

# nbgrader's exchange writes the submission time into this file of a submission
# (nbgrader.exchange: ``timestamp.txt``; it is not configurable there).
TIMESTAMP_FILE = "timestamp.txt"
# ... and a secret only the submitter knows, by which nbgrader names the released
# feedback page (release_feedback reads it next to the feedback; not configurable).
SUBMISSION_SECRET_FILE = "submission_secret.txt"
DEFAULT_COURSE_ID = "default_course"


def _section(config: Mapping[str, Any], name: str) -> Mapping[str, Any]:
    section = config.get(name, {}) if hasattr(config, "get") else {}
    return section if hasattr(section, "get") else {}


def _default(cls, trait: str) -> str:
    return cls.class_traits()[trait].default()


def solution_delimiters(config: Mapping[str, Any]) -> tuple[str, str]:
    """The (begin, end) solution markers (``ClearSolutions`` in nbgrader's config)."""
    from nbgrader.preprocessors import ClearSolutions

    section = _section(config, "ClearSolutions")
    return (section.get("begin_solution_delimeter") or _default(ClearSolutions, "begin_solution_delimeter"),
            section.get("end_solution_delimeter") or _default(ClearSolutions, "end_solution_delimeter"))


def hidden_test_delimiters(config: Mapping[str, Any]) -> tuple[str, str]:
    """The (begin, end) hidden-test markers (``ClearHiddenTests`` in nbgrader's config)."""
    from nbgrader.preprocessors import ClearHiddenTests

    section = _section(config, "ClearHiddenTests")
    return (section.get("begin_test_delimeter") or _default(ClearHiddenTests, "begin_test_delimeter"),
            section.get("end_test_delimeter") or _default(ClearHiddenTests, "end_test_delimeter"))


def course_id(config: Mapping[str, Any]) -> str:
    """``CourseDirectory.course_id``, or nbgrader's default when it is not set."""
    return _section(config, "CourseDirectory").get("course_id") or DEFAULT_COURSE_ID
