"""Faint grey speckle left by the samplers, on the bundled model.

Counts the share of pixels with values between -0.95 and -0.6 (faint grey dots on the black
background of a digit) in 16 samples of each sampler and in the filled bottom half of 16 bundled 7s
inpainted with the predictor-corrector sampler. A sampler whose last step adds noise leaves
several times the share of the deterministic DDIM sampler.

    python benchmarks/speckle.py

Prints a Markdown table.
"""

from __future__ import annotations

import torch

from engine.checkpoint import load_checkpoint
from engine.data import bundled_tensors
from engine.downstream import iter_inpaint
from engine.sampling import SamplerConfig, run, sample
from resources import BASE_MODEL

COUNT = 16
FAINT = (-0.95, -0.6)


def faint_share(images: torch.Tensor) -> float:
    """Return the share of pixels in the faint grey band FAINT."""
    return float(((images > FAINT[0]) & (images < FAINT[1])).float().mean())


def main() -> None:
    model = load_checkpoint(str(BASE_MODEL))
    rows = []
    for name, config in (("ddim, 25 steps", SamplerConfig(sampler="ddim", steps=25)),
                         ("em, 100 steps", SamplerConfig(sampler="em", steps=100)),
                         ("pc, 100 steps", SamplerConfig(sampler="pc", steps=100))):
        rows.append((f"{COUNT} samples, {name}", faint_share(sample(model, COUNT, 0, config))))

    sevens, _ = bundled_tensors(classes=[7])
    masks = torch.ones(COUNT, 1, 28, 28)
    masks[:, :, 14:] = 0
    filled = run(iter_inpaint(model, sevens[:COUNT], masks, 0, SamplerConfig(sampler="pc", steps=100)))
    rows.append((f"filled bottom half of {COUNT} bundled 7s, pc, 100 steps", faint_share(filled[:, :, 14:])))

    print("| images | faint pixels |")
    print("|---|---|")
    for name, share in rows:
        print(f"| {name} | {share:.1%} |")


if __name__ == "__main__":
    main()
