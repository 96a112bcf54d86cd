"""The forget set panel: bundled classes, image files, drawings and picked samples as thumbnails, with undo."""

from __future__ import annotations

import math
import weakref
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TypeVar

import numpy as np
import torch
from PySide6.QtCore import QEvent, QSize, QSignalBlocker, Qt, Signal
from PySide6.QtGui import QAction, QIcon, QKeySequence, QPixmap, QUndoCommand, QUndoStack
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

from engine.data import IMAGE_SUFFIXES, model_to_uint8, uint8_to_model
from engine.score_model import ImageSpec
from msgm_studio.forget_set import AddOutcome, ClassExamples, ForgetImage, ForgetSet, ForgetSetState, drawing_to_model
from msgm_studio.image_view import enlarge, tile_images, to_qimage
from msgm_studio.last_folder import LastFolder

CLASS_COLUMNS = 5
CLASS_BUTTON_MIN_WIDTH = 36
THUMBNAIL_SIZE = 42
# Rows of thumbnails the list shows before it scrolls.
VISIBLE_ROWS = 2
# Role of the list items' data: ("class", class index) or ("image", position in ForgetSet.entries).
ENTRY_ROLE = Qt.ItemDataRole.UserRole

Result = TypeVar("Result")


def plural(count: int, singular: str, plural_form: str | None = None) -> str:
    return f"{count:,} {singular if count == 1 else plural_form or singular + 's'}"


class _ForgetSetEdit(QUndoCommand):
    """One undoable edit of the forget set, stored as the states before and after it."""

    def __init__(self, panel: ForgetSetPanel, text: str, before: ForgetSetState, after: ForgetSetState) -> None:
        super().__init__(text)
        self._panel = panel
        self._before = before
        self._after = after

    def redo(self) -> None:
        self._panel._show_state(self._after)

    def undo(self) -> None:
        self._panel._show_state(self._before)


# Fusion draws a checked button barely darker than an unchecked one, which is hard to see in the dark
# theme, so the palette's highlight marks the chosen classes. A style sheet that styles one state must
# style them all, or the others lose the palette's colours.
CLASS_BUTTON_STYLE = (
    "QPushButton { background-color: palette(button); color: palette(button-text); "
    "border: 1px solid palette(mid); border-radius: 3px; padding: 3px; }"
    "QPushButton:hover { border-color: palette(highlight); }"
    "QPushButton:checked { background-color: palette(highlight); color: palette(highlighted-text); }"
    "QPushButton:disabled { color: palette(mid); }"
)


