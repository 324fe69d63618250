-- name: atualizar_medico
-- Partial update from a jsonb patch ($2): a key present sets its column (JSON null sets NULL), an absent
-- key keeps it, so one static statement serves every combination of fields. The row is locked first so
-- `telefone_anterior` is the phone this update replaced: the cache must drop the old phone's entry.
-- Index: clientes_pkey; a new phone is checked by idx_clientes_telefone (unique).
WITH antes AS (
    SELECT id, telefone FROM clientes WHERE id = $1 FOR UPDATE
)
UPDATE clientes c SET
    telefone = CASE WHEN $2::jsonb ? 'telefone' THEN $2::jsonb ->> 'telefone' ELSE c.telefone END,
    primeiro_nome = CASE WHEN $2::jsonb ? 'primeiro_nome' THEN $2::jsonb ->> 'primeiro_nome'
                         ELSE c.primeiro_nome END,
    sobrenome = CASE WHEN $2::jsonb ? 'sobrenome' THEN $2::jsonb ->> 'sobrenome' ELSE c.sobrenome END,
    crm = CASE WHEN $2::jsonb ? 'crm' THEN $2::jsonb ->> 'crm' ELSE c.crm END,
    especialidade_id = CASE WHEN $2::jsonb ? 'especialidade_id' THEN ($2::jsonb ->> 'especialidade_id')::bigint
                            ELSE c.especialidade_id END,
    status = CASE WHEN $2::jsonb ? 'status' THEN $2::jsonb ->> 'status' ELSE c.status END,
    tags = CASE WHEN $2::jsonb ? 'tags' THEN ARRAY(SELECT jsonb_array_elements_text($2::jsonb -> 'tags'))
                ELSE c.tags END,
    preferencias = CASE WHEN $2::jsonb ? 'preferencias' THEN $2::jsonb -> 'preferencias' ELSE c.preferencias END,
    updated_at = now()
FROM antes
WHERE c.id = antes.id
RETURNING c.id, c.telefone, c.primeiro_nome, c.sobrenome, c.crm, c.especialidade_id, c.status, c.tags,
          c.preferencias, antes.telefone AS telefone_anterior
