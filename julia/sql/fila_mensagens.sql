-- name: reivindicar_mensagens
-- Claim up to $1 due messages for $2 seconds: pending rows due now, highest priority first, then
-- schedule, plus rows whose lease expired (their worker died). SKIP LOCKED lets many senders claim at
-- once without waiting on each other; the lease brings a crashed sender's rows back.
-- Each branch locks inside its own FROM-subquery: Postgres refuses FOR UPDATE directly under UNION, and
-- the alternative, one SELECT with OR, cannot walk either index in order: with 200,000 pending rows it
-- sorted them all (seq scan, 2,601 buffers, 109 ms) where this form reads 145 buffers in 0.2 ms.
-- Indexes: idx_fila_processamento (pending), idx_fila_lease (expired leases).
WITH candidatos AS (
    SELECT id, prioridade, agendar_para FROM (
        SELECT id, prioridade, agendar_para
        FROM fila_mensagens
        WHERE status = 'pendente' AND agendar_para <= now()
        ORDER BY prioridade DESC, agendar_para
        LIMIT $1
        FOR UPDATE SKIP LOCKED
    ) AS devidas
    UNION ALL
    SELECT id, prioridade, agendar_para FROM (
        SELECT id, prioridade, agendar_para
        FROM fila_mensagens
        WHERE status = 'processando' AND locked_until < now()
        ORDER BY locked_until
        LIMIT $1
        FOR UPDATE SKIP LOCKED
    ) AS expiradas
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

-- name: adiar_fila_semeada
-- `julia dev` only, right after its seed: the seed leaves about 90 campaign messages due (or in flight
-- under an expired lease). Sent at start they scrolled the newcomer's curl away and its reply waited
-- ~6 s behind them; a day's wait keeps them in the data without making them due while someone tries
-- the service. No index: it runs once, on a fresh seed of a few thousand rows.
UPDATE fila_mensagens
SET agendar_para = greatest(agendar_para, now() + interval '1 day'),
    locked_until = CASE WHEN status = 'processando' THEN greatest(locked_until, now() + interval '1 day') END,
    updated_at = now()
WHERE status IN ('pendente', 'processando')
