"""Run configuration: every option once, with its help, group and check. Defaults are the
reference PyTorch tutorial's hyper-parameters; the command line is generated from these fields."""

from __future__ import annotations

import dataclasses
import difflib
import math
from collections.abc import Callable
from typing import Any

import numpy as np

from jaxgan.errors import ConfigError, arg

MAX_SEED = 2**32 - 1  # JAX folds larger seeds onto smaller ones
GROUPS = ("model", "objective", "optimiser", "data", "schedule", "outputs")


@dataclasses.dataclass(frozen=True)
class Check:
    """A predicate on one option's value and what it asks for, e.g. "a positive integer"."""

    ok: Callable[[Any], bool]
    wants: str


def _int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def one_of(*values: str) -> Check:
    return Check(lambda v: v in values, f"one of {', '.join(values)}")


POSITIVE_INT = Check(lambda v: _int(v) and v > 0, "a positive integer")
COUNT_OR_OFF = Check(lambda v: _int(v) and v >= 0, "0 (off) or a positive integer")
POSITIVE = Check(lambda v: _number(v) and v > 0, "a finite number > 0")
NON_NEGATIVE = Check(lambda v: _number(v) and v >= 0, "a finite number >= 0")
FRACTION = Check(lambda v: _number(v) and 0 <= v < 1, "in [0, 1)")
FLAG = Check(lambda v: isinstance(v, bool), "true or false")
SEED = Check(lambda v: _int(v) and 0 <= v <= MAX_SEED, f"an integer in 0 .. {MAX_SEED}")
NAME = Check(lambda v: isinstance(v, str) and v.strip() == v != "", "a dataset's name")
SHAPE = Check(
    lambda v: isinstance(v, tuple) and len(v) == 3 and all(_int(d) and d > 0 for d in v),
    "(height, width, channels), positive integers",
)
MNIST = "mnist"


def checked_seed(value: Any, name: str = "seed") -> int:
    """A sampling seed: an integer in 0 .. MAX_SEED (larger ones would repeat smaller ones' noise)."""
    if not SEED.ok(value) and not (isinstance(value, np.integer) and SEED.ok(int(value))):
        raise ConfigError(f"{arg(name)} must be {SEED.wants}, got {value!r}")
    return int(value)


def option(default: Any, group: str, check: Check, help: str, flag: bool = True) -> Any:
    """A Config field: its default, its command-line group, its check and its help text; without
    `flag`, a fact read from the data that no command line sets."""
    return dataclasses.field(
        default=default, metadata={"group": group, "check": check, "help": help, "flag": flag}
    )


