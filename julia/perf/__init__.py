"""The perf suite's library: measuring (harness, explain), judging (stats, budgets, gate, baseline) and
showing (report, scale). perf/ holds the benchmark modules that use it; `julia perf` its commands.

numpy, scipy, pandas and matplotlib come with the `perf` extra: import these modules only from the perf
suite or the `julia perf` commands, never from the service.
"""
