"""Redis in front of Postgres for the hot reads: doctors, open shifts, the static conversation context.

Build one `Cache(redis_client, settings)` per process; read with the functions below, and change cached
data only through the write functions here (they invalidate after committing).
"""

from julia.cache.context import static_context
from julia.cache.medicos import (
    atualizar_medico,
    change_phone,
    invalidate_medico,
    medico_by_id,
    medico_by_phone,
)
from julia.cache.store import Cache
from julia.cache.vagas import criar_vaga, invalidate_vagas, mudar_status_vaga, open_vagas

__all__ = [
    "Cache",
    "atualizar_medico",
    "change_phone",
    "criar_vaga",
    "invalidate_medico",
    "invalidate_vagas",
    "medico_by_id",
    "medico_by_phone",
    "mudar_status_vaga",
    "open_vagas",
    "static_context",
]
