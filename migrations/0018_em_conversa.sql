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
