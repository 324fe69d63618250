-- name: contar_handoffs_pendentes
-- Handoffs waiting for a person and how long the oldest has waited. Index: idx_handoffs_pendentes.
SELECT count(*) AS pendentes,
       coalesce(extract(epoch FROM now() - min(created_at)), 0)::float8 AS mais_antigo_s
FROM handoffs
WHERE status = 'pendente'
