-- name: contar_conversas_ativas
-- The runbook's first number. About a third of the doctors have an active conversation, so this reads
-- a large share of the table whatever the plan (a seq scan or an index-only scan of
-- idx_conversations_cliente_status, as the visibility map decides); it runs once per health check.
SELECT count(*) FROM conversations WHERE status = 'ativa'

-- name: contar_fila_pendente
-- Pending messages, how many are due, and how long the oldest due one has waited (a message scheduled
-- for tomorrow is not late). Index: idx_fila_processamento.
SELECT count(*) AS pendentes,
       count(*) FILTER (WHERE agendar_para <= now()) AS vencidas,
       coalesce(extract(epoch FROM now() - min(agendar_para) FILTER (WHERE agendar_para <= now())), 0)::float8
           AS mais_antiga_s
FROM fila_mensagens
WHERE status = 'pendente'

-- name: contar_entradas_abertas
-- Inbound messages not yet answered (the queue doctors wait in) and how long the oldest has waited.
-- Index: idx_entradas_fila (open rows only; answered rows leave it).
SELECT count(*) AS abertas,
       coalesce(extract(epoch FROM now() - min(created_at)), 0)::float8 AS mais_antiga_s
FROM entradas
WHERE status IN ('pendente', 'processando')

-- name: contar_fila_incerta
-- Sends whose outcome is unknown ('incerto'), waiting for a person to check the doctor's chat; julia
-- never resends them. Index: idx_fila_incerto (partial: a handful of rows at most).
SELECT count(*) FROM fila_mensagens WHERE status = 'incerto'
