-- name: registrar_conexao_evolution
-- The last connection.update of an instance.
INSERT INTO evolution_conexoes (instancia, estado, status_reason) VALUES ($1, $2, $3)
ON CONFLICT (instancia) DO UPDATE
SET estado = excluded.estado, status_reason = excluded.status_reason, atualizado_em = now()

-- name: estado_whatsapp
-- The last connection.update state Evolution sent for an instance; no row means never reported (unknown).
SELECT estado FROM evolution_conexoes WHERE instancia = $1
