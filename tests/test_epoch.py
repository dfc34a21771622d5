import functools

import jax
import numpy as np

from jaxgan.config import Config
from jaxgan.epoch import train_epoch, train_epoch_stepwise
from jaxgan.step import create_train_state

CONFIG = Config(batch_size=32, hidden_dim=16, latent_dim=8)


def images(n: int = 200) -> jax.Array:
    return jax.random.randint(jax.random.key(5), (n, 784), 0, 256).astype(np.uint8)


def test_compiled_epoch_is_bit_identical_to_stepping_one_batch_at_a_time():
    data = images()  # 200 = 6 x 32 + 8: exercises the partial last batch too
    fast = jax.jit(functools.partial(train_epoch, batch_size=32, drop_last=False))
    slow = functools.partial(train_epoch_stepwise, batch_size=32, drop_last=False)
    a = b = create_train_state(CONFIG, jax.random.key(0))
    for epoch in range(2):
        key = jax.random.fold_in(jax.random.key(1), epoch)
        a, ma = fast(a, data, key)
        b, mb = slow(b, data, key)
        assert ma["d_loss"].shape == (7,)
        for name in ma:
            np.testing.assert_array_equal(np.asarray(ma[name]), np.asarray(mb[name]))
    for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)):
        np.testing.assert_array_equal(np.asarray(x), np.asarray(y))
    assert int(a.step) == 14


def test_drop_last_skips_the_partial_batch():
    fast = jax.jit(functools.partial(train_epoch, batch_size=32, drop_last=True))
    state, metrics = fast(create_train_state(CONFIG, jax.random.key(0)), images(), jax.random.key(1))
    assert metrics["g_loss"].shape == (6,) and int(state.step) == 6
