"""jaxgan: the classic MLP GAN on MNIST, in pure-functional JAX (Flax linen, Optax, TFDS).

The public API (docs/api.md); every other name is internal:

    config = jaxgan.Config(epochs=20)             # validated when built
    result = jaxgan.train(config, "runs/a")       # .state, .metrics, .workdir, .members
    fns = jaxgan.make_train(config)               # the pure functions: init, step, epoch, train
    model = jaxgan.load("runs/a")                 # .config, .state, .metrics, .sample(n, seed=)
    jaxgan.evaluate(model.sample(10_000))         # MNIST-FID and more, the shipped classifier
    jaxgan.plot_grid(model.sample(64))            # a matplotlib Figure
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from jaxgan.signals import stop_signals

__version__ = "0.1.0"

# name -> the module that owns it (imported on first use: `import jaxgan` stays light for the CLI)
_OWNERS = {
    "Config": "config",
    "train": "run",
    "TrainResult": "run",
    "MemberResult": "run",
    "load": "sampling",
    "Model": "sampling",
    "plot_grid": "images",
    "evaluate": "evaluation",
    "Evaluator": "evaluation",
    "Scores": "evaluation",
    "GANState": "step",
    "Batch": "step",
    "Metrics": "step",
    "hyperparams": "step",
    "make_train": "epoch",
    "TrainFunctions": "epoch",
    "run_keys": "epoch",
    "RunKeys": "epoch",
    "load_dataset": "data",
    "EpochMetrics": "runlog",
    "CheckpointRecord": "record",
    "JaxganError": "errors",
    "ConfigError": "errors",
    "DataError": "errors",
    "CheckpointError": "errors",
    "EvaluationError": "errors",
    "TrainingError": "errors",
}
__all__ = [
    "Batch",
    "CheckpointError",
    "CheckpointRecord",
    "Config",
    "ConfigError",
    "DataError",
    "EpochMetrics",
    "EvaluationError",
    "Evaluator",
    "GANState",
    "JaxganError",
    "MemberResult",
    "Metrics",
    "Model",
    "RunKeys",
    "Scores",
    "TrainFunctions",
    "TrainResult",
    "TrainingError",
    "evaluate",
    "hyperparams",
    "load",
    "load_dataset",
    "make_train",
    "plot_grid",
    "run_keys",
    "train",
]


def __getattr__(name: str) -> Any:
    if name not in _OWNERS:
        raise AttributeError(f"module 'jaxgan' has no attribute {name!r}")
    with (
        stop_signals() as stop
    ):  # a Ctrl-C waits for the import's end: half-imported, JAX stays broken
        value = getattr(importlib.import_module(f"jaxgan.{_OWNERS[name]}"), name)
    globals()[name] = value
    stop.check()
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})


if TYPE_CHECKING:
    from jaxgan.config import Config
    from jaxgan.data import load_dataset
    from jaxgan.epoch import RunKeys, TrainFunctions, make_train, run_keys
    from jaxgan.errors import (
        CheckpointError,
        ConfigError,
        DataError,
        EvaluationError,
        JaxganError,
        TrainingError,
    )
    from jaxgan.evaluation import Evaluator, Scores, evaluate
    from jaxgan.images import plot_grid
    from jaxgan.record import CheckpointRecord
    from jaxgan.run import MemberResult, TrainResult, train
    from jaxgan.runlog import EpochMetrics
    from jaxgan.sampling import Model, load
    from jaxgan.step import Batch, GANState, Metrics, hyperparams
