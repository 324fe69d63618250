-- name: buscar_medico_por_telefone
-- The first lookup of every inbound message. Index: idx_clientes_telefone (unique).
SELECT id, telefone, primeiro_nome, sobrenome, crm, especialidade_id, status, tags, preferencias
FROM clientes
WHERE telefone = $1

-- name: buscar_medico_por_id
-- Index: clientes_pkey.
SELECT id, telefone, primeiro_nome, sobrenome, crm, especialidade_id, status, tags, preferencias
FROM clientes
WHERE id = $1

-- name: buscar_medicos_por_tag
-- Campaign targeting: doctors carrying a tag, in id order so pages are stable. Index: idx_clientes_tags (GIN).
SELECT id, telefone, primeiro_nome, especialidade_id, status, tags
FROM clientes
WHERE tags @> ARRAY[$1::text]
ORDER BY id
LIMIT $2

-- name: destino_mensagem
-- A doctor's phone (the Slack notice of a Chatwoot handoff names it). Index: clientes_pkey.
SELECT telefone FROM clientes WHERE id = $1
