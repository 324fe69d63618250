-- The set-based half of `julia seed` (julia/seed/expand.py): the big tables are expanded inside Postgres
-- from the rows Python loaded, with pseudo-randomness from hashint8extended(row key, seed): deterministic,
-- no round trip per row. `& 9223372036854775807` keeps a hash non-negative so % and >> pick bits from it.

-- name: seed_plano_criar
-- One row per conversation: how many interactions it gets and the id of its first one.
CREATE TEMP TABLE seed_plano (
    conversa_id bigint PRIMARY KEY,
    cliente_id  bigint NOT NULL,
    humano      boolean NOT NULL,
    inicio      timestamptz NOT NULL,
    duracao_s   float8 NOT NULL,
    n           integer NOT NULL,
    antes       bigint NOT NULL
) ON COMMIT DROP

-- name: seed_plano
-- $1 base (midnight of `today`), $2 seed. 20-200 interactions per conversation, skewed towards short
-- ones (20 + 181·u³: mean about 65) as real chats are; active conversations run up to $1.
INSERT INTO seed_plano
SELECT c.id, c.cliente_id, c.controlled_by = 'humano', c.created_at,
       extract(epoch FROM coalesce(c.encerrada_em, $1::timestamptz) - c.created_at)::float8,
       x.n, sum(x.n) OVER (ORDER BY c.id) - x.n
FROM conversations c
CROSS JOIN LATERAL (
    SELECT 20 + floor(181 * ((hashint8extended(c.id, $2) & 4503599627370495) / 4503599627370496.0) ^ 3)::int AS n
) x
ORDER BY c.id

-- name: seed_plano_analisar
ANALYZE seed_plano

-- name: seed_plano_total
SELECT coalesce(sum(n), 0)::bigint AS interacoes, count(*) AS conversas FROM seed_plano

-- name: seed_plano_fatias
-- Conversation ids cut into $1 slices of about equal interaction counts (one statement, one tick each).
SELECT min(conversa_id) AS de, max(conversa_id) AS ate, sum(n)::bigint AS linhas
FROM (SELECT conversa_id, n, ntile($1) OVER (ORDER BY conversa_id) AS fatia FROM seed_plano) f
GROUP BY fatia
ORDER BY fatia

