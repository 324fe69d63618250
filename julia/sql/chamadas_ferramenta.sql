-- name: registrar_chamada_ferramenta
-- The audit of one tool Júlia ran while answering interaction $2: which, its input, what came of it.
-- Written as soon as the tool returns (not with the reply): a reservation stands even if the reply fails.
INSERT INTO chamadas_ferramenta (conversa_id, interacao_id, ferramenta, entrada, resultado, erro)
VALUES ($1, $2, $3, $4, $5, $6)

-- name: chamadas_ferramenta_do_titular
-- LGPD export: the tools Júlia ran in a doctor's conversations. Indexes: idx_conversations_cliente,
-- idx_chamadas_ferramenta_conversa.
SELECT to_jsonb(t) AS linha
FROM chamadas_ferramenta t
WHERE t.conversa_id IN (SELECT id FROM conversations WHERE cliente_id = $1)
ORDER BY t.id
