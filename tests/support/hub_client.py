"""A person using the course hub over HTTP, as a browser would: PAM login, then APIs with a token.

``HubUser.login`` posts the hub's login form (the password goes through PAM to the
Unix account), then asks the hub for an API token with the login cookie; every
later call carries that token: the hub's REST API (start the server), the person's
own server (contents, nbgrader's assignment list: fetch, submit, fetch feedback) and
the course's formgrader service. Every wait has a deadline.
"""

from __future__ import annotations

import json
import time
import urllib.parse
from dataclasses import dataclass, field

import requests

SPAWN_DEADLINE_S = 180.0


@dataclass
class HubUser:
    base: str                     # http://127.0.0.1:<port>
    name: str
    token: str = ""
    http: requests.Session = field(default_factory=requests.Session)

    @classmethod
    def login(cls, base: str, name: str, password: str) -> "HubUser":
        user = cls(base, name)
        page = user.http.get(f"{base}/hub/login", timeout=30)
        page.raise_for_status()
        xsrf = user.http.cookies.get("_xsrf", "")
        done = user.http.post(f"{base}/hub/login?next=", data={"username": name, "password": password,
                                                                "_xsrf": xsrf}, allow_redirects=False, timeout=60)
        if done.status_code not in (302, 303):
            raise PermissionError(f"{name}: the hub refused the login ({done.status_code})")
        user.http.get(f"{base}/hub/token", timeout=30).raise_for_status()   # the login's own xsrf cookie
        xsrf = user.http.cookies.get("_xsrf", path="/hub/")
        made = user.http.post(f"{base}/hub/api/users/{name}/tokens", json={"note": "test", "expires_in": 3600},
                              headers={"X-XSRFToken": xsrf, "Referer": f"{base}/hub/token"}, timeout=30)
        made.raise_for_status()
        user.token = made.json()["token"]
        return user

    # --- plain calls ---------------------------------------------------------------------
    def call(self, method: str, path: str, **kw) -> requests.Response:
        headers = dict(kw.pop("headers", {}), Authorization=f"token {self.token}")
        return requests.request(method, f"{self.base}{path}", headers=headers, timeout=kw.pop("timeout", 120), **kw)

    def hub(self, method: str, path: str, **kw) -> requests.Response:
        return self.call(method, f"/hub/api{path}", **kw)

    def server(self, method: str, path: str, **kw) -> requests.Response:
        return self.call(method, f"/user/{self.name}{path}", **kw)

    # --- the person's server ----------------------------------------------------------------
    def start_server(self) -> None:
        started = self.hub("POST", f"/users/{self.name}/server")
        if started.status_code not in (201, 202, 400):   # 400: already running
            raise RuntimeError(f"{self.name}: the hub did not start the server: {started.status_code} {started.text}")
        deadline = time.monotonic() + SPAWN_DEADLINE_S
        while time.monotonic() < deadline:
            model = self.hub("GET", f"/users/{self.name}").json()
            server = model.get("servers", {}).get("", {})
            if server.get("ready"):
                return
            time.sleep(0.5)
        raise TimeoutError(f"{self.name}'s server was not ready within {SPAWN_DEADLINE_S:.0f} s")

    def assignments(self, course: str) -> list[dict]:
        listed = self.server("GET", "/assignments", params={"course_id": course})
        listed.raise_for_status()
        return json.loads(listed.text)["value"]

    def assignment_action(self, action: str, course: str, assignment: str):
        done = self.server("POST", f"/assignments/{action}", data={"course_id": course, "assignment_id": assignment})
        done.raise_for_status()
        body = json.loads(done.text)
        if not body.get("success", True):
            raise RuntimeError(f"{self.name}: {action} {assignment} failed: {body}")
        return body

    def read_file(self, path: str) -> dict:
        got = self.server("GET", f"/api/contents/{urllib.parse.quote(path)}", params={"content": 1})
        got.raise_for_status()
        return got.json()

    def write_notebook(self, path: str, notebook: dict) -> None:
        put = self.server("PUT", f"/api/contents/{urllib.parse.quote(path)}",
                          json={"type": "notebook", "format": "json", "content": notebook})
        put.raise_for_status()

    def write_text(self, path: str, text: str) -> None:
        put = self.server("PUT", f"/api/contents/{urllib.parse.quote(path)}",
                          json={"type": "file", "format": "text", "content": text})
        put.raise_for_status()
