"""A checkpoint's record: edited, forged or of another format, it is a corrupt checkpoint, skipped
for an older one or refused in one line."""

from __future__ import annotations

import shutil

import pytest

from jaxgan import sampling
from jaxgan.errors import (
    CheckpointError,
)
from jaxgan.record import FORMAT_VERSION

from conftest import (
    MOCK_EXAMPLES,
    edit_record,
    make_idx_dir,
)
from conftest import train_tiny as train


@pytest.fixture(scope="module")
def two_epochs(tmp_path_factory):
    """A run of two epochs of TINY, trained once; each test edits its own copy."""
    folder = tmp_path_factory.mktemp("two_epochs")
    make_idx_dir(folder / "idx", MOCK_EXAMPLES)
    with pytest.MonkeyPatch.context() as env:  # as `isolated_caches` sets it for each test
        env.setenv("HOME", str(folder))
        env.setenv("XDG_CACHE_HOME", str(folder / ".cache"))
        env.setenv("JAXGAN_ALLOW_PARTIAL_DATA", "1")
        train(folder / "run", str(folder / "idx"), epochs=2)
    return folder / "run"


@pytest.mark.slow
@pytest.mark.parametrize(
    "changes, redigest, reason",
    [
        ({"epoch": None}, False, "does not match its digest"),
        ({"epoch": None}, True, "its record says epoch None, its folder 2"),
        ({"epoch": "2"}, True, "its record says epoch '2'"),
        ({"epoch": 7}, True, "its record says epoch 7, its folder 2"),
        ({"step": 5}, True, "its record says step 5, its state 6"),
        ({"config": {"lr": 1.0}}, False, "does not match its digest"),
        ({"config": {"hidden_dim": 32}}, True, "arrays' shapes do not match its record's config"),
        ({"config": {"batch_size": "64"}}, True, "its record's config is invalid"),
    ],
)
def test_an_edited_record_is_a_corrupt_checkpoint(
    changes, redigest, reason, idx_mnist, tmp_path, capsys, two_epochs
):
    shutil.copytree(two_epochs, tmp_path / "run")
    edit_record(tmp_path / "run" / "checkpoints" / "2", redigest=redigest, **changes)
    capsys.readouterr()
    state, meta = sampling.restore_path(tmp_path / "run")
    assert meta.epoch == 1 and int(state.step) == 3
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and reason in err[0], err
    resumed = train(tmp_path / "run", idx_mnist, epochs=2, resume=True)
    assert int(resumed.step) == 6 and "resuming from epoch 1" in capsys.readouterr().err


def test_a_checkpoint_of_another_format_is_refused_naming_it(idx_mnist, tmp_path, capsys):
    train(tmp_path / "run", idx_mnist, epochs=1)
    edit_record(tmp_path / "run" / "checkpoints" / "1", redigest=True, format=FORMAT_VERSION - 1)
    capsys.readouterr()
    with pytest.raises(CheckpointError, match="no readable checkpoint"):
        sampling.restore_path(tmp_path / "run")
    err = capsys.readouterr().err.strip().splitlines()
    assert (
        len(err) == 1
        and (
            f"record format {FORMAT_VERSION - 1}, not {FORMAT_VERSION}: "
            "written by another jaxgan version"
        )
        in err[0]
    ), err
