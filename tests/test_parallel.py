"""Data parallelism, on 8 simulated CPU devices (XLA_FLAGS must be set before JAX starts)."""

import os
import subprocess
import sys
import textwrap

import pytest

from conftest import ROOT

EIGHT_DEVICES = {"XLA_FLAGS": "--xla_force_host_platform_device_count=8", "JAX_PLATFORMS": "cpu"}


def run_python(code: str, timeout: int = 300) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=ROOT,
        env={**os.environ, **EIGHT_DEVICES},
    )


@pytest.mark.slow
def test_one_and_eight_devices_train_the_same_parameters():
    result = run_python("""
        import functools
        import jax, numpy as np
        from jaxgan import parallel
        from jaxgan.config import Config
        from jaxgan.epoch import make_train

        assert len(jax.devices()) == 8
        config = Config(batch_size=64, hidden_dim=32, latent_dim=8)
        images = np.random.default_rng(0).integers(0, 256, (288, 784), dtype=np.uint8)  # 4x64 + 32

        def train(num_devices):
            mesh = parallel.make_mesh(num_devices)
            parallel.check_divisible(mesh, len(images), 64, False)
            rep = parallel.replicated(mesh)
            sharding = parallel.batch_sharded(mesh) if num_devices > 1 else None
            fns = make_train(config)
            fn = jax.jit(functools.partial(fns.epoch, data_sharding=sharding), out_shardings=rep)
            state = jax.device_put(fns.init(jax.random.key(0)), rep)
            data = jax.device_put(images, rep)
            for epoch in range(2):
                state, metrics = fn(state, data, jax.random.fold_in(jax.random.key(1), epoch))
            return state, metrics

        one, m1 = train(1)
        eight, m8 = train(8)
        assert len(eight.g_params["out"]["kernel"].sharding.device_set) == 8
        for a, b in zip(jax.tree.leaves(one), jax.tree.leaves(eight)):
            np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=2e-4, atol=2e-5)
        np.testing.assert_allclose(m1["d_loss"], m8["d_loss"], rtol=1e-4)
        print("OK", int(eight.step))
    """)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "OK 10" in result.stdout


@pytest.mark.slow
def test_indivisible_batches_are_refused_with_a_clear_error():
    result = run_python("""
        from jaxgan import parallel
        from jaxgan.errors import ConfigError
        mesh = parallel.make_mesh(8)
        for args, text in [((60000, 60, False), "not divisible by the 8 devices"),
                           ((100, 64, False), "last batch of each epoch has 36"),
                           ]:
            try:
                parallel.check_divisible(mesh, *args)
            except ConfigError as e:
                assert text in str(e), e
            else:
                raise AssertionError(args)
        parallel.check_divisible(mesh, 100, 64, True)  # dropping the partial batch is fine
        try:
            parallel.make_mesh(9)
        except ConfigError as e:
            assert "between 1 and 8" in str(e)
        else:
            raise AssertionError("9 devices")
        print("OK")
    """)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "OK" in result.stdout


@pytest.mark.slow
def test_train_script_uses_all_devices_by_default(idx_mnist, tmp_path):
    result = subprocess.run(
        [
            sys.executable,
            str(ROOT / "scripts" / "train.py"),
            "--epochs",
            "1",
            "--batch-size",
            "32",
            "--hidden-dim",
            "16",
            "--latent-dim",
            "8",
            "--no-cache",
            "--data-dir",
            idx_mnist,
            "--workdir",
            str(tmp_path / "run"),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=ROOT,
        env={**os.environ, **EIGHT_DEVICES},
    )
    assert result.returncode == 0, result.stderr
    assert "on 8 cpu device(s)" in result.stderr
    result = subprocess.run(
        [
            sys.executable,
            str(ROOT / "scripts" / "train.py"),
            "--epochs",
            "1",
            "--batch-size",
            "36",
            "--no-cache",
            "--data-dir",
            idx_mnist,
            "--workdir",
            str(tmp_path / "run2"),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=ROOT,
        env={**os.environ, **EIGHT_DEVICES},
    )
    assert result.returncode == 2 and "not divisible by the 8 devices" in result.stderr


@pytest.mark.slow
def test_population_members_split_over_devices_train_as_on_one():
    """4 members on 8 devices, a (members 4, data 2) mesh, train as on one device."""
    result = run_python("""
        import jax, numpy as np
        from jaxgan import parallel
        from jaxgan.config import Config
        from jaxgan.program import compile_epoch
        from jaxgan.epoch import make_train
        from jaxgan.population import Population, init_population

        images = np.random.default_rng(0).integers(0, 256, (160, 784), dtype=np.uint8)  # 2x64 + 32
        for seeds, shape in [(4, {"members": 4, "data": 2})]:
            population = Population(Config(batch_size=64, hidden_dim=16, latent_dim=8), seeds=seeds)
            trained = {}
            for devices in (1, 8):
                mesh = parallel.make_mesh(devices, members=population.size)
                fns = make_train(population.program_config())
                members, epoch_fn = compile_epoch(population.base, init_population(population, fns), images,
                                                  population=population, mesh=mesh)
                for epoch in range(2):
                    members, metrics = epoch_fn(members, epoch)
                trained[devices] = members
            assert dict(mesh.shape) == shape, mesh.shape
            kernel = trained[8].g_params["out"]["kernel"]
            assert len(kernel.sharding.device_set) == 8 and kernel.sharding.spec[0] == "members"
            for a, b in zip(jax.tree.leaves(trained[1]), jax.tree.leaves(trained[8])):
                np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=2e-4, atol=2e-5)
        print("OK")
    """)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "OK" in result.stdout


def test_gpu_determinism_is_asked_of_xla_unless_declined(monkeypatch):
    from jaxgan import parallel

    monkeypatch.setenv("XLA_FLAGS", "--xla_force_host_platform_device_count=2")
    parallel.deterministic_gpu()
    parallel.deterministic_gpu()
    assert (
        os.environ["XLA_FLAGS"]
        == "--xla_force_host_platform_device_count=2 --xla_gpu_deterministic_ops=true"
    )
    monkeypatch.setenv("XLA_FLAGS", "--xla_gpu_deterministic_ops=false")
    parallel.deterministic_gpu()
    assert (
        os.environ["XLA_FLAGS"] == "--xla_gpu_deterministic_ops=false"
    )  # the user's own choice stays
    monkeypatch.delenv("XLA_FLAGS")
    parallel.deterministic_gpu(enabled=False)
    assert "XLA_FLAGS" not in os.environ
