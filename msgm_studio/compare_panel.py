"""The Samples view: original and moderated samples from the same seed, side by side or in a wipe view.

It also shows a forget judge's verdict on each sample, zooms, sets the grid size and lets the user pick
samples for the forget set.
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QAction, QFont, QKeySequence
from PySide6.QtWidgets import (
    QButtonGroup,
    QComboBox,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QScrollArea,
    QSpinBox,
    QStackedWidget,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from msgm_studio.gallery import SampleGallery
from msgm_studio.image_view import ZOOM_FACTORS, PixelView
from msgm_studio.tasks import SampleSet
from msgm_studio.wipe_view import WipeView

ROLES = ("original", "moderated")
TITLES = {"original": "Original model", "moderated": "Moderated model"}
PLACEHOLDERS = {
    "original": "Open a checkpoint to see its samples",
    "moderated": "Moderate the model to see its samples here, from the same seed",
}

# Sample counts offered for the grids: squares, so that the grids have no empty cells.
GRID_SIZES = (16, 36, 64, 100)

# Name of the judge behind the verdicts that `update_forget_rates` computes from the classifier's labels.
CLASSIFIER_JUDGE = "bundled classifier"


def verdict_text(forget_flags: np.ndarray, judge_name: str) -> str:
    """Count the samples a forget judge calls forget, e.g. "3 of 64 look like the forget set (5%)"."""
    hits, count = int(np.count_nonzero(forget_flags)), len(forget_flags)
    share = hits / count if count else 0.0
    return f"{hits} of {count} look like the forget set ({share:.0%})\nJudge: {judge_name}"


def classifier_judge_name(forget_classes: list[int], class_names: list[str], image_count: int = 0) -> str:
    """Name the classifier judge; with forget images besides the classes, say that it does not look for them."""
    names = ", ".join(class_names[index] for index in forget_classes)
    images = "1 forget image is" if image_count == 1 else f"{image_count} forget images are"
    unjudged = (f" (the classes only: the {images} judged by a detector, which moderation trains)"
                if image_count else "")
    return f"{CLASSIFIER_JUDGE}, classified as {names}{unjudged}"


def _scroll_area(view: QWidget) -> QScrollArea:
    area = QScrollArea()
    area.setWidget(view)
    area.setWidgetResizable(True)
    area.setAlignment(Qt.AlignmentFlag.AlignCenter)
    return area


def _bold(text: str) -> QLabel:
    label = QLabel(text)
    font = QFont(label.font())
    font.setBold(True)
    label.setFont(font)
    label.setAlignment(Qt.AlignmentFlag.AlignCenter)
    return label


class ComparePanel(QWidget):
    """Original and moderated samples side by side or in one wipe view, with verdicts and picking.

    The window samples the models, and the panel shows the results (`show_samples`, `show_placeholder`)
    and the verdicts (`update_forget_rates` for the bundled classifier, `show_verdicts` for any judge).
    The panel emits `grid_size_changed` when the user chooses a new sample count, and `pick_requested`
    with the samples the user adds to the forget set.
    """

    grid_size_changed = Signal(int)
    # Selected samples to add to the forget set: uint8 images (N, H, W, C) and where they came from.
    pick_requested = Signal(object, str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.samples: dict[str, SampleSet] = {}
        self.verdicts: dict[str, np.ndarray] = {}
        self._judges: dict[str, str] = {}
        self._placeholders = dict(PLACEHOLDERS)

        layout = QVBoxLayout(self)
        layout.addLayout(self._build_view_controls())

        self.views: dict[str, SampleGallery] = {}
        self.scroll_areas: dict[str, QScrollArea] = {}
        side_by_side = QWidget()
        grid = QGridLayout(side_by_side)
        grid.setContentsMargins(0, 0, 0, 0)
        for column, role in enumerate(ROLES):
            view = SampleGallery(PLACEHOLDERS[role])
            self.views[role] = view
            self.scroll_areas[role] = _scroll_area(view)
            grid.addWidget(_bold(TITLES[role]), 0, column)
            grid.addWidget(self.scroll_areas[role], 1, column)
        grid.setRowStretch(1, 1)
        self._link_scrolling()

        self.wipe_view = WipeView()
        self.wipe_view.set_labels(TITLES["original"], TITLES["moderated"])
        self.wipe_view.set_placeholder(PLACEHOLDERS["original"])

        self.stack = QStackedWidget()
        self.stack.addWidget(side_by_side)
        self.stack.addWidget(_scroll_area(self.wipe_view))
        layout.addWidget(self.stack, 1)

        self.rate_labels: dict[str, QLabel] = {}
        rates = QHBoxLayout()
        for role in ROLES:
            rate = QLabel()
            rate.setAlignment(Qt.AlignmentFlag.AlignCenter)
            rate.setWordWrap(True)
            self.rate_labels[role] = rate
            rates.addWidget(rate, 1)
        layout.addLayout(rates)
        layout.addLayout(self._build_sample_controls())

        for role, view in self.views.items():
            view.selection_changed.connect(self._update_pick_controls)
            view.selection_replaced.connect(lambda role=role: self._clear_other_selections(role))
            view.pick_requested.connect(lambda role=role: self.pick_selected([role]))
        for view in self._pixel_views():
            view.zoom_changed.connect(self.set_zoom)
        self._build_zoom_actions()
        self._update_pick_controls()

    # Layout

    def _build_view_controls(self) -> QHBoxLayout:
        controls = QHBoxLayout()
        self.side_by_side_button = QToolButton(text="Side by side", checkable=True, checked=True)
        self.side_by_side_button.setToolTip("Show the original and the moderated samples next to each other")
        self.wipe_button = QToolButton(text="Wipe", checkable=True)
        self.wipe_button.setToolTip("Show both sample grids on top of each other, split by a line you drag")
        self._mode_group = QButtonGroup(self)
        self._mode_group.addButton(self.side_by_side_button, 0)
        self._mode_group.addButton(self.wipe_button, 1)
        self._mode_group.idToggled.connect(self._mode_toggled)
        controls.addWidget(self.side_by_side_button)
        controls.addWidget(self.wipe_button)
        controls.addSpacing(16)

        controls.addWidget(QLabel("Zoom:"))
        self.zoom_box = QComboBox()
        self.zoom_box.addItem("Fit", None)
        for factor in ZOOM_FACTORS:
            self.zoom_box.addItem(f"{factor}×", factor)
        self.zoom_box.setToolTip("Screen pixels per model pixel (Ctrl+wheel, Ctrl+plus, Ctrl+minus; Ctrl+0 fits)")
        self.zoom_box.currentIndexChanged.connect(lambda index: self.set_zoom(self.zoom_box.itemData(index)))
        controls.addWidget(self.zoom_box)
        controls.addSpacing(16)

        controls.addWidget(QLabel("Samples:"))
        self.grid_size_box = QComboBox()
        for count in GRID_SIZES:
            self.grid_size_box.addItem(str(count), count)
        self.grid_size_box.setToolTip("How many samples each model draws. Changing it samples both models again.")
        self.grid_size_box.activated.connect(lambda index: self.grid_size_changed.emit(self.grid_size_box.itemData(index)))
        controls.addWidget(self.grid_size_box)
        controls.addStretch(1)
        return controls

    def _build_sample_controls(self) -> QHBoxLayout:
        controls = QHBoxLayout()
        self.selection_label = QLabel()
        controls.addWidget(self.selection_label)
        self.add_to_forget_button = QPushButton("Add to forget set")
        self.add_to_forget_button.setToolTip("Add the selected samples of both models to the forget set")
        self.add_to_forget_button.clicked.connect(lambda: self.pick_selected(list(ROLES)))
        controls.addWidget(self.add_to_forget_button)
        controls.addStretch(1)
        controls.addWidget(QLabel("Seed:"))
        self.seed_box = QSpinBox()
        self.seed_box.setRange(0, 2**31 - 1)
        self.seed_box.setToolTip("Seed of the starting noise. Both models start from the same noise.")
        controls.addWidget(self.seed_box)
        self.sample_button = QPushButton("Sample again")
        self.sample_button.setToolTip("Draw new samples of both models from this seed")
        controls.addWidget(self.sample_button)
        return controls

    def _build_zoom_actions(self) -> None:
        shortcuts = [
            ("Zoom in", [QKeySequence(QKeySequence.StandardKey.ZoomIn), QKeySequence("Ctrl+=")], self.zoom_in),
            ("Zoom out", [QKeySequence(QKeySequence.StandardKey.ZoomOut)], self.zoom_out),
            ("Fit", [QKeySequence("Ctrl+0")], lambda: self.set_zoom(None)),
        ]
        self.zoom_actions: dict[str, QAction] = {}
        for text, keys, slot in shortcuts:
            action = QAction(text, self)
            action.setShortcuts(keys)
            action.setShortcutContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
            action.triggered.connect(slot)
            self.addAction(action)
            self.zoom_actions[text] = action

    def _link_scrolling(self) -> None:
        """Scroll both galleries together, so that the samples of the same seed stay side by side."""
        first, second = (self.scroll_areas[role] for role in ROLES)
        for bar in ("horizontalScrollBar", "verticalScrollBar"):
            one, other = getattr(first, bar)(), getattr(second, bar)()
            one.valueChanged.connect(other.setValue)
            other.valueChanged.connect(one.setValue)

    def _pixel_views(self) -> list[PixelView]:
        return [*self.views.values(), self.wipe_view]

    # Samples

    def show_samples(self, role: str, samples: SampleSet) -> None:
        self.samples[role] = samples
        self.verdicts.pop(role, None)
        self._judges.pop(role, None)
        self.views[role].set_images(samples.images)
        self.rate_labels[role].setText("")
        self._update_wipe_view()

    def show_placeholder(self, role: str, text: str) -> None:
        self.samples.pop(role, None)
        self.verdicts.pop(role, None)
        self._judges.pop(role, None)
        self._placeholders[role] = text
        self.views[role].set_placeholder(text)
        self.rate_labels[role].setText("")
        self._update_wipe_view()

    def _update_wipe_view(self) -> None:
        images = {role: sample_set.images for role, sample_set in self.samples.items()}
        original, moderated = images.get("original"), images.get("moderated")
        labels = [TITLES["original"], TITLES["moderated"]]
        if original is not None and moderated is not None and original.shape != moderated.shape:
            # A moderation preview has its own sample count, so its grid cannot be laid over the original's.
            labels[1] = f"{TITLES['moderated']}: {len(moderated)} samples, not comparable"
            moderated = None
        if original is None and moderated is None:
            self.wipe_view.set_placeholder(self._placeholders["original"])
        else:
            self.wipe_view.set_images(original, moderated)
            self.wipe_view.set_tile_marks(self.verdicts.get("original") if original is not None else None,
                                          self.verdicts.get("moderated") if moderated is not None else None)
        self.wipe_view.set_labels(*labels)

    # Verdicts

    def show_verdicts(self, role: str, forget_flags: np.ndarray, judge_name: str) -> None:
        """Mark the samples of `role` that a forget judge calls forget and count them below the grid.

        `forget_flags` contains one bool, or one probability of looking like the forget set, per sample.
        """
        if role not in self.samples:
            raise ValueError(f"there are no {role} samples to judge")
        view = self.views[role]
        view.set_verdicts(forget_flags, judge_name)
        self.verdicts[role] = view.forget_flags()
        self._judges[role] = judge_name
        self.rate_labels[role].setText(verdict_text(self.verdicts[role], judge_name))
        self._update_wipe_view()

    def clear_verdicts(self, role: str) -> None:
        self.verdicts.pop(role, None)
        self._judges.pop(role, None)
        self.views[role].set_verdicts(None)
        self.rate_labels[role].setText("")
        self._update_wipe_view()

    def update_forget_rates(self, forget_classes: list[int], class_names: list[str], image_count: int = 0) -> None:
        """Judge the samples with the bundled classifier's labels against the forget classes.

        `image_count` is the number of forget images beside the classes, which the classifier cannot judge.

        Verdicts of another judge stay until new samples replace them, because they were computed for the
        samples shown. The classifier's verdicts follow every change of the forget classes.
        """
        for role in ROLES:
            samples = self.samples.get(role)
            labels = samples.labels if samples else None
            if labels is not None and forget_classes:
                self.show_verdicts(role, np.isin(labels, forget_classes),
                                   classifier_judge_name(forget_classes, class_names, image_count))
            elif self._judges.get(role, CLASSIFIER_JUDGE).startswith(CLASSIFIER_JUDGE):
                self.clear_verdicts(role)

    # Grid size

    def grid_size(self) -> int:
        return self.grid_size_box.currentData()

    def set_grid_size(self, count: int) -> None:
        """Show `count` as the chosen grid size without emitting `grid_size_changed`."""
        index = self.grid_size_box.findData(count)
        if index < 0:
            self.grid_size_box.addItem(str(count), count)
            index = self.grid_size_box.count() - 1
        self.grid_size_box.setCurrentIndex(index)

    # Zoom

    def zoom(self) -> int | None:
        return self.zoom_box.currentData()

    def set_zoom(self, zoom: int | None) -> None:
        """Fit the views (None) or enlarge them by a factor from ZOOM_FACTORS, in screen pixels per model pixel."""
        self.zoom_box.setCurrentIndex(self.zoom_box.findData(zoom))
        for view in self._pixel_views():
            view.set_zoom(zoom)

    def zoom_in(self) -> None:
        self._current_view().zoom_in()

    def zoom_out(self) -> None:
        self._current_view().zoom_out()

    def _current_view(self) -> PixelView:
        return self.wipe_view if self.stack.currentIndex() == 1 else self.views["original"]

    # View mode

    def show_wipe(self, wipe: bool) -> None:
        """Switch between the side-by-side galleries (False) and the wipe view (True)."""
        (self.wipe_button if wipe else self.side_by_side_button).setChecked(True)

    def _mode_toggled(self, mode: int, checked: bool) -> None:
        if checked:
            self.stack.setCurrentIndex(mode)
            self._update_pick_controls()

    # Picking

    def pick_selected(self, roles: list[str]) -> None:
        """Emit `pick_requested` once per gallery of `roles` that has a selection, then clear that selection."""
        for role in roles:
            view = self.views[role]
            images = view.selected_images()
            if len(images) == 0:
                continue
            samples = self.samples.get(role)
            seed = f", seed {samples.seed}" if samples else ""
            self.pick_requested.emit(images, f"{TITLES[role].lower()} samples{seed}")
            view.clear_selection()

    def selected_count(self) -> int:
        return sum(len(view.selected_indices()) for view in self.views.values())

    def _clear_other_selections(self, role: str) -> None:
        for other, view in self.views.items():
            if other != role:
                view.clear_selection()

    def _update_pick_controls(self) -> None:
        count = self.selected_count()
        self.add_to_forget_button.setEnabled(count > 0)
        self.selection_label.setText(f"{count} selected" if count else "Select samples to add them to the forget set")
