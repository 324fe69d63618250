-- name: reivindicar_mensagens
-- critical: idx_fila_processamento, idx_fila_lease
-- Claim up to $1 due messages for $2 seconds: pending rows due now at priority $3 or above, highest
-- priority first, then schedule, plus rows whose lease expired (their worker died). $3 is 0, or above the
-- campaigns' priority while campaigns are paused (julia/services/pause.py): a bound of the index's own
-- first column, so a paused campaign's backlog is never read, let alone claimed. SKIP LOCKED lets many
-- senders claim at once without waiting on each other; the lease brings a crashed sender's rows back.
-- Each branch locks inside its own FROM-subquery: Postgres refuses FOR UPDATE directly under UNION, and
-- the alternative, one SELECT with OR, cannot walk either index in order: with 200,000 pending rows it
-- sorted them all (seq scan, 2,601 buffers, 109 ms) where this form reads 145 buffers in 0.2 ms.
-- Indexes: idx_fila_processamento (pending), idx_fila_lease (expired leases).
WITH candidatos AS (
    SELECT id, prioridade, agendar_para FROM (
        SELECT id, prioridade, agendar_para
        FROM fila_mensagens
        WHERE status = 'pendente' AND agendar_para <= now() AND prioridade >= $3
        ORDER BY prioridade DESC, agendar_para
        LIMIT $1
        FOR UPDATE SKIP LOCKED
    ) AS devidas
    UNION ALL
    SELECT id, prioridade, agendar_para FROM (
        SELECT id, prioridade, agendar_para
        FROM fila_mensagens
        WHERE status = 'processando' AND locked_until < now()
        ORDER BY locked_until
        LIMIT $1
        FOR UPDATE SKIP LOCKED
    ) AS expiradas
), escolhidos AS (
    SELECT id FROM candidatos ORDER BY prioridade DESC, agendar_para, id LIMIT $1
)
UPDATE fila_mensagens f
SET status = 'processando',
    locked_until = now() + make_interval(secs => $2),
    tentativas = f.tentativas + 1,
    updated_at = now()
FROM escolhidos e
WHERE f.id = e.id
RETURNING f.id, f.cliente_id, f.conversa_id, f.interacao_id, f.conteudo, f.prioridade, f.agendar_para,
    f.tentativas, f.esperas, f.campanha_id, f.modelo, f.modelo_parametros, f.fuso, f.chatwoot_message_id

