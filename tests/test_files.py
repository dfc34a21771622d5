"""Files: atomic writes, content digests, the default cache folder; and the suite itself never
touches the user's caches."""

from __future__ import annotations

import pytest

from jaxgan import files

from conftest import (
    TINY_FLAGS,
    USER_CACHE,
    run_cli,
)


@pytest.mark.slow
def test_tests_write_no_cache_outside_their_tmp_dirs(idx_mnist, isolated_caches, tmp_path):
    before = sorted(USER_CACHE.rglob("*")) if USER_CACHE.exists() else None
    assert files.default_cache_dir() == isolated_caches / ".cache" / "jaxgan"
    result = run_cli(
        "train",
        *TINY_FLAGS[:-1],
        "--epochs",
        "1",
        "--data-dir",
        idx_mnist,
        "--workdir",
        str(tmp_path / "run"),
    )
    assert result.returncode == 0, result.stderr
    assert list((isolated_caches / ".cache" / "jaxgan").glob("mnist-3.0.1-train-*.npz"))
    assert (sorted(USER_CACHE.rglob("*")) if USER_CACHE.exists() else None) == before


def test_an_atomic_write_that_fails_leaves_the_old_file_and_no_temporary(tmp_path):
    target = tmp_path / "metrics.json"
    files.write_json_atomic(target, {"epoch": 1})
    with pytest.raises(RuntimeError), files.atomic_path(target) as tmp:
        tmp.write_text("half")
        raise RuntimeError("killed mid-write")
    assert target.read_text() == '{\n  "epoch": 1\n}\n' and sorted(tmp_path.iterdir()) == [target]


def test_content_digests_tell_dtype_and_shape_apart():
    import numpy as np

    ones = np.ones(4, np.uint8)
    assert files.content_digest(ones) == files.content_digest(ones.copy())
    assert files.content_digest(ones) != files.content_digest(ones.reshape(2, 2))
    assert files.content_digest(ones) != files.content_digest(ones.view(np.int8))
