"""The built smoke book, opened in a real browser: headless Chromium driven by Playwright.

Every html page of the build that ``test_book_builds_with_warnings_as_errors`` checks (the session
fixture ``built_smoke_book`` of conftest.py; one build serves both) is loaded over HTTP from a local
server, and each must

- load without an error in the browser console, an uncaught exception or a failed request;
- show every figure of its main content: the ``<img>`` is there, visible, decoded
  (``naturalWidth > 0``) and not blank (the grey-level variance of its screenshot is above
  :data:`BLANK_VARIANCE`); a chapter whose executed notebook holds images shows at least one;
- link only to pages, files and anchors that exist: every link to a local file (``page.html``,
  ``page.html#anchor``, ``#anchor``, ``_sources/...``) resolves to a file of the build, and its
  ``#anchor`` to an element id of that file.

Errors that are known, upstream and harmless are listed in :data:`IGNORED_ERRORS`, each with its
reason, and printed when they occur. One chapter's screenshot is kept as a test artifact in
``$PAPERLIB_TEST_ARTIFACTS`` (default ``<repo>/test-artifacts/``). The pages are found by globbing
the build, so new chapters are checked without touching this file; ``PAPERLIB_BOOK_HTML=book/_build/html``
checks the book ``make book`` built instead of the smoke book.

The browser is the system Chromium, ``chromium`` on the PATH (``apt-get install -y chromium``;
``$PAPERLIB_CHROMIUM`` names another binary). Playwright never downloads one here: without the binary the tests fail and say how
to install it.
"""

from __future__ import annotations

import functools
import html.parser
import io
import os
import re
import shutil
import threading
from dataclasses import dataclass, field
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urldefrag, urljoin, urlsplit

import nbformat
import pytest

REPO = Path(__file__).resolve().parents[1]

#: The whole module opens the built smoke book: `make test-fast` leaves it out.
pytestmark = pytest.mark.book

CHROMIUM = os.environ.get("PAPERLIB_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
INSTALL_CHROMIUM = "apt-get install -y chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
#: Pages of the build that are not the book's content: Sphinx's search page (it builds its results
#: with JavaScript from a query string) and the general index.
SKIPPED_PAGES = {"search.html", "genindex.html"}
#: A figure whose screenshot has a grey-level variance (0-255 scale) at or below this is blank: a
#: uniform image has 0; a matplotlib figure's axes, ticks and text alone give hundreds.
BLANK_VARIANCE = 4.0
#: Console errors and uncaught exceptions that are not failures: a regex on the whole message -> why.
#: Each match is printed with its page (pytest -s, or the captured output of the test), never dropped
#: silently; anything else fails. Add an entry only with its reason.
IGNORED_ERRORS: dict[str, str] = {
    r"^Identifier 'THEBE_JS_URL' has already been declared$": (
        "Sphinx 7.4 (the newest Jupyter Book 1 allows) writes sphinx-thebe's inline config script twice, "
        "because it re-adds scripts registered after Builder.init() under filename '' instead of None "
        "(sphinx/builders/html/__init__.py, prepare_writing). The second, identical `const` declaration "
        "throws; the first has defined the same values, and the book does not use thebe (no launch "
        "buttons). Upstream, not fixable from the book's config."
    ),
}
#: Requests that leave the local server. The tests run offline, so the page must not need the
#: network; a request matching a pattern here is answered with an empty stub (and the reason is the
#: pattern's value), any other is blocked and fails the page. MathJax is what a chapter with $math$
#: loads from a CDN; offline its formulas stay TeX source, which is readable.
OFFLINE_STUBS: dict[str, str] = {
    r"^https://cdn\.jsdelivr\.net/npm/mathjax@3/": "MathJax renders $math$; offline, formulas stay TeX source",
}
VIEWPORT = {"width": 1280, "height": 900}


def _stub_reason(url: str) -> str:
    return next(why for pattern, why in OFFLINE_STUBS.items() if re.search(pattern, url))


def artifacts_dir() -> Path:
    """Where the tests keep what a person may want to look at: ``$PAPERLIB_TEST_ARTIFACTS``."""
    return Path(os.environ.get("PAPERLIB_TEST_ARTIFACTS") or REPO / "test-artifacts")


# --- what the pages are ---------------------------------------------------------------------------


def book_pages(html_root: Path) -> list[Path]:
    """Every html page of a build, relative to its root: not search/genindex, nor _static, _sources,
    _images (files the pages use, not pages)."""
    return sorted(
        p.relative_to(html_root)
        for p in html_root.rglob("*.html")
        if not any(part.startswith("_") for part in p.relative_to(html_root).parts) and p.name not in SKIPPED_PAGES
    )


class _Anchors(html.parser.HTMLParser):
    """The targets an ``#anchor`` may name in a file: element ids and ``<a name>``; plus a meta
    refresh target (the build's index.html redirects to the root page)."""

    def __init__(self):
        super().__init__()
        self.ids: set[str] = set()
        self.refresh: str | None = None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if a.get("id"):
            self.ids.add(a["id"])
        if tag == "a" and a.get("name"):
            self.ids.add(a["name"])
        if tag == "meta" and (a.get("http-equiv") or "").lower() == "refresh":
            m = re.search(r"url=(.+)$", a.get("content") or "", re.IGNORECASE)
            self.refresh = m.group(1).strip().strip("'\"") if m else None


@functools.cache
def _parse(path: Path) -> _Anchors:
    parser = _Anchors()
    parser.feed(path.read_text(encoding="utf-8", errors="replace"))
    return parser


def notebook_images(html_root: Path, page: Path) -> int:
    """How many image outputs the executed notebook behind ``page`` holds (0 if none or no notebook)."""
    nb_path = html_root.parents[1] / page.with_suffix(".ipynb")
    if not nb_path.exists():
        return 0
    nb = nbformat.read(nb_path, as_version=4)
    return sum(
        any(k.startswith("image/") for k in o.get("data", {}))
        for c in nb.cells
        if c.cell_type == "code"
        for o in c.get("outputs", [])
    )


# --- serving and browsing ---------------------------------------------------------------------------


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format, *args):
        pass


