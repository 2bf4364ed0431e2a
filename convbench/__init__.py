"""convbench: which strided 2D/3D convolution method is fastest, and at what memory cost."""

from .api import correlate
from .errors import ConfigError, ConvbenchError, ResultsError, Unsupported
from .methods import available_methods

__version__ = "0.1.0"


def __getattr__(name: str) -> object:
    # Layer mode (issue 8) pulls in scipy's BLAS and FFT: import it on first use only.
    if name == "conv2d_layer":
        from .layer import conv2d_layer

        return conv2d_layer
    raise AttributeError(f"module 'convbench' has no attribute {name!r}")


__all__ = [
    "ConfigError",
    "ConvbenchError",
    "ResultsError",
    "Unsupported",
    "available_methods",
    "correlate",
]
