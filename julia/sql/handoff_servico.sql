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

-- name: conversa_por_chatwoot
-- The conversation a Chatwoot webhook is about. Index: idx_conversations_chatwoot.
SELECT id, cliente_id, controlled_by FROM conversations
WHERE chatwoot_conversation_id = $1
ORDER BY id DESC
LIMIT 1

-- name: guardar_contato_chatwoot
UPDATE clientes SET chatwoot_contact_id = $2, updated_at = now() WHERE id = $1

-- name: guardar_conversa_chatwoot
UPDATE conversations SET chatwoot_conversation_id = $2, updated_at = now()
WHERE id = $1 AND chatwoot_conversation_id IS NULL
