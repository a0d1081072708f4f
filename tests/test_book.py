"""The built book: strict, complete and self-contained (nothing is loaded from another host)."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest
import yaml

from tests.conftest import ROOT

ANSI = re.compile(r"\x1b\[[0-9;]*m")
# The kernels print this to stderr on start-up; it is not a Sphinx warning.
KERNEL_NOISE = re.compile(r"^\[IPKernelApp\] (WARNING \| Kernel is running over TCP|ERROR \| KeyboardInterrupt)")


def toc_files() -> list[str]:
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    files = [toc["root"]]
    for part in toc.get("parts", []):
        files += [chapter["file"] for chapter in part.get("chapters", [])]
    return files


def chapter_files() -> list[str]:
    return [f for f in toc_files() if f.startswith("notebooks/")]


def test_strict_build_succeeds_without_warnings(strict_build):
    log = ANSI.sub("", strict_build["stdout"] + strict_build["stderr"])
    problems = [
        line
        for line in log.splitlines()
        if re.search(r"\b(WARNING|ERROR)\b", line) and not KERNEL_NOISE.match(line)
    ]
    assert strict_build["returncode"] == 0, log[-5000:]
    assert "build succeeded" in log
    assert problems == []


def test_every_toc_entry_is_a_page(built_html):
    for name in toc_files():
        assert (built_html / f"{name}.html").is_file(), name
    assert (built_html / "index.html").is_file()


def test_every_chapter_is_in_the_toc():
    listed = set(chapter_files())
    on_disk = {f"notebooks/{p.stem}" for p in (ROOT / "notebooks").glob("*.md")}
    assert on_disk == listed


def test_execution_status_lists_every_chapter_as_succeeded(built_html):
    page = (built_html / "execution-status.html").read_text(encoding="utf-8")
    rows = re.findall(r"<tr[^>]*>(.*?)</tr>", page, flags=re.S)
    for chapter in chapter_files():
        row = next((r for r in rows if f"{chapter}.html" in r or chapter in r), None)
        assert row is not None, f"{chapter} missing from the execution table"
        status = re.sub(r"<[^>]+>", " ", row).split()[-1]
        assert status == "ok", f"{chapter} did not execute successfully: {row}"
    # the status is a word, not an emoji that shows as a box without an emoji font
    assert "\u2705" not in page and "\u274c" not in page


class ResourceCollector(HTMLParser):
    """Every URL an HTML page makes the browser fetch (not the links a reader may click)."""

    LOADING = {
        ("script", "src"), ("img", "src"), ("iframe", "src"), ("source", "src"), ("video", "src"),
        ("audio", "src"), ("embed", "src"), ("object", "data"), ("video", "poster"), ("input", "src"),
    }

    def __init__(self):
        super().__init__()
        self.urls: list[str] = []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        for t, attr in self.LOADING:
            if tag == t and attrs.get(attr):
                self.urls.append(attrs[attr])
        if tag == "link" and attrs.get("href"):
            rel = (attrs.get("rel") or "").lower()
            if rel not in {"index", "search", "next", "prev", "canonical", "alternate", "author", "license"}:
                self.urls.append(attrs["href"])
        for attr in ("srcset",):
            if attrs.get(attr):
                self.urls += [part.strip().split()[0] for part in attrs[attr].split(",") if part.strip()]
        if attrs.get("style"):
            self.urls += css_urls(attrs["style"])
        for attr in ("data-jupyter-widgets-cdn",):
            if attr in attrs:
                self.urls.append(attrs[attr] or "")


def css_urls(css: str) -> list[str]:
    found = re.findall(r"url\(\s*['\"]?([^'\")]+)['\"]?\s*\)", css)
    found += re.findall(r"@import\s+['\"]([^'\"]+)['\"]", css)
    return [u for u in found if not u.startswith("data:")]


def is_external(url: str) -> bool:
    parts = urlsplit(url)
    return bool(parts.scheme in {"http", "https", "ftp", "ws", "wss"} or url.startswith("//"))


def resolve_local(page: Path, url: str, root: Path) -> Path | None:
    path = unquote(urlsplit(url).path)
    if not path or url.startswith(("data:", "#", "mailto:", "javascript:")):
        return None
    return (root / path.lstrip("/")) if path.startswith("/") else (page.parent / path)


def site_pages(html: Path) -> list[Path]:
    """The HTML pages of the site (theme templates under _static are not pages)."""
    return sorted(p for p in html.rglob("*.html") if p.relative_to(html).parts[0] != "_static")


def test_no_page_loads_anything_from_another_host(built_html):
    offenders, missing = [], []
    pages = site_pages(built_html)
    assert pages
    for page in pages:
        collector = ResourceCollector()
        collector.feed(page.read_text(encoding="utf-8"))
        for url in collector.urls:
            if is_external(url):
                offenders.append(f"{page.relative_to(built_html)}: {url}")
                continue
            local = resolve_local(page, url, built_html)
            if local is not None and not local.exists():
                missing.append(f"{page.relative_to(built_html)}: {url}")
    for sheet in sorted(built_html.rglob("*.css")):
        for url in css_urls(sheet.read_text(encoding="utf-8", errors="replace")):
            if is_external(url):
                offenders.append(f"{sheet.relative_to(built_html)}: {url}")
    assert offenders == []
    assert missing == []


@pytest.mark.parametrize("cdn", ["cdn.jsdelivr.net", "cdnjs.cloudflare.com", "unpkg.com", "googleapis.com"])
def test_no_page_mentions_a_cdn(built_html, cdn):
    pages = [p for p in site_pages(built_html) if cdn in p.read_text(encoding="utf-8")]
    assert pages == []


def test_math_and_widget_scripts_are_served_by_the_site(built_html):
    for asset in ("mathjax/tex-mml-chtml.js", "requirejs/require.js", "html-manager/embed-amd.js"):
        assert (built_html / "_static" / "offline" / asset).is_file(), asset
    pages_with_widgets = [
        p for p in site_pages(built_html)
        if "application/vnd.jupyter.widget-state+json" in p.read_text(encoding="utf-8")
    ]
    assert pages_with_widgets, "no chapter embeds widget state"
    for page in pages_with_widgets:
        text = page.read_text(encoding="utf-8")
        assert "_static/offline/html-manager/embed-amd.js" in text
        assert "_static/offline/requirejs/require.js" in text


def test_chapters_show_figures_and_typeset_math_sources(built_html):
    for chapter in chapter_files():
        page = (built_html / f"{chapter}.html").read_text(encoding="utf-8")
        assert "_static/offline/mathjax/tex-mml-chtml.js" in page, chapter
        images = re.findall(r'<img[^>]+src="([^"]+\.png)"', page)
        assert images, f"{chapter} shows no figure"
        assert "Traceback (most recent call last)" not in page, chapter
