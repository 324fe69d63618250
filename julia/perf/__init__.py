"""julia's perf suite: the engine (julia.perf.engine, which knows nothing of julia) and julia's side of
it: the Perf fixture every benchmark receives (context), the critical queries' parameters (critical),
what the service benchmarks share (servico: settings, webhook bodies, the fake Claude, their pool and
Redis; julia itself around the fakes is julia.testing.assembly's), `julia perf analyze` (analyze) and
the empty app the HTTP floor serves (empty_app). perf/ holds the benchmark modules; `julia perf` its
commands.

numpy, scipy, pandas and matplotlib come with the `perf` extra: import these modules only from the perf
suite or the `julia perf` commands, never from the service.
"""
