"""The public API (`import jaxgan`): what a notebook types, checked as a notebook would use it."""

from __future__ import annotations

import subprocess
import sys

import pytest

import jaxgan

from conftest import ROOT


@pytest.mark.slow
def test_import_is_light_and_every_public_name_resolves():
    code = "import sys, jaxgan; assert 'jax' not in sys.modules; print(len(jaxgan.__all__))"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True
    )
    assert int(out.stdout) == len(jaxgan.__all__)
    for name in jaxgan.__all__:
        assert getattr(jaxgan, name) is not None, name
    with pytest.raises(AttributeError, match="no attribute 'train_and_evaluate'"):
        jaxgan.train_and_evaluate  # noqa: B018 (internal: not part of the face)


def test_a_config_is_validated_when_built_naming_the_python_argument():
    with pytest.raises(jaxgan.ConfigError, match=r"^lr must be a finite number > 0, got -1$"):
        jaxgan.Config(lr=-1)
    with pytest.raises(jaxgan.ConfigError, match="^codes must be 0"):
        jaxgan.Config().replace(codes=1)
    assert jaxgan.Config(epochs=3).epochs == 3
