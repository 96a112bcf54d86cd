"""The model panel: what checkpoint is loaded, what it is and how it was made."""

from __future__ import annotations

import logging
from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QFormLayout, QGroupBox, QLabel, QWidget

from engine.score_model import ScoreModel
from engine.unet import UNetConfig

log = logging.getLogger(__name__)

# Keys of the shown values and their labels, in display order.
FIELDS = [
    ("name", "Name"),
    ("file", "File"),
    ("architecture", "Architecture"),
    ("sde", "SDE"),
    ("image", "Image"),
    ("parameters", "Parameters"),
    ("provenance", "Provenance"),
]
# Provenance shows the newest runs of a long history; the tooltip lists all of them.
PROVENANCE_LINES = 4


def format_size(size: int) -> str:
    """Format a byte count with a binary unit, e.g. 4.3 MiB."""
    if size < 1024:
        return f"{size:,} bytes"
    value = size / 1024
    for unit in ("KiB", "MiB"):
        if value < 1024:
            return f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} GiB"


def architecture_text(config: UNetConfig) -> str:
    """Summarise a U-Net config in one line."""
    attention = ", ".join(f"{size}x{size}" for size in config.attention_resolutions) or "none"
    blocks = f"{config.num_res_blocks} residual block{'' if config.num_res_blocks == 1 else 's'}"
    return (f"U-Net, {config.base_channels} base channels, multipliers {list(config.channel_mults)}, "
            f"{blocks} per level, attention at {attention}")


def sde_tooltip(model: ScoreModel) -> str:
    sde = model.sde_config
    if sde.kind == "ve":
        return f"Variance exploding: sigma from {sde.sigma_min:g} to {sde.sigma_max:g}"
    kind = "Variance preserving" if sde.kind == "vp" else "Sub-variance preserving"
    return f"{kind}: beta from {sde.beta_min:g} to {sde.beta_max:g}"


def history_line(entry: dict) -> str:
    """Describe one run of a model's history (`ScoreModel.history`) in a short line."""
    kind = entry.get("kind", "unknown run")
    if kind == "pretrain":
        excluded = entry.get("exclude_classes") or []
        without = f" without classes {', '.join(str(item) for item in excluded)}" if excluded else ""
        steps = entry.get("steps")
        return f"pre-trained {steps:,} steps{without}" if isinstance(steps, int) else f"pre-trained{without}"
    if kind == "moderation":
        settings = entry.get("settings") or {}
        steps = f"{entry.get('steps_done', '?')} of {settings.get('steps', '?')} steps"
        cancelled = ", cancelled" if entry.get("cancelled") else ""
        date = f", {str(entry['date'])[:10]}" if entry.get("date") else ""
        return f"moderated ({entry.get('method', '?')}, {steps}{cancelled}) to forget {entry.get('forget_set', '?')}{date}"
    return str(kind)


class ModelPanel(QGroupBox):
    """The loaded model's details, its file, its history and the compute device."""

    def __init__(self, device: str, parent: QWidget | None = None) -> None:
        super().__init__("Model", parent)
        layout = QFormLayout(self)
        layout.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        self.values: dict[str, QLabel] = {}
        for key, title in FIELDS + [("device", "Device")]:
            value = QLabel("–")
            value.setWordWrap(True)
            value.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
            layout.addRow(f"{title}:", value)
            self.values[key] = value
        self.values["device"].setText(device)

    def show_model(self, model: ScoreModel, path: Path | None) -> None:
        details = model.describe()
        self.values["name"].setText(details["name"])
        self.values["name"].setToolTip(str(path) if path else "")
        self.values["file"].setText(self._file_text(path))
        self.values["file"].setToolTip(str(path) if path else "")
        self.values["architecture"].setText(architecture_text(model.unet_config))
        self.values["sde"].setText(details["sde"])
        self.values["sde"].setToolTip(sde_tooltip(model))
        self.values["image"].setText(details["image"])
        self.values["parameters"].setText(f"{details['parameters']:,}")

        lines = [history_line(entry) for entry in model.history]
        visible_lines = lines[-PROVENANCE_LINES:]
        if len(lines) > len(visible_lines):
            visible_lines.insert(0, f"… {len(lines) - len(visible_lines)} earlier run(s)")
        self.values["provenance"].setText("\n".join(visible_lines) if visible_lines else "no recorded history")
        self.values["provenance"].setToolTip("\n".join(lines))

    def clear(self) -> None:
        for key, _ in FIELDS:
            self.values[key].setText("–")
            self.values[key].setToolTip("")

    @staticmethod
    def _file_text(path: Path | None) -> str:
        if path is None:
            return "not saved"
        try:
            size = Path(path).stat().st_size
        except OSError as error:
            log.warning("could not read the size of %s: %s", path, error)
            return Path(path).name
        return f"{Path(path).name}, {format_size(size)}"
