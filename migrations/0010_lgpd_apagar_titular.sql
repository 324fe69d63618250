-- LGPD as operations (issue 34): a doctor or lead (the *titular*, data subject) can be exported and erased
-- (`julia lgpd export|apagar`), and leads and old interactions are deleted after configured periods
-- (`julia lgpd reter`, also run by the worker). What this migration decides, table by table:
--
-- Deleted with the person (ON DELETE CASCADE): everything that exists only because of their conversation
-- with Júlia. `conversations`, `interacoes` (their words: possibly health data), `entradas` and
-- `fila_mensagens` (the work rows and the texts sent to them; a campaign's report then counts one doctor
-- fewer), `handoffs` (the reason Claude wrote about them) and `chamadas_ferramenta` (tool inputs taken
-- from their messages). Cascading, rather than a list of DELETEs in julia, means one `DELETE FROM
-- clientes` can leave nothing behind, and a table added later that references these cascades with them.
--
-- Anonymised, not deleted: `vagas`. A shift is the hospital's record, not the doctor's; julia unlinks
-- the doctor before deleting them (julia/sql/vagas.sql, anonimizar_vagas_do_medico): a shift still
-- reserved goes back to 'aberta' (someone else must take it), a filled or cancelled one keeps its history
-- with `cliente_id` NULL and `medico_apagado_em` saying why. The foreign key stays NO ACTION on purpose:
-- a delete that skipped that step fails instead of leaving a filled shift that silently has no doctor.
--
-- Kept, as the law allows (LGPD art. 16 I and art. 7 II: a legal obligation; art. 6 X: accountability):
-- `titulares_apagados`, one row per erased phone, with no name and no phone, only a SHA-256 of the E.164
-- number, when it was erased and, when they had opted out, since when. It answers "was this request
-- honoured?" and makes a number that opted out stay opted out if it comes back (criar_lead makes it an
-- `opt_out` lead). A hash of a phone is pseudonymised, not anonymous (the number space is small enough to
-- enumerate): it is still personal data, kept for this purpose only and never sent anywhere.
--
-- Cost of a delete, and the indexes this migration does not add. Postgres checks a foreign key once per
-- deleted parent row. The cascades find children through the indexes that exist (conversations by
-- cliente_id, interacoes by conversa_id, entradas by interacao_id, chamadas_ferramenta by both), but
-- `interacoes.cliente_id`, `fila_mensagens.interacao_id` / `cliente_id` / `conversa_id`,
-- `entradas.cliente_id` / `conversa_id` and `handoffs` have none: each deleted doctor costs a scan of
-- interacoes (and of fila_mensagens, entradas, handoffs), and each deleted message a scan of
-- fila_mensagens. Counted with pg_stat_user_tables before and after (rows read, not a timing) at
-- 20,000 seeded doctors (588,326 interacoes, 27,252 fila_mensagens): erasing a doctor with 565 messages
-- read 1.2 M interacoes rows and 15.5 M fila_mensagens rows (570 scans); a retention batch of 100 old
-- messages, 2.7 M fila_mensagens rows; a batch of 54 idle leads, 31.7 M interacoes rows. All of it grows
-- with the tables. Indexes on those columns would make each check one index probe, but each is
-- maintained on the webhook's or the reply's insert path, which issue 34 keeps free of new work: a
-- decision for the perf gate, not taken here.

ALTER TABLE conversations
    DROP CONSTRAINT conversations_cliente_id_fkey,
    ADD CONSTRAINT conversations_cliente_id_fkey FOREIGN KEY (cliente_id) REFERENCES clientes (id) ON DELETE CASCADE;

ALTER TABLE interacoes
    DROP CONSTRAINT interacoes_cliente_id_fkey,
    ADD CONSTRAINT interacoes_cliente_id_fkey FOREIGN KEY (cliente_id) REFERENCES clientes (id) ON DELETE CASCADE,
    DROP CONSTRAINT interacoes_conversa_id_fkey,
    ADD CONSTRAINT interacoes_conversa_id_fkey
        FOREIGN KEY (conversa_id) REFERENCES conversations (id) ON DELETE CASCADE;