-- name: iniciar_envio
-- critical: fila_mensagens_pkey, clientes_pkey
-- The intent, committed before the HTTP call, and where the message goes (`telefone`, read now): while
-- this sender holds the claim ($2 = the tentativas it claimed with: the attempt id), one of
-- * 'enviando', leased $3 seconds (longer than the call can take, so the lease cannot lapse while the
--   call is alive);
-- * 'cancelada': an agent's message from Chatwoot (chatwoot_message_id) to a doctor who is opt_out or
--   bloqueado *now*;
-- * 'cancelada': a campaign message to a doctor who is opt_out, bloqueado or inativo *now* (an opt-out a
--   second ago is honoured; replies, the opt-out confirmation among them, always go), or who already had
--   $6 campaign messages in the last 7 days (CAMPANHA_MAX_PER_WEEK, across campaigns; issue 36);
-- * 'pendente' again, $7 seconds later, its claim not counted: a campaign message to a doctor in a
--   conversation now (issue 33): a person holds it (a handoff), or the doctor wrote in the last 24 hours
--   (WhatsApp's own customer-service window): an offer nobody asked for must not cut into it, and goes
--   once the conversation has quieted (issue 36: retried, no longer cancelled);
-- * free text on the Cloud API ($5) to a doctor who has not written in the last 24 hours (Meta refuses it,
--   131047: only a template may go; 5 minutes of margin for the send's own delay): 'enviando' with
--   `reengajar` true, the caller sending the re-engagement template (with `primeiro_nome`) in its place
--   and then holding the text (aguardar_resposta); or 'aguardando_resposta' at once, its claim not
--   counted, when another text to the doctor already waits behind that template (migrations/0021);
-- * 'erro': a row claimed more than $4 times (senders killed before they could send), the hard cap,
--   whatever re-claimed it; the rate limit's waits (`esperas`, migrations/0022) are not counted against it.
-- The caller reads which from `status`; no row: the claim was lost to another sender. The UPDATE re-checks
-- the claim on the row's latest version, so a re-claim that raced the read makes it write nothing.
-- Indexes: fila_mensagens_pkey, clientes_pkey; the campaign-only checks are functions, so a reply's
-- execution opens nothing of them (migrations/0018, 0020: inline, each was a subplan copied into every SET
-- expression that reads it): julia_campanhas_na_semana (idx_fila_campanha_enviada), julia_em_conversa
-- (idx_conversations_cliente_status, idx_interacoes_conversa_data) and, for free text on the Cloud API,
-- julia_escreveu_nas_24h (idx_conversations_cliente, idx_interacoes_conversa_data), then
-- julia_aguarda_resposta (idx_fila_aguardando_resposta).
WITH alvo AS (
    SELECT f.id, cl.telefone, coalesce(nullif(btrim(cl.primeiro_nome), ''), 'doutor(a)') AS primeiro_nome,
           CASE
               WHEN f.chatwoot_message_id IS NOT NULL AND cl.status IN ('opt_out', 'bloqueado')
                   THEN 'médico não recebe mensagens: opt-out ou bloqueado'
               WHEN f.campanha_id IS NULL THEN NULL
               WHEN cl.status IN ('opt_out', 'bloqueado', 'inativo') THEN 'médico não recebe campanhas'
               WHEN julia_campanhas_na_semana(f.cliente_id) >= $6
                   THEN format('médico já recebeu %s mensagens de campanha em 7 dias', $6::int)
           END AS recusa,
           CASE
               WHEN f.campanha_id IS NULL THEN NULL
               WHEN julia_em_conversa(f.cliente_id)
                   THEN 'médico em conversa: com uma pessoa, ou escreveu nas últimas 24 horas; de novo mais tarde'
           END AS adiamento,
           CASE
               WHEN NOT $5::boolean OR f.modelo IS NOT NULL THEN NULL
               WHEN julia_escreveu_nas_24h(f.cliente_id) THEN NULL
               WHEN julia_aguarda_resposta(f.cliente_id) THEN 'aguardar'
               ELSE 'reengajar'
           END AS fora_da_janela,
           f.tentativas - f.esperas > $4 AS esgotada
    FROM fila_mensagens f
    JOIN clientes cl ON cl.id = f.cliente_id
    WHERE f.id = $1
), decisao AS (
    SELECT a.*,
           CASE
               WHEN a.recusa IS NOT NULL THEN 'cancelada'
               WHEN a.adiamento IS NOT NULL THEN 'pendente'
               WHEN a.esgotada THEN 'erro'
               WHEN a.fora_da_janela = 'aguardar' THEN 'aguardando_resposta'
               ELSE 'enviando'
           END AS status
    FROM alvo a
)
UPDATE fila_mensagens f
SET status = d.status,
    envio_iniciado_em = CASE WHEN d.status = 'enviando' THEN now() ELSE f.envio_iniciado_em END,
    locked_until = CASE WHEN d.status = 'enviando' THEN now() + make_interval(secs => $3) END,
    agendar_para = CASE WHEN d.status = 'pendente' THEN now() + make_interval(secs => $7) ELSE f.agendar_para END,
    tentativas = CASE WHEN d.status IN ('pendente', 'aguardando_resposta') THEN f.tentativas - 1 ELSE f.tentativas END,
    last_error = CASE
        WHEN d.status = 'enviando' THEN f.last_error
        WHEN d.status = 'erro'
            THEN format('gave up after %s claims: %s', f.tentativas - f.esperas - 1,
                        coalesce(f.last_error, 'no send was ever started'))
        WHEN d.status = 'aguardando_resposta'
            THEN 'fora da janela de 24 horas da Cloud API: espera o médico responder ao modelo de reengajamento já enviado'
        ELSE coalesce(d.recusa, d.adiamento)
    END,
    updated_at = now()
FROM decisao d
WHERE f.id = d.id AND f.status = 'processando' AND f.tentativas = $2
RETURNING f.status, d.telefone, d.primeiro_nome, d.status = 'enviando' AND d.fora_da_janela IS NOT NULL AS reengajar

-- name: aguardar_resposta
-- Attempt $2 sent the re-engagement template (WhatsApp id $3) in place of free text the Cloud API would
-- refuse: the text waits for the doctor's answer ('aguardando_resposta', its claim not counted; entradas.sql
-- registrar_entrada makes it pending when the doctor writes). A doctor who wrote since this attempt began
-- (their message found no held row to release) gets it now instead: pending, due at once. Since the
-- attempt began, not "in the last 24 hours": when Meta refused the text (131047) though julia's record
-- says the doctor wrote within them, going again at once would only meet the same refusal, over and over.
-- Indexes: fila_mensagens_pkey, idx_conversations_cliente, idx_interacoes_conversa_data.
UPDATE fila_mensagens f
SET status = CASE
        WHEN EXISTS (
            SELECT 1 FROM conversations cv
            JOIN interacoes i ON i.conversa_id = cv.id
            WHERE cv.cliente_id = f.cliente_id AND i.direcao = 'entrada' AND i.created_at > f.envio_iniciado_em
        ) THEN 'pendente'
        ELSE 'aguardando_resposta'
    END,
    agendar_para = now(), tentativas = tentativas - 1, locked_until = NULL, updated_at = now(),
    last_error = format('fora da janela de 24 horas da Cloud API: enviado o modelo de reengajamento (%s); '
                        'o texto vai quando o médico responder', coalesce($3, 'sem id'))
WHERE f.id = $1 AND f.status = 'enviando' AND f.tentativas = $2
RETURNING f.status

-- name: reagendar_mensagem
-- Not yet: a campaign message outside the doctor's sending window (the doctor's local hours, weekends,
-- holidays: julia/worker/sending_window.py), or an unsolicited one past the number's hourly or daily most
-- (julia/worker/quota.py). Pending again at $3, the claim not counted against the cap (nothing was tried),
-- with the reason. Index: fila_mensagens_pkey.
UPDATE fila_mensagens
SET status = 'pendente', agendar_para = $3, tentativas = tentativas - 1, locked_until = NULL,
    last_error = $4, updated_at = now()