class ForgetSetPanel(QGroupBox):
    """Edits `forget_set`: class buttons for the bundled data and a list of thumbnails of every entry.

    Every edit goes through `undo_stack`. Reading image files is engine work, so the panel only
    requests it with `files_requested`. The window loads the files on the job engine and passes the
    images back to `add_files`.
    """

    changed = Signal()
    files_requested = Signal(list)  # list[Path] of files and folders chosen in a dialog or dropped on the panel
    notice = Signal(str)  # a short note on the last edit, e.g. "2 duplicates skipped", for the status bar

    def __init__(self, parent: QWidget | None = None, last_folder: LastFolder | None = None) -> None:
        super().__init__("Forget set", parent)
        self.forget_set = ForgetSet()
        self.image_spec = ImageSpec()
        self.class_buttons: list[QPushButton] = []
        self._class_examples: Sequence[ClassExamples] = ()
        # Thumbnails of the images in the forget set or in the undo history, dropped with the images.
        self._icons: weakref.WeakKeyDictionary[ForgetImage, QIcon] = weakref.WeakKeyDictionary()
        self.last_folder = last_folder or LastFolder()
        self._draw_dialog = None

        self.undo_stack = QUndoStack(self)
        self.undo_action = self.undo_stack.createUndoAction(self, "&Undo")
        self.undo_action.setShortcuts(QKeySequence.StandardKey.Undo)
        self.redo_action = self.undo_stack.createRedoAction(self, "&Redo")
        self.redo_action.setShortcuts(_redo_shortcuts())
        for action in (self.undo_action, self.redo_action):
            action.setShortcutContext(Qt.ShortcutContext.WindowShortcut)
            self.addAction(action)

        layout = QVBoxLayout(self)
        self.classes_label = QLabel("Classes of the bundled data:")
        layout.addWidget(self.classes_label)
        class_area = QWidget()
        class_area.setStyleSheet(CLASS_BUTTON_STYLE)
        self._class_area = class_area
        self._class_grid = QGridLayout(class_area)
        self._class_grid.setContentsMargins(0, 0, 0, 0)
        self._class_grid.setSpacing(4)
        layout.addWidget(class_area)
        self._class_group = QButtonGroup(self)
        self._class_group.setExclusive(False)
        self._class_group.buttonToggled.connect(self._class_toggled)

        layout.addWidget(QLabel("Images (drop files and folders here or onto the window):"))
        self.thumbnail_list = self._build_thumbnail_list()
        layout.addWidget(self.thumbnail_list)

        self.add_files_button = QPushButton("Add images…")
        self.add_folder_button = QPushButton("Add folder…")
        self.draw_button = QPushButton("Draw…")
        self.remove_button = QPushButton("Remove")
        self.clear_button = QPushButton("Clear")
        self.add_files_button.clicked.connect(self._choose_files)
        self.add_folder_button.clicked.connect(self._choose_folder)
        self.draw_button.clicked.connect(self.open_draw_dialog)
        self.remove_button.clicked.connect(self.remove_selected)
        self.clear_button.clicked.connect(self.clear)
        add_row, edit_row = QHBoxLayout(), QHBoxLayout()
        for button in (self.add_files_button, self.add_folder_button, self.draw_button):
            add_row.addWidget(button)
        for button in (self.remove_button, self.clear_button):
            edit_row.addWidget(button)
        edit_row.addStretch(1)
        layout.addLayout(add_row)
        layout.addLayout(edit_row)

        self.summary_label = QLabel()
        self.summary_label.setWordWrap(True)
        layout.addWidget(self.summary_label)
        self.warning_label = QLabel()
        self.warning_label.setWordWrap(True)
        self.warning_label.setStyleSheet("color: #b35c00;")
        self.warning_label.hide()
        layout.addWidget(self.warning_label)
        self.note_label = QLabel()
        self.note_label.setWordWrap(True)
        layout.addWidget(self.note_label)

        self.setAcceptDrops(True)
        self._refresh()

    def _build_thumbnail_list(self) -> QListWidget:
        thumbnails = QListWidget()
        thumbnails.setViewMode(QListView.ViewMode.IconMode)
        thumbnails.setIconSize(QSize(THUMBNAIL_SIZE, THUMBNAIL_SIZE))
        thumbnails.setResizeMode(QListView.ResizeMode.Adjust)
        thumbnails.setMovement(QListView.Movement.Static)
        thumbnails.setDragDropMode(QAbstractItemView.DragDropMode.NoDragDrop)
        thumbnails.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        thumbnails.setFixedHeight((THUMBNAIL_SIZE + 24) * VISIBLE_ROWS + 8)
        thumbnails.itemSelectionChanged.connect(self._update_buttons)

        # Delete or Backspace removes the selected entries while the list has the focus; right-click offers it too.
        self.remove_action = QAction("Remove from the forget set", thumbnails)
        self.remove_action.setShortcuts([QKeySequence(QKeySequence.StandardKey.Delete), QKeySequence(Qt.Key.Key_Backspace)])
        self.remove_action.setShortcutContext(Qt.ShortcutContext.WidgetShortcut)
        self.remove_action.triggered.connect(self.remove_selected)
        thumbnails.addAction(self.remove_action)
        thumbnails.setContextMenuPolicy(Qt.ContextMenuPolicy.ActionsContextMenu)
        return thumbnails

    # The model

    def set_model(self, image: ImageSpec, class_names: list[str], class_examples: Sequence[ClassExamples] = ()) -> None:
        """Start a new, empty forget set for a model whose images are `image`, offering `class_names` as buttons.

        `class_examples` has one entry per class name, shown as the class's thumbnail. The undo history
        is cleared, because the previous images do not fit the new model.
        """
        self.image_spec = image
        self._class_examples = class_examples
        if self._draw_dialog is not None and self._draw_dialog.shape != (image.size, image.size):
            # Its drawings would not fit the new model; the next "Draw…" opens one of the new size.
            self._draw_dialog.close()
            self._draw_dialog.deleteLater()
            self._draw_dialog = None
        for button in self.class_buttons:
            self._class_group.removeButton(button)
            button.deleteLater()
        self.class_buttons = []
        for index, name in enumerate(class_names):
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
            "Classes of the bundled data:" if class_names
            else "This model's images do not match the bundled data. Add, draw or pick images instead."
        )
        self.forget_set = ForgetSet(class_names=list(class_names))
        self._icons.clear()
        self.undo_stack.clear()
        self._set_note("")
        self._refresh()

    def load_forget_set(self, forget_set: ForgetSet) -> None:
        """Show a saved forget set (from a project) in place of the current one, and clear the undo history.

        Its `classes` must be indices of this panel's class buttons.
        """
        self.undo_stack.clear()
        self._set_note("")
        self._show_state(forget_set.state())

    def class_button(self, name: str) -> QPushButton:
        for button in self.class_buttons:
            if button.text() == name:
                return button
        raise KeyError(f"no class button named {name!r}")

    # Edits, each one undoable

    def add_files(self, images: torch.Tensor, paths: list[Path]) -> AddOutcome:
        """Add images read from files (N, C, H, W) in [-1, 1], skipping duplicates."""
        return self._add(images, "file", [str(path) for path in paths], "image file")

    def add_picked(self, images_uint8: np.ndarray, origin: str) -> AddOutcome:
        """Add images picked from the sample gallery: uint8 (N, H, W, C). `origin` names the model and the seed."""
        if images_uint8.ndim != 4 or images_uint8.shape[1:] != (self.image_spec.size, self.image_spec.size,
                                                                  self.image_spec.channels):
            raise ValueError(f"picked images of shape {images_uint8.shape[1:]} do not match the model's "
                             f"{self.image_spec.size}x{self.image_spec.size}x{self.image_spec.channels}")
        images = uint8_to_model(np.ascontiguousarray(images_uint8.transpose(0, 3, 1, 2)))
        return self._add(images, "picked", [origin] * len(images), "picked sample")

    def add_drawing(self, drawing: np.ndarray) -> AddOutcome:
        """Add a drawing from the paint canvas: float (H, W) in [0, 1], 1 where painted."""
        return self._add(drawing_to_model(drawing, self.image_spec), "drawing", ["drawing"], "drawing")

    def remove_selected(self) -> None:
        """Remove the selected thumbnails: classes are unchecked, images are dropped."""
        selected = [item.data(ENTRY_ROLE) for item in self.thumbnail_list.selectedItems()]
        if not selected:
            return
        classes = {index for kind, index in selected if kind == "class"}
        positions = [index for kind, index in selected if kind == "image"]

        def remove(forget_set: ForgetSet) -> None:
            forget_set.set_classes([index for index in forget_set.classes if index not in classes])
            forget_set.remove_images(positions)

        self._edit(f"Remove {plural(len(selected), 'entry', 'entries')}", remove)
        self._set_note("")

    def clear(self) -> None:
        self._edit("Clear the forget set", ForgetSet.clear)
        self._set_note("")

    def open_draw_dialog(self) -> None:
        """Show the drawing dialog, which adds each finished drawing with `add_drawing`."""
        from msgm_studio.draw_dialog import DrawDialog

        if self._draw_dialog is None:
            self._draw_dialog = DrawDialog(self.image_spec.size, self.image_spec.size, self)
            self._draw_dialog.drawing_added.connect(self.add_drawing)
        self._draw_dialog.show()
        self._draw_dialog.raise_()
        self._draw_dialog.activateWindow()

    @property
    def draw_dialog(self):
        """The drawing dialog once it was opened, else None."""
        return self._draw_dialog

    def _add(self, images: torch.Tensor, kind: str, origins: list[str], noun: str) -> AddOutcome:
        if len(images) == 0:
            return AddOutcome(added=0, duplicates=0)
        outcome = self._edit(f"Add {plural(len(images), noun)}",
                             lambda forget_set: forget_set.add_images(images, kind, origins))
        skipped = f"{plural(outcome.duplicates, 'duplicate')} skipped."
        if not outcome.added:
            note = f"Nothing added: the forget set already has these images. {skipped}"
        else:
            note = f"Added {plural(outcome.added, noun)} to the forget set."
            if outcome.duplicates:
                note += f" {skipped}"
        self._set_note(note)
        return outcome

    def _class_toggled(self, button: QPushButton, checked: bool) -> None:
        index = self.class_buttons.index(button)
        name = self.forget_set.class_names[index]
        if checked:
            self._edit(f"Add class {name}", lambda forget_set: forget_set.set_classes(forget_set.classes + [index]))
        else:
            self._edit(f"Remove class {name}",
                       lambda forget_set: forget_set.set_classes([other for other in forget_set.classes if other != index]))
        self._set_note("")

    def _edit(self, text: str, change: Callable[[ForgetSet], Result]) -> Result:
        """Apply `change` to the forget set and record it on the undo stack when it changed anything."""
        before = self.forget_set.state()
        result = change(self.forget_set)
        after = self.forget_set.state()
        if after != before:
            self.undo_stack.push(_ForgetSetEdit(self, text, before, after))
        return result

    def _show_state(self, state: ForgetSetState) -> None:
        """Put the forget set in `state` and show it (called by undo and redo)."""
        self.forget_set.restore(state)
        for index, button in enumerate(self.class_buttons):
            with QSignalBlocker(button):
                button.setChecked(index in self.forget_set.classes)
        self._refresh()

    def changeEvent(self, event: QEvent) -> None:
        if event.type() in (QEvent.Type.PaletteChange, QEvent.Type.ApplicationPaletteChange):
            # A style sheet resolves palette(...) when it is set, so a new theme needs it set again.
            self._class_area.setStyleSheet(CLASS_BUTTON_STYLE)
        super().changeEvent(event)

    # Dialogs and drops

    def _choose_files(self) -> None:
        patterns = " ".join(f"*{suffix}" for suffix in sorted(IMAGE_SUFFIXES))
        paths, _ = QFileDialog.getOpenFileNames(self, "Add images to the forget set", str(self.last_folder),
                                                f"Images ({patterns});;All files (*)")
        if paths:
            self.last_folder.remember(paths[0])
            self.files_requested.emit([Path(path) for path in paths])

    def _choose_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Add a folder of images to the forget set", str(self.last_folder))
        if folder:
            self.last_folder.remember(folder)
            self.files_requested.emit([Path(folder)])

    def dragEnterEvent(self, event) -> None:
        # Accept only images and folders, so that a dropped checkpoint reaches the window, which opens it.
        if _dropped_image_paths(event.mimeData()):
            event.acceptProposedAction()
        else:
            event.ignore()

    def dropEvent(self, event) -> None:
        paths = _dropped_image_paths(event.mimeData())
        if paths:
            event.acceptProposedAction()
            self.files_requested.emit(paths)
        else:
            event.ignore()

    # Showing the forget set

    def _refresh(self) -> None:
        self._fill_thumbnails()
        self._update_summary()

    def _fill_thumbnails(self) -> None:
        self.thumbnail_list.clear()
        for index in self.forget_set.classes:
            self.thumbnail_list.addItem(self._class_item(index))
        for position, entry in enumerate(self.forget_set.entries):
            item = QListWidgetItem(self._image_icon(entry), "")
            item.setToolTip(entry.origin if entry.kind == "file" else f"{entry.kind}: {entry.origin}")
            item.setData(ENTRY_ROLE, ("image", position))
            self.thumbnail_list.addItem(item)

    def _class_item(self, index: int) -> QListWidgetItem:
        name = self.forget_set.class_names[index]
        if index < len(self._class_examples):
            examples = self._class_examples[index]
            icon = self._icon(tile_images(examples.examples, columns=2))
            text = f"{name}: {examples.count:,}"
            tooltip = f"Bundled class {name}: {plural(examples.count, 'image')}"
        else:
            icon, text, tooltip = QIcon(), f"class {name}", f"Bundled class {name}"
        item = QListWidgetItem(icon, text)
        item.setToolTip(tooltip)
        item.setData(ENTRY_ROLE, ("class", index))
        return item

    def _image_icon(self, entry: ForgetImage) -> QIcon:
        icon = self._icons.get(entry)
        if icon is None:
            icon = self._icon(model_to_uint8(entry.image[None])[0])
            self._icons[entry] = icon
        return icon

    def _icon(self, pixels: np.ndarray) -> QIcon:
        """Icon of uint8 (H, W, C) pixels, enlarged with sharp pixels to at least the icon's device size."""
        ratio = self.devicePixelRatioF()
        # QIcon only scales down, so enlarge first.
        factor = max(1, math.ceil(THUMBNAIL_SIZE * ratio / max(pixels.shape[:2])))
        thumbnail = QPixmap.fromImage(enlarge(to_qimage(pixels), factor))
        thumbnail.setDevicePixelRatio(ratio)
        return QIcon(thumbnail)

    def _update_buttons(self) -> None:
        self.remove_button.setEnabled(bool(self.thumbnail_list.selectedItems()))
        self.clear_button.setEnabled(not self.forget_set.is_empty())

    def _update_summary(self) -> None:
        forget_set = self.forget_set
        if forget_set.is_empty():
            self.summary_label.setText("Empty: choose a class, or add, draw or pick images of what the model must "
                                       "stop generating.")
        else:
            self.summary_label.setText(f"Forget set: {forget_set.summary()}.")
        if forget_set.is_small():
            self.warning_label.setText(
                f"Only {plural(forget_set.image_count, 'image')}. Moderation varies small forget sets with shifts, "
                "small rotations, scaling and stroke thickness, but more examples describe the concept better."
            )
        self.warning_label.setVisible(forget_set.is_small())
        self._update_buttons()
        self.changed.emit()

    def _set_note(self, text: str) -> None:
        self.note_label.setText(text)
        self.note_label.setVisible(bool(text))
        if text:
            self.notice.emit(text)


def _redo_shortcuts() -> list[QKeySequence]:
    """Return the platform's redo keys plus Ctrl+Shift+Z, which some platforms leave out in favour of Ctrl+Y."""
    shortcuts = QKeySequence.keyBindings(QKeySequence.StandardKey.Redo)
    control_shift_z = QKeySequence("Ctrl+Shift+Z")
    if control_shift_z not in shortcuts:
        shortcuts.append(control_shift_z)
    return shortcuts


def _dropped_image_paths(mime) -> list[Path]:
    """Local image files and folders in a drag's data, or [] when it carries anything else."""
    if not mime.hasUrls():
        return []
    paths = [Path(url.toLocalFile()) for url in mime.urls() if url.isLocalFile()]
    if not paths or any(not (path.is_dir() or path.suffix.lower() in IMAGE_SUFFIXES) for path in paths):
        return []
    return paths
