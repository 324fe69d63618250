-- The clientes change feed (0005, 0008) sends the doctors a statement changed in notifications of at most
-- 100 each. One notification of up to 200 did not fit: a NOTIFY payload must stay under 8000 bytes, and
-- an entry ({"id" : 123, "telefone" : "+5511987654321"} and its separator) takes about 45 of them (200
-- seeded doctors: 8,929 bytes), so a statement touching about 180 doctors or more failed with "payload
-- string too long" and rolled back (`julia dev --doctors 200` seeding its doctors). 100 entries of the
-- longest kind (a 19-digit id and the 16-character phone clientes' CHECK allows) make 6,238 bytes. Above
-- 200 doctors the payload still says `todos`: listeners then forget every cached doctor rather than read
-- many messages. The listener (julia/cache/listener.py) applies each notification on its own, so the
-- doctors of every part are forgotten; Postgres delivers them together, at commit.
CREATE OR REPLACE FUNCTION julia_notificar_clientes() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    medicos json[];
    inicio int;
BEGIN
    IF TG_OP = 'INSERT' THEN
        SELECT array_agg(json_build_object('id', id, 'telefone', telefone))
        INTO medicos FROM (SELECT id, telefone FROM novas LIMIT 201) m;
    ELSIF TG_OP = 'DELETE' THEN
        SELECT array_agg(json_build_object('id', id, 'telefone', telefone))
        INTO medicos FROM (SELECT id, telefone FROM antigas LIMIT 201) m;
    ELSE
        -- Both phones of a changed row: the cache must forget the one it replaced too. Columns no cache
        -- holds (chatwoot_contact_id, updated_at) are no change (0008).
        WITH mudadas AS (
            SELECT n.id AS novo_id, n.telefone AS novo, a.id AS antigo_id, a.telefone AS antigo
            FROM novas n FULL JOIN antigas a ON a.id = n.id
            WHERE (to_jsonb(n) - 'chatwoot_contact_id' - 'updated_at')
                IS DISTINCT FROM (to_jsonb(a) - 'chatwoot_contact_id' - 'updated_at')
        )
        SELECT array_agg(json_build_object('id', id, 'telefone', telefone))
        INTO medicos FROM (
            SELECT novo_id AS id, novo AS telefone FROM mudadas WHERE novo_id IS NOT NULL
            UNION
            SELECT antigo_id, antigo FROM mudadas WHERE antigo_id IS NOT NULL
            LIMIT 201
        ) m;
    END IF;
    IF medicos IS NULL THEN
        RETURN NULL;  -- the statement changed no row a cache holds
    END IF;
    IF cardinality(medicos) > 200 THEN
        PERFORM pg_notify('julia_cache', '{"tabela": "clientes", "todos": true}');
        RETURN NULL;
    END IF;
    FOR inicio IN 1 .. cardinality(medicos) BY 100 LOOP
        PERFORM pg_notify('julia_cache', json_build_object(
            'tabela', 'clientes', 'medicos', to_json(medicos[inicio:inicio + 99])
        )::text);
    END LOOP;
    RETURN NULL;
END
$$;
