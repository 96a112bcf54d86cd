"""The forget set panel: bundled classes to forget, image files with thumbnails, and a summary."""

from __future__ import annotations

import math
from pathlib import Path

import torch
from PySide6.QtCore import QSize, Signal
from PySide6.QtGui import QIcon, QPixmap
from PySide6.QtWidgets import (
    QAbstractItemView,
    QButtonGroup,
    QFileDialog,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QListView,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QSizePolicy,
    QVBoxLayout,
    QWidget,
)

from engine.data import IMAGE_SUFFIXES, model_to_uint8
from msgm_studio.forget_set import ForgetSet
from msgm_studio.image_view import enlarge, to_qimage

CLASS_COLUMNS = 5
CLASS_BUTTON_MIN_WIDTH = 36
THUMBNAIL_SIZE = 42


class ForgetSetPanel(QGroupBox):
    """Edits `forget_set`: class buttons for the bundled data and a list of image files.

    Reading image files is engine work, so the panel only requests it with `files_requested`. The
    window loads the files on the job engine and passes the images back to `add_files`.
    """

    changed = Signal()
    files_requested = Signal(list)  # list[Path] of files and folders chosen in a dialog

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("Forget set", parent)
        self.forget_set = ForgetSet()
        self.class_buttons: list[QPushButton] = []
        self._last_folder = str(Path.home())

        layout = QVBoxLayout(self)
        self.classes_label = QLabel("Classes of the bundled data:")
        layout.addWidget(self.classes_label)
        self._class_grid = QGridLayout()
        self._class_grid.setSpacing(4)
        layout.addLayout(self._class_grid)
        self._class_group = QButtonGroup(self)
        self._class_group.setExclusive(False)
        self._class_group.buttonToggled.connect(self._class_toggled)

        layout.addWidget(QLabel("Image files (or drop files and folders onto the window):"))
        self.file_list = QListWidget()
        self.file_list.setViewMode(QListView.ViewMode.IconMode)
        self.file_list.setIconSize(QSize(THUMBNAIL_SIZE, THUMBNAIL_SIZE))
        self.file_list.setResizeMode(QListView.ResizeMode.Adjust)
        self.file_list.setMovement(QListView.Movement.Static)
        self.file_list.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.file_list.setFixedHeight(THUMBNAIL_SIZE * 2 + 24)
        self.file_list.itemSelectionChanged.connect(self._update_buttons)
        layout.addWidget(self.file_list)

        buttons = QHBoxLayout()
        self.add_files_button = QPushButton("Add images…")
        self.add_folder_button = QPushButton("Add folder…")
        self.remove_button = QPushButton("Remove")
        self.clear_button = QPushButton("Clear")
        self.add_files_button.clicked.connect(self._choose_files)
        self.add_folder_button.clicked.connect(self._choose_folder)
        self.remove_button.clicked.connect(self.remove_selected_files)
        self.clear_button.clicked.connect(self.clear)
        for button in (self.add_files_button, self.add_folder_button, self.remove_button, self.clear_button):
            buttons.addWidget(button)
        layout.addLayout(buttons)

        self.summary_label = QLabel()
        self.summary_label.setWordWrap(True)
        layout.addWidget(self.summary_label)
        self._update_summary()

    def set_classes(self, names: list[str]) -> None:
        """Offer `names` as class buttons and start a new, empty forget set (a new model was opened)."""
        for button in self.class_buttons:
            self._class_group.removeButton(button)
            button.deleteLater()
        self.class_buttons = []
        for index, name in enumerate(names):
            button = QPushButton(name)
            button.setCheckable(True)
            # Styles give push buttons a wide minimum; class names are short, so let the grid shrink them.
            button.setMinimumWidth(CLASS_BUTTON_MIN_WIDTH)
            button.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
            button.setToolTip(f"Add the bundled images of class {name} to the forget set")
            self._class_group.addButton(button, index)
            self._class_grid.addWidget(button, index // CLASS_COLUMNS, index % CLASS_COLUMNS)
            self.class_buttons.append(button)
        self.classes_label.setText(
            "Classes of the bundled data:" if names else "This model's images do not match the bundled data. Add image files instead."
        )
        self.forget_set = ForgetSet(class_names=list(names))
        self.file_list.clear()
        self._update_summary()

    def class_button(self, name: str) -> QPushButton:
        for button in self.class_buttons:
            if button.text() == name:
                return button
        raise KeyError(f"no class button named {name!r}")

    def add_files(self, images: torch.Tensor, paths: list[Path]) -> None:
        """Append converted images (N, C, H, W) in [-1, 1] with thumbnails."""
        pixels = model_to_uint8(images)
        ratio = self.devicePixelRatioF()
        for array, path in zip(pixels, paths):
            # Enlarge with sharp pixels to at least the icon's device size; QIcon only scales down.
            factor = max(1, math.ceil(THUMBNAIL_SIZE * ratio / array.shape[0]))
            thumbnail = QPixmap.fromImage(enlarge(to_qimage(array), factor))
            thumbnail.setDevicePixelRatio(ratio)
            item = QListWidgetItem(QIcon(thumbnail), "")
            item.setToolTip(str(path))
            self.file_list.addItem(item)
        self.forget_set.add_files(images, paths)
        self._update_summary()

    def remove_selected_files(self) -> None:
        rows = sorted(self.file_list.row(item) for item in self.file_list.selectedItems())
        for row in reversed(rows):
            self.file_list.takeItem(row)
        self.forget_set.remove_files(rows)
        self._update_summary()

    def clear(self) -> None:
        for button in self.class_buttons:
            button.setChecked(False)
        self.file_list.clear()
        self.forget_set.clear_files()
        self._update_summary()

    def _class_toggled(self, _button, _checked: bool) -> None:
        checked = [index for index, button in enumerate(self.class_buttons) if button.isChecked()]
        self.forget_set.set_classes(checked)
        self._update_summary()

    def _choose_files(self) -> None:
        patterns = " ".join(f"*{suffix}" for suffix in sorted(IMAGE_SUFFIXES))
        paths, _ = QFileDialog.getOpenFileNames(self, "Add images to the forget set", self._last_folder,
                                                f"Images ({patterns});;All files (*)")
        if paths:
            self._last_folder = str(Path(paths[0]).parent)
            self.files_requested.emit([Path(path) for path in paths])

    def _choose_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Add a folder of images to the forget set", self._last_folder)
        if folder:
            self._last_folder = folder
            self.files_requested.emit([Path(folder)])

    def _update_buttons(self) -> None:
        self.remove_button.setEnabled(bool(self.file_list.selectedItems()))
        self.clear_button.setEnabled(not self.forget_set.is_empty())

    def _update_summary(self) -> None:
        if self.forget_set.is_empty():
            self.summary_label.setText("Empty: choose a class or add images of what the model must stop generating.")
        else:
            self.summary_label.setText(f"Forget set: {self.forget_set.summary()}.")
        self._update_buttons()
        self.changed.emit()
