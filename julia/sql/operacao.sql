-- name: ping
-- Health check: proves a pooled connection answers, and measures the round trip.
SELECT 1
