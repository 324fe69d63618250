-- Issue 36's last gaps: free text past the Cloud API's 24-hour window waits for the doctor behind a
-- re-engagement template, and delivery receipts are kept for a limited time.

-- 'aguardando_resposta': free text (a late reply, an agent's message from Chatwoot) to a doctor whose last
-- message is older than 24 hours on the Cloud API, where Meta refuses it (131047). The sender sent the
-- approved re-engagement template (julia/templates.py, `retomar_conversa`) in its place and holds the text
-- here; the doctor's next message makes it 'pendente' again, due at once (the trigger below), and the
-- text then goes inside the window the doctor just opened.
ALTER TABLE fila_mensagens DROP CONSTRAINT fila_mensagens_status_check;
ALTER TABLE fila_mensagens ADD CONSTRAINT fila_mensagens_status_check
    CHECK (status IN ('pendente', 'processando', 'enviando', 'enviada', 'incerto', 'erro', 'cancelada',
                      'aguardando_resposta'));

-- A handful of rows at most (one doctor's held texts until they answer): the trigger's probe per inbound
-- message, and iniciar_envio's "a template already asked this doctor" check.
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

-- The doctor wrote: what waited for it goes now. In the transaction that stores the message, so a text
-- is never left held by a message that raced it (the sender's own `aguardar_resposta` statement re-checks
-- the 24 hours for a message that came in while the template was being sent). Row-level with a WHEN: an
-- outgoing interaction does not call it; an incoming one costs one probe of a near-empty partial index.
CREATE FUNCTION julia_liberar_aguardando() RETURNS trigger
    LANGUAGE plpgsql AS $$
BEGIN
    -- A doctor who opted out (or was blocked) meanwhile gets nothing: the held text is cancelled. An
    -- opt-out written now ("SAIR") is registered after this in the message's transaction, and cancels
    -- what this made pending (clientes.sql cancelar_envios_pendentes).
    UPDATE fila_mensagens f
    SET status = CASE WHEN c.status IN ('opt_out', 'bloqueado') THEN 'cancelada' ELSE 'pendente' END,
        agendar_para = now(), updated_at = now(),
        last_error = CASE WHEN c.status IN ('opt_out', 'bloqueado')
            THEN 'médico não recebe mensagens: opt-out ou bloqueado'
            ELSE 'o médico respondeu: o texto retido vai dentro da janela de 24 horas' END
    FROM clientes c
    WHERE c.id = NEW.cliente_id AND f.cliente_id = NEW.cliente_id AND f.status = 'aguardando_resposta';
    RETURN NULL;
END
$$;

CREATE TRIGGER interacoes_liberar_aguardando
    AFTER INSERT ON interacoes
    FOR EACH ROW WHEN (NEW.direcao = 'entrada')
    EXECUTE FUNCTION julia_liberar_aguardando();

-- Receipts' retention (RECIBOS_RETENCAO_DIAS, julia/sql/recibos.sql apagar_recibos_antigos): deleted by
-- age of their first receipt, oldest first, in batches; idx_recibos_recebido already orders them.
