-- name: criar_campanha
-- A campaign and its messages in ONE statement: the campaign row (ON CONFLICT: the id was already used,
-- nothing new is created) and one fila_mensagens row per eligible doctor, set-based (no loop over
-- doctors). Never opt_out, bloqueado or inativo. The text is rendered here, where the names are,
-- and every message ends with $11, how to stop receiving them (LGPD: a message nobody asked for says so;
-- a template's approved body says it itself and $11 is then empty). A campaign that names an approved
-- template ($12, julia/templates.py) also stores on each row its name and its parameters, the doctor's
-- fields named by $13 in order (for the Cloud API's sendTemplate). Each row carries the doctor's time zone
-- (fuso_medico: from the CRM's state or the DDD), so the sender checks the window on the doctor's clock.
-- The n-th doctor (by id) goes n/por_minuto minutes of *open* time after `inicio`, on the doctor's own
-- clock (issue 36): the clock only runs inside the daily window that opens at $8 h in the doctor's zone
-- (the western one when fuso_medico names two) and lasts ($9 - $8) mod 24 hours (0: all day), so a slot
-- past closing moves to that zone's next opening and the rate holds there too. Spread over São Paulo's
-- hours instead, a doctor in Manaus or Rio Branco whose slot fell in São Paulo's first hours came due
-- before their own opening and waited, bunched with the next ones, for the sender to put them off. The
-- doctors' positions are counted across zones, so zones interleave at the campaign's rate. Weekends and
-- holidays are the sender's to apply when the row comes due (julia/worker/sending_window.py).
-- Indexes: idx_clientes_tags (tag), clientes' seq scan otherwise; idx_fila_campanha_cliente (ON CONFLICT).
WITH nova AS (
    INSERT INTO campanhas (id, tag, especialidade_id, estado, texto, inicio, por_minuto, modelo)
    VALUES ($1, $2, $3, $4, $5, $6, $7, $12)
    ON CONFLICT (id) DO NOTHING
    RETURNING id, texto, inicio, por_minuto
), janela AS (
    -- `aberta_s`: seconds open per day.
    SELECT nova.id, nova.texto, nova.inicio, nova.por_minuto,
           (CASE WHEN h.horas = 0 THEN 24 ELSE h.horas END) * 3600.0 AS aberta_s
    FROM nova, LATERAL (SELECT (((($9::int - $8::int) % 24) + 24) % 24) AS horas) AS h
), alvos AS (
    SELECT c.id AS cliente_id,
           fuso_medico(c.crm, c.telefone) AS fuso,
           coalesce(nullif(btrim(c.primeiro_nome), ''), 'doutor(a)') AS primeiro_nome,
           coalesce(e.nome, 'sua especialidade') AS especialidade,
           (row_number() OVER (ORDER BY c.id) - 1) * 60.0 / j.por_minuto AS ordem_s
    FROM janela j
    JOIN clientes c
      ON ($2::text IS NULL OR c.tags @> ARRAY[$2::text])
     AND ($3::bigint IS NULL OR c.especialidade_id = $3::bigint)
     AND ($4::text IS NULL OR c.crm LIKE 'CRM/' || $4::text || ' %')
    LEFT JOIN especialidades e ON e.id = c.especialidade_id
    WHERE c.status NOT IN ('opt_out', 'bloqueado', 'inativo')
), posicoes AS (
    -- `ciclo`: the latest opening at or before `inicio` on the doctor's wall clock; `posicao_s`: the
    -- doctor's open seconds after it.
    SELECT a.*, z.zona, s.ciclo,
           least(extract(epoch FROM (j.inicio AT TIME ZONE z.zona) - s.ciclo), j.aberta_s) + a.ordem_s
               AS posicao_s
    FROM alvos a, janela j,
         LATERAL (SELECT split_part(a.fuso, ' ', 1) AS zona) AS z,
         LATERAL (
             SELECT date_trunc('day', (j.inicio AT TIME ZONE z.zona) - make_interval(hours => $8::int))
                        + make_interval(hours => $8::int) AS ciclo
         ) AS s
), inseridas AS (
    INSERT INTO fila_mensagens (cliente_id, conteudo, prioridade, agendar_para, campanha_id, modelo,
                                modelo_parametros, fuso)
    SELECT p.cliente_id,
           replace(replace(j.texto, '{primeiro_nome}', p.primeiro_nome), '{especialidade}', p.especialidade)
               || $11::text,
           $10,
           (p.ciclo + make_interval(days => floor(p.posicao_s / j.aberta_s)::int)
                    + make_interval(secs => (p.posicao_s - floor(p.posicao_s / j.aberta_s) * j.aberta_s)::float8))
               AT TIME ZONE p.zona,
           j.id,
           $12::text,
           CASE WHEN $12::text IS NOT NULL THEN ARRAY(
               SELECT CASE n.nome WHEN 'primeiro_nome' THEN p.primeiro_nome ELSE p.especialidade END
               FROM unnest($13::text[]) WITH ORDINALITY AS n (nome, i)
               ORDER BY n.i
           ) END,
           p.fuso
    FROM posicoes p, janela j
    ON CONFLICT (campanha_id, cliente_id) WHERE campanha_id IS NOT NULL DO NOTHING
    RETURNING 1
)
SELECT EXISTS (SELECT 1 FROM nova) AS criada, (SELECT count(*) FROM inseridas) AS enfileiradas

-- name: ler_campanha
-- A campaign as it was created, and how many messages it queued. Indexes: campanhas_pkey,
-- idx_fila_campanha_cliente (the count reads the index only).
SELECT c.id, c.tag, c.especialidade_id, c.estado, c.texto, c.modelo, c.inicio, c.por_minuto, c.created_at,
       (SELECT count(*) FROM fila_mensagens f WHERE f.campanha_id = c.id) AS enfileiradas
FROM campanhas c
WHERE c.id = $1

-- name: campanhas_recentes
-- The campaigns /metrics reports on: created in the last $1 days (older ones are history, not a gauge).
SELECT id FROM campanhas WHERE created_at > now() - make_interval(days => $1) ORDER BY id

-- name: relatorio_campanhas
-- Per campaign of $1: its messages by state, what WhatsApp's receipts said of the sent ones (delivered,
-- read included; read; failed), the doctors who wrote back after its message reached them (any
-- conversation of theirs), and those who opted out since (none was opt_out when queued).
-- Indexes: idx_fila_campanha_cliente; recibos_pkey; clientes_pkey; idx_conversations_cliente,
-- idx_interacoes_conversa_data.
SELECT f.campanha_id,
       count(*) AS enfileiradas,
       count(*) FILTER (WHERE f.status IN ('pendente', 'processando')) AS pendentes,
       count(*) FILTER (WHERE f.status = 'enviada') AS enviadas,
       count(*) FILTER (WHERE f.status = 'enviada' AND r.estado IN ('entregue', 'lida')) AS entregues,
       count(*) FILTER (WHERE f.status = 'enviada' AND r.estado = 'lida') AS lidas,
       count(*) FILTER (WHERE f.status = 'enviada' AND r.estado = 'falhou') AS nao_entregues,
       count(*) FILTER (WHERE f.status = 'erro') AS falhas,
       count(*) FILTER (WHERE f.status = 'cancelada') AS canceladas,
       count(*) FILTER (
           WHERE f.status = 'enviada' AND EXISTS (
               SELECT 1
               FROM conversations cv
               JOIN interacoes i ON i.conversa_id = cv.id
               WHERE cv.cliente_id = f.cliente_id AND i.direcao = 'entrada' AND i.created_at > f.enviada_em
           )
       ) AS respondidas,
       count(*) FILTER (WHERE cl.status = 'opt_out') AS opt_out
FROM fila_mensagens f
JOIN clientes cl ON cl.id = f.cliente_id
LEFT JOIN recibos r ON r.whatsapp_message_id = f.whatsapp_message_id
WHERE f.campanha_id = ANY($1::text[])
GROUP BY f.campanha_id