WHERE id = $1 AND status = 'processando' AND tentativas = $2

-- name: marcar_enviada
-- critical: fila_mensagens_pkey
-- Evolution accepted the send of attempt $2. Also from 'incerto': the outcome was recorded late (Postgres
-- was down at the time and the sweep gave up on the row), but this sender knows it was sent. A reply's
-- interaction gets the WhatsApp id $3 in the same statement (the history then matches what WhatsApp
-- shows): one round trip where a transaction of two updates took four. Index: fila_mensagens_pkey,
-- interacoes_pkey.
WITH f AS (
    UPDATE fila_mensagens
    SET status = 'enviada', enviada_em = now(), locked_until = NULL, last_error = NULL,
        whatsapp_message_id = $3, updated_at = now()
    WHERE id = $1 AND status IN ('enviando', 'incerto') AND tentativas = $2
    RETURNING interacao_id
), i AS (
    UPDATE interacoes SET whatsapp_message_id = $3
    FROM f
    WHERE interacoes.id = f.interacao_id AND $3::text IS NOT NULL AND interacoes.whatsapp_message_id IS NULL
)
SELECT interacao_id FROM f

-- name: guardar_envio_no_historico
-- A sent message that had no interaction (a campaign's: a campaign queues all its rows in one INSERT, and
-- a message never sent is not history), stored as Júlia's in conversation $2 with its WhatsApp id $3 and
-- linked from its queue row: a doctor who answers it is answered by a Claude that has read it, and
-- Chatwoot's agents see it. An agent's message relayed from Chatwoot (chatwoot_message_id) is a person's
-- ('humano'), stored only once sent, like a campaign's. Index: fila_mensagens_pkey.
WITH i AS (
    INSERT INTO interacoes (conversa_id, cliente_id, direcao, origem, conteudo, whatsapp_message_id)
    SELECT $2, cliente_id, 'saida', CASE WHEN chatwoot_message_id IS NULL THEN 'julia' ELSE 'humano' END,
           conteudo, $3
    FROM fila_mensagens
    WHERE id = $1 AND interacao_id IS NULL
    RETURNING id
)
UPDATE fila_mensagens SET conversa_id = $2, interacao_id = i.id, updated_at = now()
FROM i WHERE fila_mensagens.id = $1

-- name: adiar_mensagem
-- Not sent, and trying again may work (Evolution answered 5xx, refused the connection, or the rate
-- limiter could not be reached): pending again after $3 seconds of backoff, with the reason.
UPDATE fila_mensagens
SET status = 'pendente', agendar_para = now() + make_interval(secs => $3), locked_until = NULL,
    last_error = $4, updated_at = now()
