"""The feature networks jaxgan scores with, trained, cached and shipped alike.

A `Network` is the training objective of a Flax module for images of any shape (H, W, C), the
recipe that reproduces its weights, and the two files it writes into a dataset's reference (its
weights, its features of the real held-out images). `fit` trains one with its
recipe; `save`/`load` cache it as an Orbax checkpoint keyed by the recipe and the digest of its
training data, so a network trained on other data is never reused; `read_verified` checks a file
against its sha256 before it is used. MNIST's files ship with jaxgan, named `mnist_<file>`.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import io
import json
import math
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax

from jaxgan import checkpoint
from jaxgan.data import epoch_order, normalize
from jaxgan.errors import DataError, EvaluationError
from jaxgan.files import content_digest, write_json_atomic

SHIPPED = Path(__file__).parent / "weights"
Shape = tuple[int, int, int]


@dataclasses.dataclass(frozen=True)
class Network:
    """A feature network: `loss(module, params, images in [-1, 1], labels)` is what its recipe
    minimises (Adam with a cosine-decayed `lr`, `epochs` of `batch_size`, from `seed`) for its
    module of any image shape; `files` the names of its weights' and its real features' files in
    a reference, with the sha256 of MNIST's."""

    name: str
    loss: Callable[[nn.Module, Any, jax.Array, jax.Array], jax.Array]
    recipe: dict[str, Any]
    files: dict[str, str]

    @property
    def shipped(self) -> dict[str, str]:
        """The shipped files' names and sha256."""
        return {f"mnist_{name}": digest for name, digest in self.files.items()}


def init(module: nn.Module, key: jax.Array) -> Any:
    return module.init(key, jnp.zeros((1, math.prod(module.image_shape))))["params"]


@functools.partial(jax.jit, static_argnums=(4, 5, 7, 8), donate_argnums=(0, 1))
def _train_epoch(params, opt_state, images_u8, labels, batch_size: int, tx, key, loss, module):
    order, _ = epoch_order(key, len(images_u8), batch_size, drop_last=True)

    def body(carry, idx):
        params, opt_state = carry
        value, grads = jax.value_and_grad(loss, argnums=1)(
            module, params, normalize(images_u8[idx]), labels[idx]
        )
        updates, opt_state = tx.update(grads, opt_state, params)
        return (optax.apply_updates(params, updates), opt_state), value

    (params, opt_state), losses = jax.lax.scan(body, (params, opt_state), order)
    return params, opt_state, losses.mean()


