"""Choosing the compute device."""

from __future__ import annotations

import contextlib

import torch

from engine.errors import UserError


def pick_device(requested: str | None = None) -> torch.device:
    """CUDA when present, then Apple MPS, otherwise the CPU; or the device the user asked for."""
    if requested and requested != "auto":
        try:
            device = torch.device(requested)
        except RuntimeError as error:
            raise UserError(f"unknown device {requested!r}; use auto, cpu, cuda, cuda:N or mps") from error
        if device.type == "cuda" and not torch.cuda.is_available():
            raise UserError("CUDA was requested but no CUDA GPU is available; use --device cpu")
        if device.type == "mps" and not torch.backends.mps.is_available():
            raise UserError("MPS was requested but is not available on this machine; use --device cpu")
        return device
    if torch.cuda.is_available():
        return torch.device("cuda")
    if torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


PRECISIONS = ("auto", "fp32", "bf16")


def bf16_is_fast(device: torch.device) -> bool:
    """Tell whether bfloat16 autocast speeds up training on this device.

    It does on CUDA GPUs with bfloat16 support and on CPUs whose oneDNN build reports native bfloat16
    (AVX-512 BF16 or AMX). Other CPUs emulate bfloat16, which is slower than float32.
    """
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    if device.type == "cpu":
        try:
            return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
        except (AttributeError, RuntimeError):
            return False
    return False


def autocast_for(device: torch.device, precision: str):
    """Return the autocast context for a training forward pass: bfloat16 when requested (or "auto" and fast), else none."""
    if precision not in PRECISIONS:
        raise UserError(f"unknown precision {precision!r}; use one of {', '.join(PRECISIONS)}")
    use_bf16 = precision == "bf16" or (precision == "auto" and bf16_is_fast(device))
    if not use_bf16 or device.type not in ("cpu", "cuda"):
        return contextlib.nullcontext()
    return torch.autocast(device.type, dtype=torch.bfloat16)
