"""The documentation: a short front page whose links all lead somewhere, and pages without history notes."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).parents[3]
LINK = re.compile(r"\]\(([^)#\s]+)(?:#[^)]*)?\)")


def test_the_readme_is_a_front_page_of_at_most_150_lines() -> None:
    assert len((ROOT / "README.md").read_text().splitlines()) <= 150


def test_every_relative_link_of_the_readme_leads_to_a_file() -> None:
    targets = [target for target in LINK.findall((ROOT / "README.md").read_text()) if "://" not in target]
    assert targets, "the README links to the documentation's pages"
    assert [target for target in targets if not (ROOT / target).exists()] == []


def test_every_page_is_in_the_documentations_navigation() -> None:
    nav = (ROOT / "mkdocs.yml").read_text()
    pages = {path.name for path in (ROOT / "docs").glob("*.md")}
    assert {page for page in pages if f": {page}" not in nav} == set()


def test_the_pages_tell_what_is_not_the_history_of_how_it_came() -> None:
    history = re.compile(r"\bissue \d+|\bthe issue\b|\bI (have|had|did|found|think)\b", re.IGNORECASE)
    found = {
        path.name: history.findall(path.read_text())
        for path in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
        if history.search(path.read_text())
    }
    assert found == {}
