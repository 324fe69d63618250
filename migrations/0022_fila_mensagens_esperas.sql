-- One rule for a rate limit on both queues (julia/services/fila.py): a 429 is the service asking julia to
-- wait, not a sign the message cannot go. Until now a 429 from Evolution counted as a failed send (five
-- of them in about 30 s of backoff turned a message into 'erro'), while Anthropic's counted in
-- entradas.esperas (migrations/0009). Now a send's wait is counted here, as the inbound queue's is, and
-- the send's attempt cap (iniciar_envio) counts `tentativas - esperas`. A column with a constant default:
-- no table rewrite.
ALTER TABLE fila_mensagens ADD COLUMN esperas integer NOT NULL DEFAULT 0 CHECK (esperas >= 0);