@pytest.fixture(scope="module")
def book_site(request):
    """The built html served on 127.0.0.1 (a free port) from a thread, as a web host would.

    The html is the smoke book's build (``built_smoke_book``), or the folder ``$PAPERLIB_BOOK_HTML``
    names (e.g. ``book/_build/html`` after ``make book``; its book is two folders up), then nothing
    is executed or built.

    HTTP rather than file://: a file:// page is an opaque origin, where Chromium refuses things a
    hosted book does (scripts fetching files, storage), so its console errors would be artefacts of
    file://; over HTTP a missing asset is a 404 with its URL."""
    if os.environ.get("PAPERLIB_BOOK_HTML"):
        html_root, log = Path(os.environ["PAPERLIB_BOOK_HTML"]).resolve(), ""
    else:
        built = request.getfixturevalue("built_smoke_book")
        html_root, log = built.html, built.log
    assert html_root.is_dir() and any(html_root.glob("*.html")), (
        f"no html pages in {html_root}: the build failed\n" + log[-4000:]
    )
    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_QuietHandler, directory=str(html_root)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield html_root, f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="module")
def browser():
    """The system Chromium, headless, launched by Playwright."""
    if not Path(CHROMIUM).exists():
        pytest.fail(
            f"no Chromium at {CHROMIUM}: the browser tests need it. Install it with `{INSTALL_CHROMIUM}` "
            "(as .ci/run does), or set PAPERLIB_CHROMIUM to a Chromium binary.",
            pytrace=False,
        )
    try:
        from playwright.sync_api import sync_playwright
    except ImportError as exc:
        pytest.fail(
            f"playwright is missing ({exc}): install the lock, `.venv/bin/pip install -r requirements.lock`",
            pytrace=False,
        )
    with sync_playwright() as p:
        try:
            b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        except Exception as exc:  # noqa: BLE001 - any launch failure means the same thing
            pytest.fail(
                f"Chromium at {CHROMIUM} did not start ({exc}); reinstall it: `{INSTALL_CHROMIUM}`", pytrace=False
            )
        yield b
        b.close()


