"""The README keeps its promises to a newcomer: the two fresh-machine commands in its first lines,
and every file it links to exists."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text(encoding="utf-8")


def test_the_two_commands_come_first() -> None:
    opening = README.splitlines()[:15]
    assert any(line.startswith("bash scripts/demo.sh") for line in opening)
    assert any(line.startswith("bash scripts/test.sh") for line in opening)


def test_relative_links_point_at_files_that_exist() -> None:
    targets = re.findall(r"\]\(([^)#]+)(?:#[^)]*)?\)", README)
    local = [t for t in targets if not t.startswith(("http://", "https://"))]
    assert local, "the README links to docs and examples"
    missing = [t for t in local if not (ROOT / t).exists()]
    assert missing == []
