"""Importing this module registers every layer method, in a stable order (``loops`` first)."""

from . import direct  # noqa: F401  isort: skip
from . import views  # noqa: F401  isort: skip
from . import gemm  # noqa: F401  isort: skip
from . import fft  # noqa: F401  isort: skip
from . import library  # noqa: F401  isort: skip
from . import auto  # noqa: F401  isort: skip
