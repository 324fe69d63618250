-- name: carregar_contexto_estatico
-- The part of a conversation's context that changes only when the doctor is edited: who they are and
-- their specialty's name. Index: clientes_pkey, especialidades_pkey.
SELECT c.id, c.telefone, c.primeiro_nome, c.sobrenome, c.crm, c.especialidade_id, c.status, c.tags,
       c.preferencias, e.nome AS especialidade
FROM clientes c
LEFT JOIN especialidades e ON e.id = c.especialidade_id
WHERE c.id = $1
