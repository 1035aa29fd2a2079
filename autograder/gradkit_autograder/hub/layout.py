"""The hub's files on disk: its state folder, the per-role settings, the exchange, the proxy.

::

    <state_dir>/                      0755
        private/                      0700 root: jupyterhub_config.py, the hub's database,
                                           cookie secret, the CLI's token, pid files, logs,
                                           first passwords
        roles/student/                0755 JUPYTER_CONFIG_PATH of students' servers
        roles/staff/                  0755 ... of the instructors' and TAs' servers
        roles/grader/                 0755 ... of the shared formgrader (the course account)

Each role folder holds ``jupyter_server_config.json`` (which nbgrader server
extensions run), ``labconfig/page_config.json`` (which of its JupyterLab panels show)
and ``nbgrader_config.py`` (the course id and the exchange; nbgrader reads it from
the Jupyter config path). The course folder and its sources (the solutions) are
handed to the course account, mode 0700, so that no other account reads them.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
from pathlib import Path

from gradkit_autograder.hub.exchange import PrivateSubmit
from gradkit_autograder.hub.formgrader import GradeInTheSandbox, NoKernels
from gradkit_autograder.hub.settings import HubSettings
from gradkit_autograder.state.course import Course, CourseError, give_files_to

PROXY_PACKAGE = Path(__file__).resolve().parents[2] / "hub_proxy"   # <repo>/autograder/hub_proxy
PROXY_BIN = PROXY_PACKAGE / "node_modules" / ".bin" / "configurable-http-proxy"
TOKEN_FILE = "cli_token"

# Which of nbgrader's server extensions and JupyterLab panels each role gets.
ROLE_PANELS = {
    "student": {"assignment_list": True, "validate_assignment": True, "course_list": False, "formgrader": False},
    "staff": {"assignment_list": True, "validate_assignment": True, "course_list": True, "formgrader": False},
    "grader": {"assignment_list": False, "validate_assignment": True, "course_list": False, "formgrader": True},
}
LAB_PANELS = {   # server extension -> the JupyterLab plugins that need it
    "assignment_list": ["@jupyter/nbgrader:assignment-list"],
    "course_list": ["@jupyter/nbgrader:course-list"],
    "formgrader": ["@jupyter/nbgrader:formgrader", "@jupyter/nbgrader:create-assignment"],
}


def proxy_command() -> str:
    """configurable-http-proxy: on PATH, or installed from npm into the kit's hub_proxy folder."""
    found = shutil.which("configurable-http-proxy")
    if found:
        return found
    if not PROXY_BIN.exists():
        if not shutil.which("npm"):
            raise CourseError("JupyterHub needs configurable-http-proxy (npm) and npm is not installed: "
                              "install Node.js and npm (Debian: apt-get install nodejs npm), or run `make hub-deps`")
        done = subprocess.run(["npm", "install", "--no-audit", "--no-fund", "--prefix", str(PROXY_PACKAGE)],
                              capture_output=True, text=True)
        if done.returncode or not PROXY_BIN.exists():
            raise CourseError(f"installing configurable-http-proxy with npm into {PROXY_PACKAGE} failed: "
                              f"{(done.stderr or done.stdout).strip()[-500:]}")
    return str(PROXY_BIN)


def write(path: Path, text: str, mode: int = 0o644) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    os.chmod(path, mode)


# The formgrader's rules: nbgrader's command line reads them from nbgrader_config.py, the
# formgrader (a Jupyter server extension) from jupyter_server_config.py; both get these lines.
GRADER_RULES = f"""\
# a student's output is data, not code, in the graders' pages
c.HTMLExporter.sanitize_html = True
# the formgrader never runs a student's notebook as the course account (gradkit grade does, sandboxed)
from nbgrader.converters.autograde import Autograde
from {GradeInTheSandbox.__module__} import {GradeInTheSandbox.__name__}
c.Autograde.autograde_preprocessors = [{GradeInTheSandbox.__name__} if p.__name__ == "Execute" else p
                                       for p in Autograde.class_traits()["autograde_preprocessors"].default()]
"""


def dotted(cls: type) -> str:
    """The name by which a configuration file names ``cls``."""
    return f"{cls.__module__}.{cls.__qualname__}"


def _header(settings: HubSettings, role: str) -> str:
    return (f"# written by `gradkit hub start` for the {role} role; edit c.CourseHub in "
            f"{settings.course_dir}/nbgrader_config.py\nc = get_config()  # noqa: F821\n")


