"""What the benchmark scripts share: the step's analytic FLOPs and the images they train on."""

from __future__ import annotations

from jaxgan.mnist import IMAGE_PIXELS as IMAGE


def step_flops(batch: int, latent: int = 100, hidden: int = 128) -> int:
    """Matmul FLOPs of one step (2 per multiply-add), counted from the maths.

    G forward (once); D forward on real and fake, with weight gradients; D forward on fake after
    the update, with input gradients only; G backward (weight gradients, hidden input gradient).
    """
    g_fwd = latent * hidden + hidden * IMAGE
    d_fwd = IMAGE * hidden + hidden
    d_weight_bwd = IMAGE * hidden + 2 * hidden  # dW1, dW2, dh
    d_input_bwd = hidden + hidden * IMAGE  # dh, dx
    g_bwd = 2 * hidden * IMAGE + latent * hidden  # dW2, dh, dW1
    per_example = g_fwd + 2 * (d_fwd + d_weight_bwd) + d_fwd + d_input_bwd + g_bwd
    return 2 * batch * per_example


def load_images(data_dir: str | None):
    import numpy as np

    from jaxgan.data import load_dataset
    from jaxgan.errors import DataError
    from jaxgan.files import default_cache_dir

    try:
        return (*load_dataset("train", data_dir, default_cache_dir()), "MNIST")
    except DataError:
        rng = np.random.default_rng(0)
        return (
            rng.integers(0, 256, (60_000, IMAGE), dtype=np.uint8),
            rng.integers(0, 10, 60_000, dtype=np.uint8),
            "random uint8 (MNIST not found)",
        )
