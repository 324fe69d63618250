-- name: buscar_conversa_ativa
-- The doctor's one open conversation, if any. Index: idx_conversations_cliente_status (unique, partial).
SELECT id, cliente_id, status, controlled_by, chatwoot_conversation_id
FROM conversations
WHERE cliente_id = $1 AND status = 'ativa'
