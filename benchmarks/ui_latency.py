"""Responsiveness of the studio: event-loop stalls during a real moderation job, and time to open.

    QT_QPA_PLATFORM=offscreen python benchmarks/ui_latency.py            # 100 moderation steps
    QT_QPA_PLATFORM=offscreen python benchmarks/ui_latency.py --steps 300

A probe timer fires every 5 ms on the GUI thread. A tick that arrives late means the event loop was
busy for that long: the stall is the gap between two ticks less the 5 ms interval. The job runs with
the studio's own live views on (loss curves, metrics, previews), so every signal it sends is handled.
The open time is measured in a fresh process, from its start to a shown window with the bundled model
loaded, so it includes the Python start and every import.

Prints a Markdown table.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
# A throwaway settings folder, so that the measurement neither reads nor changes the user's settings.
os.environ.setdefault("MSGM_STUDIO_CONFIG_DIR", tempfile.mkdtemp(prefix="msgm-ui-latency-"))

PROBE_INTERVAL_MS = 5

# Run in a fresh interpreter: prints one line once the window is shown with the model loaded.
OPEN_SCRIPT = """
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication
from msgm_studio.main_window import MainWindow
from resources import BASE_MODEL
app = QApplication([])
window = MainWindow(checkpoint=BASE_MODEL)
window.show()
def check():
    if window.original is not None and window.isVisible():
        print("open", flush=True)
        app.quit()
timer = QTimer()
timer.timeout.connect(check)
timer.start(1)
app.exec()
"""


def measure_open(repeats: int) -> list[float]:
    """Wall seconds from launching `python` to the shown window with the bundled model loaded."""
    seconds = []
    for _ in range(repeats):
        started = time.perf_counter()
        with subprocess.Popen([sys.executable, "-c", OPEN_SCRIPT], stdout=subprocess.PIPE, text=True) as child:
            line = child.stdout.readline()
            seconds.append(time.perf_counter() - started)
            child.wait()
        if line.strip() != "open":
            raise SystemExit(f"the studio did not open (exit status {child.returncode})")
    return seconds


def run_until(condition) -> None:
    """Run the Qt event loop until `condition()` holds, checking it every 50 ms."""
    from PySide6.QtCore import QEventLoop, QTimer

    loop = QEventLoop()
    check = QTimer()
    check.timeout.connect(lambda: loop.quit() if condition() else None)
    check.start(50)
    loop.exec()
    check.stop()


def measure_stalls(steps: int) -> tuple[list[float], float]:
    """Stalls (ms) of the GUI event loop while the studio moderates the bundled model for `steps` steps."""
    from PySide6.QtCore import QElapsedTimer, QTimer
    from PySide6.QtWidgets import QApplication

    from msgm_studio.main_window import MainWindow
    from resources import BASE_MODEL

    _app = QApplication.instance() or QApplication([])  # kept alive for the whole measurement
    window = MainWindow(checkpoint=BASE_MODEL)
    window.show()
    run_until(lambda: not window.jobs.busy and window.original is not None)
    window.forget_panel.class_button("7").click()
    window.job_panel.steps_box.setValue(steps)

    stalls: list[float] = []
    clock = QElapsedTimer()
    probe = QTimer()
    probe.setTimerType(probe.timerType().PreciseTimer)

    def tick() -> None:
        stalls.append(max(0.0, clock.restart() - PROBE_INTERVAL_MS))

    probe.timeout.connect(tick)
    started = time.perf_counter()
    window.start_moderation()
    clock.start()
    probe.start(PROBE_INTERVAL_MS)
    # The moderated model's samples are drawn by a second job after the moderation finished.
    run_until(lambda: not window.jobs.busy and window.moderated is not None)
    probe.stop()
    wall = time.perf_counter() - started
    # Nothing to keep. Without this, the close would wait for a reply to "Save the changes?".
    window.session.mark_clean()
    window.close()
    return stalls, wall


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(share * (len(ordered) - 1))))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=100, help="moderation steps of the measured job")
    parser.add_argument("--open-repeats", type=int, default=3, help="fresh processes timed for the open time")
    args = parser.parse_args()

    import torch

    opens = measure_open(args.open_repeats)
    stalls, wall = measure_stalls(args.steps)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {os.cpu_count()} CPUs, "
          f"platform {os.environ['QT_QPA_PLATFORM']}\n")
    print("| measure | value | target |")
    print("|---|---|---|")
    print(f"| open to a shown window with the bundled model (median of {len(opens)}) | {statistics.median(opens):.2f} s | <= 3 s |")
    print(f"| moderation job measured ({args.steps} steps, then sampling) | {wall:.0f} s, {len(stalls):,} probe ticks | |")
    print(f"| event-loop stall, 99th percentile | {percentile(stalls, 0.99):.0f} ms | <= 100 ms |")
    print(f"| event-loop stall, max | {max(stalls):.0f} ms | <= 250 ms |")
    print(f"| event-loop stall, median | {statistics.median(stalls):.1f} ms | |")


if __name__ == "__main__":
    main()
