-- name: destino_mensagem
-- Where a claimed message goes. Index: clientes_pkey.
SELECT telefone FROM clientes WHERE id = $1

-- name: iniciar_envio
-- The intent, committed before the HTTP call: 'enviando', leased $3 seconds (longer than the call can
-- take, so the lease cannot lapse while the call is alive), only while this sender holds the claim
-- ($2 = the tentativas it claimed with: the attempt id). A row claimed more than $4 times (senders killed
-- before they could send) is kept as 'erro' instead: the hard cap, whatever re-claimed it. The caller
-- reads which from `status`; no row: the claim was lost to another sender.
UPDATE fila_mensagens
SET status = CASE WHEN tentativas > $4 THEN 'erro' ELSE 'enviando' END,
    envio_iniciado_em = CASE WHEN tentativas > $4 THEN envio_iniciado_em ELSE now() END,
    locked_until = CASE WHEN tentativas > $4 THEN NULL ELSE now() + make_interval(secs => $3) END,
    last_error = CASE
        WHEN tentativas > $4 THEN format('gave up after %s claims: %s', tentativas - 1,
                                         coalesce(last_error, 'no send was ever started'))
        ELSE last_error
    END,
    updated_at = now()
WHERE id = $1 AND status = 'processando' AND tentativas = $2
RETURNING status

-- name: marcar_enviada
-- Evolution accepted the send of attempt $2. Also from 'incerto': the outcome was recorded late (Postgres
-- was down at the time and the sweep gave up on the row), but this sender knows it was sent.
UPDATE fila_mensagens
SET status = 'enviada', enviada_em = now(), locked_until = NULL, last_error = NULL,
    whatsapp_message_id = $3, updated_at = now()
WHERE id = $1 AND status IN ('enviando', 'incerto') AND tentativas = $2
RETURNING interacao_id

-- name: adiar_mensagem
-- Not sent, and trying again may work (Evolution answered 5xx/429, refused the connection, or the rate
-- limiter could not be reached): pending again after $3 seconds of backoff, with the reason.
UPDATE fila_mensagens
SET status = 'pendente', agendar_para = now() + make_interval(secs => $3), locked_until = NULL,
    last_error = $4, updated_at = now()
WHERE id = $1 AND status IN ('processando', 'enviando') AND tentativas = $2

-- name: falhar_mensagem
-- Not sent, for good (a 400: the number is not on WhatsApp), or the last try: 'erro' with the reason.
UPDATE fila_mensagens
SET status = 'erro', locked_until = NULL, last_error = $3, updated_at = now()
WHERE id = $1 AND status IN ('processando', 'enviando') AND tentativas = $2

-- name: marcar_incerta
-- The call of attempt $2 ended without telling whether Evolution sent it (timeout after the request left,
-- connection dropped, 502/504): never resent by julia; a person reconciles it (docs/runbook.md).
UPDATE fila_mensagens
SET status = 'incerto', locked_until = NULL, last_error = $3, updated_at = now()
WHERE id = $1 AND status = 'enviando' AND tentativas = $2

-- name: marcar_incertas
-- Sends whose sender died during the call ('enviando' past its lease): the outcome is unknown, so they
-- become 'incerto', never sent again. Run by every sender every few seconds. Index: idx_fila_enviando.
UPDATE fila_mensagens
SET status = 'incerto', locked_until = NULL, updated_at = now(),
    last_error = 'the sender stopped during the send; it may or may not have reached the doctor'
WHERE status = 'enviando' AND locked_until < now()
RETURNING id

-- name: marcar_interacao_enviada
-- The WhatsApp id of a sent reply, on its interaction (the history then matches what WhatsApp shows).
UPDATE interacoes SET whatsapp_message_id = $2 WHERE id = $1 AND whatsapp_message_id IS NULL