WHERE id = $1 AND status IN ('processando', 'enviando') AND tentativas = $2

-- name: esperar_mensagem
-- Evolution asked us to slow down (a 429): pending again after $3 seconds, the attempt counted in `esperas`
-- rather than against the cap (migrations/0022; the rule is julia/services/fila.py's).
UPDATE fila_mensagens
SET status = 'pendente', agendar_para = now() + make_interval(secs => $3), locked_until = NULL,
    esperas = esperas + 1, last_error = $4, updated_at = now()
WHERE id = $1 AND status IN ('processando', 'enviando') AND tentativas = $2

-- name: devolver_mensagem
-- Claimed, not started, and held back by a stop of sending (julia/services/pause.py: WhatsApp
-- disconnected, a person's stop, campaigns paused): pending again as it was, due at its own time (its
-- place in the order kept) and the claim not counted (`tentativas` back to what it was, so stops never
-- spend the tries that guard against senders dying mid-send). Fenced like the rest by $2: a claim that
-- raced this one finds the row 'pendente' and writes nothing; the next claim takes it at $2 again.
UPDATE fila_mensagens
SET status = 'pendente', tentativas = tentativas - 1, locked_until = NULL, updated_at = now()
WHERE id = $1 AND status = 'processando' AND tentativas = $2

-- name: falhar_mensagem
-- Not sent, for good (a 400: the number is not on WhatsApp), or the last try: 'erro' with the reason.
UPDATE fila_mensagens
SET status = 'erro', locked_until = NULL, last_error = $3, updated_at = now()
WHERE id = $1 AND status IN ('processando', 'enviando') AND tentativas = $2

-- name: marcar_incerta
-- The call of attempt $2 ended without telling whether Evolution sent it (timeout after the request left,
-- connection dropped, 502/504): never resent by julia; a person reconciles it (docs/runbook.md).
UPDATE fila_mensagens
SET status = 'incerto', locked_until = NULL, last_error = $3, updated_at = now()
WHERE id = $1 AND status = 'enviando' AND tentativas = $2

-- name: marcar_incertas
-- Sends whose sender died during the call ('enviando' past its lease): the outcome is unknown, so they
-- become 'incerto', never sent again. Run by every sender every few seconds. Index: idx_fila_enviando.
UPDATE fila_mensagens
SET status = 'incerto', locked_until = NULL, updated_at = now(),
    last_error = 'the sender stopped during the send; it may or may not have reached the doctor'
WHERE status = 'enviando' AND locked_until < now()
RETURNING id

-- name: adiar_fila_semeada
-- `julia dev` only, right after its seed: the seed leaves about 90 campaign messages due (or in flight
-- under an expired lease). Sent at start they scrolled the newcomer's curl away and its reply waited
-- ~6 s behind them; a day's wait keeps them in the data without making them due while someone tries
-- the service. No index: it runs once, on a fresh seed of a few thousand rows.
UPDATE fila_mensagens
SET agendar_para = greatest(agendar_para, now() + interval '1 day'),
    locked_until = CASE WHEN status = 'processando' THEN greatest(locked_until, now() + interval '1 day') END,
    updated_at = now()
WHERE status IN ('pendente', 'processando')

-- name: registrar_resposta
-- Júlia's reply: stored as an interaction (with the prompt version that wrote it, $5; NULL for a fixed
-- text) and queued for sending, in one statement.
WITH i AS (
    INSERT INTO interacoes (conversa_id, cliente_id, direcao, origem, conteudo, versao_prompt)
    VALUES ($1, $2, 'saida', 'julia', $3, $5)
    RETURNING id, conversa_id, cliente_id, conteudo
)
INSERT INTO fila_mensagens (cliente_id, conversa_id, conteudo, prioridade, interacao_id)
SELECT cliente_id, conversa_id, conteudo, $4, id FROM i
RETURNING id

