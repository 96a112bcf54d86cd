"""ScoreModel: a noise-prediction network together with its SDE, image format and provenance."""

from __future__ import annotations

import copy
from dataclasses import asdict, dataclass, field

import torch

from engine.sde import SDE, SDEConfig, build_sde
from engine.unet import UNet, UNetConfig


@dataclass(frozen=True)
class ImageSpec:
    """Shape and value convention of the images a model works on.

    Pixels are scaled to [-1, 1] inside the engine; `background` gives the image loader which colour
    the training images had behind their content ("black" for MNIST digits) so that a dropped
    dark-on-light drawing can be inverted to match.
    """

    channels: int = 1
    size: int = 28
    background: str | None = "black"

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> ImageSpec:
        known = {key: data[key] for key in cls.__dataclass_fields__ if key in data}
        return cls(**known)


@dataclass
class ScoreModel:
    """A trained score model: s(x, t) = -eps(x, t) / sigma(t)."""

    network: UNet
    sde_config: SDEConfig
    image: ImageSpec
    name: str = "model"
    # Every moderation or training run that produced these weights, oldest first.
    history: list[dict] = field(default_factory=list)
    classes: list[str] | None = None

    def __post_init__(self) -> None:
        self.sde: SDE = build_sde(self.sde_config)

    @classmethod
    def create(cls, unet_config: UNetConfig, sde_config: SDEConfig, image: ImageSpec, **kwargs) -> ScoreModel:
        return cls(network=UNet(unet_config), sde_config=sde_config, image=image, **kwargs)

    @property
    def unet_config(self) -> UNetConfig:
        return self.network.config

    @property
    def shape(self) -> tuple[int, int, int]:
        return (self.image.channels, self.image.size, self.image.size)

    @property
    def device(self) -> torch.device:
        return next(self.network.parameters()).device

    def parameter_count(self) -> int:
        return sum(parameter.numel() for parameter in self.network.parameters())

    def eps(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """Predicted noise for perturbed images x at times t (one time per sample)."""
        return self.network(x, self.sde.noise_conditioning(t))

    def score(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        sigma = self.sde.sigma(t).reshape(-1, 1, 1, 1)
        return -self.eps(x, t) / sigma

    def copy(self) -> ScoreModel:
        """Return an independent deep copy, so training the copy never touches this model's weights."""
        return ScoreModel(
            network=copy.deepcopy(self.network),
            sde_config=self.sde_config,
            image=self.image,
            name=self.name,
            history=copy.deepcopy(self.history),
            classes=list(self.classes) if self.classes else None,
        )

    def to(self, device: torch.device | str) -> ScoreModel:
        self.network.to(device)
        return self

    def describe(self) -> dict:
        """Facts a user wants to see about a loaded model."""
        return {
            "name": self.name,
            "architecture": f"U-Net, {self.unet_config.base_channels} base channels, "
            f"multipliers {list(self.unet_config.channel_mults)}",
            "parameters": self.parameter_count(),
            "sde": self.sde_config.kind.upper().replace("SUBVP", "sub-VP"),
            "image": f"{self.image.size}x{self.image.size}, {self.image.channels} channel(s)",
            "moderations": sum(1 for entry in self.history if entry.get("kind") == "moderation"),
        }
