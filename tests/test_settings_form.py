"""The moderation settings form: presets, round trips, validation marks, and the window refusing invalid settings."""

from dataclasses import replace
from pathlib import Path

import pytest
from PySide6.QtCore import Qt

from engine.errors import UserError
from engine.moderation import PRESETS, ModerationConfig
from msgm_studio.main_window import MainWindow
from msgm_studio.settings_form import CUSTOM_PRESET, KNOBS, STUDIO_DEFAULTS, SettingsForm


@pytest.fixture
def form(qtbot) -> SettingsForm:
    form = SettingsForm()
    qtbot.addWidget(form)
    return form


def type_text(qtbot, form: SettingsForm, name: str, text: str) -> None:
    """Replace a number field's text as a user would: select all, then type."""
    field = form.fields[name]
    form.advanced_button.setChecked(True)
    field.selectAll()
    qtbot.keyClicks(field, text)


def test_form_starts_with_studio_defaults(form):
    assert form.config() == STUDIO_DEFAULTS
    assert form.preset_box.currentText() == "default"
    assert form.fields["lr"].text() == "0.0002"
    assert not form.advanced.isVisibleTo(form)


def test_preset_fills_form_and_keeps_method(qtbot, form):
    form.method_box.setCurrentText("orthogonal")
    form.fields["monitor_every"].setValue(10)

    form.apply_preset("paper")

    assert form.preset_box.currentText() == "paper"
    assert form.fields["retain_weight"].text() == "0.99"
    assert form.fields["forget_weight"].text() == "0.01"
    assert form.fields["forget_period"].value() == 4
    assert form.method_box.currentText() == "orthogonal"
    assert form.fields["monitor_every"].value() == 10
    assert form.config() == replace(ModerationConfig(**PRESETS["paper"]), method="orthogonal", monitor_every=10,
                                    monitor_count=STUDIO_DEFAULTS.monitor_count,
                                    preview_every=STUDIO_DEFAULTS.preview_every)


@pytest.mark.parametrize("name", list(PRESETS))
def test_every_preset_is_recognised(form, name):
    form.apply_preset(name)
    assert form.preset_box.currentText() == name
    assert form.config().steps == ModerationConfig(**PRESETS[name]).steps


def test_edit_after_preset_shows_custom(qtbot, form):
    form.apply_preset("fast")
    type_text(qtbot, form, "lr", "0.001")
    assert form.preset_box.currentText() == CUSTOM_PRESET
    assert form.config().lr == 0.001


def test_config_round_trip(form):
    config = ModerationConfig(method="orthogonal-elementwise", steps=123, retain_batch_size=17, forget_batch_size=9,
                              lr=3.5e-5, warmup=7, grad_clip=0.5, ema_decay=0.995, retain_weight=0.7,
                              forget_weight=0.125, forget_period=3, forget_t_min=1e-4, forget_t_max=0.6, margin=0.25,
                              augment_forget=False, seed=42, preview_every=11, preview_count=9, preview_seed=5,
                              monitor_every=13, monitor_count=20, precision="fp32")
    form.set_config(config)
    assert form.config() == config
    assert form.preset_box.currentText() == CUSTOM_PRESET


def test_every_field_has_tooltip(form):
    for name, widget in form.fields.items():
        assert len(widget.toolTip()) > 20, name
    assert "paper" in form.preset_box.toolTip()


def test_invalid_time_range_marks_both_fields(qtbot, form):
    type_text(qtbot, form, "forget_t_min", "0.05")
    type_text(qtbot, form, "forget_t_max", "0.02")
    form.advanced_button.setChecked(False)

    with pytest.raises(UserError, match="forget time range needs 0 < t from < t to <= 1"):
        form.validated_config()
    assert form.invalid_fields() == ["forget_t_min", "forget_t_max"]
    assert form.advanced.isVisibleTo(form)

    type_text(qtbot, form, "forget_t_min", "0.01")
    assert form.invalid_fields() == []
    assert form.validated_config().forget_t_min == 0.01
    assert form.invalid_fields() == []


