"""The retain set group: the bundled digits, a folder of images, or samples of the original model."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QButtonGroup,
    QFileDialog,
    QGridLayout,
    QGroupBox,
    QLabel,
    QPushButton,
    QRadioButton,
    QSpinBox,
    QWidget,
)

from msgm_studio.last_folder import LastFolder
from msgm_studio.retain_source import DEFAULT_SAMPLE_COUNT, RetainSource

MAX_SAMPLE_COUNT = 100_000


class RetainSourcePanel(QGroupBox):
    """Group of radio buttons for the retain set's source. `retain_source()` returns the choice as a RetainSource."""

    changed = Signal()

    def __init__(self, parent: QWidget | None = None, last_folder: LastFolder | None = None) -> None:
        super().__init__("Retain set", parent)
        self._folder: Path | None = None
        self._previous_button: QRadioButton | None = None  # the choice to restore when no folder gets chosen
        # DDIM steps per sample when the retain set is the model's own samples.
        self.sampler_steps = RetainSource.sampler_steps
        self.last_folder = last_folder or LastFolder()

        self.bundled_button = QRadioButton("Bundled digits (minus the forget classes)")
        self.folder_button = QRadioButton("A folder…")
        self.samples_button = QRadioButton("The original model's own samples")
        self.bundled_button.setToolTip("Keep generating the bundled MNIST digits outside the forget classes")
        self.folder_button.setToolTip("Keep generating the images in a folder (searched recursively), used as they are")
        self.samples_button.setToolTip("Keep generating what the original model generates, leaving out samples that "
                                       "look like the forget set")
        self._group = QButtonGroup(self)
        for index, button in enumerate((self.bundled_button, self.folder_button, self.samples_button)):
            self._group.addButton(button, index)
        self.bundled_button.setChecked(True)

        self.folder_label = QLabel("No folder chosen")
        self.folder_label.setWordWrap(True)
        self.choose_folder_button = QPushButton("Choose…")
        self.sample_count_box = QSpinBox()
        self.sample_count_box.setRange(1, MAX_SAMPLE_COUNT)
        self.sample_count_box.setSingleStep(500)
        self.sample_count_box.setGroupSeparatorShown(True)
        self.sample_count_box.setValue(DEFAULT_SAMPLE_COUNT)
        self.sample_count_box.setSuffix(" samples")

        layout = QGridLayout(self)
        layout.addWidget(self.bundled_button, 0, 0, 1, 2)
        layout.addWidget(self.folder_button, 1, 0)
        layout.addWidget(self.choose_folder_button, 1, 1)
        layout.addWidget(self.folder_label, 2, 0, 1, 2)
        layout.addWidget(self.samples_button, 3, 0, 1, 2)
        layout.addWidget(self.sample_count_box, 4, 0)
        layout.setColumnStretch(0, 1)

        self.folder_button.clicked.connect(self._folder_clicked)
        self.choose_folder_button.clicked.connect(self.choose_folder)
        self._group.idToggled.connect(lambda _id, _checked: self._update())
        self.sample_count_box.valueChanged.connect(lambda _value: self._update())
        self._update()

    def retain_source(self) -> RetainSource:
        if self.bundled_button.isChecked():
            return RetainSource(kind="bundled")
        if self.folder_button.isChecked():
            return RetainSource(kind="folder", folder=self._folder)
        return RetainSource(kind="samples", sample_count=self.sample_count_box.value(), sampler_steps=self.sampler_steps)

    def set_bundled_available(self, available: bool) -> None:
        """Offer the bundled digits only for models of their shape, and otherwise fall back to the model's samples."""
        self.bundled_button.setEnabled(available)
        if not available and self.bundled_button.isChecked():
            self.samples_button.setChecked(True)
        elif available and not self.folder_button.isChecked() and not self.samples_button.isChecked():
            self.bundled_button.setChecked(True)

    def set_folder(self, folder: Path) -> None:
        """Use the images in `folder` as the retain set."""
        self._folder = Path(folder)
        self.last_folder.remember(self._folder)
        self.folder_label.setText(str(self._folder))
        self.folder_label.setToolTip(str(self._folder))
        self.folder_button.setChecked(True)
        self._update()

    def choose_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Choose a folder of images to retain", str(self.last_folder))
        if folder:
            self.set_folder(Path(folder))

    def _folder_clicked(self) -> None:
        # Choosing "A folder…" without a folder opens the folder dialog at once, and cancelling it restores the previous choice.
        if self._folder is None:
            self.choose_folder()
        if self._folder is None:
            self._previous_button.setChecked(True)

    def _update(self) -> None:
        if not self.folder_button.isChecked():
            self._previous_button = self.bundled_button if self.bundled_button.isChecked() else self.samples_button
        self.sample_count_box.setEnabled(self.samples_button.isChecked())
        self.changed.emit()
