"""Headless Debian Chromium for the tests that open the HTML report: find it, dump a page's
DOM after its script ran, take a screenshot, and log what it asked the network for."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

NOT_INSTALLED = (
    "chromium is not installed: `apt-get install chromium` (Debian); `python3 dev.py test` "
    "installs it when run as root"
)
# A guard against a browser that hangs, not a timing assertion.
GUARD_S = 180


def chromium() -> str:
    """The browser's path, or the test is skipped naming how to get it."""
    for name in ("chromium", "chromium-browser"):
        path = shutil.which(name)
        if path:
            return path
    pytest.skip(NOT_INSTALLED)


def _command(profile: Path, *, extra: list[str]) -> list[str]:
    return [
        chromium(),
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        f"--user-data-dir={profile}",
        *extra,
    ]


def dump_dom(page: Path, tmp: Path, *, fragment: str = "", script: bool = True) -> str:
    """The page's DOM as Chromium serializes it once loaded, its script run.

    `script=False` loads a copy of the page without its script element: Chromium's
    `--dump-dom` prints nothing with JavaScript switched off, as it reads the DOM with it.
    """
    tmp.mkdir(parents=True, exist_ok=True)
    if not script:
        html = page.read_text(encoding="utf-8")
        start, end = html.rindex("<script>"), html.rindex("</script>") + len("</script>")
        page = tmp / f"no-script-{page.name}"
        page.write_text(html[:start] + html[end:], encoding="utf-8")
    url = page.resolve().as_uri() + (f"#{fragment}" if fragment else "")
    command = _command(tmp / "profile", extra=["--dump-dom", url])
    done = subprocess.run(command, capture_output=True, text=True, timeout=GUARD_S, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "<html" in done.stdout, done.stderr[-2000:]
    return done.stdout


def screenshot(page: Path, tmp: Path) -> Path:
    """A 1200 x 2000 screenshot of the page, saved in `tmp`."""
    tmp.mkdir(parents=True, exist_ok=True)
    picture = tmp / "page.png"
    extra = [f"--screenshot={picture}", "--window-size=1200,2000", page.resolve().as_uri()]
    command = _command(tmp / "profile-shot", extra=extra)
    subprocess.run(command, capture_output=True, timeout=GUARD_S, check=False)
    assert picture.is_file() and picture.stat().st_size > 0
    return picture


def requested_urls(page: Path, tmp: Path) -> list[str]:
    """Every URL the browser's network log names while it loads the page."""
    tmp.mkdir(parents=True, exist_ok=True)
    log = tmp / "net-log.json"
    extra = [f"--log-net-log={log}", "--dump-dom", page.resolve().as_uri()]
    command = _command(tmp / "profile-net", extra=extra)
    subprocess.run(command, capture_output=True, timeout=GUARD_S, check=False)
    data: Any = json.loads(log.read_text(encoding="utf-8"))
    urls: list[str] = []

    def walk(value: Any) -> None:
        if isinstance(value, dict):
            for key, item in value.items():
                if key == "url" and isinstance(item, str):
                    urls.append(item)
                else:
                    walk(item)
        elif isinstance(value, list):
            for item in value:
                walk(item)

    walk(data.get("events", []))
    return urls
