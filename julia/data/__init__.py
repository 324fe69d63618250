"""Data layer: one module per table, each a thin typed face over the named SQL in julia/sql/.

Who owns a statement: its table. `julia/sql/<table>.sql` holds the statements of one table and
`julia/data/<table>.py` is the only code that runs them. A statement belongs to the table it writes;
writing several (a CTE chain), to the table of its outer INSERT/UPDATE, or of its first write when the
outer statement is a SELECT; reading only, to the table whose rows it returns or counts. Other code calls
these functions, never `sql()`: the data layer's timing and types then cover every statement. Exceptions:
`operacao` (the runbook's counts, composed from the tables' modules, and the ping, on no table), the seed's
bulk loader (julia/seed/, julia/sql/seed.sql: temporary tables, catalog reads and session settings over
every table at once, never run by the service) and the perf suite's plan reader (julia/perf/analyze.py,
which EXPLAINs statements by name).

Functions take an asyncpg connection or pool (anything with fetch/fetchrow/fetchval) so callers choose
whether a call joins a transaction: code outside julia.data names those types as `julia.data.Executor` and
`julia.data.Connection`. They return typed records, never an `asyncpg.Record`: a frozen, slotted dataclass
of the query's columns, name for name and in order, defined beside the function and built as
`Record(**row)` (tests/integration/test_records.py holds each to the statement Postgres prepares).
"""

from julia.data._executor import Connection, Executor

__all__ = ["Connection", "Executor"]
