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
-- later proven delivered is not one): the rate that pauses campaigns (julia/services/entregas.py).
-- Index: idx_recibos_recebido.
SELECT count(*) AS recibos, count(*) FILTER (WHERE estado = 'falhou') AS falhas
FROM recibos
WHERE recebido_em > now() - make_interval(secs => $1)
