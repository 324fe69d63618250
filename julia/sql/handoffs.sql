-- name: contar_handoffs_pendentes
-- critical: idx_handoffs_pendentes
-- Handoffs waiting for a person and how long the oldest has waited. Index: idx_handoffs_pendentes.
SELECT count(*) AS pendentes,
       coalesce(extract(epoch FROM now() - min(created_at)), 0)::float8 AS mais_antigo_s
FROM handoffs
WHERE status = 'pendente'

-- name: passar_para_humano
-- Júlia -> a person. Only the transition matches (controlled_by = 'julia'), so a repeated webhook or a
-- second request opens no second handoff and notifies Slack once.
WITH c AS (
    UPDATE conversations SET controlled_by = 'humano', updated_at = now()
    WHERE id = $1 AND controlled_by = 'julia'
    RETURNING id, cliente_id
)
INSERT INTO handoffs (conversa_id, cliente_id, motivo)
SELECT id, cliente_id, $2 FROM c
RETURNING id, conversa_id, cliente_id

-- name: devolver_para_julia
-- A person -> Júlia; the open handoffs of the conversation are resolved in the same statement.
WITH c AS (
    UPDATE conversations SET controlled_by = 'julia', updated_at = now()
    WHERE id = $1 AND controlled_by = 'humano'
    RETURNING id
)
UPDATE handoffs h
SET status = 'resolvido', resolvido_em = now(), updated_at = now()
FROM c
WHERE h.conversa_id = c.id AND h.status <> 'resolvido'
RETURNING h.id

-- name: handoffs_do_titular
-- LGPD export: a doctor's handoffs to people (a small table; no index on cliente_id).
SELECT to_jsonb(h) AS linha FROM handoffs h WHERE cliente_id = $1 ORDER BY id
