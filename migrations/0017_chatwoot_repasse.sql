-- An agent's reply written in Chatwoot goes to the doctor through the send queue (issue 36, point 5):
-- its row carries the Chatwoot message's id. The unique index is what makes the relay exactly once: a
-- webhook Chatwoot delivers again inserts nothing (ON CONFLICT DO NOTHING, julia/sql/fila_mensagens.sql
-- repassar_mensagem_agente). Partial: every other row has no Chatwoot message, and the index stays as
-- small as the relays.
ALTER TABLE fila_mensagens ADD COLUMN chatwoot_message_id bigint;
CREATE UNIQUE INDEX idx_fila_chatwoot_mensagem ON fila_mensagens (chatwoot_message_id)
    WHERE chatwoot_message_id IS NOT NULL;
