"""JupyterHub's configuration for a course, built from its ``c.CourseHub`` settings.

The generated ``jupyterhub_config.py`` calls ``configure(c, course_dir)``, so the hub
always starts from the course's current settings. What it sets up:

- PAM logins for the roster's students and the staff (instructors are hub admins);
- groups: ``formgrade-<course>`` (staff) and ``nbgrader-<course>`` (students), as
  nbgrader names them; a role gives the staff group access to the formgrader;
- services: the shared formgrader (``jupyterhub-singleuser`` as the course account,
  in the course folder, with the grader role's settings), jupyterhub-idle-culler, and
  ``gradkit-cli``, whose token in the private folder lets ``gradkit hub`` manage users;
- every user's server through ``CourseSpawner`` (role settings, tools on PATH, cgroup);
- the server tokens may reach the course's service, which the staff's Courses panel
  needs to find the formgrader (a student's token gets nothing from it: the hub
  grants a token no more than its owner has).
"""

from __future__ import annotations

import pwd
import sys
from pathlib import Path

from gradkit_autograder.hub.layout import cgroup_prefix, cli_token, private_folder, proxy_command, write
from gradkit_autograder.hub.settings import HubSettings, hub_settings
from gradkit_autograder.state.course import Course


def write_hub_config(settings: HubSettings) -> Path:
    """``private/jupyterhub_config.py``: it calls ``configure`` when the hub starts."""
    path = private_folder(settings) / "jupyterhub_config.py"
    write(path, "\n".join([
        "# written by `gradkit hub start`: the hub of the course below, configured from its",
        f"# c.CourseHub settings ({__name__}). Edit those, not this file.",
        f"from {__name__} import {configure.__name__}",
        "",
        f"{configure.__name__}(c, {str(settings.course_dir)!r})  # noqa: F821",
        ""]), 0o600)
    return path


def configure(c, course_dir: str) -> None:
    """Set up JupyterHub's config object ``c`` for the course in ``course_dir``."""
    from gradkit_autograder.hub.spawner import CourseSpawner   # imports JupyterHub: only inside the hub

    s = hub_settings(Course.open(course_dir))
    tools = str(Path(sys.executable).parent)
    private = s.private_dir
    path = ":".join([tools, "/usr/local/bin", "/usr/bin", "/bin"])

    c.JupyterHub.ip = s.ip
    c.JupyterHub.port = s.port
    c.JupyterHub.hub_ip = "127.0.0.1"
    c.JupyterHub.hub_port = s.hub_api_port
    c.ConfigurableHTTPProxy.api_url = f"http://127.0.0.1:{s.proxy_api_port}"
    c.ConfigurableHTTPProxy.command = [proxy_command()]
    c.ConfigurableHTTPProxy.pid_file = str(private / "proxy.pid")
    c.JupyterHub.db_url = f"sqlite:///{private / 'jupyterhub.sqlite'}"
    c.JupyterHub.cookie_secret_file = str(private / "cookie_secret")
    c.JupyterHub.pid_file = str(private / "hub.pid")
    c.JupyterHub.cleanup_servers = True
    c.JupyterHub.cleanup_proxy = True

    c.JupyterHub.authenticator_class = "pam"
    c.PAMAuthenticator.open_sessions = False
    c.Authenticator.allowed_users = set(s.users)
    c.Authenticator.admin_users = set(s.instructors)
    c.JupyterHub.load_groups = {s.staff_group: {"users": list(s.staff)},
                                s.student_group: {"users": list(s.students)}}
    service = s.course_id
    c.JupyterHub.load_roles = [
        {"name": "course-staff", "groups": [s.staff_group],
         "scopes": [f"access:services!service={service}", f"read:services!service={service}", "list:services"]},
        {"name": "idle-culler", "services": ["idle-culler"],
         "scopes": ["list:users", "read:users:activity", "read:servers", "delete:servers"]},
        {"name": "gradkit-cli", "services": ["gradkit-cli"],
         "scopes": ["admin:users", "admin:servers", "admin:groups", "tokens", "list:services", "read:services",
                    "access:servers", "access:services"]},
    ]
    course_home = pwd.getpwnam(s.course_account).pw_dir
    c.JupyterHub.services = [
        {"name": service, "url": f"http://127.0.0.1:{s.formgrader_port}", "oauth_no_confirm": True,
         "command": [f"{tools}/jupyterhub-singleuser", f"--ServerApp.root_dir={s.course_dir}"],
         "user": s.course_account, "cwd": str(s.course_dir),
         "environment": {"JUPYTER_CONFIG_PATH": str(s.role_dir("grader")), "PATH": path, "HOME": course_home}},
        {"name": "idle-culler",
         "command": [sys.executable, "-m", "jupyterhub_idle_culler", f"--timeout={s.idle_timeout_s}"]},
        {"name": "gradkit-cli", "api_token": cli_token(s)},
    ]

    c.JupyterHub.spawner_class = CourseSpawner
    c.Spawner.cmd = [f"{tools}/jupyterhub-singleuser"]
    c.Spawner.default_url = "/lab"
    c.Spawner.mem_limit = f"{s.memory_mb}M"
    c.Spawner.cpu_limit = s.cpus
    c.Spawner.http_timeout = 120
    c.Spawner.start_timeout = 120
    c.Spawner.server_token_scopes = ["users:activity!user", "access:servers!server", "read:users:name!user",
                                     f"access:services!service={service}"]
    c.CourseSpawner.role_dirs = {"student": str(s.role_dir("student")), "staff": str(s.role_dir("staff"))}
    c.CourseSpawner.staff_groups = [s.staff_group]
    c.CourseSpawner.tool_bin = tools
    c.CourseSpawner.cgroup_prefix = cgroup_prefix(s)
