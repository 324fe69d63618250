-- Whether a doctor is in a conversation now: a person holds it (a handoff), or the doctor wrote in the
-- last 24 hours (WhatsApp's own customer-service window). iniciar_envio (julia/sql/fila_mensagens.sql)
-- cancels a campaign message to such a doctor (issue 33).
--
-- A function, not the same EXISTS written inside the statement, for the sender's cost on every other row.
-- iniciar_envio's CTE is inlined into its UPDATE, where the refusal is read in four SET expressions, so
-- the EXISTS became five copies of a subplan (ten index scans, conversations and interacoes and their
-- indexes): each execution of the cached plan locked those relations and initialised those nodes, even
-- for a reply, whose CASE never reaches them. That was the queue claim's 1.146x against a125a92 (the
-- perf gate's queue_claim_batch10, 2026-12-07; the seeded queue holds replies only). A call to a SQL
-- function that cannot be inlined (its body is a sub-select) is only an expression in that plan: it costs
-- nothing until a campaign row reaches it, and then its own cached plan runs.
-- STABLE: it reads tables and now(), and sees the calling statement's snapshot, as the inline EXISTS did.
-- Indexes: idx_conversations_cliente_status, idx_interacoes_conversa_data.
CREATE FUNCTION julia_em_conversa(medico bigint) RETURNS boolean
    LANGUAGE sql STABLE PARALLEL SAFE
    RETURN EXISTS (
        SELECT 1 FROM conversations cv
        WHERE cv.cliente_id = medico AND cv.status = 'ativa'
          AND (cv.controlled_by = 'humano' OR EXISTS (
              SELECT 1 FROM interacoes i
              WHERE i.conversa_id = cv.id AND i.direcao = 'entrada'
                AND i.created_at > now() - interval '24 hours'
          ))
    );

-- buscar_vagas (julia/sql/vagas.sql) finds the hospitals of a place once per call, in a subquery: by the
-- doctor's state, or by a city written any way ("sao paulo" is São Paulo). Without these it read every
-- hospital, and julia_sem_acento of each one's city, on every call with a place: 20,000 hospitals at a
-- million seeded doctors. julia_sem_acento is IMMUTABLE (migrations/0011), so it may be indexed. The state
-- is indexed as text, the type buscar_vagas compares it as (estado is char(2), and a char comparison
-- would ignore trailing spaces where the text one does not: the same answers, only faster).
CREATE INDEX idx_hospitais_estado ON hospitais ((estado::text));
CREATE INDEX idx_hospitais_cidade_sem_acento ON hospitais (julia_sem_acento(cidade));
