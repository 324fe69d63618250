-- name: carregar_historico
-- The last 20 messages of a conversation, newest first, read in index order with no sort.
-- Index: idx_interacoes_conversa_data.
SELECT id, direcao, origem, conteudo, created_at
FROM interacoes
WHERE conversa_id = $1
ORDER BY created_at DESC, id DESC
LIMIT $2

-- name: existe_interacao_whatsapp
-- A redelivered webhook: its WhatsApp id is already stored. Index: idx_interacoes_whatsapp_id (unique).
SELECT EXISTS (SELECT 1 FROM interacoes WHERE whatsapp_message_id = $1)
