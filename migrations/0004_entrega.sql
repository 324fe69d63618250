-- The outbound delivery protocol (julia/worker/envio.py): nothing is sent twice, nothing silently lost.
-- A claimed message ('processando') becomes 'enviando', committed, before the HTTP call to Evolution; the
-- outcome follows ('enviada', or back to 'pendente' / 'erro' when Evolution answered that it did not send).
-- When the outcome is unknown (a timeout after the request left, a dropped connection, the sender killed
-- during the call) the row becomes 'incerto' and is never resent by julia: a person checks the doctor's
-- chat and resends or closes it (docs/runbook.md). The attempt id is (id, tentativas), as for the claims.
ALTER TABLE fila_mensagens DROP CONSTRAINT fila_mensagens_status_check;
ALTER TABLE fila_mensagens ADD CONSTRAINT fila_mensagens_status_check
    CHECK (status IN ('pendente', 'processando', 'enviando', 'enviada', 'incerto', 'erro'));

-- When the send that is (or was) under way started: what a person reconciling an 'incerto' row needs.
ALTER TABLE fila_mensagens ADD COLUMN envio_iniciado_em timestamptz;

-- The senders' sweep of sends whose sender died (status 'enviando', lease over), and the count of rows
-- waiting for a person; both small, so partial indexes.
CREATE INDEX idx_fila_enviando ON fila_mensagens (locked_until) WHERE status = 'enviando';
CREATE INDEX idx_fila_incerto ON fila_mensagens (updated_at) WHERE status = 'incerto';
