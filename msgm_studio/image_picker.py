"""The input image of the inpainting and reconstruction tabs: an image file or a bundled digit."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QFileDialog,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from engine.data import IMAGE_SUFFIXES, LoadedImages, bundled_mnist, load_images, model_to_uint8, uint8_to_model
from engine.score_model import ImageSpec
from msgm_studio.job_engine import Job, JobEngine
from msgm_studio.last_folder import LastFolder
from msgm_studio.tasks import call

IMAGE_FILTER = "Images (" + " ".join(f"*{suffix}" for suffix in sorted(IMAGE_SUFFIXES)) + ");;All files (*)"
# Index range of the digit box until the bundled digits are read; then it is set from their count per class.
BUNDLED_PER_CLASS = 500
NO_IMAGE_TEXT = "No input image yet: open one, drop one onto this tab, or choose a bundled digit."


class ImagePicker(QGroupBox):
    """The chooser of the input image: a file (opened or dropped onto the tab) or a bundled digit by class and index.

    Reading a file or the bundled digits is engine work, so the picker submits it to the job engine.
    The bundled digits are read once and kept, so browsing them afterwards needs no job.
    """

    image_changed = Signal()
    error = Signal(str)  # a message for the user

    def __init__(self, jobs: JobEngine, parent: QWidget | None = None, last_folder: LastFolder | None = None) -> None:
        super().__init__("Input image", parent)
        self._jobs = jobs
        self._spec: ImageSpec | None = None
        self._bundled = False  # whether the model takes the bundled digits
        self._digits: tuple[np.ndarray, np.ndarray] | None = None  # uint8 (N, 28, 28) and labels, once read
        self._job: Job | None = None
        self.last_folder = last_folder or LastFolder()
        self.image: torch.Tensor | None = None  # (C, H, W) in [-1, 1], in the model's shape
        self.description = ""

        layout = QVBoxLayout(self)
        self.open_button = QPushButton("Open image…")
        self.open_button.setToolTip("Open an image file; it is converted to the model's size like a forget set image")
        self.open_button.clicked.connect(lambda: self.open_file())
        layout.addWidget(self.open_button)

        layout.addWidget(QLabel("Bundled digit (class, index):"))
        digits = QHBoxLayout()
        self.class_box = QSpinBox()
        self.class_box.setRange(0, 9)
        self.class_box.setToolTip("Class of the bundled digit")
        self.index_box = QSpinBox()
        self.index_box.setRange(0, BUNDLED_PER_CLASS - 1)
        self.index_box.setPrefix("#")
        self.index_box.setToolTip("Which digit of that class")
        # The boxes show a digit before any is chosen, so "Use" takes the one they show as it is.
        self.use_button = QPushButton("Use")
        self.use_button.setToolTip("Make the bundled digit shown in the boxes the input")
        self.random_button = QPushButton("Random")
        self.random_button.setToolTip("A random bundled digit of the chosen class")
        digits.addWidget(self.class_box)
        digits.addWidget(self.index_box)
        digits.addWidget(self.use_button)
        digits.addWidget(self.random_button)
        layout.addLayout(digits)
        self.class_box.valueChanged.connect(self._digit_boxes_changed)
        self.index_box.valueChanged.connect(self._digit_boxes_changed)
        self.use_button.clicked.connect(self._digit_boxes_changed)
        self.random_button.clicked.connect(self.pick_random_digit)

        self.source_label = QLabel(NO_IMAGE_TEXT)
        self.source_label.setWordWrap(True)
        layout.addWidget(self.source_label)

        jobs.finished.connect(self._job_finished)
        jobs.failed.connect(self._job_ended)
        jobs.cancelled.connect(self._job_ended)
        self.set_model(None, bundled=False)

    def image_uint8(self) -> np.ndarray | None:
        """Return the input image as uint8 (H, W, C), or None."""
        return None if self.image is None else model_to_uint8(self.image[None])[0]

    def set_model(self, spec: ImageSpec | None, bundled: bool) -> None:
        """Accept images for a model of `spec`; offer bundled digits when `bundled`. A new spec drops the image."""
        if spec != self._spec and self.image is not None:
            self.image, self.description = None, ""
            self.source_label.setText(NO_IMAGE_TEXT)
            self.image_changed.emit()
        self._spec, self._bundled = spec, bundled
        self.open_button.setEnabled(spec is not None)
        for widget in (self.class_box, self.index_box, self.use_button, self.random_button):
            widget.setEnabled(bundled)

    def open_file(self, path: str | Path | None = None) -> None:
        """Read an image file on the job engine and make it the input. Without `path`, ask with a file dialog."""
        if self._spec is None:
            self.error.emit("No model is open. Open a checkpoint first: the image is converted to its size.")
            return
        if path is None:
            chosen, _ = QFileDialog.getOpenFileName(self, "Open image", str(self.last_folder), IMAGE_FILTER)
            if not chosen:
                return
            path = chosen
        path = Path(path)
        self.last_folder.remember(path)
        spec = self._spec
        self._submit(f"Reading {path.name}", lambda control: call(load_images, [path], spec), path)

    def pick_digit(self, digit: int, index: int) -> None:
        """Make bundled digit `index` of class `digit` the input, reading the bundled digits first if needed."""
        for box, value in ((self.class_box, digit), (self.index_box, index)):
            box.blockSignals(True)
            box.setValue(value)
            box.blockSignals(False)
        self._digit_boxes_changed()

    def pick_random_digit(self) -> None:
        count = self.index_box.maximum() + 1
        self.pick_digit(self.class_box.value(), int(np.random.default_rng().integers(count)))

    # Internals

    def _digit_boxes_changed(self) -> None:
        if not self._bundled:
            self.error.emit("This model's images differ from the bundled digits. Open an image file instead.")
            return
        if self._digits is None:
            if self._job is not None and self._job.context is None:
                return  # the digits are being read and will show the boxes' values then
            self._submit("Reading the bundled digits", lambda control: call(bundled_mnist), None)
            return
        images, labels = self._digits
        of_class = images[labels == self.class_box.value()]
        self.index_box.setMaximum(len(of_class) - 1)
        index = min(self.index_box.value(), len(of_class) - 1)
        self._set_image(uint8_to_model(of_class[index][None, None])[0],
                        f"Bundled digit {self.class_box.value()}, #{index}")

    def _submit(self, title: str, factory, path: Path | None) -> None:
        job = self._jobs.submit("input-image", title, factory, context=path)
        if job is not None:
            self._job = job

    def _job_finished(self, job: Job, result: object, cancelled: bool) -> None:
        if job is not self._job:
            return
        self._job = None
        if job.context is None:
            self._digits = result
            self._digit_boxes_changed()
        else:
            self._show_loaded(result, job.context)

    def _job_ended(self, job: Job, *rest) -> None:
        if job is self._job:
            self._job = None

    def _show_loaded(self, loaded: LoadedImages, path: Path) -> None:
        if len(loaded.images) == 0:
            reason = loaded.failures[0][1] if loaded.failures else "not a readable image"
            self.error.emit(f"{path} could not be opened: {reason}. Open a PNG, JPEG, BMP, WebP or TIFF image.")
            return
        self._set_image(loaded.images[0], path.name)

    def _set_image(self, image: torch.Tensor, description: str) -> None:
        self.image, self.description = image, description
        self.source_label.setText(description)
        self.image_changed.emit()
