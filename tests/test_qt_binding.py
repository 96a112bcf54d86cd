"""Guards against known defects of the installed Qt binding that would abort a long studio session."""

import sys

from PySide6.QtCore import QObject, Signal


class _Emitter(QObject):
    flag = Signal(bool)


def test_bool_signal_keeps_reference_counts(qapp):
    # PySide6 6.12.0 drops a reference to True on each such emit, and the interpreter aborts with
    # "bool_dealloc" once the count reaches zero: after minutes of a studio session, or mid test suite.
    emitter = _Emitter()
    received = []
    emitter.flag.connect(received.append)
    emitter.flag.emit(True)
    received.clear()
    before = sys.getrefcount(True)
    for _ in range(50):
        emitter.flag.emit(True)
    received.clear()
    # A lost reference per emit would leave the count 50 lower; caches may hold one more.
    assert sys.getrefcount(True) >= before
