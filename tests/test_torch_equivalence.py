"""One jaxgan step equals one iteration of the PyTorch reference loop (torch optional).

The comparison runs in its own process: torch and TensorFlow (loaded by other tests) crash when
they share one.
"""

import importlib.util
import subprocess
import sys
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxgan.config import Config
from jaxgan.epoch import make_train

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.skipif(
    importlib.util.find_spec("torch") is None,
    reason="PyTorch not installed (pip install -e '.[bench]')",
)
@pytest.mark.slow
def test_train_steps_match_the_pytorch_reference_loop():
    result = subprocess.run([sys.executable, __file__], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "MATCH" in result.stdout


def compare_with_torch() -> None:
    import torch

    sys.path.insert(0, str(ROOT))
    from benchmarks.torch_reference import Discriminator, Generator

    torch.manual_seed(0)
    fns = make_train(Config())
    state = fns.init(jax.random.key(0))
    gen, disc = Generator(100), Discriminator()
    with torch.no_grad():  # copy jaxgan's init into the torch modules (weight is kernel.T)
        for module, params in ((gen.model, state.g_params), (disc.model, state.d_params)):
            linears = [m for m in module if isinstance(m, torch.nn.Linear)]
            for linear, name in zip(linears, ("hidden", "out"), strict=False):
                linear.weight.copy_(torch.from_numpy(np.asarray(params[name]["kernel"]).T.copy()))
                linear.bias.copy_(torch.from_numpy(np.asarray(params[name]["bias"]).copy()))
    bce = torch.nn.BCELoss()
    opt_g = torch.optim.Adam(gen.parameters(), lr=2e-4)
    opt_d = torch.optim.Adam(disc.parameters(), lr=2e-4)
    step = jax.jit(fns.step)
    for i in range(5):
        key = jax.random.key(100 + i)
        real = np.random.default_rng(i).uniform(-1, 1, (64, 784)).astype(np.float32)
        z = np.asarray(jax.random.normal(key, (64, 100)))  # the z the step draws from `key`
        state, metrics = step(state, {"image": jnp.asarray(real)}, key)

        real_t, z_t = torch.from_numpy(real), torch.from_numpy(z.copy())
        ones, zeros = torch.ones(64, 1), torch.zeros(64, 1)
        opt_d.zero_grad()
        fake = gen(z_t)
        d_loss = bce(disc(real_t), ones) + bce(disc(fake.detach()), zeros)
        d_loss.backward()
        opt_d.step()
        opt_g.zero_grad()
        g_loss = bce(disc(fake), ones)
        g_loss.backward()
        opt_g.step()
        np.testing.assert_allclose(float(metrics["d_loss"]), d_loss.item(), rtol=1e-4)
        np.testing.assert_allclose(float(metrics["g_loss"]), g_loss.item(), rtol=1e-4)
    for module, params in ((gen.model, state.g_params), (disc.model, state.d_params)):
        linears = [m for m in module if isinstance(m, torch.nn.Linear)]
        for linear, name in zip(linears, ("hidden", "out"), strict=False):
            np.testing.assert_allclose(
                np.asarray(params[name]["kernel"]),
                linear.weight.detach().numpy().T,
                rtol=0,
                atol=2e-5,
            )
            diff = np.abs(np.asarray(params[name]["kernel"]) - linear.weight.detach().numpy().T)
            assert np.median(diff) < 1e-7  # most elements agree to float round-off
    print("MATCH")


if __name__ == "__main__":
    compare_with_torch()
