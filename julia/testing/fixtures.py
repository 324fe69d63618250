"""The pytest fixtures the test suite (tests/) and the perf suite (perf/) share; each conftest imports
them by name."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from julia import servers
from julia.settings import Settings


@pytest.fixture(scope="session")
def services() -> Iterator[servers.Servers]:
    """One real Postgres and one real Redis for the session, resolved like everywhere else
    (DATABASE_URL/REDIS_URL, else Docker, else embedded). Never mocks."""
    settings = Settings()
    with servers.resolve(settings.database_url, settings.redis_url) as found:
        yield found
