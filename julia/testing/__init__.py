"""Fakes of the third-party services julia calls, for the tests, the perf suite and `julia dev`.

`python -m julia.testing.server --port 0` runs them as one real process on loopback (Anthropic
Messages, Evolution sendText, Chatwoot, Slack in their wire formats, docs/integrations.md), with a
control route to change latency and fault modes while it runs (`julia.testing.control`). `julia dev`
serves the same app in its own process, and the benchmarks use julia.testing.claude's in-process
transport. `assembly` wires julia itself (the worker's services and the app) around those fakes, once
for the perf suite and the service tests; `fixtures` holds the pytest fixtures both suites share.
Nothing in julia's production paths (`julia serve`, `julia worker`) imports this package.
"""
