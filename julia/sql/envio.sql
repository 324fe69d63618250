-- name: destino_mensagem
-- Where a claimed message goes. Index: clientes_pkey.
SELECT telefone FROM clientes WHERE id = $1

-- name: marcar_enviada
-- Sent: only while this sender still holds the row ($2 = the tentativas it claimed with).
UPDATE fila_mensagens
SET status = 'enviada', enviada_em = now(), locked_until = NULL, last_error = NULL,
    whatsapp_message_id = $3, updated_at = now()
WHERE id = $1 AND status = 'processando' AND tentativas = $2
RETURNING interacao_id

-- name: adiar_mensagem
-- A transient failure: pending again after $3 seconds of backoff, with the reason.
UPDATE fila_mensagens
SET status = 'pendente', agendar_para = now() + make_interval(secs => $3), locked_until = NULL,
    last_error = $4, updated_at = now()
WHERE id = $1 AND status = 'processando' AND tentativas = $2

-- name: falhar_mensagem
-- A permanent failure or the last try: 'erro' with the reason.
UPDATE fila_mensagens
SET status = 'erro', locked_until = NULL, last_error = $3, updated_at = now()
WHERE id = $1 AND status = 'processando' AND tentativas = $2

-- name: marcar_interacao_enviada
-- The WhatsApp id of a sent reply, on its interaction (the history then matches what WhatsApp shows).
UPDATE interacoes SET whatsapp_message_id = $2 WHERE id = $1 AND whatsapp_message_id IS NULL
