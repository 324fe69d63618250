-- The indexes the critical queries use (julia/sql/*.sql names each query's index; tests/integration/
-- test_plans.py fails when a plan stops using it). The six the business named, each adjusted where a plan
-- showed a better shape; the reason is beside each one.

-- buscar_medico_por_telefone. UNIQUE: the same index enforces one doctor per phone.
CREATE UNIQUE INDEX idx_clientes_telefone ON clientes (telefone);

-- buscar_conversa_ativa and the count of active conversations. The business's (cliente_id, status)
-- WHERE status = 'ativa' repeats a constant in every entry; UNIQUE on cliente_id alone is smaller and is
-- what makes "at most one active conversation per doctor" a rule of the database.
CREATE UNIQUE INDEX idx_conversations_cliente_status ON conversations (cliente_id) WHERE status = 'ativa';

-- carregar_historico: the newest 20 of a conversation, read in index order with no sort. `id` breaks
-- ties between interactions stored in the same microsecond, so the 20 are always the same 20.
CREATE INDEX idx_interacoes_conversa_data ON interacoes (conversa_id, created_at DESC, id DESC);

-- A redelivered webhook carries the same WhatsApp message id: it must store nothing new.
CREATE UNIQUE INDEX idx_interacoes_whatsapp_id ON interacoes (whatsapp_message_id)
    WHERE whatsapp_message_id IS NOT NULL;

-- buscar_vagas: open shifts of a specialty from a date on, soonest first. `status` is constant inside
-- the partial index, so it is left out of the key; `id` makes the order total.
CREATE INDEX idx_vagas_especialidade_status ON vagas (especialidade_id, data_plantao, id) WHERE status = 'aberta';

-- Claiming due messages: priority first, then schedule, only among pending rows (a small, hot index
-- however large the table's history of sent messages grows).
CREATE INDEX idx_fila_processamento ON fila_mensagens (prioridade DESC, agendar_para) WHERE status = 'pendente';

-- Claiming also takes back rows whose lease expired (a worker died holding them).
CREATE INDEX idx_fila_lease ON fila_mensagens (locked_until) WHERE status = 'processando';

-- Doctors by tag (tags @> ARRAY[...]).
CREATE INDEX idx_clientes_tags ON clientes USING gin (tags);

-- Pending handoffs, oldest first, for the runbook and the health check.
CREATE INDEX idx_handoffs_pendentes ON handoffs (created_at) WHERE status = 'pendente';
