"""Run configuration. Defaults are the reference PyTorch tutorial's hyper-parameters."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

from jaxgan.errors import ConfigError


@dataclasses.dataclass(frozen=True)
class Config:
    # Model (shape-defining: a checkpoint only fits the same values).
    arch: str = "mlp"  # "mlp" (the reference) or "dcgan" (convolutional G and D)
    latent_dim: int = 100
    hidden_dim: int = 128  # mlp
    depth: int = 1  # mlp: hidden layers of G and of D
    g_hidden_dim: int = 0  # mlp: G's hidden width when it differs from D's (0: hidden_dim)
    g_depth: int = 0  # mlp: G's hidden layers when they differ from D's (0: depth)
    channels: int = 64  # dcgan: G's last and D's first convolution width (the others: twice it)
    conditional: bool = False  # class-conditional G and (projection) D
    # InfoGAN (Chen et al., 2016) categorical code: the argmax of z's first `codes` coordinates,
    # one-hot in G, predicted by a Q head on D's features (0: off).
    codes: int = 0
    info_weight: float = 1.0  # weight of the code's cross-entropy in both losses (InfoGAN's lambda)
    # Objective: "bce" (the reference: BCE, non-saturating G), "hinge" or "lsgan" (least squares).
    loss: str = "bce"
    label_smoothing: float = 0.0  # one-sided: D's real target is 1 - label_smoothing (bce only)
    ema_decay: float = 0.0  # generator weight EMA used for samples and evaluation (0: off)
    d_dropout: float = 0.0  # dropout on D's last hidden features while training
    r1_gamma: float = 0.0  # R1 gradient penalty on real images, gamma/2 * E||grad_x D(x)||^2 (0: off)
    # Optimisation (Adam, one per network, as torch.optim.Adam's defaults).
    lr: float = 2e-4
    d_lr: float = 0.0  # D's learning rate when it differs from G's (two time-scale rule); 0: lr
    beta1: float = 0.9
    beta2: float = 0.999
    eps: float = 1e-8
    # Data and schedule.
    dataset: str = "mnist"
    batch_size: int = 64
    epochs: int = 100
    drop_last: bool = False  # The reference's DataLoader keeps the last 32-image batch.
    seed: int = 0
    # Outputs.
    log_every: int = 100  # batches between progress lines
    sample_every: int = 10  # epochs between sample grids
    checkpoint_every: int = 10  # epochs between checkpoints
    keep: int = 3  # checkpoints kept
    eval_every: int = 0  # epochs between MNIST-FID/score evaluations during training (0: never)
    eval_samples: int = 2000  # generated samples per evaluation during training

    SHAPE_FIELDS = ("arch", "latent_dim", "hidden_dim", "depth", "g_hidden_dim", "g_depth", "channels",
                    "conditional", "codes", "ema_decay")
    MAX_SEED = 2**32 - 1  # JAX folds larger seeds onto smaller ones
    ARCHS = ("mlp", "dcgan")
    LOSSES = ("bce", "hinge", "lsgan")

    def validate(self) -> "Config":
        if self.loss not in self.LOSSES:
            raise ConfigError(f"--loss must be one of {', '.join(self.LOSSES)}, got {self.loss!r}")
        if self.arch not in self.ARCHS:
            raise ConfigError(f"--arch must be one of {', '.join(self.ARCHS)}, got {self.arch!r}")
        if not 0 <= self.d_dropout < 1:
            raise ConfigError(f"--d-dropout must be in [0, 1), got {self.d_dropout!r}")
        if not 0 <= self.r1_gamma < float("inf"):
            raise ConfigError(f"--r1-gamma must be a finite number >= 0, got {self.r1_gamma!r}")
        if not 0 <= self.ema_decay < 1:
            raise ConfigError(f"--ema-decay must be in [0, 1), got {self.ema_decay!r}")
        if not 0 <= self.label_smoothing < 0.5:
            raise ConfigError(f"--label-smoothing must be in [0, 0.5), got {self.label_smoothing!r}")
        for name in ("g_hidden_dim", "g_depth"):
            if not isinstance(getattr(self, name), int) or getattr(self, name) < 0:
                raise ConfigError(f"--{name.replace('_', '-')} must be a positive integer (0: as D), "
                                  f"got {getattr(self, name)!r}")
        if not isinstance(self.codes, int) or self.codes == 1 or not 0 <= self.codes < self.latent_dim:
            raise ConfigError(f"--codes must be 0 (off) or 2 .. latent_dim - 1 = {self.latent_dim - 1}, "
                              f"got {self.codes!r}")
        if not 0 <= self.info_weight < float("inf"):
            raise ConfigError(f"--info-weight must be a finite number >= 0, got {self.info_weight!r}")
        positive = ("latent_dim", "hidden_dim", "depth", "channels", "batch_size", "epochs", "log_every",
                    "sample_every", "checkpoint_every", "keep")
        if not isinstance(self.eval_every, int) or self.eval_every < 0:
            raise ConfigError(f"--eval-every must be 0 (off) or a positive integer, got {self.eval_every!r}")
        if self.eval_every and self.eval_samples < 20:
            raise ConfigError(f"--eval-samples must be at least 20, got {self.eval_samples!r}")
        for name in positive:
            value = getattr(self, name)
            if not isinstance(value, int) or value <= 0:
                raise ConfigError(f"--{name.replace('_', '-')} must be a positive integer, got {value!r}")
        if not 0 < self.lr < float("inf"):
            raise ConfigError(f"--lr must be a finite number > 0, got {self.lr!r}")
        if not 0 <= self.d_lr < float("inf"):
            raise ConfigError(f"--d-lr must be a finite number > 0 (0: --lr), got {self.d_lr!r}")
        for name in ("beta1", "beta2"):
            if not 0 <= getattr(self, name) < 1:
                raise ConfigError(f"--{name} must be in [0, 1), got {getattr(self, name)!r}")
        if not isinstance(self.seed, int) or not 0 <= self.seed <= self.MAX_SEED:
            raise ConfigError(f"--seed must be an integer in 0 .. {self.MAX_SEED}, got {self.seed!r}")
        if not self.eps > 0:
            raise ConfigError(f"--eps must be > 0, got {self.eps!r}")
        return self

    def replace(self, **changes: Any) -> "Config":
        return dataclasses.replace(self, **changes)

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def preset(cls, name: str) -> "Config":
        """Named configurations; see PRESETS."""
        if name not in PRESETS:
            raise ConfigError(f"unknown --preset {name!r}; choose one of {', '.join(PRESETS)}")
        return cls(**PRESETS[name])

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "Config":
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})

    def shape(self) -> dict[str, Any]:
        """The shape-defining fields, G's width and depth resolved (0: as D's)."""
        shape = {f: getattr(self, f) for f in self.SHAPE_FIELDS}
        shape["g_hidden_dim"] = self.g_hidden_dim or self.hidden_dim
        shape["g_depth"] = self.g_depth or self.depth
        shape["ema_decay"] = "> 0" if self.ema_decay else "0"  # EMA weights exist or not
        return shape

    def shape_mismatches(self, other: "Config") -> list[str]:
        """Names of shape-defining fields whose values differ between two configs."""
        mine, theirs = self.shape(), other.shape()
        return [f for f in self.SHAPE_FIELDS if mine[f] != theirs[f]]

    def dumps(self) -> str:
        return json.dumps(self.to_json(), indent=2, sort_keys=True)


# "quality": chosen by measured MNIST-FID and classifier score within the wall time of the 100-epoch
# reference run (README, "Beyond the reference"). "reference" is the default Config.
PRESETS: dict[str, dict[str, Any]] = {
    "reference": {},
    "quality": {"hidden_dim": 512, "depth": 2, "latent_dim": 26, "codes": 10, "beta1": 0.3,
                "lr": 1e-3, "ema_decay": 0.9995, "loss": "hinge", "d_dropout": 0.3, "epochs": 18},
}
