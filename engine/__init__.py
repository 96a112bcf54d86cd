"""MSGM Studio engine: score models, moderation, sampling and metrics. Pure PyTorch, no Qt."""

__version__ = "0.1.0"
