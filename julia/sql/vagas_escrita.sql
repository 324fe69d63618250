-- name: criar_vaga
INSERT INTO vagas (hospital_id, especialidade_id, periodo_id, data_plantao, valor)
VALUES ($1, $2, $3, $4, $5)
RETURNING id, hospital_id, especialidade_id, periodo_id, data_plantao, valor, status

-- name: mudar_status_vaga
-- Compare-and-set when $3 is given: reserving a shift another doctor has just taken updates nothing
-- (under READ COMMITTED the WHERE is re-checked on the row version that won). Index: vagas_pkey.
UPDATE vagas
SET status = $2, updated_at = now()
WHERE id = $1 AND ($3::text IS NULL OR status = $3::text)
RETURNING id, hospital_id, especialidade_id, periodo_id, data_plantao, valor, status
