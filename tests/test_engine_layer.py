"""The engine must stay usable without Qt: importing every engine module loads no Qt binding."""

import subprocess
import sys
from pathlib import Path

ENGINE = Path(__file__).resolve().parents[1] / "engine"


def test_engine_imports_no_qt():
    modules = [f"engine.{path.stem}" for path in sorted(ENGINE.glob("*.py")) if path.stem != "__init__"]
    code = (
        "import sys\n"
        + "".join(f"import {module}\n" for module in modules)
        + "loaded = sorted(name for name in sys.modules if name.split('.')[0] in ('PySide6', 'PyQt5', 'PyQt6', 'pyqtgraph'))\n"
        + "print(','.join(loaded))\n"
    )
    output = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert output == ""


def test_engine_sources_mention_no_qt():
    for path in ENGINE.glob("*.py"):
        text = path.read_text()
        assert "PySide6" not in text, path
        assert "pyqtgraph" not in text, path
