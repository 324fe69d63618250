-- name: carregar_historico
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
