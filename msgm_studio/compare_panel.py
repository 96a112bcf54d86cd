"""Original next to moderated samples from the same seed, with the share classified as a forget class."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import Qt
from PySide6.QtGui import QFont
from PySide6.QtWidgets import (
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSpinBox,
    QWidget,
)

from msgm_studio.image_view import ImageGridView
from msgm_studio.tasks import SampleSet

ROLES = ("original", "moderated")
TITLES = {"original": "Original model", "moderated": "Moderated model"}


def forget_rate_text(labels: np.ndarray | None, forget_classes: list[int], class_names: list[str]) -> str:
    """Describe how many samples the bundled classifier labels as a forget class, or return "" without labels or classes."""
    if labels is None or not forget_classes:
        return ""
    hits = int(np.isin(labels, forget_classes).sum())
    names = ", ".join(class_names[index] for index in forget_classes)
    return f"Forget rate {hits / len(labels):.0%}: {hits} of {len(labels)} samples classified as {names}"


class ComparePanel(QWidget):
    """Two sample grids side by side and the seed they were sampled from."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        layout = QGridLayout(self)
        self.views: dict[str, ImageGridView] = {}
        self.rate_labels: dict[str, QLabel] = {}
        for column, role in enumerate(ROLES):
            title = QLabel(TITLES[role])
            font = QFont(title.font())
            font.setBold(True)
            title.setFont(font)
            title.setAlignment(Qt.AlignmentFlag.AlignCenter)
            view = ImageGridView()
            rate = QLabel()
            rate.setAlignment(Qt.AlignmentFlag.AlignCenter)
            rate.setWordWrap(True)
            layout.addWidget(title, 0, column)
            layout.addWidget(view, 1, column)
            layout.addWidget(rate, 2, column)
            self.views[role] = view
            self.rate_labels[role] = rate
        layout.setRowStretch(1, 1)
        self.views["original"].set_placeholder("Open a checkpoint to see its samples")
        self.views["moderated"].set_placeholder("Moderate the model to see its samples here, from the same seed")

        controls = QHBoxLayout()
        controls.addStretch(1)
        controls.addWidget(QLabel("Seed:"))
        self.seed_box = QSpinBox()
        self.seed_box.setRange(0, 2**31 - 1)
        self.seed_box.setToolTip("Seed of the starting noise. Both models start from the same noise.")
        controls.addWidget(self.seed_box)
        self.sample_button = QPushButton("Sample again")
        self.sample_button.setToolTip("Draw new samples of both models from this seed")
        controls.addWidget(self.sample_button)
        layout.addLayout(controls, 3, 0, 1, len(ROLES))

        self.samples: dict[str, SampleSet] = {}

    def show_samples(self, role: str, samples: SampleSet) -> None:
        self.samples[role] = samples
        self.views[role].set_images(samples.images)

    def show_placeholder(self, role: str, text: str) -> None:
        self.samples.pop(role, None)
        self.views[role].set_placeholder(text)
        self.rate_labels[role].setText("")

    def update_forget_rates(self, forget_classes: list[int], class_names: list[str]) -> None:
        for role, label in self.rate_labels.items():
            samples = self.samples.get(role)
            label.setText(forget_rate_text(samples.labels if samples else None, forget_classes, class_names))
