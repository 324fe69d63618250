-- Issue 36's last gaps: free text past the Cloud API's 24-hour window waits for the doctor behind a
-- re-engagement template, and delivery receipts are kept for a limited time.

-- 'aguardando_resposta': free text (a late reply, an agent's message from Chatwoot) to a doctor whose last
-- message is older than 24 hours on the Cloud API, where Meta refuses it (131047). The sender sent the
-- approved re-engagement template (julia/templates.py, `retomar_conversa`) in its place and holds the text
-- here; the doctor's next message makes it 'pendente' again, due at once, in the statement that stores
-- that message (julia/sql/entradas.sql registrar_entrada: not a trigger on interacoes, which the seed's
-- bulk loads into the bare table would run per row), and the text then goes inside the window the doctor
-- just opened.
ALTER TABLE fila_mensagens DROP CONSTRAINT fila_mensagens_status_check;
ALTER TABLE fila_mensagens ADD CONSTRAINT fila_mensagens_status_check
    CHECK (status IN ('pendente', 'processando', 'enviando', 'enviada', 'incerto', 'erro', 'cancelada',
                      'aguardando_resposta'));

-- A handful of rows per doctor at most (their held texts until they answer): registrar_entrada's probe per
-- inbound message, and iniciar_envio's "a template already asked this doctor" check.
CREATE INDEX idx_fila_aguardando_resposta ON fila_mensagens (cliente_id) WHERE status = 'aguardando_resposta';

-- Whether free text to the doctor already waits behind a re-engagement template: then a second text waits
-- with it, and the doctor is not sent the template twice. Only reached for free text on the Cloud API to a
-- doctor silent for 24 hours (a function for the reason of migrations/0020: not a subplan of every
-- iniciar_envio). Index: idx_fila_aguardando_resposta.
CREATE FUNCTION julia_aguarda_resposta(medico bigint) RETURNS boolean
    LANGUAGE sql STABLE PARALLEL SAFE
    RETURN EXISTS (
        SELECT 1 FROM fila_mensagens s WHERE s.cliente_id = medico AND s.status = 'aguardando_resposta'
    );

-- Receipts' retention (RECIBOS_RETENCAO_DIAS, julia/sql/recibos.sql apagar_recibos_antigos): deleted by
-- age of their first receipt, oldest first, in batches; idx_recibos_recebido already orders them.

-- Time zones that neither state nor DDD can tell (issue 36): DDD 81 is Recife's (UTC-3) and Fernando de
-- Noronha's (UTC-2), and PE's CRM is both; DDD 97 covers Amazonas on Manaus time (UTC-4) and its south-west
-- on Acre time (UTC-5, America/Eirunepe). `clientes` has no city to settle it, so such a doctor gets both
-- zones, the western first: the sender's window is then where both are open (julia/worker/sending_window.py:
-- it opens at the western zone's opening and closes at the eastern one's closing, so nobody on either clock
-- gets a message outside the hours), and a campaign is spread over the western zone's hours at enqueue. A
-- CRM of another state with those DDDs keeps its state's zone, as before. Rows queued before this keep the
-- zone they were given.
CREATE OR REPLACE FUNCTION fuso_medico(crm text, telefone text) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE
        WHEN x.ddd = '81' AND coalesce(x.uf, 'PE') = 'PE' THEN 'America/Recife America/Noronha'
        WHEN x.ddd = '97' AND coalesce(x.uf, 'AM') = 'AM' THEN 'America/Eirunepe America/Manaus'
        ELSE CASE coalesce(
            x.uf,
            CASE x.ddd
                WHEN '65' THEN 'MT' WHEN '66' THEN 'MT' WHEN '67' THEN 'MS' WHEN '68' THEN 'AC'
                WHEN '69' THEN 'RO' WHEN '92' THEN 'AM' WHEN '95' THEN 'RR'
            END
        )
            WHEN 'AC' THEN 'America/Rio_Branco'
            WHEN 'AM' THEN 'America/Manaus'
            WHEN 'RR' THEN 'America/Boa_Vista'
            WHEN 'RO' THEN 'America/Porto_Velho'
            WHEN 'MT' THEN 'America/Cuiaba'
            WHEN 'MS' THEN 'America/Campo_Grande'
            ELSE 'America/Sao_Paulo'
        END
    END
    FROM (SELECT substring(crm FROM '^CRM/([A-Z]{2}) ') AS uf,
                 substring(telefone FROM '^\+55([1-9][0-9])') AS ddd) AS x
$$;
