"""What the browser tests need: Debian's chromium, playwright-core from npm, node.

``need_browser()`` skips a test that lacks them, saying what to install (`make
browser-deps`), except under CI, where `.ci/run` installs them first: there a missing
piece fails the test, so a browser test never passes by skipping.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from support import REPO

BROWSER_DIR = REPO / "tests" / "support" / "browser"
CHROMIUM = os.environ.get("GRADKIT_CHROMIUM", "/usr/bin/chromium")


def need_browser() -> None:
    missing = [what for what, ok in (
        (CHROMIUM, Path(CHROMIUM).exists()),
        ("tests/support/browser/node_modules/playwright-core", (BROWSER_DIR / "node_modules" / "playwright-core").is_dir()),
        ("node", shutil.which("node") is not None)) if not ok]
    if missing:
        why = f"the browser test needs {', '.join(missing)}: run `make browser-deps`"
        if os.environ.get("CI"):   # CI installs them (.ci/run: make browser-deps), so there it must run
            pytest.fail(why)
        pytest.skip(why)
