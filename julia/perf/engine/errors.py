"""The engine's one exception: what it refuses on purpose, in one readable line (the caller prints it)."""


class PerfError(Exception):
    """A run, a config or a baseline the engine cannot work with; the message says what to do."""
