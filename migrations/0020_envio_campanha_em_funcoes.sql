-- iniciar_envio's two other campaign-only checks as functions, for the reason julia_em_conversa is one
-- (migrations/0018): written inside the statement, each sub-select became a subplan copied into every SET
-- expression that reads its CASE (the weekly count: `recusa`, read by status and last_error; the Cloud
-- API's 24-hour check: `fora_da_janela`, read three times), and every execution of the cached plan locked
-- and initialised them, a reply's too, whose CASE never reaches them. Measured 2026-12-07 against 9c01db2
-- (before either check): the queue claim 105x its floor against its budget of 80x, iniciar_envio alone
-- 10.97x against 10x. A SQL function whose body is a sub-select is not inlined: in the caller's plan it is
-- one expression, run only when a campaign row (or free text on the Cloud API) reaches it.
-- STABLE: both read tables and now(), in the calling statement's snapshot, as the inline sub-selects did.

-- Campaign messages sent to a doctor in the last 7 days, across campaigns (CAMPANHA_MAX_PER_WEEK).
-- Index: idx_fila_campanha_enviada (cliente_id, enviada_em).
CREATE FUNCTION julia_campanhas_na_semana(medico bigint) RETURNS bigint
    LANGUAGE sql STABLE PARALLEL SAFE
    RETURN (
        SELECT count(*) FROM fila_mensagens s
        WHERE s.cliente_id = medico AND s.campanha_id IS NOT NULL
          AND s.enviada_em IS NOT NULL AND s.enviada_em > now() - interval '7 days'
    );

-- Whether the doctor wrote in the last 24 hours, 5 minutes of margin for the send's own delay: the Cloud
-- API's customer-service window, outside which Meta refuses free text (131047).
-- Indexes: idx_conversations_cliente, idx_interacoes_conversa_data.
CREATE FUNCTION julia_escreveu_nas_24h(medico bigint) RETURNS boolean
    LANGUAGE sql STABLE PARALLEL SAFE
    RETURN EXISTS (
        SELECT 1 FROM conversations cv
        JOIN interacoes i ON i.conversa_id = cv.id
        WHERE cv.cliente_id = medico AND i.direcao = 'entrada'
          AND i.created_at > now() - interval '23 hours 55 minutes'
    );
