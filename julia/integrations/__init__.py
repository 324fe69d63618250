"""Thin clients of the services julia talks to. Each converts its driver's errors (httpx, anthropic) into
`IntegrationError` here, at the edge, so the worker decides retry-or-give-up on one type."""

from julia.errors import JuliaError


class IntegrationError(JuliaError):
    """A call to an external service failed. `transitorio`: trying again later may succeed."""

    def __init__(self, servico: str, motivo: str, *, transient_one: bool, status: int | None = None) -> None:
        super().__init__(f"{servico}: {motivo}")
        self.servico = servico
        self.motivo = motivo
        self.transient_one = transient_one
        self.status = status
