"""julia: the service behind Júlia, and the perf suite that proves it scales."""

__version__ = "0.1.0"