@dataclass
class Figure:
    src: str
    natural_width: int
    visible: bool
    variance: float | None  # grey-level variance of its screenshot; None when it could not be taken
    error: str = ""


@dataclass
class PageReport:
    page: str
    console_errors: list[str] = field(default_factory=list)  # severity error, minus IGNORED_ERRORS
    page_errors: list[str] = field(default_factory=list)  # uncaught exceptions, minus IGNORED_ERRORS
    ignored: list[tuple[str, str]] = field(default_factory=list)  # (IGNORED_ERRORS pattern, what it matched)
    failed_requests: list[str] = field(default_factory=list)  # network failures and HTTP status >= 400
    blocked: list[str] = field(default_factory=list)  # requests that would leave the machine
    stubbed: list[str] = field(default_factory=list)  # requests answered by OFFLINE_STUBS
    has_main: bool = False
    figures: list[Figure] = field(default_factory=list)
    links: list[str] = field(default_factory=list)  # absolute hrefs of every <a> after the page's scripts ran
    final_url: str = ""


def _variance(png: bytes) -> float:
    from PIL import Image, ImageStat

    return float(ImageStat.Stat(Image.open(io.BytesIO(png)).convert("L")).var[0])


def browse(browser, html_root: Path, base: str, pages: list[Path]) -> dict[str, PageReport]:
    """Open every page in one browser context and record what the checks need."""
    context = browser.new_context(viewport=VIEWPORT, device_scale_factor=1)
    local = re.compile(re.escape(base))
    reports: dict[str, PageReport] = {}
    current: list[PageReport] = []

    def route(r):
        url = r.request.url
        if local.match(url) or url.startswith(("data:", "blob:")):
            r.continue_()
            return
        for pattern in OFFLINE_STUBS:
            if re.search(pattern, url):
                current[-1].stubbed.append(url)
                r.fulfill(status=200, body="", content_type="application/javascript")
                return
        current[-1].blocked.append(url)
        r.abort("blockedbyclient")

    context.route("**/*", route)
    page = context.new_page()

    def ignored(message: str, where: str) -> bool:
        for pattern in IGNORED_ERRORS:
            if re.search(pattern, message):
                current[-1].ignored.append((pattern, f"{where}: {message}"))
                return True
        return False

    def on_console(msg):
        if msg.type != "error" or ignored(msg.text, "console error"):
            return
        loc = msg.location or {}
        current[-1].console_errors.append(f"{msg.text} (at {loc.get('url', '?')}:{loc.get('lineNumber', '?')})")

    def on_pageerror(exc):
        if not ignored(exc.message, "uncaught exception"):
            current[-1].page_errors.append(f"{exc.name}: {exc.message}" if exc.name else exc.message)

    def on_response(resp):
        if resp.status >= 400:
            current[-1].failed_requests.append(f"{resp.url}: HTTP {resp.status}")

    page.on("console", on_console)
    page.on("pageerror", on_pageerror)
    page.on("requestfailed", lambda req: current[-1].failed_requests.append(f"{req.url}: {req.failure}"))
    page.on("response", on_response)

    for rel in pages:
        rep = PageReport(rel.as_posix())
        current.append(rep)
        reports[rep.page] = rep
        url = base + rel.as_posix()
        page.goto(url, wait_until="load")
        if refresh := _parse(html_root / rel).refresh:  # a redirect page (index.html): follow it first
            page.wait_for_url(urljoin(url, refresh), wait_until="load", timeout=15_000)
        page.wait_for_load_state("networkidle")
        rep.final_url = page.url
        if rep.final_url != url and urldefrag(rep.final_url)[0][len(base) :] in {p.as_posix() for p in pages}:
            rep.has_main = True  # a redirect to a page that is checked on its own: its target is its link
            continue
        # every image has either loaded or failed before it is measured
        page.wait_for_function("() => Array.from(document.images).every(i => i.complete)", timeout=15_000)
        rep.has_main = page.locator("main").count() > 0
        for img in page.locator("main img").all():
            info = img.evaluate("i => ({src: i.currentSrc || i.src, w: i.naturalWidth})")
            fig = Figure(src=info["src"], natural_width=int(info["w"]), visible=img.is_visible(), variance=None)
            if fig.visible:
                try:
                    img.scroll_into_view_if_needed(timeout=5_000)
                    fig.variance = _variance(img.screenshot(timeout=10_000, animations="disabled"))
                except Exception as exc:  # noqa: BLE001 - reported as the figure's problem
                    fig.error = f"{type(exc).__name__}: {exc}".splitlines()[0]
            rep.figures.append(fig)
        rep.links = page.eval_on_selector_all("a[href]", "as => as.map(a => a.href)")
    context.close()
    return reports


