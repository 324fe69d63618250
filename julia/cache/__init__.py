"""Redis in front of Postgres for the hot reads: doctors, open shifts, the static conversation context.

Build one `Cache(redis_client, settings)` per process; read with the functions below, and change cached
data only through the write functions here (they invalidate after committing).
"""

from julia.cache.contexto import contexto_estatico
from julia.cache.medicos import (
    atualizar_medico,
    invalidar_medico,
    medico_por_id,
    medico_por_telefone,
    trocar_telefone,
)
from julia.cache.store import Cache
from julia.cache.vagas import criar_vaga, invalidar_vagas, mudar_status_vaga, vagas_abertas

__all__ = [
    "Cache",
    "atualizar_medico",
    "contexto_estatico",
    "criar_vaga",
    "invalidar_medico",
    "invalidar_vagas",
    "medico_por_id",
    "medico_por_telefone",
    "mudar_status_vaga",
    "trocar_telefone",
    "vagas_abertas",
]
