"""Check the built book in a real browser: headless Chromium over the DevTools protocol.

For every HTML page of the site: it loads without a JavaScript error or a failed local request,
no image is broken, no table, output text or figure reaches past the content column at 1280 px (a table that scrolls sideways
inside it counts as too wide), no table shows NaN or scientific notation for an ordinary value, no figure is shown
at less than 60 % of its natural width,
no maths is left as raw TeX (an opening ``\\(``, ``\\[`` or ``$$``) once MathJax has run,
every internal link points at an existing page (and anchor), no table cell breaks a word across
lines, the landing page (where index.html leads) opens with "What this book found" and the ledger's
forest plot, and on the notebook pages the provenance (profile and seeds) is stated once, in a box of class ``provenance``
before the first figure, and nowhere else in the visible text. ``python -m repchange check-book [HTML_DIR]`` prints the problems; exit 1 if any.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import tempfile
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator
from urllib.parse import unquote, urlparse

__all__ = ["Problem", "browser", "check_site", "find_chromium"]

# A notebook page states its provenance once: one element of class ``provenance`` (the chapter's
# "runs behind this page" box) that names profile and seeds and comes before the first figure; the
# statement's signature ("profile: … · seeds:") appears nowhere else in the text a reader sees.
PROVENANCE_JS = r"""
(() => {
  const signature = /profile: [^·\n]* · seeds?:/g;
  const figures = [...document.querySelectorAll('main img, article img')].filter(i => i.closest('.cell_output'));
  const boxes = [...document.querySelectorAll('.provenance')];
  const boxText = boxes.map(b => b.innerText || '').join(' ');
  const inBoxes = (boxText.match(signature) || []).length;
  const all = ((document.body.innerText || '').match(signature) || []).length;
  const first = figures[0];
  return {
    figures: figures.length,
    boxes: boxes.length,
    names: /profile:/.test(boxText) && /seeds?:/.test(boxText),
    before: !first || boxes.some(b => b.compareDocumentPosition(first) & Node.DOCUMENT_POSITION_FOLLOWING),
    outside: all - inBoxes,
  };
})()
"""
PAGE_JS = r"""
({
  broken: [...document.images].filter(i => !i.complete || i.naturalWidth === 0).map(i => i.getAttribute('src')),
  links: [...document.querySelectorAll('a[href]')].map(a => a.href).filter(h => h.startsWith('file:')),
  title: document.title,
  text: document.body.innerText,
  prose: (() => { const body = document.body.cloneNode(true);  // the page without its code listings
                  body.querySelectorAll('pre').forEach(e => e.remove()); return body.textContent; })(),
  injected: [...document.querySelectorAll('.tag_injected-parameters')].filter(e => e.offsetParent !== null).length,
})
"""
# Maths left as TeX after MathJax has typeset the page (or where it never loaded): delimiters in the text a
# reader sees, code blocks and typeset maths left out.
RAW_MATHS_JS = r"""
(async () => {
  if (window.MathJax && MathJax.startup && MathJax.startup.promise) { await MathJax.startup.promise; }
  const body = document.body.cloneNode(true);
  body.querySelectorAll('pre, code, script, style, mjx-container, .highlight').forEach(e => e.remove());
  const found = body.textContent.match(/\\\(|\\\[|\$\$/g);
  return found ? found.length : 0;
})()
"""
# Helpers the page scripts share: the content column, its visible (unfolded) tables, and how a table is named in a
# problem (its id, else its place on the page and its first header cells).
PAGE_HELPERS_JS = r"""
var tableLabel = (table, k) => {
  if (table.id) return `#${table.id}`;
  const head = [...table.querySelectorAll('th')].slice(0, 3).map(h => (h.innerText || '').trim()).filter(Boolean);
  return `table ${k + 1}` + (head.length ? ` (${head.join(' | ')})` : '');
};
var visibleTables = column => [...column.querySelectorAll('table')]
  .filter(t => !t.closest('details:not([open])') && t.getBoundingClientRect().width > 0);
var articleColumn = () => document.querySelector('article.bd-article') || document.querySelector('main') || document.body;
"""
# Tables, output text and figures wider than the content column (the page is laid out at WINDOW_WIDTH px): a table
# that reaches past its right edge, or one that fits only by scrolling sideways inside it (the book's CSS gives a
# wide table a scroll bar), hides its right-hand part from a reader.
WINDOW_WIDTH = 1280
TOO_WIDE_JS = PAGE_HELPERS_JS + r"""
(() => {
  const column = articleColumn();
  const limit = column.getBoundingClientRect().right + 2;
  const out = [];
  visibleTables(column).forEach((table, k) => {
    const box = table.getBoundingClientRect();
    const over = Math.max(box.right - limit, table.scrollWidth - table.clientWidth);
    if (over > 2) out.push(`${tableLabel(table, k)} is ${Math.round(over)} px wider than its column`);
  });
  for (const el of column.querySelectorAll('pre, .cell_output img')) {
    const box = el.getBoundingClientRect();
    if (box.width > 0 && box.right > limit && !el.closest('details:not([open])')) {
      out.push(`${el.tagName.toLowerCase()} ${Math.round(box.right - limit)} px past the column`);
    }
  }
  return [...new Set(out)].slice(0, 5);
})()
"""
# Words a table cell breaks across lines ("hol ds", "S E S O I" stacked letter by letter): each run of letters and
# digits between spaces, hyphens, slashes and underscores (where reader_tables lets an identifier wrap) is measured
# with a DOM Range; its boxes on more than one line mean the
# browser broke it inside the word. Folded (closed <details>) tables are left out.
BROKEN_WORDS_JS = PAGE_HELPERS_JS + r"""
(() => {
  const out = [];
  visibleTables(articleColumn()).forEach((table, k) => {
    const label = tableLabel(table, k);
    for (const cell of table.querySelectorAll('td, th')) {
      const walker = document.createTreeWalker(cell, NodeFilter.SHOW_TEXT);
      let node;
      while ((node = walker.nextNode())) {
        const words = /[^\s\-\u2013\u2014\/_]+/g;
        let m;
        while ((m = words.exec(node.data))) {
          const range = document.createRange();
          range.setStart(node, m.index);
          range.setEnd(node, m.index + m[0].length);
          const lines = new Set([...range.getClientRects()].filter(r => r.width > 0).map(r => Math.round(r.top)));
          if (lines.size > 1) { out.push(`${label}: "${m[0]}" broken over ${lines.size} lines`); return; }
        }
      }
    }
  });
  return out.slice(0, 5);
})()
"""
# Cells a reader cannot read as a value: a missing value printed as NaN (say "—", or leave the column out), and
# scientific notation for an ordinary value (|x| in [1e-3, 1e4], or zero), which reads as a decimal.
RAW_VALUES_JS = PAGE_HELPERS_JS + r"""
(() => {
  const out = [];
  const missing = /^(nan|NaN|<NA>|NaT)$/;
  const scientific = /[-+]?\d+(?:\.\d+)?[eE][-+]?\d+/g;
  visibleTables(articleColumn()).forEach((table, k) => {
    let nan = 0, sci = 0, example = '';
    for (const cell of table.querySelectorAll('td, th')) {
      const text = (cell.innerText || '').trim();
      if (missing.test(text)) nan += 1;
      for (const m of text.match(scientific) || []) {
        const x = Math.abs(Number(m));
        if (x === 0 || (x >= 1e-3 && x <= 1e4)) { sci += 1; example = example || m; }
      }
    }
    const label = tableLabel(table, k);
    if (nan) out.push(`${label} shows ${nan} NaN cell(s): write "—" or leave the column out`);
    if (sci) out.push(`${label} shows ${sci} ordinary value(s) in scientific notation (e.g. ${example})`);
  });
  return out.slice(0, 6);
})()
"""
# Figures shrunk by the page: an image displayed at less than SMALLEST_FIGURE_SCALE of its natural width has its text
# shrunk below legibility (a wide strip of panels squeezed into the column).
SMALLEST_FIGURE_SCALE = 0.6
SMALL_FIGURES_JS = PAGE_HELPERS_JS + r"""
((smallest) => {
  const out = [];
  [...articleColumn().querySelectorAll('img')].filter(i => !i.closest('details:not([open])')).forEach((img, k) => {
    const shown = img.getBoundingClientRect().width;
    if (!img.naturalWidth || shown === 0) return;
    const scale = shown / img.naturalWidth;
    if (scale < smallest) {
      const name = (img.getAttribute('src') || '').split('/').pop().slice(0, 12);
      out.push(`figure ${k + 1} (${name}) shown at ${Math.round(100 * scale)}% of its natural width `
               + `(${img.naturalWidth} px in ${Math.round(shown)} px): its text shrinks below legibility`);
    }
  });
  return out.slice(0, 5);
})(SMALLEST)
""".replace("SMALLEST", str(SMALLEST_FIGURE_SCALE))
# The landing page (the book's root, where index.html leads): its "What this book found" section states the
# findings and shows the ledger's forest plot.
LANDING_JS = r"""
(() => {
  const section = document.querySelector('section#what-this-book-found');
  if (!section) return {section: false};
  const text = section.innerText || '';
  const images = [...section.querySelectorAll('img')].filter(i => i.complete && i.naturalWidth > 0);
  return {section: true, counts: /\d+\D+claims/.test(text) && /holds?/.test(text), figures: images.length};
})()
"""
# Text a reader should never see: this machine's paths and Python reprs of them.
MACHINE_PATH = re.compile(r"PosixPath\(|(?<![\w.])/(?:root|work|home|tmp)/[\w.-]+")


@dataclass(frozen=True)
class Problem:
    page: str
    what: str

    def __str__(self) -> str:
        return f"{self.page}: {self.what}"


def find_chromium() -> str:
    """The Chromium executable; FileNotFoundError with the install command where there is none."""
    for name in ("chromium", "chromium-browser", "google-chrome", "chrome"):
        path = shutil.which(name)
        if path:
            return path
    raise FileNotFoundError("no Chromium found; install it with `sudo apt-get install chromium` "
                            "(`make test` does this when run as root)")


class _Page:
    """One browser tab over the DevTools protocol: navigate, wait for load, evaluate, collect errors."""

    def __init__(self, ws_url: str) -> None:
        import websocket  # websocket-client

        self.ws = websocket.create_connection(ws_url, timeout=30, suppress_origin=True)
        self._id = 0
        self.events: list[dict[str, Any]] = []
        for domain in ("Page", "Network", "Runtime", "Log"):
            self.call(f"{domain}.enable")

    def call(self, method: str, **params: Any) -> dict[str, Any]:
        self._id += 1
        self.ws.send(json.dumps({"id": self._id, "method": method, "params": params}))
        while True:
            message = json.loads(self.ws.recv())
            if message.get("id") == self._id:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                return message.get("result", {})
            self.events.append(message)

    def load(self, url: str, timeout: float = 30, settle: float = 0.3) -> list[dict[str, Any]]:
        """Navigate to ``url``; returns the protocol events until the page has loaded and stayed put for
        ``settle`` seconds (a redirect, like the book's index.html, is followed to its target)."""
        import websocket

        self.events = []
        self.call("Page.navigate", url=url)
        deadline = time.monotonic() + timeout
        loaded_at = None
        while loaded_at is None or time.monotonic() - loaded_at < settle:
            if time.monotonic() > deadline:
                raise TimeoutError(f"{url} did not finish loading in {timeout} s")
            self.ws.settimeout(settle if loaded_at else timeout)
            try:
                event = json.loads(self.ws.recv())
            except websocket.WebSocketTimeoutException:
                continue
            finally:
                self.ws.settimeout(30)
            self.events.append(event)
            if event.get("method") == "Page.loadEventFired":
                loaded_at = time.monotonic()
            elif event.get("method") == "Page.frameStartedLoading":
                loaded_at = None  # a redirect: wait for the next load
        return self.events

    def evaluate(self, expression: str) -> Any:
        result = self.call("Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True)
        if "exceptionDetails" in result:
            raise RuntimeError(f"script failed: {result['exceptionDetails'].get('text')}")
        return result["result"].get("value")


class browser:
    """``with browser() as page:`` a headless Chromium tab (its profile in a temporary folder)."""

    def __enter__(self) -> _Page:
        self._tmp = tempfile.TemporaryDirectory(ignore_cleanup_errors=True)  # Chromium's helpers may still write
        self.proc = subprocess.Popen(
            [find_chromium(), "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
             "--remote-debugging-port=0", "--allow-file-access-from-files",
             f"--window-size={WINDOW_WIDTH},900", f"--user-data-dir={self._tmp.name}",
             "about:blank"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        port = None
        deadline = time.monotonic() + 30
        while port is None:
            line = self.proc.stderr.readline()
            if "DevTools listening on" in line:
                port = urlparse(line.split("listening on ")[1].strip()).port
            elif not line and self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("Chromium did not start its DevTools endpoint")
        targets = json.loads(urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=10).read())
        page = next(t for t in targets if t.get("type") == "page")
        self.page = _Page(page["webSocketDebuggerUrl"])
        return self.page

    def __exit__(self, *exc: object) -> None:
        try:
            self.page.ws.close()
        finally:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
            self._tmp.cleanup()


def _pages(html: Path) -> Iterator[Path]:
    skip = {"genindex.html", "search.html"}
    for path in sorted(html.rglob("*.html")):
        if "_static" not in path.parts and "_sources" not in path.parts and path.name not in skip:
            yield path


def _errors(events: list[dict[str, Any]]) -> list[str]:
    found = []
    requests = {e["params"]["requestId"]: e["params"]["request"]["url"]
                for e in events if e.get("method") == "Network.requestWillBeSent"}
    for e in events:
        method, params = e.get("method"), e.get("params", {})
        if method == "Network.loadingFailed" and not params.get("canceled"):
            url = requests.get(params.get("requestId"), "?")
            if url.startswith("file:"):  # the site itself; remote fonts or CDNs are not the book's to check offline
                found.append(f"failed to load {url} ({params.get('errorText')})")
        elif method == "Runtime.exceptionThrown":
            found.append(f"JavaScript error: {params['exceptionDetails'].get('exception', {}).get('description') or params['exceptionDetails'].get('text')}")
    return found


OBJECT_REPR = re.compile(r"<[A-Za-z_][\w.]* object(?: at 0x[0-9a-f]+)?>")


def check_site(html: str | Path, *, notebook_dir: str = "notebooks", landing: bool = True) -> list[Problem]:
    """Every problem found on the site under ``html`` (see the module doc); an empty list when it is clean.
    ``landing``: also check that the page index.html leads to states the book's findings with a figure."""
    html = Path(html).resolve()
    if not (html / "index.html").exists():
        raise FileNotFoundError(f"{html} holds no built book (no index.html); build it with `make book`")
    problems: list[Problem] = []
    anchors: dict[Path, str] = {}
    with browser() as page:
        for path in _pages(html):
            name = str(path.relative_to(html))
            events = page.load(path.as_uri())
            problems += [Problem(name, e) for e in _errors(events)]
            found = page.evaluate(PAGE_JS)
            problems += [Problem(name, f"broken image {src}") for src in found["broken"]]
            problems += [Problem(name, f"machine path visible: {m.group(0)!r}") for m in
                         list(MACHINE_PATH.finditer(found["text"]))[:3]]
            problems += [Problem(name, f"an object's repr instead of its text: {m.group(0)!r} (glued as Markdown, "
                                       f"referenced with {{glue:text}}: use {{glue:md}})")
                         for m in list(OBJECT_REPR.finditer(found["prose"]))[:3]]  # code may name a repr
            problems += [Problem(name, f"too wide: {what}") for what in page.evaluate(TOO_WIDE_JS)]
            problems += [Problem(name, f"a word broken inside a table cell: {what}")
                         for what in page.evaluate(BROKEN_WORDS_JS)]
            problems += [Problem(name, f"unreadable values: {what}") for what in page.evaluate(RAW_VALUES_JS)]
            problems += [Problem(name, f"figure too small: {what}") for what in page.evaluate(SMALL_FIGURES_JS)]
            raw_maths = page.evaluate(RAW_MATHS_JS)
            if raw_maths:
                problems.append(Problem(name, f"{raw_maths} raw TeX delimiter(s) visible: maths not rendered"))
            if found["injected"]:
                problems.append(Problem(name, "papermill's injected-parameters cell is visible"))
            for link in found["links"]:
                target = urlparse(link)
                file = Path(unquote(target.path))
                if not file.exists():
                    problems.append(Problem(name, f"link to a missing file {file.relative_to(html) if file.is_relative_to(html) else file}"))
                elif target.fragment and file.suffix == ".html":
                    text = anchors.setdefault(file, file.read_text(errors="replace"))
                    if f'id="{target.fragment}"' not in text:
                        problems.append(Problem(name, f"link to a missing anchor {file.name}#{target.fragment}"))
            if path.parent.name == notebook_dir:
                problems += [Problem(name, p) for p in _provenance_problems(page.evaluate(PROVENANCE_JS))]
            if landing and name == "index.html":  # loaded above, its redirect to the root page followed
                problems += [Problem(name, p) for p in _landing_problems(page.evaluate(LANDING_JS))]
    return problems


def _landing_problems(found: dict[str, Any]) -> list[str]:
    """What :data:`LANDING_JS` found on the page index.html leads to, as problems."""
    if not found.get("section"):
        return ["the landing page has no section 'What this book found'"]
    problems = []
    if not found.get("counts"):
        problems.append("the landing page's findings state no verdict counts")
    if not found.get("figures"):
        problems.append("the landing page's findings show no figure (the ledger's forest plot)")
    return problems


def _provenance_problems(found: dict[str, Any]) -> list[str]:
    """What :data:`PROVENANCE_JS` found on a notebook page, as problems (none when it states its provenance once)."""
    problems = []
    if found["boxes"] > 1:
        problems.append(f"provenance stated in {found['boxes']} boxes; a page states it once")
    if found["outside"] > 0:
        problems.append(f"provenance repeated {found['outside']} time(s) outside its box; a page states it once")
    if found["figures"]:
        if found["boxes"] == 0:
            problems.append("figures without a provenance box (class 'provenance') naming profile and seeds")
        elif not found["names"]:
            problems.append("the provenance box does not name profile and seeds")
        elif not found["before"]:
            problems.append("the provenance box comes after the first figure")
    return problems
