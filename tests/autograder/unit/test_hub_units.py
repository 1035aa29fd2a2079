"""The course hub's parts on their own: settings, the exchange's reading, the per-role files, the formgrader's refusal.

The whole hub is driven end to end in tests/autograder/integration/test_course_hub.py;
these pin the rules it relies on, each against an independent oracle (the file
system's own owners and change times, nbconvert running the preprocessor, traitlets
loading the written configuration).
"""

from __future__ import annotations

import json
import os
import pwd
import time
from pathlib import Path

import nbformat
import pytest
from jupyter_client.kernelspec import NoSuchKernel
from nbconvert.exporters import NotebookExporter
from traitlets.config.loader import PyFileConfigLoader

from gradkit_autograder.hub import layout
from gradkit_autograder.hub.exchange import inbound_submissions
from gradkit_autograder.hub.formgrader import REFUSAL, GradeInTheSandbox, NoKernels
from gradkit_autograder.hub.settings import HubSettings, hub_settings
from gradkit_autograder.state.course import Course, CourseError

KIT_COURSE = Path(__file__).resolve().parents[3] / "course"
needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="makes files owned by other accounts")


def _course_with(tmp_path: Path, hub_lines: str, roster: str = "id\nada\nalan\n") -> Course:
    (tmp_path / "course").mkdir()
    text = (KIT_COURSE / "nbgrader_config.py").read_text().split("c.CourseHub.")[0]
    (tmp_path / "course" / "nbgrader_config.py").write_text(text + "\n" + hub_lines + "\n")
    (tmp_path / "course" / "roster.csv").write_text(roster)
    return Course.open(tmp_path / "course")


# --- settings ------------------------------------------------------------------------------

def test_the_hub_settings_come_from_the_course_and_its_roster(tmp_path):
    course = _course_with(tmp_path, 'c.CourseHub.instructors = ["hinton"]\nc.CourseHub.tas = ["lecun"]\n'
                                    'c.CourseHub.port = 9000')
    s = hub_settings(course)
    assert s.students == ("ada", "alan") and s.staff == ("hinton", "lecun")
    assert (s.port, s.hub_api_port, s.proxy_api_port, s.formgrader_port) == (9000, 9001, 9002, 9003)
    assert s.course_account == "grader-gradkit" and s.staff_group == "formgrade-gradkit"
    assert s.ip == "127.0.0.1"


@pytest.mark.parametrize("lines, names", [
    ("", "instructors"),
    ('c.CourseHub.instructors = ["Hinton!"]', "Hinton!"),
    ('c.CourseHub.instructors = ["hinton"]\nc.CourseHub.prot = 9000', "prot"),
    ('c.CourseHub.instructors = ["hinton"]\nc.CourseHub.port = 65534', "port"),
    ('c.CourseHub.instructors = ["hinton"]\nc.CourseHub.state_dir = "relative/dir"', "state_dir"),
    ('c.CourseHub.instructors = ["hinton"]\nc.CourseHub.course_account = "hinton"', "hinton"),
])
def test_a_bad_hub_setting_is_named(tmp_path, lines, names):
    with pytest.raises(CourseError, match=names.replace("!", "\\!")):
        hub_settings(_course_with(tmp_path, lines))


def test_a_roster_id_that_cannot_be_a_login_is_named(tmp_path):
    with pytest.raises(CourseError, match="Ada Lovelace"):
        hub_settings(_course_with(tmp_path, 'c.CourseHub.instructors = ["hinton"]', "id\nAda Lovelace\n"))


# --- the exchange: whose submission, and when ------------------------------------------------------

def _submission(inbound: Path, name: str, owner: str, claimed: str) -> Path:
    folder = inbound / name
    folder.mkdir()
    (folder / "warmup.ipynb").write_text("{}")
    (folder / "timestamp.txt").write_text(claimed)
    uid = pwd.getpwnam(owner).pw_uid
    for path in (folder, folder / "warmup.ipynb", folder / "timestamp.txt"):
        os.lchown(path, uid, uid)
    return folder