def fit(
    network: Network,
    module: nn.Module,
    images: np.ndarray,
    labels: np.ndarray,
    *,
    min_steps: int = 0,
    seed: int | None = None,
    verbose: bool = True,
) -> Any:
    """The parameters of `module` (made by `network`) trained by its recipe on uint8 images as rows
    (and their labels, which a label-free objective ignores), for more epochs where the recipe's
    take fewer than `min_steps` steps; `seed` replaces the recipe's."""
    recipe, batch_size = network.recipe, network.recipe["batch_size"]
    if len(images) < batch_size:
        raise DataError(
            f"the {network.name}'s recipe trains on batches of {batch_size}: {len(images)} "
            f"training images are too few"
        )
    steps = len(images) // batch_size
    epochs = max(recipe["epochs"], -(-min_steps // steps))
    seed = recipe["seed"] if seed is None else seed
    init_key, data_key = jax.random.split(jax.random.key(seed))
    params = init(module, init_key)
    tx = optax.adam(optax.cosine_decay_schedule(recipe["lr"], epochs * steps))
    opt_state = tx.init(params)
    images, labels = jnp.asarray(images), jnp.asarray(labels, jnp.int32)
    for epoch in range(epochs):
        t0 = time.perf_counter()
        key = jax.random.fold_in(data_key, epoch)
        params, opt_state, loss = _train_epoch(
            params, opt_state, images, labels, batch_size, tx, key, network.loss, module
        )
        if verbose:
            print(
                f"{network.name} epoch {epoch + 1}/{epochs}: loss {float(loss):.4f} "
                f"({time.perf_counter() - t0:.1f} s)",
                file=sys.stderr,
            )
    return params


def cache_path(network: Network, cache_dir: str | Path, train_digest: str) -> Path:
    """The cached `network` of its recipe trained on the data whose content digest is given."""
    recipe = hashlib.sha256(json.dumps(network.recipe, sort_keys=True).encode()).hexdigest()[:8]
    name = f"{network.recipe['arch']}-{recipe}-{train_digest[:16]}"
    return Path(cache_dir).absolute() / network.name / name


def _record_path(path: Path) -> Path:
    return path.with_name(path.name + ".json")


def save(network: Network, params, path: Path, train_digest: str, **record: Any) -> None:
    """Cache `params` with a record of the recipe, the training data and `record`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    checkpoint.save_tree(path, params)
    write_json_atomic(
        _record_path(path),
        {
            "recipe": network.recipe,
            "train_sha256": train_digest,
            "params_sha256": content_digest(*jax.tree.leaves(params)),
            **record,
        },
    )


def load(
    network: Network, module: nn.Module, path: Path, train_digest: str
) -> tuple[Any, dict[str, Any]] | None:
    """(params, record) of the cached `network`, or None (with a warning when an entry exists but
    is not the one it claims to be: corrupt, or of another recipe or data)."""
    if not path.exists():
        return None
    try:
        record = json.loads(_record_path(path).read_text())
        params = checkpoint.restore_tree(path, init(module, jax.random.key(0)))
        valid = (
            record["recipe"] == network.recipe
            and record["train_sha256"] == train_digest
            and record["params_sha256"] == content_digest(*jax.tree.leaves(params))
        )
    except Exception as e:  # missing record, truncated files: many exception types
        valid, reason = False, type(e).__name__
    else:
        reason = "its record does not match it"
    if not valid:
        print(
            f"warning: ignoring the cached {network.name} {path} ({reason}); training it again",
            file=sys.stderr,
        )
        return None
    return params, record


def flat_params(params) -> dict[str, np.ndarray]:
    """Parameters as `np.savez` arrays named by their tree paths ("Dense_0/kernel")."""
    return {
        "/".join(k.key for k in path): np.asarray(leaf)
        for path, leaf in jax.tree_util.tree_flatten_with_path(params)[0]
    }


def params_from_flat(flat: dict[str, np.ndarray], template) -> Any:
    return jax.tree_util.tree_map_with_path(
        lambda path, leaf: jnp.asarray(flat["/".join(k.key for k in path)], leaf.dtype), template
    )


def write_files(folder: str | Path, files: dict[str, dict[str, np.ndarray]]) -> dict[str, str]:
    """Each `.npz` of `files` (name: arrays) written into `folder`; their sha256 by name."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    for name, arrays in files.items():
        with open(folder / name, "wb") as f:
            np.savez(f, **arrays)
    return {name: hashlib.sha256((folder / name).read_bytes()).hexdigest() for name in files}


def read_verified(path: Path, sha256: str, remedy: str) -> dict[str, np.ndarray]:
    """The arrays of the .npz `path` after its sha256 is checked; else one line ending in `remedy`."""
    try:
        raw = path.read_bytes()
    except OSError as e:
        raise EvaluationError(
            f"the evaluation file {path} is unreadable ({e.strerror}); {remedy}"
        ) from None
    if hashlib.sha256(raw).hexdigest() != sha256:
        raise EvaluationError(f"the evaluation file {path} does not match its sha256; {remedy}")
    with np.load(io.BytesIO(raw), allow_pickle=False) as arrays:
        return {k: arrays[k] for k in arrays.files}


def read_shipped(network: Network) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """The arrays of `network`'s two shipped files (weights, real features), verified."""
    weights, features = (
        read_verified(SHIPPED / name, digest, "reinstall jaxgan")
        for name, digest in network.shipped.items()
    )
    return weights, features
