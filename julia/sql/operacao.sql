-- name: contar_conversas_ativas
-- The runbook's first number. Index-only scan of idx_conversations_cliente_status.
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
