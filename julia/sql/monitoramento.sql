-- name: ping
-- Health check: proves a pooled connection answers, and measures the round trip.
SELECT 1

-- name: estado_whatsapp
-- The last connection.update state Evolution sent for an instance; no row means never reported (unknown).
SELECT estado FROM evolution_conexoes WHERE instancia = $1
