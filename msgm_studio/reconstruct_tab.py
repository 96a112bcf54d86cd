"""The reconstruction tab: pass an input image through both models and back, from the same seed."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QComboBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QSlider,
    QVBoxLayout,
    QWidget,
)

from engine.downstream import RECONSTRUCTION_METHODS, ReconstructionConfig
from engine.score_model import ScoreModel
from msgm_studio.downstream_tab import DownstreamTab
from msgm_studio.downstream_tasks import DownstreamResult, iter_reconstruct_models
from msgm_studio.image_view import ImageGridView
from msgm_studio.job_engine import JobEngine
from msgm_studio.last_folder import LastFolder

# The t* slider moves in steps of 0.01 from 0.01 to 1.
T_SCALE = 100
METHOD_TIPS = {
    "ode": "Noise the image to t*, encode it with the probability-flow ODE up to t = 1, and decode it back",
    "sde": "Noise the image to t* and run the reverse SDE back from there",
}


class ReconstructTab(DownstreamTab):
    """The input image next to both models' reconstructions of it, with the method and t* to use."""

    task_name = "Reconstruction"
    job_kind = "reconstruct"

    def __init__(self, jobs: JobEngine, parent: QWidget | None = None, last_folder: LastFolder | None = None) -> None:
        super().__init__(jobs, parent, last_folder)
        defaults = ReconstructionConfig()
        self.steps_box.setValue(defaults.steps)
        self.steps_box.setToolTip("ODE steps each way (ode), or reverse SDE steps (sde), of each model")

        self.input_view = ImageGridView("No input image yet")
        self.input_verdict = QLabel()
        self.input_verdict.setWordWrap(True)
        self.input_verdict.setAlignment(Qt.AlignmentFlag.AlignCenter)

        controls = QVBoxLayout()
        controls.addWidget(self.picker)
        controls.addWidget(self._method_controls(defaults))
        controls.addWidget(self.run_controls())
        controls.addStretch(1)

        input_column = QVBoxLayout()
        input_column.addWidget(QLabel("Input image"))
        input_column.addWidget(self.input_view, 1)
        input_column.addWidget(self.input_verdict)

        layout = QHBoxLayout(self)
        layout.addLayout(controls)
        layout.addLayout(input_column, 1)
        layout.addWidget(self.results_widget(), 1)

    def _method_controls(self, defaults: ReconstructionConfig) -> QGroupBox:
        group = QGroupBox("Method")
        form = QFormLayout(group)
        self.method_box = QComboBox()
        for method in RECONSTRUCTION_METHODS:
            self.method_box.addItem(method)
            self.method_box.setItemData(self.method_box.count() - 1, METHOD_TIPS[method], Qt.ItemDataRole.ToolTipRole)
        self.method_box.setCurrentText(defaults.method)
        self.method_box.currentTextChanged.connect(lambda method: self.method_box.setToolTip(METHOD_TIPS[method]))
        self.method_box.setToolTip(METHOD_TIPS[defaults.method])
        form.addRow("Method:", self.method_box)

        self.t_slider = QSlider(Qt.Orientation.Horizontal)
        self.t_slider.setRange(1, T_SCALE)
        self.t_slider.setToolTip("Time t* in (0, 1] the image is noised to: the larger, the more the model re-invents")
        self.t_label = QLabel()
        self.t_slider.valueChanged.connect(lambda value: self.t_label.setText(f"{self.t:.2f}"))
        self.t_slider.setValue(round(defaults.t * T_SCALE))
        self.t_label.setText(f"{self.t:.2f}")
        row = QHBoxLayout()
        row.addWidget(self.t_slider, 1)
        row.addWidget(self.t_label)
        form.addRow("t*:", row)
        return group

    @property
    def t(self) -> float:
        return self.t_slider.value() / T_SCALE

    def set_t(self, t: float) -> None:
        self.t_slider.setValue(round(t * T_SCALE))

    def image_changed(self) -> None:
        image = self.picker.image_uint8()
        if image is None:
            self.input_view.set_placeholder("No input image yet")
        else:
            self.input_view.set_images(image[None])
        self.input_verdict.setText("")

    def make_job(self, models: dict[str, ScoreModel]):
        config = ReconstructionConfig(method=self.method_box.currentText(), t=self.t, steps=self.steps_box.value())
        image, seed = self.picker.image, self.seed_box.value()
        return lambda control: iter_reconstruct_models(models, image, config, seed, control)

    def show_result(self, result: DownstreamResult) -> None:
        super().show_result(result)
        if result.input_verdict is not None:
            self.input_verdict.setText(f"Input: {result.input_verdict.text()}")