@pytest.fixture(scope="module")
def browsed(book_site, browser) -> tuple[Path, str, dict[str, PageReport]]:
    html_root, base = book_site
    pages = book_pages(html_root)
    assert pages, f"no html pages under {html_root}"
    return html_root, base, browse(browser, html_root, base, pages)


def _problems(found: dict[str, list[str]]) -> str:
    return "\n".join(f"{page}:\n  " + "\n  ".join(items) for page, items in found.items() if items)


# --- the checks -------------------------------------------------------------------------------------


def test_every_toc_page_was_opened(browsed):
    """The glob found the pages of the table of contents (and so would find new chapters)."""
    import yaml

    html_root, _, reports = browsed
    toc = yaml.safe_load((html_root.parents[1] / "_toc.yml").read_text())

    def files(node):
        if isinstance(node, dict):
            if "file" in node or "root" in node:
                yield node.get("file") or node.get("root")
            for v in node.values():
                yield from files(v)
        elif isinstance(node, list):
            for v in node:
                yield from files(v)

    expected = {f"{Path(f).with_suffix('')}.html" for f in files(toc)}
    assert expected and expected <= set(reports), f"pages of _toc.yml not opened: {sorted(expected - set(reports))}"


def test_pages_load_without_console_errors(browsed):
    """No console error, uncaught exception, failed or off-machine request on any page."""
    _, _, reports = browsed
    found = {}
    for name, rep in reports.items():
        found[name] = (
            [f"console error: {e}" for e in rep.console_errors]
            + [f"uncaught exception: {e}" for e in rep.page_errors]
            + [f"failed request: {e}" for e in rep.failed_requests]
            + [f"request leaves the machine (blocked; the book must render offline): {u}" for u in rep.blocked]
        )
    let_through: dict[tuple[str, str], list[str]] = {}  # said, not hidden: what was let through on purpose
    for name, rep in reports.items():
        for pattern, what in rep.ignored:
            let_through.setdefault((what, f"ignored (IGNORED_ERRORS): {IGNORED_ERRORS[pattern]}"), []).append(name)
        for url in rep.stubbed:
            let_through.setdefault(
                (url, f"answered offline by a stub (OFFLINE_STUBS): {_stub_reason(url)}"), []
            ).append(name)
    for (what, why), names in let_through.items():
        print(f"{what}\n  on {len(names)} page(s): {', '.join(names)}\n  {why}")
    problems = _problems(found)
    assert not problems, "pages with errors in the browser:\n" + problems


def test_figures_are_present_loaded_and_not_blank(browsed):
    """Every <img> of a page's main content is visible, decoded and not a uniform rectangle."""
    html_root, _, reports = browsed
    found = {}
    for name, rep in reports.items():
        items = [] if rep.has_main else ["no <main> element: the page did not render its content"]
        for fig in rep.figures:
            if not fig.visible:
                items.append(f"figure not visible: {fig.src}")
            elif fig.natural_width <= 0:
                items.append(f"figure did not load (naturalWidth 0): {fig.src}")
            elif fig.error:
                items.append(f"figure could not be captured ({fig.error}): {fig.src}")
            elif fig.variance is None or fig.variance <= BLANK_VARIANCE:
                items.append(f"figure is blank (grey-level variance {fig.variance:.3g} <= {BLANK_VARIANCE}): {fig.src}")
        if notebook_images(html_root, Path(name)) and not rep.figures:
            items.append("its notebook has image outputs, but the page shows no <img> in its main content")
        found[name] = items
    problems = _problems(found)
    assert not problems, "pages with missing or broken figures:\n" + problems
    assert any(rep.figures for rep in reports.values()), "no page of the book shows a figure"


