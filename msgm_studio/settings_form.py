"""The moderation settings form: method, preset, steps and the advanced knobs of a ModerationConfig.

`config()` reads the form into a ModerationConfig and `set_config()` fills it from one, so that
projects and saved settings can round-trip it. `validated_config()` also runs
`ModerationConfig.validate` and marks the fields behind each problem. Settings that the form does
not show (warm-up, gradient clip, precision, preview seed and count) pass through unchanged from
the last `set_config`.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFormLayout,
    QLabel,
    QLineEdit,
    QSpinBox,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from engine.errors import UserError
from engine.moderation import PRESETS, ModerationConfig
from engine.objectives import METHODS

# Upper bound of the step fields. It is far above any preset, and a long run can be cancelled with its state kept.
MAX_STEPS = 100_000
CUSTOM_PRESET = "custom"
INVALID_STYLE = "border: 2px solid #d62728;"

# Starting settings of a fresh studio: the engine's defaults with live measurements and previews on.
# A measurement of 16 samples takes about as long as one or two training steps on a CPU (engine.monitor
# has the measured cost), so measuring every 25 steps adds well under 10% to a run.
STUDIO_DEFAULTS = replace(ModerationConfig(), monitor_every=25, monitor_count=16, preview_every=50)
# Settings that a preset leaves as they are: the method, and what the run shows rather than how it trains.
KEPT_BY_PRESETS = ("method", "preview_every", "preview_count", "preview_seed", "monitor_every", "monitor_count")

METHOD_TIP = (
    "Forget objective on noised forget images.\n"
    "obtuse: turns the score more than 90° away from the original score (strongest).\n"
    "orthogonal: makes the score perpendicular to it.\n"
    "orthogonal-elementwise: pushes every pixel of score × original score to zero; it tends to flatten the score.\n"
    "retain-only: no forget term, only fine-tuning on the retain set (the \"retrain without the data\" baseline)."
)


@dataclass(frozen=True)
class Knob:
    """One form field: the ModerationConfig setting, its label, widget kind and tooltip."""

    name: str
    label: str
    kind: str  # "int", "float" or "bool"
    tip: str
    minimum: int = 0
    maximum: int = MAX_STEPS
    advanced: bool = True
    forget_term: bool = False  # only used by the forget methods, so disabled for retain-only
    interval: bool = False  # a number of steps where 0 means never


KNOBS = [
    Knob("steps", "Steps:", "int", "Optimiser steps of the fine-tune. More steps remove the forget set more thoroughly "
         "and take longer; a cancelled run keeps the state it reached.", 1, advanced=False),
    Knob("lr", "Learning rate:", "float", "Adam's learning rate after the warm-up. A higher rate changes the model "
         "faster but can blur or break what it keeps."),
    Knob("retain_weight", "Retain weight w_R:", "float", "Weight of denoising score matching on the retain set. A "
         "higher weight protects the kept content more and slows forgetting."),
    Knob("forget_weight", "Forget weight w_F:", "float", "Weight of the forget term. Higher removes the forget set "
         "faster; too high blurs the other classes or stops the model from denoising.", forget_term=True),
    Knob("forget_period", "Forget period K:", "int", "The forget term runs on every K-th step only. A larger K "
         "weakens it (the published re-training setting is 4).", 1, 1000, forget_term=True),
    Knob("forget_t_min", "Forget t from:", "float", "The forget term acts on noise levels t drawn from [from, to], "
         "with 0 < from < to ≤ 1. Low t shapes fine detail, high t the coarse layout.", forget_term=True),
    Knob("forget_t_max", "Forget t to:", "float", "Upper end of the noise levels t on which the forget term acts. "
         "Lowering it leaves the coarse layout alone.", forget_term=True),
    Knob("margin", "Margin:", "float", "obtuse only: the cosine between the moderated score and the original score is "
         "pushed below −margin. A larger margin turns the score further away.", forget_term=True),
    Knob("retain_batch_size", "Retain batch:", "int", "Retain images per step. Larger batches give steadier steps "
         "and cost proportionally more time.", 1, 4096),
    Knob("forget_batch_size", "Forget batch:", "int", "Forget images per step, drawn with repetition from the "
         "forget set. Larger batches give steadier steps and cost more time.", 1, 4096, forget_term=True),
    Knob("ema_decay", "EMA decay:", "float", "Decay of the moving average of the weights that is sampled and exported, "
         "in [0, 1). Closer to 1 is smoother but lags behind, over about 1 / (1 − decay) steps."),
    Knob("augment_forget", "Augment forget images", "bool", "Randomly shift, rotate, scale and thicken the forget "
         "images, so that a few examples stand for the concept instead of being memorised.", forget_term=True),
    Knob("seed", "Seed:", "int", "Seed of the batches, times and noise. The same seed and settings give the same "
         "moderated model.", 0, 2**31 - 1),
    Knob("preview_every", "Preview every:", "int", "Sample a preview grid from fixed seeds every N steps (0: never). "
         "A preview costs about as much as a few training steps.", interval=True),
    Knob("monitor_every", "Measure every:", "int", "Measure the forget rate, the quality and the score diagnostic "
         "every N steps (0: never). A measurement of 16 samples takes about as long as one or two training "
         "steps on a CPU.", interval=True),
    Knob("monitor_count", "Measured samples:", "int", "Samples per measurement, from fixed seeds. More samples give "
         "a steadier forget rate and cost more time.", 1, 1024),
]


def format_float(value: float) -> str:
    """Write a float so that float() reads back exactly the same value (2e-4 as 0.0002, 1e-5 as 1e-05)."""
    return repr(float(value))


class SettingsForm(QWidget):
    """Moderation settings with presets, tooltips and validation. Emits `changed` when the user edits a field."""

    changed = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._base = STUDIO_DEFAULTS
        self._filling = False
        self.fields: dict[str, QWidget] = {}
        self.labels: dict[str, str] = {"method": "Method"}

        self.preset_box = QComboBox()
        self.preset_box.addItems([*PRESETS, CUSTOM_PRESET])
        self.preset_box.setToolTip("Fill the training settings from a named preset. The method and the preview and "
                                   "measurement settings stay as they are.\n"
                                   "default: the studio's tuned settings. fast: fewer steps. thorough: more steps.\n"
                                   "paper: the published re-training weights (w_R 0.99, w_F 0.01, K 4), weak for a "
                                   "short fine-tune.")
        self.method_box = QComboBox()
        self.method_box.addItems(list(METHODS))
        self.method_box.setToolTip(METHOD_TIP)
        self.fields["method"] = self.method_box

        basic = QFormLayout()
        basic.addRow("Preset:", self.preset_box)
        basic.addRow("Method:", self.method_box)
        advanced_widget = QWidget()
        advanced = QFormLayout(advanced_widget)
        advanced.setContentsMargins(0, 0, 0, 0)
        for knob in KNOBS:
            widget = self._make_field(knob)
            self.fields[knob.name] = widget
            self.labels[knob.name] = knob.label.rstrip(":")
            layout = advanced if knob.advanced else basic
            if knob.kind == "bool":
                layout.addRow(widget)
            else:
                layout.addRow(knob.label, widget)
        self.steps_box: QSpinBox = self.fields["steps"]

        self.advanced_button = QToolButton()
        self.advanced_button.setText("Advanced settings")
        self.advanced_button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        self.advanced_button.setCheckable(True)
        self.advanced_button.setAutoRaise(True)
        self.advanced_button.toggled.connect(self._show_advanced)
        self.advanced = advanced_widget

        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(basic)
        layout.addWidget(self.advanced_button)
        layout.addWidget(self.advanced)
        # What is wrong with the settings, shown while the user edits them rather than only on Start.
        self.problem_label = QLabel()
        self.problem_label.setWordWrap(True)
        self.problem_label.setStyleSheet("color: #d62728;")
        self.problem_label.hide()
        layout.addWidget(self.problem_label)
        self._show_advanced(False)

        self.preset_box.activated.connect(lambda index: self.apply_preset(self.preset_box.itemText(index)))
        self.method_box.currentTextChanged.connect(self._field_edited)
        self.set_config(STUDIO_DEFAULTS)

    # Building

    def _make_field(self, knob: Knob) -> QWidget:
        if knob.kind == "int":
            widget = QSpinBox()
            widget.setRange(knob.minimum, knob.maximum)
            if knob.interval:
                widget.setSuffix(" steps")
                widget.setSpecialValueText("never")
            widget.valueChanged.connect(self._field_edited)
        elif knob.kind == "float":
            widget = QLineEdit()
            widget.textEdited.connect(self._field_edited)
        else:
            widget = QCheckBox(knob.label)
            widget.toggled.connect(self._field_edited)
        widget.setToolTip(knob.tip)
        return widget

    def _show_advanced(self, shown: bool) -> None:
        self.advanced.setVisible(shown)
        self.advanced_button.setArrowType(Qt.ArrowType.DownArrow if shown else Qt.ArrowType.RightArrow)

    # Reading and filling

    def set_config(self, config: ModerationConfig) -> None:
        """Fill the form from `config`; settings the form does not show are kept for `config()`."""
        self._filling = True
        try:
            self._base = config
            self.method_box.setCurrentText(config.method)
            for knob in KNOBS:
                value = getattr(config, knob.name)
                widget = self.fields[knob.name]
                if knob.kind == "int":
                    widget.setValue(int(value))
                elif knob.kind == "float":
                    widget.setText(format_float(value))
                else:
                    widget.setChecked(bool(value))
        finally:
            self._filling = False
        self._sync_preset_box()
        self.check()
        self._update_enabled()

    def check(self) -> bool:
        """Mark the fields behind any problem and describe it below the form; return whether the settings are valid."""
        try:
            self.validated_config()
        except UserError as error:
            text = str(error)
            self.problem_label.setText(text[:1].upper() + text[1:] + ("" if text.endswith(".") else "."))
            self.problem_label.show()
            return False
        self.problem_label.clear()
        self.problem_label.hide()
        return True

    def config(self) -> ModerationConfig:
        """Read the form. Raises a UserError, and marks the fields, when a number field does not hold a number."""
        values, unreadable = self._read()
        if unreadable:
            self._mark(unreadable)
            listed = "; ".join(f"{self.labels[name]}: {text!r} is not a number" for name, text in unreadable.items())
            raise UserError(f"{listed}. Enter a number such as 0.0002 or 2e-4.")
        return replace(self._base, **values)

    def validated_config(self, overrides: dict | None = None) -> ModerationConfig:
        """Read the form, apply `overrides` and validate the result.

        Raises a UserError that names every problem, and marks the fields behind them.
        """
        self.clear_marks()
        config = replace(self.config(), **(overrides or {}))
        implicated = {name for _message, names in config.problems() for name in names}
        self._mark({name: "" for name in implicated if name in self.fields and name not in (overrides or {})})
        config.validate()  # raises the UserError that names every problem
        return config

    def _read(self) -> tuple[dict, dict[str, str]]:
        values: dict = {"method": self.method_box.currentText()}
        unreadable: dict[str, str] = {}
        for knob in KNOBS:
            widget = self.fields[knob.name]
            if knob.kind == "int":
                values[knob.name] = widget.value()
            elif knob.kind == "bool":
                values[knob.name] = widget.isChecked()
            else:
                text = widget.text().strip()
                try:
                    values[knob.name] = float(text)
                except ValueError:
                    unreadable[knob.name] = text
        return values, unreadable

    # Presets

    def apply_preset(self, name: str) -> None:
        """Fill the training settings from preset `name`; the method and the preview and measurement settings stay."""
        if name not in PRESETS:
            self._sync_preset_box()
            return
        kept = {key: getattr(self._current_or_base(), key) for key in KEPT_BY_PRESETS}
        self.set_config(replace(ModerationConfig(**PRESETS[name]), **{**kept, **_preset_fields(name, KEPT_BY_PRESETS)}))
        self.changed.emit()

    def _current_or_base(self) -> ModerationConfig:
        try:
            return self.config()
        except UserError:
            return self._base

    def _sync_preset_box(self) -> None:
        """Show the preset the training settings match, or "custom"."""
        values, unreadable = self._read()
        current = replace(self._base, **values) if not unreadable else None
        matched = CUSTOM_PRESET
        for name in PRESETS:
            if current is not None and _training_settings(current) == _training_settings(ModerationConfig(**PRESETS[name])):
                matched = name
                break
        self.preset_box.setCurrentText(matched)

    # Marks and enabling

    def _field_edited(self, *_args) -> None:
        if self._filling:
            return
        self._sync_preset_box()
        self.check()
        self._update_enabled()
        self.changed.emit()

    def _mark(self, names: dict[str, str]) -> None:
        for name in names:
            widget = self.fields[name]
            widget.setProperty("invalid", True)
            widget.setStyleSheet(INVALID_STYLE)
        # A marked field must be visible, so open the advanced settings when one of them is marked.
        if any(self.advanced.isAncestorOf(self.fields[name]) for name in names):
            self.advanced_button.setChecked(True)

    def _unmark(self, widget: QWidget) -> None:
        widget.setProperty("invalid", False)
        widget.setStyleSheet("")

    def clear_marks(self) -> None:
        for widget in self.fields.values():
            self._unmark(widget)

    def invalid_fields(self) -> list[str]:
        """Return the names of the fields marked invalid, in form order."""
        return [name for name, widget in self.fields.items() if widget.property("invalid")]

    def _update_enabled(self) -> None:
        method = self.method_box.currentText()
        for knob in KNOBS:
            enabled = not knob.forget_term or method != "retain-only"
            if knob.name == "margin":
                enabled = method == "obtuse"
            widget = self.fields[knob.name]
            # A field marked invalid stays editable, so that the user can correct it under any method.
            widget.setEnabled(enabled or bool(widget.property("invalid")))


def _training_settings(config: ModerationConfig) -> dict:
    return {key: value for key, value in config.to_dict().items() if key not in KEPT_BY_PRESETS}


def _preset_fields(name: str, keys: tuple[str, ...]) -> dict:
    """Settings among `keys` that preset `name` sets itself, so that they win over the kept ones."""
    return {key: value for key, value in PRESETS[name].items() if key in keys}
