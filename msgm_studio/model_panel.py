"""The model panel: what checkpoint is loaded and what it is."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QFormLayout, QGroupBox, QLabel, QWidget

from engine.score_model import ScoreModel

# describe() key and the label shown for it, in display order.
FIELDS = [
    ("name", "Name"),
    ("architecture", "Architecture"),
    ("sde", "SDE"),
    ("image", "Image"),
    ("parameters", "Parameters"),
    ("moderations", "Moderations"),
]


class ModelPanel(QGroupBox):
    """The loaded model's details from `ScoreModel.describe()`, and the compute device."""

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
        details["parameters"] = f"{details['parameters']:,}"
        moderations = details["moderations"]
        details["moderations"] = "none (original training)" if moderations == 0 else f"{moderations} in its history"
        for key, _ in FIELDS:
            self.values[key].setText(str(details[key]))
        self.values["name"].setToolTip(str(path) if path else "")

    def clear(self) -> None:
        for key, _ in FIELDS:
            self.values[key].setText("–")
            self.values[key].setToolTip("")
