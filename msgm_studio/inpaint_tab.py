"""The inpainting tab: paint a mask over an input image and let both models fill it from the same seed."""

from __future__ import annotations

import numpy as np
from PySide6.QtWidgets import (
    QButtonGroup,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from engine.score_model import ScoreModel
from msgm_studio.downstream_tab import DownstreamTab
from msgm_studio.downstream_tasks import iter_inpaint_models
from msgm_studio.job_engine import JobEngine
from msgm_studio.last_folder import LastFolder
from msgm_studio.paint_canvas import TOOLS, PaintCanvas

# Predictor-corrector steps, as for `msgm-studio inpaint`.
DEFAULT_STEPS = 100
DEFAULT_BRUSH_SIZE = 3
PRESET_NAMES = {"top": "Top half", "bottom": "Bottom half", "left": "Left half", "right": "Right half", "centre": "Centre"}


def preset_mask(name: str, height: int, width: int) -> np.ndarray:
    """Return a float32 (H, W) mask with 1 on the area to fill: a half of the image or its centre square."""
    mask = np.zeros((height, width), dtype=np.float32)
    middle_row, middle_column = height // 2, width // 2
    if name == "top":
        mask[:middle_row] = 1
    elif name == "bottom":
        mask[middle_row:] = 1
    elif name == "left":
        mask[:, :middle_column] = 1
    elif name == "right":
        mask[:, middle_column:] = 1
    elif name == "centre":
        mask[height // 4 : height - height // 4, width // 4 : width - width // 4] = 1
    else:
        raise ValueError(f"unknown preset mask {name!r}; use one of {', '.join(PRESET_NAMES)}")
    return mask


class InpaintTab(DownstreamTab):
    """An input image with a mask painted over it (painted = area to fill), and both models' completions."""

    task_name = "Inpainting"
    job_kind = "inpaint"

    def __init__(self, jobs: JobEngine, parent: QWidget | None = None, last_folder: LastFolder | None = None) -> None:
        super().__init__(jobs, parent, last_folder)
        self.steps_box.setValue(DEFAULT_STEPS)
        self.steps_box.setToolTip("Predictor-corrector steps of each model")
        self.canvas = PaintCanvas(28, 28)
        self.canvas.setToolTip("Paint the area the models fill. Right button: erase. Ctrl+Z: undo.")
        self.canvas.changed.connect(self._update_edit_buttons)

        controls = QVBoxLayout()
        controls.addWidget(self.picker)
        controls.addWidget(self._mask_controls())
        controls.addWidget(self.run_controls())
        controls.addStretch(1)

        canvas_column = QVBoxLayout()
        canvas_title = QLabel("Input image and mask (painted = area to fill)")
        canvas_title.setWordWrap(True)
        canvas_column.addWidget(canvas_title)
        canvas_column.addWidget(self.canvas, 1)

        layout = QHBoxLayout(self)
        layout.addLayout(controls)
        layout.addLayout(canvas_column, 1)
        layout.addWidget(self.results_widget(), 1)
        self._update_edit_buttons()

    def _mask_controls(self) -> QGroupBox:
        group = QGroupBox("Mask")
        layout = QVBoxLayout(group)

        tools = QHBoxLayout()
        self.tool_buttons: dict[str, QPushButton] = {}
        self._tool_group = QButtonGroup(self)
        for tool in TOOLS:
            button = QPushButton(tool.capitalize())
            button.setCheckable(True)
            button.clicked.connect(lambda checked, tool=tool: self.canvas.set_tool(tool))
            self._tool_group.addButton(button)
            tools.addWidget(button)
            self.tool_buttons[tool] = button
        self.tool_buttons[self.canvas.tool].setChecked(True)
        layout.addLayout(tools)

        size = QHBoxLayout()
        size.addWidget(QLabel("Brush size:"))
        self.size_box = QSpinBox()
        self.size_box.setRange(1, 28)
        self.size_box.setSuffix(" px")
        self.size_box.setToolTip("Diameter of the brush and the eraser, in image pixels")
        self.size_box.valueChanged.connect(self.canvas.set_brush_size)
        self.size_box.setValue(DEFAULT_BRUSH_SIZE)
        size.addWidget(self.size_box)
        layout.addLayout(size)

        edits = QHBoxLayout()
        self.invert_button = QPushButton("Invert")
        self.clear_button = QPushButton("Clear")
        self.undo_button = QPushButton("Undo")
        self.redo_button = QPushButton("Redo")
        self.invert_button.clicked.connect(self.canvas.invert)
        self.clear_button.clicked.connect(self.canvas.clear)
        self.undo_button.clicked.connect(self.canvas.undo)
        self.redo_button.clicked.connect(self.canvas.redo)
        for button in (self.invert_button, self.clear_button, self.undo_button, self.redo_button):
            edits.addWidget(button)
        layout.addLayout(edits)

        presets = QGridLayout()
        self.preset_buttons: dict[str, QPushButton] = {}
        for index, (name, title) in enumerate(PRESET_NAMES.items()):
            button = QPushButton(title)
            button.setToolTip(f"Fill the {title.lower()} of the image")
            button.clicked.connect(lambda checked, name=name: self.apply_preset(name))
            presets.addWidget(button, index // 3, index % 3)
            self.preset_buttons[name] = button
        layout.addLayout(presets)
        return group

    def apply_preset(self, name: str) -> None:
        """Replace the mask with a preset from PRESET_NAMES, as one undoable edit."""
        self.canvas.set_array(preset_mask(name, *self.canvas.shape))

    def image_changed(self) -> None:
        image = self.picker.image_uint8()
        if image is None:
            self.canvas.set_background(None)
            return
        if image.shape[:2] != self.canvas.shape:
            self.canvas.set_shape(*image.shape[:2])
            self.size_box.setMaximum(max(image.shape[:2]))
        self.canvas.set_background(image)

    def make_job(self, models: dict[str, ScoreModel]):
        fill = self.canvas.array() >= 0.5
        if not fill.any():
            self.error.emit("The mask is empty, so there is nothing to fill. Paint the area to fill over the image, "
                            "or choose a preset such as Bottom half, then press Run again.")
            return None
        image, seed, steps = self.picker.image, self.seed_box.value(), self.steps_box.value()
        return lambda control: iter_inpaint_models(models, image, fill, seed, steps, control)

    def _update_edit_buttons(self) -> None:
        self.undo_button.setEnabled(self.canvas.can_undo())
        self.redo_button.setEnabled(self.canvas.can_redo())
