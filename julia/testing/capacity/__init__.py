"""The capacity benchmark: real `julia serve` and `julia worker` processes on the resolved Postgres and
Redis, the fake third parties of julia.testing, and open-loop doctors (a campaign reply storm or
conversations) measured from webhook accepted to sendText received.

`python -m julia.testing.capacity --help`; `nox -s perf-capacity` runs its matrix, and
`--gate` the short storm that gates `nox -s perf` (julia.testing.capacity.gate).
"""
