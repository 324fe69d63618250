-- name: reivindicar_mensagens
-- Claim up to $1 due messages for $2 seconds: pending rows due now, highest priority first, then
-- schedule, plus rows whose lease expired (their worker died). SKIP LOCKED lets many workers claim at
-- once without waiting on each other; the lease brings a crashed worker's rows back.
-- Indexes: idx_fila_processamento (pending), idx_fila_lease (expired leases).
WITH candidatos AS (
    (SELECT id, prioridade, agendar_para
     FROM fila_mensagens
     WHERE status = 'pendente' AND agendar_para <= now()
     ORDER BY prioridade DESC, agendar_para
     LIMIT $1
     FOR UPDATE SKIP LOCKED)
    UNION ALL
    (SELECT id, prioridade, agendar_para
     FROM fila_mensagens
     WHERE status = 'processando' AND locked_until < now()
     ORDER BY locked_until
     LIMIT $1
     FOR UPDATE SKIP LOCKED)
), escolhidos AS (
    SELECT id FROM candidatos ORDER BY prioridade DESC, agendar_para, id LIMIT $1
)
UPDATE fila_mensagens f
SET status = 'processando',
    locked_until = now() + make_interval(secs => $2),
    tentativas = f.tentativas + 1,
    updated_at = now()
FROM escolhidos e
WHERE f.id = e.id
RETURNING f.id, f.cliente_id, f.conversa_id, f.conteudo, f.prioridade, f.agendar_para, f.tentativas