@needs_root
def test_a_submission_counts_for_the_account_that_made_it_at_the_time_it_arrived(tmp_path):
    inbound = tmp_path / "course" / "inbound"
    inbound.mkdir(parents=True)
    before = time.time()
    _submission(inbound, "nobody+a0+2020-01-01 00:00:00.000000 UTC+abc", "nobody", "2020-01-01 00:00:00.000000 UTC")
    _submission(inbound, "daemon+a0+2020-01-01 00:00:00.000000 UTC+def", "nobody", "2020-01-01 00:00:00.000000 UTC")
    forged_link = _submission(inbound, "nobody+a1+2020-01-02 00:00:00.000000 UTC+ghi", "nobody", "2020")
    os.symlink("/etc/shadow", forged_link / "stolen.txt")
    os.lchown(forged_link / "stolen.txt", pwd.getpwnam("nobody").pw_uid, pwd.getpwnam("nobody").pw_uid)

    read = inbound_submissions(tmp_path / "course")
    by_key = {(s.student, s.assignment): s for s in read.latest}
    assert set(by_key) == {("nobody", "a0"), ("nobody", "a1")}        # daemon's was made by nobody
    assert any(name.startswith("daemon+") and "not made by daemon" in why for name, why in read.refused)
    received = by_key[("nobody", "a0")].received.timestamp()
    assert received >= before - 1                                   # its arrival, not the 2020 it claims
    assert by_key[("nobody", "a0")].claimed.startswith("2020-01-01")
    assert "stolen.txt" not in by_key[("nobody", "a1")].files
    assert any("stolen.txt" in name for name, _ in read.refused)


@needs_root
def test_the_newest_arrival_wins(tmp_path):
    inbound = tmp_path / "course" / "inbound"
    inbound.mkdir(parents=True)
    first = _submission(inbound, "nobody+a0+2030-01-01 00:00:00.000000 UTC+aaa", "nobody", "2030")
    time.sleep(0.05)
    second = _submission(inbound, "nobody+a0+2020-01-01 00:00:00.000000 UTC+bbb", "nobody", "2020")
    (second / "warmup.ipynb").write_text('{"second": 1}')
    read = inbound_submissions(tmp_path / "course", "a0")
    assert [s.folder for s in read.latest] == [second], (first, second)


# --- what each role's server loads ------------------------------------------------------------------

def test_each_role_gets_its_panels_and_the_grader_its_rules(tmp_path):
    s = HubSettings(course_id="dl", course_dir=tmp_path, instructors=("hinton",), state_dir=tmp_path / "state",
                    exchange_root=tmp_path / "exchange")
    layout.write_role_dirs(s)
    servers = {r: json.loads((s.role_dir(r) / "jupyter_server_config.json").read_text())["ServerApp"]
               for r in ("student", "staff", "grader")}
    on = {r: {k.rsplit(".", 1)[1] for k, v in cfg["jpserver_extensions"].items() if v} for r, cfg in servers.items()}
    assert on == {"student": {"assignment_list", "validate_assignment"},
                  "staff": {"assignment_list", "validate_assignment", "course_list"},
                  "grader": {"validate_assignment", "formgrader"}}
    assert "frame-ancestors 'self'" in json.dumps(servers["grader"])
    assert servers["grader"]["terminals_enabled"] is False and servers["grader"]["kernel_spec_manager_class"].endswith(
        "NoKernels") and "terminals_enabled" not in servers["student"]
    lab = json.loads((s.role_dir("student") / "labconfig" / "page_config.json").read_text())["disabledExtensions"]
    assert lab["@jupyter/nbgrader:formgrader"] and not lab["@jupyter/nbgrader:assignment-list"]
    for role in ("student", "staff"):
        nb = PyFileConfigLoader("nbgrader_config.py", path=str(s.role_dir(role))).load_config()
        assert nb.Exchange.root == str(tmp_path / "exchange") and nb.CourseDirectory.course_id == "dl"
        assert nb.ExchangeFactory.submit.endswith("PrivateSubmit")
    for name in ("nbgrader_config.py", "jupyter_server_config.py"):   # the CLI and the formgrader alike
        grader = PyFileConfigLoader(name, path=str(s.role_dir("grader"))).load_config()
        assert grader.HTMLExporter.sanitize_html is True
        assert GradeInTheSandbox in grader.Autograde.autograde_preprocessors
        assert not any(p.__name__ == "Execute" for p in grader.Autograde.autograde_preprocessors)


def test_the_formgrader_server_knows_no_kernel():
    specs = NoKernels()
    assert specs.find_kernel_specs() == {} and specs.get_all_specs() == {}
    with pytest.raises(NoSuchKernel):
        specs.get_kernel_spec("python3")    # the native kernel, which a plain manager always finds


def test_the_formgrader_refuses_to_run_a_notebook():
    exporter = NotebookExporter()
    exporter.register_preprocessor(GradeInTheSandbox)     # as nbgrader registers its own: not enabled by hand
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("open('/course/gradebook.db', 'w')")])
    with pytest.raises(RuntimeError, match="gradkit grade"):
        exporter.from_notebook_node(notebook)
    assert "gradkit collect --exchange" in REFUSAL
