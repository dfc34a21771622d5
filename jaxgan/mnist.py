"""What every part of jaxgan assumes of its images: MNIST's 28x28 grey digits of 10 classes."""

IMAGE_SHAPE = (28, 28)
IMAGE_PIXELS = IMAGE_SHAPE[0] * IMAGE_SHAPE[1]
NUM_CLASSES = 10
