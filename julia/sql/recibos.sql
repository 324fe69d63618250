-- name: registrar_recibo
-- One delivery receipt ($1 WhatsApp id, $2 estado, $3 Evolution's status), the webhook's one statement:
-- kept when new, raised when it ranks above the stored one (falhou 1 < entregue 2 < lida 3), otherwise
-- nothing (a repeat, or a delivery arriving after the read). A receipt for a message the doctor sent (our
-- phone read hers, Baileys' `fromMe: false` READ; the Cloud API cannot tell, its fromMe is always false)
-- is not kept. `atualizado`: whether a row was written. Indexes: recibos_pkey, idx_interacoes_whatsapp_id.
WITH escrito AS (
    INSERT INTO recibos (whatsapp_message_id, estado, status_whatsapp)
    SELECT $1, $2, $3
    WHERE NOT EXISTS (SELECT 1 FROM interacoes WHERE whatsapp_message_id = $1 AND direcao = 'entrada')
    ON CONFLICT (whatsapp_message_id) DO UPDATE
    SET estado = excluded.estado, status_whatsapp = excluded.status_whatsapp, atualizado_em = now()
    WHERE array_position(ARRAY['falhou', 'entregue', 'lida'], excluded.estado)
        > array_position(ARRAY['falhou', 'entregue', 'lida'], recibos.estado)
    RETURNING 1
)
SELECT EXISTS (SELECT 1 FROM escrito) AS atualizado

-- name: contar_falhas_entrega
-- Receipts of messages first heard of in the last $1 seconds, and how many of those failed (a failure
-- later proven delivered is not one): the rate that pauses campaigns (julia/services/deliveries.py).
-- Index: idx_recibos_recebido.
SELECT count(*) AS recibos, count(*) FILTER (WHERE estado = 'falhou') AS falhas
FROM recibos
WHERE recebido_em > now() - make_interval(secs => $1)

-- name: apagar_recibos_antigos
-- Retention (RECIBOS_RETENCAO_DIAS, run by the worker's retention pass, julia/services/lgpd.py): up to $2
-- receipts whose message was first heard of more than $1 days ago, oldest first. A receipt only matters
-- while someone reads its campaign's report or the failed-delivery rate of the last minutes; kept for
-- good, the table grows by a row per message sent. Index: idx_recibos_recebido (the oldest at its start).
WITH velhos AS (
    SELECT whatsapp_message_id FROM recibos
    WHERE recebido_em < now() - make_interval(days => $1)
    ORDER BY recebido_em
    LIMIT $2
)
DELETE FROM recibos r USING velhos v WHERE r.whatsapp_message_id = v.whatsapp_message_id
