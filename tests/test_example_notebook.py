"""examples/notebook.ipynb, executed end to end in a Jupyter kernel, its outputs checked."""

from __future__ import annotations

import ast
import json
import sys
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")
pytest.importorskip("ipykernel")

NOTEBOOK = Path(__file__).parent.parent / "examples" / "notebook.ipynb"
KERNEL = "convbench-test"


def _text(output: dict) -> str:
    if output["output_type"] == "stream":
        return output["text"]
    return output.get("data", {}).get("text/plain", "")


def _cell(nb, starts: str, *, exact: bool = False):
    """The one code cell whose source starts with (or, ``exact``, is) ``starts``."""
    code = [c for c in nb.cells if c.cell_type == "code"]
    (cell,) = [c for c in code if (c.source == starts if exact else c.source.startswith(starts))]
    return cell


@pytest.fixture(scope="module")
def executed(tmp_path_factory):
    nb = nbformat.read(NOTEBOOK, as_version=4)
    assert all(not c.get("outputs") for c in nb.cells if c.cell_type == "code"), (
        "commit the notebook without outputs: they would be one busy machine's timings"
    )
    folder = tmp_path_factory.mktemp("notebook")
    # A kernel of this very interpreter (the one with this convbench), whatever other
    # "python3" kernels the machine has.
    specs = tmp_path_factory.mktemp("jupyter")
    spec = specs / "kernels" / KERNEL
    spec.mkdir(parents=True)
    argv = [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"]
    (spec / "kernel.json").write_text(
        json.dumps({"argv": argv, "display_name": KERNEL, "language": "python"})
    )
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("JUPYTER_PATH", str(specs))
        client = nbclient.NotebookClient(
            nb, timeout=600, kernel_name=KERNEL, resources={"metadata": {"path": str(folder)}}
        )
        client.execute()
    return nb, folder


def test_every_cell_runs_without_an_error(executed):
    nb, _ = executed
    for cell in nb.cells:
        if cell.cell_type == "code":
            kinds = {o["output_type"] for o in cell.outputs}
            assert "error" not in kinds, cell.source
            stderr = [o["text"] for o in cell.outputs if o.get("name") == "stderr"]
            assert not stderr, stderr


def test_the_sweep_verifies_every_method_and_shows_its_progress(executed):
    nb, _ = executed
    run = _cell(nb, "results = convbench.bench(")
    (bar,) = [_text(o) for o in run.outputs if o["output_type"] == "display_data"]
    assert bar.startswith("done") and "45/45" in bar
    statuses = _cell(nb, "print(results.counts())").outputs[0]["text"].splitlines()
    assert ast.literal_eval(statuses[0]) == {"ok": 45}
    by_method = ast.literal_eval(statuses[1])
    methods = ["fft", "fft-polyphase", "mine", "shift-add", "strided-view"]
    assert by_method == {m: ["ok"] for m in methods}
    (shown,) = _cell(nb, "results", exact=True).outputs
    assert "Fastest method per cell" in shown["data"]["text/html"]
    assert shown["data"]["text/plain"].startswith("convbench Results: 45 rows (45 ok)")


def test_it_answers_with_the_fastest_map_and_a_memory_figure(executed):
    nb, folder = executed
    answer = _cell(nb, "best = results.fastest()")
    assert answer.outputs[0]["text"].startswith("fastest in the most cells: ")
    assert "of 9)" in answer.outputs[0]["text"]
    for starts in ('results.plot(kind="fastest")', 'results.plot("memory"'):
        images = [o for o in _cell(nb, starts).outputs if "image/png" in o.get("data", {})]
        assert len(images) == 1, starts
    saved = _cell(nb, "path = results.save(").outputs[0]["text"]
    assert saved.strip() == "notebook-example.csv True"
    assert (folder / "notebook-example.csv").is_file()
    assert (folder / "notebook-example.meta.json").is_file()
