-- Campaigns: Júlia writing first to many doctors (issue 15). One row per campaign, with the id the
-- caller chose (creating the same id again changes nothing), and one fila_mensagens row per doctor.

CREATE TABLE campanhas (
    id               text PRIMARY KEY CHECK (id ~ '^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$'),
    tag              text CHECK (btrim(tag) <> ''),
    especialidade_id bigint REFERENCES especialidades (id),
    estado           char(2) CHECK (estado ~ '^[A-Z]{2}$'),
    texto            text NOT NULL CHECK (btrim(texto) <> ''),
    inicio           timestamptz NOT NULL,
    por_minuto       integer NOT NULL CHECK (por_minuto > 0),
    created_at       timestamptz NOT NULL DEFAULT now(),
    -- A campaign to "every doctor" is refused: it must name who it is for.
    CHECK (tag IS NOT NULL OR especialidade_id IS NOT NULL)
);

ALTER TABLE fila_mensagens ADD COLUMN campanha_id text REFERENCES campanhas (id);

-- 'cancelada': a campaign message that must not go (the doctor opted out before it was sent). Kept,
-- not deleted, so the campaign's report and an LGPD request can show what was withheld and when.
ALTER TABLE fila_mensagens DROP CONSTRAINT fila_mensagens_status_check;
ALTER TABLE fila_mensagens ADD CONSTRAINT fila_mensagens_status_check
    CHECK (status IN ('pendente', 'processando', 'enviando', 'enviada', 'incerto', 'erro', 'cancelada'));

-- At most one message per doctor per campaign (creation's ON CONFLICT target); also the index of the
-- campaign's status report. Partial: replies (no campaign) stay out of it.
CREATE UNIQUE INDEX idx_fila_campanha_cliente ON fila_mensagens (campanha_id, cliente_id)
    WHERE campanha_id IS NOT NULL;

-- Opt-out cancels a doctor's pending campaign messages in the same transaction: found by doctor.
CREATE INDEX idx_fila_campanha_pendente ON fila_mensagens (cliente_id)
    WHERE campanha_id IS NOT NULL AND status = 'pendente';

-- "Replied" in the report: did the doctor write after the campaign's message? A doctor's conversations,
-- then idx_interacoes_conversa_data within each.
CREATE INDEX idx_conversations_cliente ON conversations (cliente_id);
