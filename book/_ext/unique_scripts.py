"""Sphinx extension: drop repeated <script> entries from every page.

Jupyter Book 1 registers sphinx-thebe's inline configuration script twice, so every page
declared ``const THEBE_JS_URL`` twice and the browser raised a SyntaxError on load (found by
``repchange.book.check`` in headless Chromium). Keeping the first of identical scripts fixes it.
"""


def _unique(app, pagename, templatename, context, doctree):
    scripts = context.get("script_files")
    if not scripts:
        return
    seen, kept = set(), []
    for script in scripts:
        key = (getattr(script, "filename", None) or "",  # inline scripts come with None or ""
               tuple(sorted((getattr(script, "attributes", None) or {}).items())))
        if key not in seen:
            seen.add(key)
            kept.append(script)
    context["script_files"] = kept


def setup(app):
    app.connect("html-page-context", _unique, priority=900)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
