"""An on/off setting of the models' faster paths, for benchmarks that compare them with plain
PyTorch."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator


class Switch:
    """On by default; :meth:`off` turns it off within a ``with`` block."""

    def __init__(self) -> None:
        self.on = True

    @contextlib.contextmanager
    def off(self) -> Iterator[None]:
        before, self.on = self.on, False
        try:
            yield
        finally:
            self.on = before