ALTER TABLE entradas
    DROP CONSTRAINT entradas_cliente_id_fkey,
    ADD CONSTRAINT entradas_cliente_id_fkey FOREIGN KEY (cliente_id) REFERENCES clientes (id) ON DELETE CASCADE,
    DROP CONSTRAINT entradas_conversa_id_fkey,
    ADD CONSTRAINT entradas_conversa_id_fkey
        FOREIGN KEY (conversa_id) REFERENCES conversations (id) ON DELETE CASCADE,
    DROP CONSTRAINT entradas_interacao_id_fkey,
    ADD CONSTRAINT entradas_interacao_id_fkey
        FOREIGN KEY (interacao_id) REFERENCES interacoes (id) ON DELETE CASCADE;

ALTER TABLE handoffs
    DROP CONSTRAINT handoffs_cliente_id_fkey,
    ADD CONSTRAINT handoffs_cliente_id_fkey FOREIGN KEY (cliente_id) REFERENCES clientes (id) ON DELETE CASCADE,
    DROP CONSTRAINT handoffs_conversa_id_fkey,
    ADD CONSTRAINT handoffs_conversa_id_fkey
        FOREIGN KEY (conversa_id) REFERENCES conversations (id) ON DELETE CASCADE;

ALTER TABLE fila_mensagens
    DROP CONSTRAINT fila_mensagens_cliente_id_fkey,
    ADD CONSTRAINT fila_mensagens_cliente_id_fkey
        FOREIGN KEY (cliente_id) REFERENCES clientes (id) ON DELETE CASCADE,
    DROP CONSTRAINT fila_mensagens_conversa_id_fkey,
    ADD CONSTRAINT fila_mensagens_conversa_id_fkey
        FOREIGN KEY (conversa_id) REFERENCES conversations (id) ON DELETE CASCADE,
    DROP CONSTRAINT fila_mensagens_interacao_id_fkey,
    ADD CONSTRAINT fila_mensagens_interacao_id_fkey
        FOREIGN KEY (interacao_id) REFERENCES interacoes (id) ON DELETE CASCADE;

ALTER TABLE chamadas_ferramenta
    DROP CONSTRAINT chamadas_ferramenta_conversa_id_fkey,
    ADD CONSTRAINT chamadas_ferramenta_conversa_id_fkey
        FOREIGN KEY (conversa_id) REFERENCES conversations (id) ON DELETE CASCADE,
    DROP CONSTRAINT chamadas_ferramenta_interacao_id_fkey,
    ADD CONSTRAINT chamadas_ferramenta_interacao_id_fkey
        FOREIGN KEY (interacao_id) REFERENCES interacoes (id) ON DELETE CASCADE;

-- A filled or cancelled shift whose doctor was erased: no doctor, and when that happened. The rule of
-- 0005 otherwise unchanged (still NOT VALID for the rows reserved before 0005, as there).
ALTER TABLE vagas ADD COLUMN medico_apagado_em timestamptz;
ALTER TABLE vagas DROP CONSTRAINT vagas_medico_status;
ALTER TABLE vagas ADD CONSTRAINT vagas_medico_status CHECK (
    CASE status
        WHEN 'aberta' THEN cliente_id IS NULL AND reservada_em IS NULL
        WHEN 'cancelada' THEN true
        WHEN 'preenchida' THEN reservada_em IS NOT NULL AND (cliente_id IS NOT NULL OR medico_apagado_em IS NOT NULL)
        ELSE cliente_id IS NOT NULL AND reservada_em IS NOT NULL
    END
) NOT VALID;

-- When the doctor opted out: the evidence an erasure keeps. Rows that opted out before this migration
-- have none; their erasure records `updated_at` instead (the opt-out was that change or an earlier one).
ALTER TABLE clientes ADD COLUMN opt_out_em timestamptz;

CREATE TABLE titulares_apagados (
    telefone_hash bytea PRIMARY KEY CHECK (octet_length(telefone_hash) = 32),  -- sha256 of the E.164 phone
    apagado_em    timestamptz NOT NULL DEFAULT now(),
    opt_out_em    timestamptz  -- NULL: they had not opted out
);
