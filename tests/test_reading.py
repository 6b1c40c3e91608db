"""The book shows readers results first: runner.for_reading folds code and drops machine-only outputs."""

from __future__ import annotations

import nbformat

from repchange.book import runner


def _cell(source: str, tags: list[str], outputs: list[dict]) -> nbformat.NotebookNode:
    cell = nbformat.v4.new_code_cell(source, metadata={"tags": tags})
    cell.outputs = [nbformat.from_dict(o) for o in outputs]
    return cell


def test_for_reading_removes_folds_and_silences_as_documented() -> None:
    path_repr = {"output_type": "execute_result", "execution_count": 1, "metadata": {},
                 "data": {"text/plain": "PosixPath('/work/main/runs/x.csv')"}}
    table = {"output_type": "execute_result", "execution_count": 2, "metadata": {},
             "data": {"text/plain": "   a\n0  1", "text/html": "<table></table>"}}
    printed = {"output_type": "stream", "name": "stdout", "text": "profile: smoke"}
    nb = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_markdown_cell("# Title"),
        _cell("import x", [], []),
        _cell("a = 1", ["parameters"], []),
        _cell("a = 2", ["injected-parameters"], []),
        _cell("save()", [], [path_repr, printed]),
        _cell("frame", [], [table]),
    ])
    tags = [c.metadata.get("tags", []) for c in runner.for_reading(nb).cells]
    assert tags[1] == ["hide-cell"] and tags[2] == ["parameters", "hide-cell"]
    assert tags[3] == ["injected-parameters", "remove-cell"]
    assert tags[4] == ["hide-input"] and tags[5] == ["hide-input"]
    assert [o.output_type for o in nb.cells[4].outputs] == ["stream"]  # the path repr is gone, the print stays
    assert nb.cells[5].outputs[0].data["text/html"] == "<table></table>"  # rich results stay
