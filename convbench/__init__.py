"""convbench: which strided 2D/3D convolution method is fastest, and at what memory cost."""

from .api import correlate
from .errors import ConfigError, ConvbenchError, ResultsError, Unsupported
from .methods import available_methods

__version__ = "0.1.0"

__all__ = [
    "ConfigError",
    "ConvbenchError",
    "ResultsError",
    "Unsupported",
    "available_methods",
    "correlate",
]
