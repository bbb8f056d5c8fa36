"""The HTML report opened in headless Chromium: what a reviewer sees, with and without its
script, and that a hostile output stays text and nothing runs or loads."""

from __future__ import annotations

from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from pytest_llmeval.report.html import html_report
from tests.browser.chromium import dump_dom, requested_urls, screenshot
from tests.factories import flipped_runs


class Dom(HTMLParser):
    """The dumped DOM: every element's tag and attributes in order, and the page's text."""

    def __init__(self, html: str) -> None:
        super().__init__(convert_charrefs=True)
        self.elements: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []
        self.titles: list[str] = []  # the page's, then those of the charts' bars
        self._in_title = False
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.elements.append((tag, dict(attrs)))
        self._in_title = tag == "title"
        if self._in_title:
            self.titles.append("")

    def handle_endtag(self, tag: str) -> None:
        self._in_title = False

    def handle_data(self, data: str) -> None:
        self.text.append(data)
        if self._in_title:
            self.titles[-1] += data

    @property
    def title(self) -> str:
        return self.titles[0] if self.titles else ""

    def with_class(self, name: str) -> list[dict[str, str | None]]:
        return [attrs for _, attrs in self.elements if name in (attrs.get("class") or "").split()]

    def ids(self) -> list[str]:
        return [str(attrs["id"]) for _, attrs in self.elements if attrs.get("id")]

    def by_id(self, name: str) -> dict[str, str | None]:
        return next(attrs for _, attrs in self.elements if attrs.get("id") == name)


@pytest.fixture
def page(tmp_path: Path) -> Path:
    report, baseline = flipped_runs(regressed=3)
    path = tmp_path / "report.html"
    path.write_text(html_report(report, baseline=baseline), encoding="utf-8")
    return path


def test_the_verdict_and_flipped_cases_come_first_and_nothing_runs(
    page: Path, tmp_path: Path
) -> None:
    dom = Dom(dump_dom(page, tmp_path / "js"))

    assert dom.title == "llmeval gate: BLOCK"  # the hostile <script> would have changed it
    body = next(attrs for tag, attrs in dom.elements if tag == "body")
    assert "data-pwned" not in body
    assert [tag for tag, _ in dom.elements].count("script") == 1
    assert not any(tag == "img" for tag, _ in dom.elements)
    ids = dom.ids()
    assert ids[0] == "verdict"
    flips = [name for name in ids if name.startswith("flip-")]
    cases = [name for name in ids if name.startswith("case-")]
    assert len(flips) == 3 and len(cases) == 10
    assert ids.index(flips[-1]) < ids.index(cases[0])
    assert [attrs["data-direction"] for attrs in dom.with_class("flip")] == ["worse"] * 3
    text = "".join(dom.text)
    assert "<script>document.title='pwned'</script>" in text
    assert '<img src=x onerror="document.body.dataset.pwned=1">' in text
    assert "\\x1b[31mred" in text
    assert dom.by_id("filter-status")["data-shown"] == "10"
    assert screenshot(page, tmp_path / "shot").stat().st_size > 10_000


@pytest.mark.parametrize(
    ("fragment", "shown"),
    [
        ("filter=outcome:failed", 3),
        ("filter=outcome:passed", 7),
        ("filter=outcome:failed,category:no_json_start", 3),
        ("filter=group:intent,outcome:error", 0),
        ("search=case-7]", 1),
        ("filter=outcome:passed&search=LOGIN", 7),
    ],
)
def test_the_filters_show_only_the_matching_cases(
    page: Path, tmp_path: Path, fragment: str, shown: int
) -> None:
    dom = Dom(dump_dom(page, tmp_path, fragment=fragment))

    cases = dom.with_class("case")
    visible = [attrs for attrs in cases if "hidden" not in attrs]
    assert len(visible) == shown
    assert dom.by_id("filter-status")["data-shown"] == str(shown)
    assert "hidden" not in dom.by_id("filters")
    if "outcome:failed" in fragment:
        assert all(attrs["data-outcome"] == "failed" for attrs in visible)


def test_without_javascript_the_verdict_and_flipped_cases_are_there(
    page: Path, tmp_path: Path
) -> None:
    dom = Dom(dump_dom(page, tmp_path, script=False))

    text = "".join(dom.text)
    assert "llmeval gate: BLOCK" in text
    assert "Flipped against the baseline: 3 worse, 0 better" in text
    assert len(dom.with_class("flip")) == 3
    assert "hidden" in dom.by_id("filters")  # no script, no filters to offer
    assert not any("hidden" in attrs for attrs in dom.with_class("case"))


def test_the_page_asks_the_network_for_nothing(page: Path, tmp_path: Path) -> None:
    urls = requested_urls(page, tmp_path)

    assert urls, "the network log names no URL at all: it was not written"
    page_urls: list[Any] = [url for url in urls if "evil.example" in url or url.endswith("/x")]
    assert page_urls == []
    assert not [
        url for url in urls if url.startswith("file:") and not url.startswith(page.as_uri())
    ]
