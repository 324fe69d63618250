"""Data layer: one module per table, each a thin typed face over the named SQL in julia/sql/.

Functions take an asyncpg connection or pool (anything with fetch/fetchrow/fetchval) so callers choose
whether a call joins a transaction: code outside julia.data names those types as `julia.data.Executor` and
`julia.data.Connection`.
"""

from julia.data._executor import Connection, Executor

__all__ = ["Connection", "Executor"]
