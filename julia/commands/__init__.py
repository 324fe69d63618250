"""One module per `julia` command: each exposes `register(subparsers)` and sets `run` on its parser."""
