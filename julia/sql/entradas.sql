-- name: registrar_entrada
-- critical: idx_conversations_cliente_status
-- The inbound interaction and the work to answer it ($4: how, migrations/0012_entradas_tratamento.sql),
-- in the doctor's ($1) active conversation, in one statement: the webhook's whole write for a known
-- doctor, with no transaction around it. `entrada_id` NULL with `conversa_ativa` true: this WhatsApp id
-- is already stored (a redelivery, or one racing the first delivery; ON CONFLICT inserts nothing, so no
-- work row either). `conversa_ativa` false: the doctor has no active conversation, and nothing was
-- written (the caller opens one and runs this again). `conversa_id`: the opt-out the webhook registers
-- in the same transaction queues its confirmation there.
-- The doctor wrote, so free text held for their answer behind the Cloud API's re-engagement template
-- ('aguardando_resposta', migrations/0021) is due now, inside the window this message opened; cancelled
-- instead for a doctor who opted out or is blocked (an opt-out written now is registered after this, in
-- the message's transaction, and cancels what this made pending). A probe of a partial index that is
-- empty but for doctors silent for a day.
-- Indexes: idx_conversations_cliente_status (unique, partial), idx_interacoes_whatsapp_id (unique),
-- idx_fila_aguardando_resposta (partial).
WITH c AS (
    SELECT id FROM conversations WHERE cliente_id = $1 AND status = 'ativa'
), i AS (
    INSERT INTO interacoes (conversa_id, cliente_id, direcao, origem, conteudo, whatsapp_message_id)
    SELECT c.id, $1, 'entrada', 'medico', $2, $3 FROM c
    ON CONFLICT (whatsapp_message_id) WHERE whatsapp_message_id IS NOT NULL DO NOTHING
    RETURNING id, conversa_id, cliente_id
), liberadas AS (
    UPDATE fila_mensagens f
    SET status = CASE WHEN cl.status IN ('opt_out', 'bloqueado') THEN 'cancelada' ELSE 'pendente' END,
        agendar_para = now(), updated_at = now(),
        last_error = CASE WHEN cl.status IN ('opt_out', 'bloqueado')
            THEN 'médico não recebe mensagens: opt-out ou bloqueado'
            ELSE 'o médico respondeu: o texto retido vai dentro da janela de 24 horas' END
    FROM clientes cl
    WHERE f.cliente_id = $1 AND f.status = 'aguardando_resposta' AND cl.id = $1 AND EXISTS (SELECT 1 FROM i)
), e AS (
    INSERT INTO entradas (interacao_id, cliente_id, conversa_id, tratamento)
    SELECT id, cliente_id, conversa_id, $4 FROM i
    RETURNING id
)
SELECT (SELECT id FROM e) AS entrada_id, (SELECT id FROM c) AS conversa_id,
       EXISTS (SELECT 1 FROM c) AS conversa_ativa

-- name: reivindicar_entradas
-- critical: idx_entradas_fila, idx_entradas_abertas
-- Claim up to $1 due inbound messages for $2 seconds: pending rows due now and rows whose lease ended.
-- Only a doctor's OLDEST open row is claimable, so one doctor's messages are answered one at a time and
-- in order while other doctors go in parallel. SKIP LOCKED: workers never wait on each other.
-- The attempt cap is enforced here, whatever path brings a row back: a row that already had $3 counted tries
-- (its last one never reported: the worker died, or the attempt outlived its lease) is not claimed but
-- kept as 'erro' with the reason; the caller gets it back with that status and runs nothing. $4: the
-- rows this worker still runs (their lease may have lapsed during an outage; never a second attempt).
-- It also returns what answering needs (the message's text and `tratamento`, who controls the
-- conversation, the doctor's phone, status and Chatwoot conversation), saving two statements and two
-- pool round trips per message.
-- Control read here is re-checked under lock before a reply is queued (controle_conversa_travado).
-- Indexes: idx_entradas_fila (open rows by id), idx_entradas_abertas (the older-row probe); primary keys.
WITH escolhidas AS (
    SELECT e.id, e.tentativas - e.esperas >= $3 AS esgotada
    FROM entradas e
    WHERE e.status IN ('pendente', 'processando')
      AND CASE WHEN e.status = 'pendente' THEN e.agendar_para <= now() ELSE e.locked_until < now() END
      AND e.id <> ALL ($4::bigint[])
      AND NOT EXISTS (
          SELECT 1 FROM entradas o
          WHERE o.cliente_id = e.cliente_id AND o.status IN ('pendente', 'processando') AND o.id < e.id
      )
    ORDER BY e.id
    LIMIT $1
    FOR UPDATE SKIP LOCKED
)
UPDATE entradas e
SET status = CASE WHEN s.esgotada THEN 'erro' ELSE 'processando' END,
    locked_until = CASE WHEN s.esgotada THEN NULL ELSE now() + make_interval(secs => $2) END,
    tentativas = CASE WHEN s.esgotada THEN e.tentativas ELSE e.tentativas + 1 END,
    last_error = CASE
        WHEN s.esgotada THEN format('gave up after %s tries, the last without an outcome (lease expired); '
                                    'before it: %s', e.tentativas - e.esperas, coalesce(e.last_error, 'no error'))
        ELSE e.last_error
    END,
    updated_at = now()
FROM escolhidas s, interacoes i, conversations c, clientes cl
WHERE e.id = s.id AND i.id = e.interacao_id AND c.id = e.conversa_id AND cl.id = e.cliente_id
RETURNING e.id, e.status, e.interacao_id, e.cliente_id, e.conversa_id, e.tentativas, e.esperas, e.tratamento,
          i.conteudo, c.controlled_by, c.chatwoot_conversation_id, cl.telefone, cl.status AS status_medico

-- name: renovar_entrada
-- The heartbeat of an attempt still running (Claude can take longer than one lease): the lease pushed
-- $3 seconds ahead, only while this attempt still holds the row ($2 = its tentativas, the fencing token).
UPDATE entradas
SET locked_until = now() + make_interval(secs => $3)
WHERE id = $1 AND status = 'processando' AND tentativas = $2
RETURNING id

-- name: concluir_entrada
-- critical: idx_entradas_fila, conversations_pkey, clientes_pkey
-- Done, only if this worker still holds the row ($2 = the tentativas it claimed with: the fencing token),
-- and Júlia's reply $3 (NULL: none) stored as an interaction (prompt version $4) and queued for sending at
-- priority $5, in the same statement, unless a person controls the conversation ($6: queue it anyway,
-- Júlia's "I am calling someone" after a handoff). The conversation row is held FOR SHARE: a handoff
-- committed while Claude wrote is seen (READ COMMITTED re-reads a row it waited for) and wins; one
-- still running waits for this statement. Opt-out always wins (issue 33): no reply is queued to a doctor
-- who is opt_out or bloqueado, whatever Claude wrote meanwhile; the doctor's row is held FOR SHARE too, so
-- an opt-out committing now either comes first (this queues nothing) or waits for this statement and then
-- cancels what it queued (clientes.sql cancelar_envios_pendentes runs after its own UPDATE).
-- `feita` false: this attempt lost the row, nothing happened.
-- One statement for what took BEGIN, four statements and COMMIT; fila_mensagens.sql
-- registrar_resposta is the same insert for replies outside this path.
WITH feita AS (
    UPDATE entradas
    SET status = 'feita', feita_em = now(), locked_until = NULL, last_error = NULL, updated_at = now()
    WHERE id = $1 AND status = 'processando' AND tentativas = $2
    RETURNING conversa_id, cliente_id
),
livre AS (
    SELECT c.id
    FROM conversations c
    JOIN clientes cl ON cl.id = c.cliente_id
    WHERE c.id = (SELECT conversa_id FROM feita)
      AND $3::text IS NOT NULL
      AND ($6 OR c.controlled_by <> 'humano')
      AND cl.status NOT IN ('opt_out', 'bloqueado')
    FOR SHARE OF c, cl
),
i AS (
    INSERT INTO interacoes (conversa_id, cliente_id, direcao, origem, conteudo, versao_prompt)
    SELECT f.conversa_id, f.cliente_id, 'saida', 'julia', $3, $4
    FROM feita f
    WHERE EXISTS (SELECT 1 FROM livre)
    RETURNING id, conversa_id, cliente_id
),
q AS (
    INSERT INTO fila_mensagens (cliente_id, conversa_id, conteudo, prioridade, interacao_id)
    SELECT cliente_id, conversa_id, $3, $5, id FROM i
    RETURNING id
)
SELECT EXISTS (SELECT 1 FROM feita) AS feita, (SELECT id FROM q) AS fila_id

-- name: adiar_entrada
-- A transient failure: back to pending, due again after $3 seconds, with the reason.
UPDATE entradas
SET status = 'pendente', agendar_para = now() + make_interval(secs => $3), locked_until = NULL,
    last_error = $4, updated_at = now()
WHERE id = $1 AND status = 'processando' AND tentativas = $2

-- name: esperar_entrada
-- Claude's rate limit outlasted the SDK's retries: pending again after $3 seconds, the attempt counted in
-- `esperas` rather than against the cap (migrations/0009_entradas_esperas.sql).
UPDATE entradas
SET status = 'pendente', agendar_para = now() + make_interval(secs => $3), locked_until = NULL,
    esperas = esperas + 1, last_error = $4, updated_at = now()
WHERE id = $1 AND status = 'processando' AND tentativas = $2

-- name: falhar_entrada
-- The last try failed: kept as 'erro' with the reason (never lost; the runbook lists them).
UPDATE entradas
SET status = 'erro', locked_until = NULL, last_error = $3, updated_at = now()
WHERE id = $1 AND status = 'processando' AND tentativas = $2

-- name: contar_entradas_abertas
-- Inbound messages not yet answered (the queue doctors wait in) and how long the oldest has waited.
-- Index: idx_entradas_fila (open rows only; answered rows leave it).
SELECT count(*) AS abertas,
       coalesce(extract(epoch FROM now() - min(created_at)), 0)::float8 AS mais_antiga_s
FROM entradas
WHERE status IN ('pendente', 'processando')

-- name: entradas_do_titular
-- LGPD export: a doctor's inbound work rows (no index on cliente_id beyond the open ones': one scan).
SELECT to_jsonb(e) AS linha FROM entradas e WHERE cliente_id = $1 ORDER BY id
