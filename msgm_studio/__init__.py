"""MSGM Studio: the Qt application (PySide6 + pyqtgraph) on top of `engine`."""
