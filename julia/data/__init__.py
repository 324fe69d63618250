"""Data layer: one module per table, each a thin typed face over the named SQL in julia/sql/.

Functions take an asyncpg connection or pool (anything with fetch/fetchrow/fetchval) so callers choose
whether a call joins a transaction.
"""
