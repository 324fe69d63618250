-- name: buscar_conversa_ativa
-- critical: idx_conversations_cliente_status
-- The doctor's one open conversation, if any. Index: idx_conversations_cliente_status (unique, partial).
SELECT id, cliente_id, status, controlled_by, chatwoot_conversation_id
FROM conversations
WHERE cliente_id = $1 AND status = 'ativa'

-- name: abrir_conversa
-- The doctor's active conversation, opened when there is none. ON CONFLICT on the partial unique index
-- idx_conversations_cliente_status: another message of the same doctor opened it first.
INSERT INTO conversations (cliente_id) VALUES ($1)
ON CONFLICT (cliente_id) WHERE status = 'ativa' DO NOTHING
RETURNING id, cliente_id, status, controlled_by, chatwoot_conversation_id

-- name: ler_conversa
-- Control is read fresh for every message (never cached): a handoff takes effect at once.
-- Index: conversations_pkey.
SELECT c.id, c.cliente_id, c.status, c.controlled_by, c.chatwoot_conversation_id,
       cl.telefone, cl.primeiro_nome, cl.chatwoot_contact_id
FROM conversations c
JOIN clientes cl ON cl.id = c.cliente_id
WHERE c.id = $1

-- name: conversa_por_chatwoot
-- The conversation a Chatwoot webhook is about. Index: idx_conversations_chatwoot.
SELECT id, cliente_id, controlled_by FROM conversations
WHERE chatwoot_conversation_id = $1
ORDER BY id DESC
LIMIT 1

-- name: guardar_conversa_chatwoot
UPDATE conversations SET chatwoot_conversation_id = $2, updated_at = now()
WHERE id = $1 AND chatwoot_conversation_id IS NULL

-- name: contar_conversas_ativas
-- critical: any plan (a large share of the table either way, see below)
-- The runbook's first number. About a third of the doctors have an active conversation, so this reads
-- a large share of the table whatever the plan (a seq scan or an index-only scan of
-- idx_conversations_cliente_status, as the visibility map decides); it runs once per health check.
SELECT count(*) FROM conversations WHERE status = 'ativa'

-- name: conversations_do_titular
-- LGPD export: every conversation of a doctor, as JSON rows. Index: idx_conversations_cliente.
SELECT to_jsonb(c) AS linha FROM conversations c WHERE cliente_id = $1 ORDER BY id

-- name: marcar_desculpa_atraso
-- Júlia apologises for answering late (a backlog of old messages) at most once per conversation in $2
-- seconds: true when this call is the one that may. Index: conversations_pkey.
UPDATE conversations SET desculpa_atraso_em = now(), updated_at = now()
WHERE id = $1
  AND (desculpa_atraso_em IS NULL OR desculpa_atraso_em < now() - make_interval(secs => $2))
RETURNING true

-- name: marcar_pedido_texto
-- Júlia asks for text instead of a voice note or an image at most once per conversation in $2 seconds:
-- true when this call is the one that may. Index: conversations_pkey.
UPDATE conversations SET pedido_texto_em = now(), updated_at = now()
WHERE id = $1
  AND (pedido_texto_em IS NULL OR pedido_texto_em < now() - make_interval(secs => $2))
RETURNING true
