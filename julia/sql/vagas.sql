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
