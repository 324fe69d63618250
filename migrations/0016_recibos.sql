-- Delivery receipts (issue 36): what WhatsApp said became of each message julia sent, as Evolution
-- forwards it in `messages.update` (Baileys: DELIVERY_ACK, READ, PLAYED, ERROR; the Cloud API: DELIVERED,
-- READ, FAILED). One row per WhatsApp message id, the id sendText's 201 returned (fila_mensagens and
-- interacoes keep it as whatsapp_message_id): joined at read time, so a receipt that arrives before the
-- sender has recorded that 201 is kept all the same, and the webhook writes one row, never the queue's.
-- `estado` only moves forward (falhou < entregue < lida: proof that the phone got the message outranks
-- a failure; nothing outranks read), so a receipt repeated or arriving out of order changes nothing.
-- No phone and no doctor here: an id WhatsApp made, a state, and when.
CREATE TABLE recibos (
    whatsapp_message_id text PRIMARY KEY,
    estado              text NOT NULL CHECK (estado IN ('falhou', 'entregue', 'lida')),
    -- As Evolution wrote it (ERROR, FAILED, ...): the only error code on the wire. Evolution 2.3.6 drops
    -- Meta's `errors[]` when it turns a Cloud API status into messages.update.
    status_whatsapp     text NOT NULL,
    recebido_em         timestamptz NOT NULL DEFAULT now(),  -- the first receipt of the message
    atualizado_em       timestamptz NOT NULL DEFAULT now()
);

-- The health check's rate of failed deliveries over the last minutes (julia/sql/recibos.sql).
CREATE INDEX idx_recibos_recebido ON recibos (recebido_em);