def _nbgrader_config(settings: HubSettings, role: str) -> str:
    text = _header(settings, role) + (f"c.CourseDirectory.course_id = {settings.course_id!r}\n"
                                      f"c.Exchange.root = {str(settings.exchange_root)!r}\n")
    if role != "grader":
        return text + f"c.ExchangeFactory.submit = {dotted(PrivateSubmit)!r}\n"
    return text + GRADER_RULES


def write_role_dirs(settings: HubSettings) -> None:
    for role, panels in ROLE_PANELS.items():
        folder = settings.role_dir(role)
        folder.mkdir(parents=True, exist_ok=True)
        os.chmod(folder, 0o755)
        server = {"ServerApp": {"jpserver_extensions": {
            f"nbgrader.server_extensions.{name}": on for name, on in panels.items()}}}
        if role == "grader":
            # JupyterHub forbids framing; the staff's Courses panel opens the formgrader in a frame.
            server["ServerApp"]["tornado_settings"] = {"headers": {
                "Content-Security-Policy": "frame-ancestors 'self'"}}
            # the formgrader's server is for grading: no shell and no kernel as the course account
            server["ServerApp"]["terminals_enabled"] = False
            server["ServerApp"]["kernel_spec_manager_class"] = dotted(NoKernels)
        disabled = {plugin: not panels[name] for name, plugins in LAB_PANELS.items() for plugin in plugins}
        disabled["@jupyter/nbgrader:menu"] = False
        write(folder / "jupyter_server_config.json", json.dumps(server, indent=2) + "\n")
        write(folder / "labconfig" / "page_config.json", json.dumps({"disabledExtensions": disabled}, indent=2) + "\n")
        write(folder / "nbgrader_config.py", _nbgrader_config(settings, role))
        if role == "grader":
            write(folder / "jupyter_server_config.py", _header(settings, role) + GRADER_RULES)


def private_folder(settings: HubSettings) -> Path:
    """The root-only folder (0700), with the CLI's token made once."""
    private = settings.private_dir
    private.mkdir(parents=True, exist_ok=True)
    os.chmod(settings.state_dir, 0o755)
    os.chmod(private, 0o700)
    token = private / TOKEN_FILE
    if not token.exists():
        write(token, secrets.token_hex(32), 0o600)
    return private


def cgroup_prefix(settings: HubSettings) -> str:
    """The prefix of this course's user-server cgroups (``CourseSpawner``)."""
    return f"gradkit-hub.{settings.course_id}"


def cli_token(settings: HubSettings) -> str:
    return (settings.private_dir / TOKEN_FILE).read_text().strip()


def hand_to_course_account(course: Course, settings: HubSettings, uid: int, gid: int) -> list[Path]:
    """The course folder and its sources (the solutions) owned by the course account, closed to others.

    The graded notebooks' folder stays root's (see ``state.course.give_back_to_owner``).
    """
    source_base = course.source_dir("x").parent
    graded = course.step_dir("autograded", ".", ".")
    graded.mkdir(parents=True, exist_ok=True)
    os.chmod(graded, 0o755)
    handed = []
    for folder in (course.root, source_base):
        if not folder.is_dir():
            continue
        give_files_to(folder, uid, gid, only_roots=False, keep=(graded,))
        os.chmod(folder, 0o700)
        handed.append(folder)
    blocked = [p for p in _parents(course.root) if not os.stat(p).st_mode & 0o001]
    if blocked:
        raise CourseError(f"the course account {settings.course_account} cannot reach {course.root}: "
                          f"{blocked[0]} is closed to other accounts (mode {oct(os.stat(blocked[0]).st_mode & 0o777)}); "
                          "put the course where the course account may pass, e.g. /srv/<course>")
    return handed


def _parents(path: Path) -> list[Path]:
    return [p for p in path.parents if str(p) != "/"]


def environment_reachable() -> str:
    """'' if other accounts can run this Python environment; otherwise what stops them and the fix."""
    import sys

    needed = [Path(sys.executable).parent, Path(os.path.realpath(sys.executable)).parent, Path(sys.base_prefix)]
    for target in needed:
        for path in [target] + list(target.parents):
            if str(path) == "/":
                break
            mode = os.stat(path).st_mode
            if not mode & 0o001:
                return (f"{path} is closed to other accounts (mode {oct(mode & 0o777)}), so their servers cannot "
                        f"run {os.path.realpath(sys.executable)}: let them pass with `chmod o+x {path}` (it lets "
                        "them reach what is inside, not list it), or install the kit with a Python outside it")
    return ""
