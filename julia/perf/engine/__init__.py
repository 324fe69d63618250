"""The perf engine: measuring (harness, counting, explain), taking turns (turnos, placement, ab),
judging (stats, gate, baseline, calibration), recording (results, history) and showing (report, charts,
words, summary, export, scale). Configured by one file (config: perf/perf.toml).

It imports nothing of julia outside itself (tests/unit/test_dependencies.py holds it to that): the caller
(julia/commands/perf.py, perf/conftest.py) resolves the servers and passes in paths and the commit.
numpy, scipy, pandas and matplotlib come with the `perf` extra: never import it from the service.
"""
