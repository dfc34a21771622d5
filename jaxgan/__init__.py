"""jaxgan: the classic MLP GAN on MNIST, reimplemented in JAX/Flax/Optax."""

__version__ = "0.1.0"
