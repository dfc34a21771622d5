"""MNIST's images, 28x28 grey digits of 10 classes: what its loaders verify and what the shipped
evaluation networks read. Training takes the shape and classes of its data (`Config`)."""

IMAGE_SHAPE = (28, 28)
IMAGE_PIXELS = IMAGE_SHAPE[0] * IMAGE_SHAPE[1]
NUM_CLASSES = 10
