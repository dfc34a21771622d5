"""The tutorial notebook (docs/tutorial.ipynb) runs from its first cell to its last, on mock data
and a tiny config, in a fresh kernel: the documented story works as written."""

from __future__ import annotations

import pytest

from conftest import ROOT

TUTORIAL = ROOT / "docs" / "tutorial.ipynb"


@pytest.mark.slow
def test_the_tutorial_runs_end_to_end(idx_mnist, tmp_path):
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    notebook = nbformat.read(TUTORIAL, as_version=4)
    (parameters,) = [c for c in notebook.cells if "parameters" in c.metadata.get("tags", [])]
    parameters.source = (
        f"DATA_DIR = {idx_mnist!r}\nWORKDIR = {str(tmp_path / 'runs' / 'tutorial')!r}\n"
        "EPOCHS = 1\nSEEDS = 2\nN_EVAL = 300\n"
        "OVERRIDES = {'batch_size': 32, 'hidden_dim': 16, 'latent_dim': 8}"
    )
    nbclient.NotebookClient(
        notebook,
        timeout=300,
        kernel_name="python3",
        resources={"metadata": {"path": str(tmp_path)}},
    ).execute()
    outputs = [o for c in notebook.cells if c.cell_type == "code" for o in c.get("outputs", [])]
    assert not [o for o in outputs if o.output_type == "error"]
    figures = [o for o in outputs if "image/png" in o.get("data", {})]
    assert len(figures) == 2, "the data grid and the sample grid are shown"
    text = "".join(o.get("text", "") for o in outputs)
    assert (
        "refused: lr must be a finite number > 0" in text and "same inputs, same bits: True" in text
    )
    assert "seed 1, lr 1e-03: last epoch" in text and "seed 0, lr 2e-04" in text
    assert "2 members: MNIST-FID" in text and "Batch" not in text
    assert (tmp_path / "runs" / "tutorial_seeds" / "members" / "1" / "metrics.jsonl").is_file()


def test_the_tutorial_is_committed_without_outputs():
    import json

    cells = json.loads(TUTORIAL.read_text())["cells"]
    assert [c for c in cells if c["cell_type"] == "code"] and not [
        c for c in cells if c.get("outputs")
    ]
