-- name: buscar_medico_por_telefone
-- critical: idx_clientes_telefone
-- The first lookup of every inbound message. Index: idx_clientes_telefone (unique).
SELECT id, telefone, primeiro_nome, sobrenome, crm, especialidade_id, status, tags, preferencias
FROM clientes
WHERE telefone = $1

-- name: buscar_medico_por_id
-- critical: clientes_pkey
-- Index: clientes_pkey.
SELECT id, telefone, primeiro_nome, sobrenome, crm, especialidade_id, status, tags, preferencias
FROM clientes
WHERE id = $1

-- name: buscar_medicos_por_tag
-- critical: idx_clientes_tags
-- Campaign targeting: doctors carrying a tag, in id order so pages are stable. Index: idx_clientes_tags (GIN).
SELECT id, telefone, primeiro_nome, especialidade_id, status, tags
FROM clientes
WHERE tags @> ARRAY[$1::text]
ORDER BY id
LIMIT $2

-- name: destino_mensagem
-- A doctor's phone (the Slack notice of a Chatwoot handoff names it). Index: clientes_pkey.
SELECT telefone FROM clientes WHERE id = $1

-- name: registrar_opt_out
-- critical: clientes_pkey
-- The doctor asked to stop: opt_out now. `mudou` is false when the doctor was already opt_out (no second
-- confirmation). Its own statement, before cancelar_envios_pendentes in the caller's transaction: a reply
-- being queued right now (entradas.sql concluir_entrada holds this row FOR SHARE) is committed before
-- this UPDATE goes on, so the next statement's snapshot sees it and cancels it. Index: clientes_pkey.
WITH medico AS (
    UPDATE clientes SET status = 'opt_out', opt_out_em = now(), updated_at = now()
    WHERE id = $1 AND status <> 'opt_out'
    RETURNING id
)
SELECT EXISTS (SELECT 1 FROM medico) AS mudou

-- name: cancelar_envios_pendentes
-- critical: idx_fila_campanha_pendente, idx_fila_resposta_pendente
-- Every message to doctor $1 not yet handed to Evolution, campaign rows and queued replies alike, is
-- cancelled (issue 33: a queued reply to a doctor who said PARAR must not go). A row a sender claimed
-- ('processando') is cancelled too: its iniciar_envio then matches nothing and the sender lets it go.
-- Rows already 'enviando' are on the wire. The caller queues the confirmation after this.
-- Indexes: idx_fila_campanha_pendente (campaign rows), idx_fila_resposta_pendente (replies).
WITH canceladas AS (
    UPDATE fila_mensagens
    SET status = 'cancelada', last_error = 'opt_out do médico', locked_until = NULL, updated_at = now()
    WHERE cliente_id = $1
      AND ((campanha_id IS NOT NULL AND status = 'pendente')
           OR (campanha_id IS NULL AND status IN ('pendente', 'processando')))
    RETURNING id
)
SELECT count(*) AS canceladas FROM canceladas

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

-- name: carregar_contexto_estatico
-- critical: clientes_pkey
-- The part of a conversation's context that changes only when the doctor is edited: who they are and
-- their specialty's name. Index: clientes_pkey, especialidades_pkey.
SELECT c.id, c.telefone, c.primeiro_nome, c.sobrenome, c.crm, c.especialidade_id, c.status, c.tags,
       c.preferencias, e.nome AS especialidade
FROM clientes c
LEFT JOIN especialidades e ON e.id = c.especialidade_id
WHERE c.id = $1

-- name: criar_lead
-- An unknown number becomes a new lead. ON CONFLICT: two first messages of one doctor racing. A number
-- whose data was erased after it opted out (titulares_apagados, migrations/0010) comes back opted out:
-- Júlia never writes to it first, and a person answers it. Index: titulares_apagados_pkey.
INSERT INTO clientes (telefone, status, opt_out_em)
SELECT $1::text, CASE WHEN a.opt_out_em IS NULL THEN 'novo' ELSE 'opt_out' END, a.opt_out_em
FROM (SELECT 1) um
LEFT JOIN titulares_apagados a ON a.telefone_hash = sha256(convert_to($1::text, 'UTF8'))
ON CONFLICT (telefone) DO NOTHING
RETURNING id, telefone, primeiro_nome, sobrenome, crm, especialidade_id, status, tags, preferencias

-- name: guardar_contato_chatwoot
UPDATE clientes SET chatwoot_contact_id = $2, updated_at = now() WHERE id = $1

-- name: contar_medicos
-- `julia dev`: whether its database is still to be seeded. Runs once, at start.
SELECT count(*) FROM clientes

-- name: primeiro_telefone
-- `julia dev`: a seeded doctor's phone for the curl it prints (the lowest id). Index: clientes_pkey.
SELECT telefone FROM clientes ORDER BY id LIMIT 1

-- name: titular_por_telefone
-- LGPD export and erasure: the doctor's whole row, as JSON. Index: idx_clientes_telefone.
SELECT id, to_jsonb(c) AS linha FROM clientes c WHERE telefone = $1

-- name: travar_titular
-- LGPD erasure: the doctor's row locked for the erasure's transaction (a message of theirs stored
-- meanwhile waits for the commit, then fails its foreign key: the webhook answers an error and stores
-- nothing; their next message starts a new lead), since when they opted out, if they did
-- (`updated_at` for opt-outs older than the column), and their Chatwoot contact, deleted after the
-- commit. Index: idx_clientes_telefone.
SELECT id, CASE WHEN status = 'opt_out' THEN coalesce(opt_out_em, updated_at) END AS opt_out_em,
       chatwoot_contact_id
FROM clientes
WHERE telefone = $1
FOR UPDATE

-- name: apagar_titular
-- LGPD erasure: the doctor, and by ON DELETE CASCADE everything of their conversations (migrations/0010
-- says table by table). Their shifts must have been unlinked first (anonimizar_vagas_do_titular).
-- Index: clientes_pkey; the cascades' lookups are described in migrations/0010.
DELETE FROM clientes WHERE id = $1

-- name: apagar_leads_sem_qualificacao
-- Retention: up to $2 leads that never qualified ('novo', no CRM) and that neither changed nor wrote for
-- $1 days, deleted with their conversations (cascade). A lead holding a shift is kept (a person decides).
-- SKIP LOCKED: a lead whose message is being stored right now is left for the next pass. No index fits
-- "status = 'novo'" (one would be updated on every doctor edit): a scan of clientes per batch, off the
-- hot path. The interactions are checked through idx_conversations_cliente and idx_interacoes_conversa_data.
WITH leads AS (
    SELECT c.id
    FROM clientes c
    WHERE c.status = 'novo'
      AND c.crm IS NULL
      AND c.updated_at < now() - make_interval(days => $1)
      AND NOT EXISTS (
          SELECT 1 FROM conversations cv JOIN interacoes i ON i.conversa_id = cv.id
          WHERE cv.cliente_id = c.id AND i.created_at >= now() - make_interval(days => $1)
      )
      AND NOT EXISTS (SELECT 1 FROM vagas v WHERE v.cliente_id = c.id)
    ORDER BY c.id
    LIMIT $2
    FOR UPDATE OF c SKIP LOCKED
)
DELETE FROM clientes c USING leads l WHERE c.id = l.id