-- name: seed_interacoes
-- $1 seed, $2 xor mask of the WhatsApp ids, $3/$4/$5 texts of medico/julia/humano, $6..$7 conversation ids.
-- Julia opens (odd k, saida), the doctor answers (even k, entrada); in a conversation a person took over,
-- the person speaks from 60% on (the handoff, see generate.py); elsewhere 2% of outbound are a person's.
-- Timestamps: slot k of n over the conversation's span, jittered inside 80% of the slot, so strictly
-- increasing. Only inbound messages carry a WhatsApp id, as in the service (julia/sql/entradas.sql: the id
-- dedups redelivered webhooks; a reply's id lives on its fila_mensagens row): '3EB0' + 16 hex, Evolution's
-- shape, from the interaction id xor a mask, so unique by construction.
INSERT INTO interacoes (id, conversa_id, cliente_id, direcao, origem, conteudo, whatsapp_message_id, created_at)
SELECT p.antes + k, p.conversa_id, p.cliente_id,
       CASE WHEN o.origem = 'medico' THEN 'entrada' ELSE 'saida' END,
       o.origem,
       CASE o.origem
           WHEN 'medico' THEN ($3::text[])[1 + (h.h >> 8) % cardinality($3::text[])]
           WHEN 'julia' THEN ($4::text[])[1 + (h.h >> 8) % cardinality($4::text[])]
           ELSE ($5::text[])[1 + (h.h >> 8) % cardinality($5::text[])]
       END,
       CASE WHEN o.origem = 'medico' THEN '3EB0' || upper(lpad(to_hex((p.antes + k) # $2::bigint), 16, '0')) END,
       p.inicio + make_interval(secs => p.duracao_s * ((k - 1) + 0.8 * ((h.h >> 20) & 1048575)::float8 / 1048576) / p.n)
FROM seed_plano p
CROSS JOIN LATERAL generate_series(1, p.n) AS k
CROSS JOIN LATERAL (SELECT hashint8extended(p.antes + k, $1) & 9223372036854775807 AS h) h
CROSS JOIN LATERAL (
    SELECT CASE WHEN k % 2 = 0 THEN 'medico'
                WHEN p.humano AND k > 0.6 * p.n THEN 'humano'
                WHEN h.h % 50 = 0 THEN 'humano'
                ELSE 'julia' END AS origem
) o
WHERE p.conversa_id BETWEEN $6 AND $7

-- name: seed_fila
-- $1 base, $2 seed, $3 texts, $4 error texts (last_error). 0-3 messages per reachable doctor: mostly sent history
-- (86%), some failed (3%), pending (9%: 70% due, 30% scheduled up to a week ahead) and in flight (2%,
-- half of them with an expired lease, as a crashed worker leaves them). Priority 5 is the default
-- campaign; 8-10 are confirmations and reminders. Microseconds from the id keep schedules distinct, so
-- the claim order (priority, schedule) is total.
INSERT INTO fila_mensagens (id, cliente_id, conversa_id, conteudo, status, prioridade, agendar_para,
                            tentativas, locked_until, last_error, created_at, updated_at, enviada_em)
SELECT id, cliente_id, conversa_id, conteudo, status, prioridade, agendar_para, tentativas, locked_until,
       CASE WHEN status = 'erro' THEN ($4::text[])[1 + (h >> 36) % cardinality($4::text[])] END,
       least(agendar_para, $1::timestamptz) - make_interval(mins => 1 + ((h >> 24) % 1440)::int),
       CASE status WHEN 'enviada' THEN agendar_para + make_interval(secs => 1 + (h >> 52) % 120)
                   WHEN 'erro' THEN agendar_para + interval '5 minutes'
                   ELSE least(agendar_para, $1::timestamptz) END,
       CASE WHEN status = 'enviada' THEN agendar_para + make_interval(secs => 1 + (h >> 52) % 120) END
FROM (
    SELECT b.*,
           CASE b.status
               WHEN 'pendente' THEN CASE WHEN (b.h >> 40) % 10 < 7
                                         THEN $1::timestamptz - make_interval(secs => 60 + b.u * 21600)
                                         ELSE $1::timestamptz + make_interval(secs => 3600 + b.u * 604800) END
               WHEN 'processando' THEN $1::timestamptz - make_interval(secs => 600 + b.u * 3600)
               ELSE $1::timestamptz - make_interval(secs => 86400 + b.u * 5097600)
           END + b.id % 1000000 * interval '1 microsecond' AS agendar_para,
           CASE b.status WHEN 'erro' THEN 3 + ((b.h >> 48) % 3)::int WHEN 'pendente' THEN 0 ELSE 1 END AS tentativas,
           CASE WHEN b.status = 'processando' THEN
               CASE WHEN (b.h >> 44) % 2 = 0 THEN $1::timestamptz - make_interval(secs => 300 + b.u * 600)
                    ELSE $1::timestamptz + make_interval(secs => 86400 + b.u * 600) END
               + b.id % 1000000 * interval '1 microsecond'
           END AS locked_until
    FROM (
        SELECT a.id, a.cliente_id, a.conversa_id, a.h,
               ($3::text[])[1 + (a.h >> 30) % cardinality($3::text[])] AS conteudo,
               CASE WHEN a.h % 100 < 86 THEN 'enviada' WHEN a.h % 100 < 89 THEN 'erro'
                    WHEN a.h % 100 < 98 THEN 'pendente' ELSE 'processando' END AS status,
               CASE WHEN (a.h >> 10) % 100 < 55 THEN 5 WHEN (a.h >> 10) % 100 < 70 THEN 3
                    WHEN (a.h >> 10) % 100 < 80 THEN 8 WHEN (a.h >> 10) % 100 < 86 THEN 10
                    WHEN (a.h >> 10) % 100 < 90 THEN 0 ELSE ((a.h >> 17) % 11)::int END AS prioridade,
               (hashint8extended(a.id, $2 + 2) & 4503599627370495)::float8 / 4503599627370496 AS u
        FROM (
            SELECT row_number() OVER (ORDER BY c.id, k) AS id, c.id AS cliente_id, v.id AS conversa_id,
                   hashint8extended(c.id * 4 + k, $2) & 9223372036854775807 AS h
            FROM clientes c
            LEFT JOIN conversations v ON v.cliente_id = c.id AND v.status = 'ativa'
            CROSS JOIN LATERAL generate_series(1, (hashint8extended(c.id, $2 + 1) & 3)::int) AS k
            WHERE c.status NOT IN ('opt_out', 'bloqueado')
        ) a
    ) b
) f

-- name: seed_setval
-- Later inserts (the service's own) must not collide with the seeded ids.
SELECT setval(pg_get_serial_sequence('especialidades', 'id'), coalesce((SELECT max(id) FROM especialidades), 0) + 1, false),
       setval(pg_get_serial_sequence('periodos', 'id'), coalesce((SELECT max(id) FROM periodos), 0) + 1, false),
       setval(pg_get_serial_sequence('hospitais', 'id'), coalesce((SELECT max(id) FROM hospitais), 0) + 1, false),
       setval(pg_get_serial_sequence('clientes', 'id'), coalesce((SELECT max(id) FROM clientes), 0) + 1, false),
       setval(pg_get_serial_sequence('conversations', 'id'), coalesce((SELECT max(id) FROM conversations), 0) + 1, false),
       setval(pg_get_serial_sequence('interacoes', 'id'), coalesce((SELECT max(id) FROM interacoes), 0) + 1, false),
       setval(pg_get_serial_sequence('vagas', 'id'), coalesce((SELECT max(id) FROM vagas), 0) + 1, false),
       setval(pg_get_serial_sequence('fila_mensagens', 'id'), coalesce((SELECT max(id) FROM fila_mensagens), 0) + 1, false),
       setval(pg_get_serial_sequence('handoffs', 'id'), coalesce((SELECT max(id) FROM handoffs), 0) + 1, false)

-- name: seed_checksum
-- Rows and a digest per table. Each row (with its id) is hashed column by column with the types' own
-- hash functions (the stable ones hash partitioning relies on; no text rendering, so no dependence on
-- TimeZone, and twice as fast as hashing row::text) and the hashes summed: the same rows give the same
-- sum in any physical order, Postgres aggregates it in parallel, and no 1 GB string_agg limit is hit at
-- tens of millions of rows.
SELECT 'especialidades' AS tabela, count(*) AS linhas, coalesce(sum(hash_record_extended(t, 0)::numeric), 0)::text AS soma FROM especialidades t
UNION ALL SELECT 'periodos', count(*), coalesce(sum(hash_record_extended(t, 0)::numeric), 0)::text FROM periodos t
UNION ALL SELECT 'hospitais', count(*), coalesce(sum(hash_record_extended(t, 0)::numeric), 0)::text FROM hospitais t
UNION ALL SELECT 'clientes', count(*), coalesce(sum(hash_record_extended(t, 0)::numeric), 0)::text FROM clientes t
UNION ALL SELECT 'conversations', count(*), coalesce(sum(hash_record_extended(t, 0)::numeric), 0)::text FROM conversations t
UNION ALL SELECT 'interacoes', count(*), coalesce(sum(hash_record_extended(t, 0)::numeric), 0)::text FROM interacoes t
UNION ALL SELECT 'vagas', count(*), coalesce(sum(hash_record_extended(t, 0)::numeric), 0)::text FROM vagas t
UNION ALL SELECT 'fila_mensagens', count(*), coalesce(sum(hash_record_extended(t, 0)::numeric), 0)::text FROM fila_mensagens t
UNION ALL SELECT 'handoffs', count(*), coalesce(sum(hash_record_extended(t, 0)::numeric), 0)::text FROM handoffs t

-- name: seed_vazio
SELECT EXISTS (SELECT 1 FROM clientes) OR EXISTS (SELECT 1 FROM conversations) OR EXISTS (SELECT 1 FROM vagas)

-- name: seed_sessao
-- Row texts (the checksum) and date arithmetic must not depend on the server's or the client's zone.
SET LOCAL TimeZone = 'UTC'; SET LOCAL DateStyle = 'ISO, YMD'; SET LOCAL IntervalStyle = 'postgres'

-- name: seed_restricoes
-- Primary and unique keys of the tables being seeded ($1), then every foreign key from or to them (other
-- tables' too: a key cannot be dropped while a foreign key points at it): the order to recreate them in
-- and, reversed, to drop them in.
SELECT quote_ident(c.relname) AS tabela, quote_ident(k.conname) AS nome, pg_get_constraintdef(k.oid) AS definicao
FROM pg_constraint k
JOIN pg_class c ON c.oid = k.conrelid
LEFT JOIN pg_class r ON r.oid = k.confrelid
WHERE c.relnamespace = current_schema()::regnamespace
  AND ((k.contype IN ('p', 'u', 'x') AND c.relname = ANY($1::text[]))
       OR (k.contype = 'f' AND (c.relname = ANY($1::text[]) OR r.relname = ANY($1::text[]))))
ORDER BY k.contype = 'f', c.relname, k.conname

-- name: seed_indices
-- The other indexes of those tables (migrations/0002_indexes.sql), as CREATE INDEX statements.
SELECT quote_ident(i.relname) AS nome, pg_get_indexdef(i.oid) AS definicao
FROM pg_index x
JOIN pg_class i ON i.oid = x.indexrelid
JOIN pg_class c ON c.oid = x.indrelid
WHERE c.relnamespace = current_schema()::regnamespace AND c.relname = ANY($1::text[])
  AND NOT EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conindid = i.oid AND k.contype IN ('p', 'u', 'x'))
ORDER BY c.relname, i.relname

-- name: seed_vacuum
-- After the commit. VACUUM, not only ANALYZE: it sets the visibility map and hint bits now, so plans do not
-- flip (index-only scans become possible) whenever autovacuum happens to get to the tables, and the
-- first queries after a seed do not pay for writing hint bits on every page they touch.
VACUUM (ANALYZE) especialidades, periodos, hospitais, clientes, conversations, interacoes, vagas, fila_mensagens,
    handoffs

-- name: seed_medicos_por_especialidade
-- Who may hold a seeded reserved or filled shift: the doctors of its specialty (vagas.cliente_id).
SELECT especialidade_id, array_agg(id ORDER BY id) AS ids
FROM clientes
WHERE especialidade_id IS NOT NULL
GROUP BY especialidade_id
