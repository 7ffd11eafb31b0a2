"""Logging for workflow steps: one file per job, with progress lines."""
from __future__ import annotations

import logging
import time


def setup_logging(path: str | None, name: str) -> logging.Logger:
    """Log INFO and warnings to `path` (stderr when None)."""
    logging.basicConfig(filename=path, level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s", force=True)
    logging.captureWarnings(True)
    return logging.getLogger(name)


class Progress:
    """Logs `done/total` with rate at most every `every` seconds."""

    def __init__(self, logger: logging.Logger, total: int, what: str, every: float = 10.0):
        self.logger, self.total, self.what, self.every = logger, total, what, every
        self.done, self.start, self.last = 0, time.time(), 0.0

    def __call__(self, n: int = 1) -> None:
        self.done += n
        now = time.time()
        if now - self.last >= self.every or self.done == self.total:
            rate = self.done / max(now - self.start, 1e-9)
            self.logger.info("%s: %d/%d (%.1f/s)", self.what, self.done, self.total, rate)
            self.last = now
