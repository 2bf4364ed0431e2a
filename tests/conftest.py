"""Shared fixtures: the seed thread's canonical 7x7 example."""

from __future__ import annotations

import numpy as np
import pytest

#: The 7x7 input and 3x3 kernel of seed 000's question.
SEED_X = np.array(
    [
        [2, 3, 7, 4, 6, 2, 9],
        [6, 6, 9, 8, 7, 4, 3],
        [3, 4, 8, 3, 8, 9, 7],
        [7, 8, 3, 6, 6, 3, 4],
        [4, 2, 1, 8, 3, 4, 6],
        [3, 2, 4, 1, 9, 8, 3],
        [0, 1, 3, 9, 2, 1, 4],
    ]
)
SEED_K = np.array([[3, 4, 4], [1, 0, 2], [-1, 0, 3]])


@pytest.fixture
def seed_example() -> tuple[np.ndarray, np.ndarray]:
    """(x, kernel) of the seed question; fresh copies so a test cannot spoil another."""
    return SEED_X.copy(), SEED_K.copy()


@pytest.fixture(autouse=True)
def one_fork_server(monkeypatch):
    """Workers keep one fork server for all rounds (a new one per round costs ~1 s each, and few
    tests measure anything); the tests of the per-round servers delete this setting."""
    from convbench.measure.worker import ONE_SERVER_ENV

    monkeypatch.setenv(ONE_SERVER_ENV, "1")


@pytest.fixture(autouse=True)
def private_measuring_lock(tmp_path_factory, monkeypatch):
    """Each test gets its own machine-wide measuring lock: tests never wait for a real run."""
    from convbench.locks import HOLDER_ENV, LOCK_DIR_ENV

    monkeypatch.setenv(LOCK_DIR_ENV, str(tmp_path_factory.mktemp("locks")))
    monkeypatch.delenv(HOLDER_ENV, raising=False)
