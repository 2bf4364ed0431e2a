"""convbench: which strided 2D/3D convolution method is fastest, and at what memory cost."""

from .api import correlate
from .errors import ConfigError, ConvbenchError, ResultsError, Unsupported
from .methods import available_methods

__version__ = "0.1.0"


def __getattr__(name: str) -> object:
    # Layer mode pulls in scipy's BLAS and FFT, the notebook interface the runner and pandas:
    # import them on first use only, so that `import convbench` stays light.
    if name == "conv2d_layer":
        from .layer import conv2d_layer

        return conv2d_layer
    if name in ("bench", "Results"):
        from . import notebook

        return getattr(notebook, name)
    raise AttributeError(f"module 'convbench' has no attribute {name!r}")


def __dir__() -> list[str]:  # tab completion offers the lazy names too
    return sorted(set(globals()) | set(__all__))


__all__ = [  # bench, Results and conv2d_layer are resolved on first use
    "ConfigError",
    "ConvbenchError",
    "Results",
    "ResultsError",
    "Unsupported",
    "available_methods",
    "bench",
    "conv2d_layer",
    "correlate",
]
