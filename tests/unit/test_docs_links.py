"""Links between the docs lead somewhere: every relative link names a file that exists, and every
`#anchor` a heading of the page it points to (as GitHub makes anchors from headings)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.unit.test_docs_markdown import ROOT, documentation_files, prose

LINK = re.compile(r"\]\((?P<target>[^)\s]+)\)")


def anchors(page: Path) -> set[str]:
    """The anchors GitHub gives the headings of `page`: lower case, punctuation dropped,
    spaces as hyphens (code blocks are not headings)."""
    found = set()
    for heading in re.findall(r"^#{1,6} +(.+?) *$", prose(page), re.M):
        slug = re.sub(r"[^\w\- ]", "", heading.lower().replace("`", "")).replace(" ", "-")
        found.add(slug)
    return found


def links() -> list[tuple[str, Path, str]]:
    found = []
    for page in documentation_files():
        for match in LINK.finditer(prose(page)):
            target = match["target"]
            if not re.match(r"[a-z]+:", target):
                found.append((f"{page.relative_to(ROOT)}: {target}", page, target))
    return found


@pytest.mark.parametrize(("where", "page", "target"), links(), ids=[link[0] for link in links()])
def test_a_relative_link_leads_to_a_file_and_heading(where: str, page: Path, target: str) -> None:
    path, _, anchor = target.partition("#")
    destination = (page.parent / path).resolve() if path else page
    assert destination.exists(), f"{where}: {destination} does not exist"
    if anchor and destination.suffix == ".md":
        assert anchor in anchors(destination), f"{where}: no heading makes #{anchor}"
