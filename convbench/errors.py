"""Error types. Domain code raises these; only the CLI turns them into messages and exit codes."""


class ConvbenchError(Exception):
    """Base class of every error convbench reports to a user (exit code 2 at the CLI)."""


class ConfigError(ConvbenchError, ValueError):
    """A sweep config is invalid. The message names the file, the key and, where known, the line."""


class ResultsError(ConvbenchError, ValueError):
    """A results CSV or its sidecar cannot be used (missing, not convbench's, unknown schema...)."""


class Unsupported(ConvbenchError, ValueError):
    """A method cannot handle this case; the message says why."""
