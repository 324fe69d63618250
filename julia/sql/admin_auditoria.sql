-- name: abrir_auditoria
-- One admin write, recorded before it runs, with the target row as it is now ($6 names its table, $7 its
-- id: vagas or clientes; NULL for a creation). Index: vagas_pkey / clientes_pkey for `antes`.
INSERT INTO admin_auditoria (operador, origem, acao, alvo, pedido, antes)
VALUES (
    $1, $2, $3, $4, $5::jsonb,
    CASE $6::text
        WHEN 'vagas' THEN (SELECT to_jsonb(v) FROM vagas v WHERE v.id = $7::bigint)
        WHEN 'clientes' THEN (SELECT to_jsonb(c) FROM clientes c WHERE c.id = $7::bigint)
    END
)
RETURNING id

-- name: fechar_auditoria
-- The answer of the write recorded by abrir_auditoria: its HTTP status and the row after. Index: its pkey.
UPDATE admin_auditoria SET status = $2, depois = $3::jsonb WHERE id = $1
