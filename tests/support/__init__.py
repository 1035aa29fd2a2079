"""What several test files share: the repository's paths and the scripted students."""

from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
REPO_COURSE = REPO / "course"
