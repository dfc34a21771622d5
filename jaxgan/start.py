"""Before the loop: every check that needs no workdir (config, data, devices, memory, the
evaluation classifier), and the state a run starts from: fresh, or its newest readable checkpoint
on resume, trained on with the numbers asked."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import jax
import numpy as np

from jaxgan import checkpoint, parallel
from jaxgan.config import MNIST, Config
from jaxgan.data import Dataset, from_arrays, load_data, with_data
from jaxgan.epoch import TrainFunctions, run_keys
from jaxgan.errors import ConfigError, TrainingError, arg, checked_path
from jaxgan.evaluation import Evaluator
from jaxgan.images import SAMPLE_BYTES
from jaxgan.population import (
    Population,
    init_population,
    population_hyperparams,
    restore_population,
)
from jaxgan.record import CheckpointRecord
from jaxgan.step import GANState, hyperparams, with_hyperparams
from jaxgan.workdir import Workdir, check_writable, has_checkpoints


def training_data(
    config: Config, data: Any, data_dir: str | None, cache_dir: str | Path | None
) -> Dataset:
    """`data` (a Dataset, or images / (images, labels) arrays) where given, else the config's
    TFDS dataset."""
    if data is not None:
        if isinstance(data, Dataset):
            return data
        images, labels = data if isinstance(data, tuple) and len(data) == 2 else (data, None)
        return from_arrays(images, labels, what=arg("data"))
    if config.dataset.startswith("array:"):
        raise ConfigError(
            f"the run was trained on data given as arrays ({config.dataset}); pass the same "
            f"data with {arg('data')}"
        )
    data_dir = None if data_dir is None else str(checked_path(data_dir, "data_dir"))
    cache_dir = None if cache_dir is None else checked_path(cache_dir, "cache_dir")
    return load_data(config.dataset, "train", data_dir, cache_dir)


def checked_inputs(
    config: Config,
    population: Population | None,
    workdir: Path,
    data: Any,
    data_dir: str | None,
    cache_dir: str | Path | None,
    num_devices: int | None,
    resume: bool = False,
) -> tuple[Config, np.ndarray, np.ndarray | None, jax.sharding.Mesh, Evaluator | None]:
    """The config for its data (`with_data`; on `resume`, the data the run was trained on unless
    `data` is given, and refused when it differs), the data, the device mesh and the evaluator
    (with `eval_every`), after every check that needs no workdir."""
    config.validate()
    if population is not None:
        population.validate()
        if jax.process_count() > 1 and config.eval_every:
            raise TrainingError(
                f"{arg('eval_every')} with a population across processes: evaluate its "
                f"members afterwards (evaluate.py --workdir WORKDIR)"
            )
    check_writable(workdir)
    evaluator = None
    if config.eval_every:
        parallel.check_host_memory(
            config.eval_samples, SAMPLE_BYTES, arg("eval_samples", config.eval_samples)
        )
        if data is None and config.dataset == MNIST:
            evaluator = Evaluator.standard()  # the shipped networks, verified before the data
    trained_on = _trained_on(workdir) if resume else None
    if trained_on is not None and data is None:  # resumed on the data the run was trained on
        config = config.replace(dataset=trained_on.dataset)
    dataset = training_data(config, data, data_dir, cache_dir)
    if trained_on is not None:
        check_same_data(trained_on, dataset)
    config = with_data(config, dataset)
    if config.eval_every and (evaluator is None or evaluator.dataset != config.dataset):
        evaluator = Evaluator.for_config(config, cache_dir)  # the data's own reference, verified
    images, labels = dataset.images, dataset.labels
    if config.batch_size > len(images):
        raise ConfigError(
            f"{arg('batch_size', config.batch_size)} is larger than the dataset ({len(images)} "
            "examples)"
        )
    mesh = parallel.make_mesh(num_devices, members=population.size if population else 0)
    parallel.check_divisible(mesh, len(images), config.batch_size, config.drop_last)
    per_device = population.size // mesh.shape[parallel.MEMBERS_AXIS] if population else 1
    parallel.check_fits(config, mesh.devices.flat[0], per_device)
    return config, images, labels, mesh, evaluator


def start(
    config: Config,
    population: Population | None,
    folder: Workdir,
    resume: bool,
    fns: TrainFunctions,
) -> tuple[GANState, dict[str, Any] | None]:
    """The newest readable checkpoint's state and record on --resume (training on with the numbers
    of `config`), else a fresh state."""
    ckpt_dir = checkpoint.checkpoint_dir(folder.path)
    if not (resume and has_checkpoints(ckpt_dir)):
        if resume:
            print(f"no checkpoint in {ckpt_dir}; starting a new run", file=sys.stderr)
        if population is not None:
            return init_population(population, fns), None
        return fns.init(run_keys(config.seed)["init"]), None
    if population is not None:
        state, record, _ = restore_population(folder.path, population, fns)
        state = with_hyperparams(state, population_hyperparams(population))
    else:
        template = jax.eval_shape(fns.init, jax.random.key(0))
        state, record = checkpoint.restore_latest(ckpt_dir, expected=config, template=template)
        state = with_hyperparams(state, hyperparams(config))
    check_resumable(record.config, config, record)
    for path in checkpoint.set_aside_newer(ckpt_dir, record.epoch):
        if jax.process_index() == 0:
            folder.add_to_manifest(str(path.relative_to(folder.path)))
        print(f"warning: moved unreadable checkpoint to {path}", file=sys.stderr)
    print(f"resuming from epoch {record.epoch} (step {record.step})", file=sys.stderr)
    return state, record


def _trained_on(workdir: Path) -> Config | None:
    """The config of the newest readable checkpoint in `workdir` (None: there is none)."""
    ckpt_dir = checkpoint.checkpoint_dir(workdir)
    return checkpoint.saved_record(ckpt_dir).config if has_checkpoints(ckpt_dir) else None


def check_same_data(saved: Config, data: Dataset) -> None:
    """A run resumes only on the data it was trained on: its name or digest, shape and classes."""
    trained = (saved.dataset, saved.image_shape, saved.num_classes)
    if trained != (data.name, data.shape, data.num_classes):
        shape = lambda s: "x".join(map(str, s))  # noqa: E731
        raise TrainingError(
            f"cannot resume on other data: the run was trained on {saved.dataset} "
            f"({shape(saved.image_shape)}, {saved.num_classes} classes), not on {data.name} "
            f"({shape(data.shape)}, {data.num_classes} classes)"
        )


def check_resumable(saved: Config, asked: Config, record: CheckpointRecord) -> None:
    """The seed defines the data order and noise a resumed run must continue."""
    if saved.seed != asked.seed:
        raise TrainingError(
            f"cannot resume with {arg('seed', asked.seed)}: the run was started with {saved.seed}"
        )
    if record.run_key != np.asarray(jax.random.key_data(run_keys(saved.seed)["root"])).tolist():
        raise TrainingError(
            "the checkpoint's RNG key does not match its seed; it was not "
            "written by this version of jaxgan"
        )