def test_internal_links_resolve(browsed):
    """Every link to a file of the build points at an existing file, and its #anchor at an id there."""
    html_root, base, reports = browsed
    found = {}
    for name, rep in reports.items():
        items = []
        hrefs = list(rep.links)
        refresh = _parse(html_root / name).refresh  # index.html: a redirect, its target counts as a link
        if refresh:
            hrefs.append(base + refresh)
        for href in sorted(set(hrefs)):
            if not href.startswith(base):
                continue  # another site, mailto:, javascript: - not part of this build
            url, anchor = urldefrag(href)
            rel = unquote(urlsplit(url).path)[len(urlsplit(base).path) :] or "index.html"
            target = html_root / rel
            if target.is_dir():
                target = target / "index.html"
            if not target.is_file():
                items.append(f"link to a missing file: {href}")
            elif anchor and target.suffix == ".html" and unquote(anchor) not in _parse(target).ids:
                items.append(f"link to a missing anchor #{anchor} in {target.relative_to(html_root)}: {href}")
        found[name] = items
    problems = _problems(found)
    assert not problems, "pages with broken internal links:\n" + problems


def test_chapter_screenshot_is_kept(browser, book_site):
    """A full-page screenshot of the first chapter built from a notebook, for a person to look at."""
    html_root, base = book_site
    chapters = [p for p in book_pages(html_root) if (html_root.parents[1] / p.with_suffix(".ipynb")).exists()]
    assert chapters, "no chapter built from a notebook"
    out = artifacts_dir()
    out.mkdir(parents=True, exist_ok=True)
    shot = out / f"book-{chapters[0].stem}.png"
    context = browser.new_context(viewport=VIEWPORT, device_scale_factor=1)
    context.route("**/*", lambda r: r.continue_() if r.request.url.startswith(base) else r.abort("blockedbyclient"))
    page = context.new_page()
    page.goto(base + chapters[0].as_posix(), wait_until="networkidle")
    page.screenshot(path=str(shot), full_page=True, animations="disabled")
    context.close()
    assert shot.stat().st_size > 10_000 and _variance(shot.read_bytes()) > BLANK_VARIANCE
    print(f"screenshot of {chapters[0]}: {shot}")


def test_claims_page_shows_measured_tables_and_its_screenshot_is_kept(browser, book_site):
    """The claims page: claim 2's measured numbers as a visible table (glued from chapter 05), the
    download of every verdict; a full-page screenshot is kept as a test artifact."""
    html_root, base = book_site
    out = artifacts_dir()
    out.mkdir(parents=True, exist_ok=True)
    shot = out / "book-claims.png"
    context = browser.new_context(viewport=VIEWPORT, device_scale_factor=1)
    context.route("**/*", lambda r: r.continue_() if r.request.url.startswith(base) else r.abort("blockedbyclient"))
    page = context.new_page()
    page.goto(base + "claims.html", wait_until="networkidle")
    section = page.locator("section", has=page.locator("h2", has_text="Claim 2")).first
    table = section.locator("table", has_text="first third").first
    table.scroll_into_view_if_needed()
    visible, rows = table.is_visible(), table.locator("tbody tr").count()
    download = page.locator('a.download[href$="claims.csv"]').count()
    page.screenshot(path=str(shot), full_page=True, animations="disabled")
    context.close()
    print(f"screenshot of claims.html: {shot}")
    assert visible and rows >= 1, "claim 2's measured table is not visible on the claims page"
    assert download == 1, "the claims page does not link claims.csv"
    assert shot.stat().st_size > 10_000 and _variance(shot.read_bytes()) > BLANK_VARIANCE
