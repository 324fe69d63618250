-- name: carregar_historico
-- critical: idx_interacoes_conversa_data
-- The last 20 messages of a conversation, newest first, read in index order with no sort.
-- Index: idx_interacoes_conversa_data.
SELECT id, direcao, origem, conteudo, created_at
FROM interacoes
WHERE conversa_id = $1
ORDER BY created_at DESC, id DESC
LIMIT $2

-- name: existe_interacao_whatsapp
-- A redelivered webhook: its WhatsApp id is already stored. Index: idx_interacoes_whatsapp_id (unique).
SELECT EXISTS (SELECT 1 FROM interacoes WHERE whatsapp_message_id = $1)

-- name: interacoes_do_titular
-- LGPD export: every message of and to a doctor. By cliente_id, the column the cascade deletes by, so the
-- export holds exactly what `apagar` erases. No index on cliente_id (migrations/0010 says why): one scan
-- of the table, for a request that comes a few times a day.
SELECT to_jsonb(i) AS linha FROM interacoes i WHERE cliente_id = $1 ORDER BY id

-- name: apagar_interacoes_antigas
-- Retention: up to $2 interactions older than $1 days, oldest ids first (ids grow with time, so the walk
-- of interacoes_pkey finds them at its start); their entradas, tool calls and queue rows go with them
-- (ON DELETE CASCADE, migrations/0010). Index: interacoes_pkey.
WITH velhas AS (
    SELECT id FROM interacoes
    WHERE created_at < now() - make_interval(days => $1)
    ORDER BY id
    LIMIT $2
)
DELETE FROM interacoes i USING velhas v WHERE i.id = v.id

-- name: ler_por_whatsapp
-- The doctor's message a reaction, an edit or a delete points at (by its WhatsApp id; Júlia's own sent
-- messages carry theirs too, fila_mensagens.sql marcar_enviada), its doctor's phone, and whether a
-- reservation came of it: a reservar_vaga that succeeded while answering it.
-- Indexes: idx_interacoes_whatsapp_id (unique), clientes_pkey, idx_chamadas_ferramenta_interacao.
SELECT i.id, i.cliente_id, i.direcao, i.conteudo, cl.telefone,
       EXISTS (
           SELECT 1 FROM chamadas_ferramenta cf
           WHERE cf.interacao_id = i.id AND cf.ferramenta = 'reservar_vaga' AND NOT cf.erro
             AND cf.resultado @> '{"reservada": true}'
       ) AS reservou
FROM interacoes i
JOIN clientes cl ON cl.id = i.cliente_id
WHERE i.whatsapp_message_id = $1