@dataclasses.dataclass(frozen=True)
class Config:
    arch: str = option(
        "mlp",
        "model",
        one_of("mlp", "dcgan"),
        "architecture of G and D: mlp (the reference) or dcgan",
    )
    latent_dim: int = option(100, "model", POSITIVE_INT, "size of the latent z ~ N(0, I)")
    hidden_dim: int = option(128, "model", POSITIVE_INT, "mlp: hidden width of G and D")
    depth: int = option(1, "model", POSITIVE_INT, "mlp: hidden layers of G and of D")
    channels: int = option(
        64, "model", POSITIVE_INT, "dcgan: convolution width c of G (2c, c) and D (c, 2c)"
    )
    conditional: bool = option(
        False, "model", FLAG, "class-conditional GAN: labels feed G and a projection D"
    )
    modulation: bool = option(
        False,
        "model",
        FLAG,
        "mlp: G's hidden layers modulated by its input (z, code, label): "
        "h * (1 + gamma) + beta, both linear in the input and 0 at the start",
    )
    codes: int = option(
        0,
        "model",
        COUNT_OR_OFF,
        "InfoGAN categorical code: the argmax of z's first CODES coordinates, "
        "predicted by a Q head on D (0: off)",
    )
    loss: str = option(
        "bce",
        "objective",
        one_of("bce", "hinge", "lsgan"),
        "bce (the reference: non-saturating G), hinge or lsgan (least squares)",
    )
    info_weight: float = option(
        1.0, "objective", NON_NEGATIVE, "weight of the InfoGAN code's cross-entropy in both losses"
    )
    d_dropout: float = option(
        0.0, "objective", FRACTION, "dropout on D's last hidden features while training"
    )
    class_loss: float = option(
        0.0,
        "objective",
        NON_NEGATIVE,
        "conditional: weight of ADC-GAN's classifier on D (real digit k vs generated "
        "digit k; 0: off)",
    )
    mode_seeking: float = option(
        0.0,
        "objective",
        NON_NEGATIVE,
        "weight of MSGAN's mode-seeking term on G: 1 / (mean image distance / mean "
        "latent distance) over the batch's pairs given the same digit (0: off)",
    )
    lr: float = option(2e-4, "optimiser", POSITIVE, "Adam learning rate of both networks")
    d_lr: float = option(
        0.0, "optimiser", NON_NEGATIVE, "D's learning rate when it differs from G's (0: --lr)"
    )
    beta1: float = option(0.9, "optimiser", FRACTION, "Adam beta1")
    beta2: float = option(0.999, "optimiser", FRACTION, "Adam beta2")
    eps: float = option(1e-8, "optimiser", POSITIVE, "Adam epsilon")
    ema_decay: float = option(
        0.0,
        "optimiser",
        FRACTION,
        "decay of G's weight EMA, used for samples and evaluation (0: off)",
    )
    dataset: str = option(
        MNIST,
        "data",
        NAME,
        "TFDS image dataset to train on (an `image` feature, and `label` where it has one); "
        "data given as arrays (--data) is named array:DIGEST",
    )
    image_shape: tuple[int, int, int] = option(
        (28, 28, 1), "data", SHAPE, "(height, width, channels) of the data's images", flag=False
    )
    num_classes: int = option(
        10, "data", COUNT_OR_OFF, "classes of the data's labels (0: no labels)", flag=False
    )
    batch_size: int = option(64, "data", POSITIVE_INT, "global batch size")
    drop_last: bool = option(
        False, "data", FLAG, "drop each epoch's last partial batch (the reference keeps it)"
    )
    epochs: int = option(100, "schedule", POSITIVE_INT, "epochs to train in all")
    seed: int = option(0, "schedule", SEED, "seed of initialisation, data order and noise")
    log_every: int = option(100, "outputs", POSITIVE_INT, "batches between progress lines")
    sample_every: int = option(10, "outputs", POSITIVE_INT, "epochs between sample grids")
    checkpoint_every: int = option(10, "outputs", POSITIVE_INT, "epochs between checkpoints")
    keep: int = option(3, "outputs", POSITIVE_INT, "checkpoints kept")
    eval_every: int = option(
        0, "outputs", COUNT_OR_OFF, "epochs between MNIST-FID evaluations while training (0: off)"
    )
    eval_samples: int = option(
        2000, "outputs", POSITIVE_INT, "samples per evaluation while training"
    )

    def __init__(self, **options: Any) -> None:
        known = {f.name: f for f in dataclasses.fields(self)}
        if unknown := [k for k in options if k not in known]:
            close = difflib.get_close_matches(unknown[0], known, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise ConfigError(f"Config has no option {unknown[0]!r}{hint}")
        for name, field in known.items():
            value = options.get(name, field.default)
            if name == "image_shape" and isinstance(value, list):  # as JSON holds it
                value = tuple(value)
            object.__setattr__(self, name, value)
        self.validate()  # a Config that exists is one that can train

    def validate(self) -> Config:
        """Every field against its check, then the checks that involve two fields."""
        for field in dataclasses.fields(self):
            value, check = getattr(self, field.name), field.metadata["check"]
            if not check.ok(value):
                raise ConfigError(f"{arg(field.name)} must be {check.wants}, got {value!r}")
        if self.codes == 1 or self.codes >= self.latent_dim:
            raise ConfigError(
                f"{arg('codes')} must be 0 (off) or 2 .. latent_dim - 1 = {self.latent_dim - 1}, "
                f"got {self.codes!r}"
            )
        if self.class_loss and not self.conditional:
            raise ConfigError(
                f"{arg('class_loss')} needs {arg('conditional')}: its classifier learns the labels"
            )
        if self.modulation and self.arch != "mlp":
            raise ConfigError(
                f"{arg('modulation')} is an mlp option; {arg('arch')} is {self.arch!r}"
            )
        if self.image_shape[2] not in (1, 3):
            raise ConfigError(
                f"images of {self.image_shape[2]} channels; jaxgan trains grey (1) or RGB (3) images"
            )
        if self.conditional and self.num_classes < 2:
            raise ConfigError(
                f"{arg('conditional')} needs labels of at least 2 classes; the data "
                f"({self.dataset}) has {self.num_classes or 'no labels'}"
            )
        if self.arch == "dcgan" and (self.image_shape[0] % 4 or self.image_shape[1] % 4):
            raise ConfigError(
                f"{arg('arch')} dcgan needs a height and width divisible by 4; the data's images "
                f"are {self.image_shape[0]}x{self.image_shape[1]}"
            )
        if self.eval_every and self.eval_samples < 20:
            raise ConfigError(
                f"{arg('eval_samples')} must be at least 20, got {self.eval_samples!r}"
            )
        return self

    @property
    def pixels(self) -> int:
        """Values per image, H * W * C: the length of an image's row."""
        return math.prod(self.image_shape)

    @property
    def sample_shape(self) -> tuple[int, ...]:
        """An image's array shape: (H, W) for grey images, (H, W, C) otherwise."""
        return self.image_shape[:2] if self.image_shape[2] == 1 else self.image_shape

    def replace(self, **changes: Any) -> Config:
        return dataclasses.replace(self, **changes)

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, data: Any) -> Config:
        """A config saved by `to_json`; other keys and values are refused."""
        if not isinstance(data, dict):
            raise ConfigError(f"a config is a dict of options, got {type(data).__name__}")
        return cls(**data)

    @classmethod
    def preset(cls, name: str) -> Config:
        if name not in PRESETS:
            raise ConfigError(
                f"unknown {arg('preset')} {name!r}; choose one of {', '.join(PRESETS)}"
            )
        return cls(**PRESETS[name])


def flag(name: str) -> str:
    """A field's command-line flag: latent_dim -> --latent-dim."""
    return "--" + name.replace("_", "-")


# "quality" (unconditional) and "conditional": the best measured within the wall time of the
# 100-epoch reference run, each change kept only where it wins in both feature spaces over seeds
# (selection.keeps; docs/experiments.md). "reference" is the default Config.
PRESETS: dict[str, dict[str, Any]] = {
    "reference": {},
    "quality": {
        "hidden_dim": 512,
        "depth": 2,
        "latent_dim": 26,
        "codes": 10,
        "beta1": 0.3,
        "lr": 5e-4,
        "ema_decay": 0.9995,
        "loss": "hinge",
        "d_dropout": 0.3,
        "epochs": 18,
    },
    "conditional": {
        "conditional": True,
        "class_loss": 3.0,
        "hidden_dim": 512,
        "depth": 2,
        "latent_dim": 32,
        "beta1": 0.3,
        "lr": 5e-4,
        "ema_decay": 0.999,
        "loss": "hinge",
        "batch_size": 128,
        "epochs": 19,
    },
}
