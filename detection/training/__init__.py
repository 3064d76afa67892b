"""Training the aerial person detector (``python -m detection.train CONFIG``)."""

from detection.training.run import train

__all__ = ["train"]