def test_one_problem_reported_alone(qtbot, form):
    type_text(qtbot, form, "forget_t_min", "0.3")
    type_text(qtbot, form, "forget_t_max", "1.0")
    type_text(qtbot, form, "ema_decay", "1")

    assert form.invalid_fields() == ["ema_decay"]
    assert "EMA decay" in form.problem_label.text()
    assert "time range" not in form.problem_label.text()


def test_invalid_field_stays_editable_under_any_method(qtbot, form):
    type_text(qtbot, form, "forget_t_min", "0.9")
    type_text(qtbot, form, "forget_t_max", "0.5")
    form.method_box.setCurrentText("retain-only")

    assert form.fields["forget_t_min"].isEnabled()
    assert form.fields["forget_t_max"].isEnabled()
    assert not form.fields["forget_weight"].isEnabled()

    type_text(qtbot, form, "forget_t_min", "0.1")
    assert form.invalid_fields() == []
    assert not form.fields["forget_t_min"].isEnabled()


def test_problems_show_while_typing(qtbot, form):
    type_text(qtbot, form, "lr", "0")

    # Marked and described at once, before anything requests the settings.
    assert form.invalid_fields() == ["lr"]
    assert not form.problem_label.isHidden()
    assert form.problem_label.text() == "Invalid moderation settings: the learning rate must be positive."

    type_text(qtbot, form, "lr", "0.0001")
    assert form.invalid_fields() == []
    assert form.problem_label.isHidden()


def test_several_problems_reported_together(qtbot, form):
    type_text(qtbot, form, "lr", "0")
    type_text(qtbot, form, "ema_decay", "1")

    with pytest.raises(UserError) as raised:
        form.validated_config()
    assert "learning rate must be positive" in str(raised.value)
    assert "EMA decay must be in [0, 1)" in str(raised.value)
    assert form.invalid_fields() == ["lr", "ema_decay"]


def test_text_in_number_field_rejected(qtbot, form):
    type_text(qtbot, form, "forget_weight", "a lot")
    with pytest.raises(UserError, match="Forget weight w_F: 'a lot' is not a number"):
        form.config()
    assert form.invalid_fields() == ["forget_weight"]


def test_method_enables_its_fields(form):
    form.method_box.setCurrentText("retain-only")
    assert not form.fields["forget_weight"].isEnabled()
    assert form.fields["retain_weight"].isEnabled()
    form.method_box.setCurrentText("orthogonal")
    assert form.fields["forget_weight"].isEnabled()
    assert not form.fields["margin"].isEnabled()
    form.method_box.setCurrentText("obtuse")
    assert form.fields["margin"].isEnabled()


def test_knobs_are_config_fields():
    names = set(ModerationConfig().to_dict())
    assert {knob.name for knob in KNOBS} <= names


def test_window_rejects_invalid_settings(qtbot, base_checkpoint: Path, monkeypatch):
    window = MainWindow(checkpoint=None, device="cpu")
    qtbot.addWidget(window)
    window.sample_count = 1
    window.sampler_steps = 1
    errors: list[str] = []
    monkeypatch.setattr(window, "show_error", errors.append)
    window.open_checkpoint(base_checkpoint)
    qtbot.waitUntil(lambda: not window.jobs.busy and window.original is not None, timeout=120_000)
    window.forget_panel.class_button("7").click()
    form = window.job_panel.settings_form
    type_text(qtbot, form, "lr", "-1")

    qtbot.mouseClick(window.job_panel.start_button, Qt.MouseButton.LeftButton)

    assert len(errors) == 1
    assert "learning rate must be positive" in errors[0]
    assert not window.jobs.busy
    assert form.invalid_fields() == ["lr"]
    assert window.moderated is None
