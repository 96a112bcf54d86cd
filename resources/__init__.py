"""Files that ship with MSGM Studio: the bundled base model, its classifier, icons and style."""

from pathlib import Path

RESOURCES = Path(__file__).resolve().parent
BASE_MODEL = RESOURCES / "mnist_vp.safetensors"
CLASSIFIER = RESOURCES / "mnist_classifier.safetensors"
