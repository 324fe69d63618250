"""julia's own exceptions. Driver errors (asyncpg, redis, httpx, anthropic) are converted at the edge.

Every `JuliaError` message is one readable line: the CLI prints it as is and exits non-zero.
"""


class JuliaError(Exception):
    """Base of every error julia raises on purpose."""


class ConfigError(JuliaError):
    """A setting is missing or invalid."""


class ServicesUnavailable(JuliaError):
    """No Postgres or no Redis could be had: not from a URL, not from Docker, not embedded."""


class DatabaseUnavailable(JuliaError):
    """Postgres did not answer (refused, timed out, bad credentials): julia.db.POSTGRES_ERRORS at connect.
    Later on, the code that must outlive an outage catches julia.db's two tuples, the one definition of
    "Postgres is down" (POSTGRES_DOWN) and of "down, or refused the statement" (POSTGRES_ERRORS)."""


class MigrationError(JuliaError):
    """The schema cannot be brought up to date (an applied file was edited, a file failed)."""


class SeedError(JuliaError):
    """Synthetic data could not be generated or loaded."""
