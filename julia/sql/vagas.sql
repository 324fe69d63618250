-- name: buscar_vagas
-- Open shifts of a specialty from a date on, soonest first, with hospital and period.
-- Index: idx_vagas_especialidade_status (partial on status = 'aberta'); the joins are primary-key lookups.
SELECT v.id, v.data_plantao, v.valor,
       h.nome AS hospital, h.cidade, h.estado,
       p.nome AS periodo, p.hora_inicio, p.hora_fim
FROM vagas v
JOIN hospitais h ON h.id = v.hospital_id
JOIN periodos p ON p.id = v.periodo_id
WHERE v.especialidade_id = $1 AND v.status = 'aberta' AND v.data_plantao >= $2
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
-- still open and of the doctor's specialty. Of any number of doctors racing, exactly one UPDATE matches:
-- the others wait on the row lock and, under READ COMMITTED, re-check the WHERE on the winner's version
-- (status no longer 'aberta'), so they update nothing. The same statement reads the shift as it was
-- when it started (`antes`: the plain SELECT sees the statement's snapshot), so a loser learns why it
-- lost without a second query: gone, another specialty, or taken (open in the snapshot, yet not ours).
-- `ja_era_dele`: the doctor already holds it (a retried answer asking again), which is no new booking.
-- Indexes: vagas_pkey, clientes_pkey; hospital and period are primary-key lookups.
WITH reservada AS (
    UPDATE vagas v
    SET status = 'reservada', cliente_id = c.id, reservada_em = now(), updated_at = now()
    FROM clientes c
    WHERE v.id = $1 AND c.id = $2 AND v.status = 'aberta' AND v.especialidade_id = c.especialidade_id
    RETURNING v.id
),
antes AS (
    SELECT v.id, v.especialidade_id, v.status, v.cliente_id, v.data_plantao, v.valor,
           h.nome AS hospital, h.cidade, h.estado, p.nome AS periodo, p.hora_inicio, p.hora_fim
    FROM vagas v
    JOIN hospitais h ON h.id = v.hospital_id
    JOIN periodos p ON p.id = v.periodo_id
    WHERE v.id = $1
)
SELECT EXISTS (SELECT 1 FROM reservada) AS reservada,
       a.id IS NOT NULL AS existe,
       a.especialidade_id,
       (SELECT especialidade_id FROM clientes WHERE id = $2) AS especialidade_medico,
       a.status AS status_antes,
       a.cliente_id = $2 AS ja_era_dele,
       a.data_plantao, a.valor, a.hospital, a.cidade, a.estado, a.periodo, a.hora_inicio, a.hora_fim
FROM (SELECT 1) um
LEFT JOIN antes a ON true

-- name: atualizar_vaga
-- The coordinators' edit of a shift from a jsonb patch ($2, keys status, valor, data_plantao): a key
-- present sets its column, an absent one keeps it. Reopening lets the doctor go (as mudar_status_vaga);
-- the CHECK vagas_medico_status refuses a reserved or filled shift with nobody. `especialidade_id` is
-- returned so the caller invalidates that specialty's lists. Index: vagas_pkey.
UPDATE vagas v SET
    status = coalesce($2::jsonb ->> 'status', v.status),
    valor = coalesce(($2::jsonb ->> 'valor')::numeric, v.valor),
    data_plantao = coalesce(($2::jsonb ->> 'data_plantao')::date, v.data_plantao),
    cliente_id = CASE WHEN $2::jsonb ->> 'status' = 'aberta' THEN NULL ELSE v.cliente_id END,
    reservada_em = CASE WHEN $2::jsonb ->> 'status' = 'aberta' THEN NULL ELSE v.reservada_em END,
    updated_at = now()
WHERE v.id = $1
RETURNING v.id, v.hospital_id, v.especialidade_id, v.periodo_id, v.data_plantao, v.valor, v.status,
          v.cliente_id, v.reservada_em

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