-- name: repassar_mensagem_agente
-- An agent's message written in Chatwoot ($2: its Chatwoot id, $3: its text) for doctor $1, in
-- conversation $4, at priority $5 (a reply's: the doctor is waiting for a person). No interaction yet: the
-- sender stores it as the person's once WhatsApp has it (guardar_envio_no_historico). Exactly once: a
-- webhook Chatwoot delivers again meets idx_fila_chatwoot_mensagem and inserts nothing, so no row comes
-- back. A doctor who opted out or is blocked gets nothing: the row is recorded 'cancelada' with the
-- reason, and its `status` tells the caller to say so to the agent (once, for the same reason).
-- Indexes: clientes_pkey, idx_fila_chatwoot_mensagem.
INSERT INTO fila_mensagens (cliente_id, conversa_id, conteudo, prioridade, chatwoot_message_id, status, last_error)
SELECT id, $4, $3, $5, $2,
       CASE WHEN status IN ('opt_out', 'bloqueado') THEN 'cancelada' ELSE 'pendente' END,
       CASE WHEN status IN ('opt_out', 'bloqueado') THEN 'médico não recebe mensagens: opt-out ou bloqueado' END
FROM clientes
WHERE id = $1
ON CONFLICT (chatwoot_message_id) WHERE chatwoot_message_id IS NOT NULL DO NOTHING
RETURNING id, status

-- name: enfileirar_avisos
-- Fixed texts for doctors ($1 ids, $2 texts, pairwise) at priority $3, outside any conversation's reply:
-- what happened to a shift they hold (julia/services/avisos.py). Like a campaign's row, no interaction
-- yet: the sender stores it in the doctor's conversation once WhatsApp has it (guardar_envio_no_historico).
-- Never to a doctor who opted out or is blocked: opt-out wins over a notice too (the sender lets every
-- non-campaign row go, since the opt-out's own confirmation is one; an opt-out after this commit cancels
-- the row, clientes.sql cancelar_envios_pendentes). Each is also an approved template: $4 its name, $5 a
-- JSON array of each notice's parameters (an array of arrays of unequal lengths is no Postgres array), for
-- the Cloud API, where a notice to a doctor silent for 24 hours can only be one.
-- The doctor's sending window (issue 36) holds a notice as it holds a campaign's message (`fuso` set: the
-- sender checks it, julia/worker/channel.py), unless the shift ($6, its date) is today or tomorrow on the
-- doctor's clock (the western zone when fuso_medico names two): then `fuso` is NULL and it goes at any
-- hour. A shift cancelled at 22:00 for the next morning's 07:00 must reach the doctor before they leave
-- for the hospital, and a notice held to 08:00 would not; a change to a shift next week can wait for
-- the morning, as anything the doctor did not ask for does. Index: clientes_pkey.
INSERT INTO fila_mensagens (cliente_id, conteudo, prioridade, modelo, modelo_parametros, fuso)
SELECT a.cliente_id, a.conteudo, $3, a.modelo,
       ARRAY(SELECT jsonb_array_elements_text($5::jsonb -> (a.n::int - 1))),
       CASE WHEN a.dia > (now() AT TIME ZONE split_part(z.fuso, ' ', 1))::date + 1 THEN z.fuso END
FROM unnest($1::bigint[], $2::text[], $4::text[], $6::date[])
         WITH ORDINALITY AS a (cliente_id, conteudo, modelo, dia, n)
JOIN clientes c ON c.id = a.cliente_id
CROSS JOIN LATERAL (SELECT fuso_medico(c.crm, c.telefone) AS fuso) AS z
WHERE c.status NOT IN ('opt_out', 'bloqueado')
RETURNING id

-- name: contar_fila_pendente
-- critical: idx_fila_processamento
-- Pending messages, how many are due, and how long the oldest due one has waited (a message scheduled
-- for tomorrow is not late). Index: idx_fila_processamento.
SELECT count(*) AS pendentes,
       count(*) FILTER (WHERE agendar_para <= now()) AS vencidas,
       coalesce(extract(epoch FROM now() - min(agendar_para) FILTER (WHERE agendar_para <= now())), 0)::float8
           AS mais_antiga_s
FROM fila_mensagens
WHERE status = 'pendente'

-- name: contar_fila_incerta
-- Sends whose outcome is unknown ('incerto'), waiting for a person to check the doctor's chat; julia
-- never resends them. Index: idx_fila_incerto (partial: a handful of rows at most).
SELECT count(*) FROM fila_mensagens WHERE status = 'incerto'

-- name: fila_mensagens_do_titular
-- LGPD export: every message queued to a doctor, sent or not (no index on cliente_id: one scan).
SELECT to_jsonb(f) AS linha FROM fila_mensagens f WHERE cliente_id = $1 ORDER BY id
