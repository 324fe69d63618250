-- name: buscar_vagas
-- critical: idx_vagas_especialidade_status
-- Open shifts of a specialty from a date on ($2: today in São Paulo at the earliest), soonest first, with
-- hospital and period; a shift that has already started is not offered (today's 07:00-19:00 at 15:00).
-- $4: only hospitals of this state (the doctor's CRM's, for the shifts Júlia offers unasked); $5: only
-- this city, accents and case aside; NULL: any. Filtered here, not after a LIMIT in Python, so a city whose
-- shifts come later than the specialty's first page still finds them.
-- Index: idx_vagas_especialidade_status (partial on status = 'aberta'), walked in date order until the
-- LIMIT; the joins are primary-key lookups, and the start-time and place tests filter on the way (a rare
-- city walks more of the specialty's open shifts: thousands at a million doctors, still one index).
-- The place is a test on the shift's hospital_id against the hospitals of that place (a hashed subplan,
-- run once per call: by state through idx_hospitais_estado, or by city through
-- idx_hospitais_cidade_sem_acento, migrations/0018; the branch whose guard on $5 fails is never run, and
-- without an OR on a parameter each branch can use its index in the generic plan too: 20,000 hospitals
-- at a million doctors), never a filter on the joined hospitais row: asyncpg prepares the
-- statement and after five calls Postgres runs the generic plan, which cannot know $4 and $5 are NULL;
-- with `h.estado = $4` in the join it estimated 1 hospital of 20, put hospitais outside and bitmap-scanned
-- all the specialty's open shifts once per hospital, then sorted them (851 buffers instead of 13 for a
-- specialty with 244 open shifts, 1,000 doctors; the gate's query_buscar_vagas_warm 1.46x, 2026-12-07).
SELECT v.id, v.data_plantao, v.valor,
       h.nome AS hospital, h.cidade, h.estado,
       p.nome AS periodo, p.hora_inicio, p.hora_fim
FROM vagas v
JOIN hospitais h ON h.id = v.hospital_id
JOIN periodos p ON p.id = v.periodo_id
WHERE v.especialidade_id = $1 AND v.status = 'aberta' AND v.data_plantao >= $2
  AND lower(julia_horario_vaga(v.data_plantao, p.hora_inicio, p.hora_fim)) > now()
  AND (($4::text IS NULL AND $5::text IS NULL) OR v.hospital_id IN (
      SELECT l.id FROM hospitais l WHERE $5::text IS NULL AND l.estado = $4::text
      UNION ALL
      SELECT l.id FROM hospitais l
      WHERE $5::text IS NOT NULL AND julia_sem_acento(l.cidade) = julia_sem_acento($5::text)
        AND ($4::text IS NULL OR l.estado = $4::text)
  ))
ORDER BY v.data_plantao, v.id
LIMIT $3

-- name: criar_vaga
INSERT INTO vagas (hospital_id, especialidade_id, periodo_id, data_plantao, valor)
VALUES ($1, $2, $3, $4, $5)
RETURNING id, hospital_id, especialidade_id, periodo_id, data_plantao, valor, status

-- name: mudar_status_vaga
-- Compare-and-set when $3 is given: a change based on a status someone else has just changed updates
-- nothing (under READ COMMITTED the WHERE is re-checked on the row version that won). Reopening a shift
-- lets its doctor go; any other status keeps the doctor it has (a held shift filled or cancelled), and
-- the CHECK vagas_medico_status refuses a reserved or filled shift with nobody (reserving is
-- reservar_vaga's). Index: vagas_pkey.
UPDATE vagas
SET status = $2,
    cliente_id = CASE WHEN $2 = 'aberta' THEN NULL ELSE cliente_id END,
    reservada_em = CASE WHEN $2 = 'aberta' THEN NULL ELSE reservada_em END,
    updated_at = now()
WHERE id = $1 AND ($3::text IS NULL OR status = $3::text)
RETURNING id, hospital_id, especialidade_id, periodo_id, data_plantao, valor, status

-- name: reservar_vaga
-- Júlia reserves shift $1 for doctor $2: aberta -> reservada in ONE statement, only while the shift is
-- still open, of the doctor's specialty and not started, the doctor active with a CRM, holding no shift
-- that overlaps it (real time ranges, julia_horario_vaga: a night shift ends the next morning) and fewer
-- than $3 reservations still awaiting confirmation. Of any number of doctors racing, exactly one UPDATE
-- matches: the others wait on the row lock and, under READ COMMITTED, re-check the WHERE on the winner's
-- version (status no longer 'aberta'), so they update nothing. One doctor's own reservations racing each
-- other are serialised by the trigger vagas_medico_sem_sobreposicao (migrations/0011), which refuses the
-- overlapping one with an exclusion_violation, and the one past the cap $3 with a check_violation (the
-- cap reaches the trigger through set_config, local to the transaction: migrations/0024). The same statement reads the shift and the doctor as they
-- were when it started (the plain SELECTs see the statement's snapshot), so a loser learns why it lost
-- without a second query: gone, another specialty, cancelled, taken, started, the doctor not fit to
-- reserve, an overlap, the cap. `ja_era_dele`: the doctor already holds it (a retried answer asking
-- again), which is no new booking.
-- Indexes: vagas_pkey, clientes_pkey, idx_vagas_cliente (the doctor's held shifts); hospital and period
-- are primary-key lookups.
WITH medico AS (
    SELECT c.id, c.especialidade_id, c.status, c.crm, coalesce(btrim(c.crm), '') <> '' AS tem_crm,
           (SELECT count(*) FROM vagas r WHERE r.cliente_id = c.id AND r.status = 'reservada') AS abertas,
           set_config('julia.reservas_abertas_max', $3::int::text, true)::int AS abertas_max
    FROM clientes c
    WHERE c.id = $2
),
antes AS (
    SELECT v.id, v.especialidade_id, v.status, v.cliente_id, v.data_plantao, v.valor,
           h.nome AS hospital, h.cidade, h.estado, p.nome AS periodo, p.hora_inicio, p.hora_fim,
           julia_horario_vaga(v.data_plantao, p.hora_inicio, p.hora_fim) AS horario
    FROM vagas v
    JOIN hospitais h ON h.id = v.hospital_id
    JOIN periodos p ON p.id = v.periodo_id
    WHERE v.id = $1
),
regras AS (
    SELECT a.id,
           lower(a.horario) <= now() AS iniciada,
           EXISTS (
               SELECT 1
               FROM vagas o
               JOIN periodos op ON op.id = o.periodo_id
               WHERE o.cliente_id = $2 AND o.id <> a.id AND o.status IN ('reservada', 'preenchida')
                 AND julia_horario_vaga(o.data_plantao, op.hora_inicio, op.hora_fim) && a.horario
           ) AS sobreposta
    FROM antes a
),
reservada AS (
    UPDATE vagas v
    SET status = 'reservada', cliente_id = m.id, reservada_em = now(), updated_at = now()
    FROM medico m, regras r
    WHERE v.id = $1 AND r.id = v.id AND v.status = 'aberta' AND v.especialidade_id = m.especialidade_id
      AND m.status = 'ativo' AND m.tem_crm AND m.abertas < m.abertas_max AND NOT r.iniciada AND NOT r.sobreposta
    RETURNING v.id
)
SELECT EXISTS (SELECT 1 FROM reservada) AS reservada,
       a.id IS NOT NULL AS existe,
       a.especialidade_id,
       m.especialidade_id AS especialidade_medico,
       m.status AS status_medico,
       m.crm AS crm_medico,
       coalesce(m.tem_crm, false) AS tem_crm,
       coalesce(m.abertas, 0) AS abertas,
       coalesce(r.iniciada, false) AS iniciada,
       coalesce(r.sobreposta, false) AS sobreposta,
       a.status AS status_antes,
       a.cliente_id = $2 AS ja_era_dele,
       a.data_plantao, a.valor, a.hospital, a.cidade, a.estado, a.periodo, a.hora_inicio, a.hora_fim
FROM (SELECT 1) um
LEFT JOIN antes a ON true
LEFT JOIN regras r ON true
LEFT JOIN medico m ON true

-- name: atualizar_vaga
-- The coordinators' edit of a shift from a jsonb patch ($2, keys status, valor, data_plantao): a key
-- present sets its column, an absent one keeps it. Reopening lets the doctor go (as mudar_status_vaga);
-- the CHECK vagas_medico_status refuses a reserved or filled shift with nobody. `especialidade_id` is
-- returned so the caller invalidates that specialty's lists; the shift as it was (`*_antes`, read under
-- the row lock, so it is the version this edit replaced) and its hospital and period, so the doctor
-- holding it can be told what changed (julia/services/avisos.py). Index: vagas_pkey; hospital and period
-- are primary-key lookups.
WITH antes AS (
    SELECT id, status, cliente_id, data_plantao, valor FROM vagas WHERE id = $1 FOR UPDATE
)
UPDATE vagas v SET
    status = coalesce($2::jsonb ->> 'status', v.status),
    valor = coalesce(($2::jsonb ->> 'valor')::numeric, v.valor),
    data_plantao = coalesce(($2::jsonb ->> 'data_plantao')::date, v.data_plantao),
    cliente_id = CASE WHEN $2::jsonb ->> 'status' = 'aberta' THEN NULL ELSE v.cliente_id END,
    reservada_em = CASE WHEN $2::jsonb ->> 'status' = 'aberta' THEN NULL ELSE v.reservada_em END,
    updated_at = now()
FROM antes a, hospitais h, periodos p
WHERE v.id = a.id AND h.id = v.hospital_id AND p.id = v.periodo_id
RETURNING v.id, v.hospital_id, v.especialidade_id, v.periodo_id, v.data_plantao, v.valor, v.status,
          v.cliente_id, v.reservada_em,
          a.status AS status_antes, a.cliente_id AS cliente_antes, a.data_plantao AS data_antes,
          a.valor AS valor_antes,
          h.nome AS hospital, h.cidade, h.estado, p.nome AS periodo, p.hora_inicio, p.hora_fim

-- name: vagas_do_titular
-- LGPD export: the shifts a doctor holds or held. Index: idx_vagas_cliente.
SELECT to_jsonb(v) AS linha FROM vagas v WHERE cliente_id = $1 ORDER BY id

-- name: anonimizar_vagas_do_titular
-- LGPD erasure, before the doctor's row goes (migrations/0010): a shift still reserved is open again
-- (someone else must take it); a filled or cancelled one keeps its history without the doctor, marked
-- `medico_apagado_em`. `liberada`: it went back to 'aberta'. Index: idx_vagas_cliente.
UPDATE vagas
SET cliente_id = NULL,
    status = CASE WHEN status = 'reservada' THEN 'aberta' ELSE status END,
    reservada_em = CASE WHEN status = 'reservada' THEN NULL ELSE reservada_em END,
    medico_apagado_em = CASE WHEN status = 'reservada' THEN NULL ELSE now() END,
    updated_at = now()
WHERE cliente_id = $1
RETURNING id, status = 'aberta' AS liberada

-- name: expirar_reservas
-- Reservations nobody confirmed (still 'reservada' $1 seconds after they were made) go back to 'aberta',
-- at most $2 a sweep, oldest first; each returns its doctor (read under the lock) and what describes the
-- shift, to tell them. Only shifts not yet started: one whose day came while still unconfirmed is left
-- for the coordinators, who know whether the doctor went. SKIP LOCKED: two workers' sweeps, or a
-- coordinator editing the shift right now, never wait on each other; the edit wins and the next sweep
-- looks again. Index: idx_vagas_reservadas (partial, reservations waiting only).
WITH vencidas AS (
    SELECT v.id, v.cliente_id
    FROM vagas v
    JOIN periodos p ON p.id = v.periodo_id
    WHERE v.status = 'reservada' AND v.reservada_em < now() - make_interval(secs => $1)
      AND lower(julia_horario_vaga(v.data_plantao, p.hora_inicio, p.hora_fim)) > now()
    ORDER BY v.reservada_em
    LIMIT $2
    FOR UPDATE OF v SKIP LOCKED
)
UPDATE vagas v
SET status = 'aberta', cliente_id = NULL, reservada_em = NULL, updated_at = now()
FROM vencidas x, hospitais h, periodos p
WHERE v.id = x.id AND h.id = v.hospital_id AND p.id = v.periodo_id
RETURNING v.id, v.especialidade_id, x.cliente_id, v.data_plantao, v.valor,
          h.nome AS hospital, h.cidade, h.estado, p.nome AS periodo, p.hora_inicio, p.hora_fim
