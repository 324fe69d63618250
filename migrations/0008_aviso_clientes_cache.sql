-- The clientes change feed (0005) announces only the doctors whose cached columns changed. The caches hold
-- neither `chatwoot_contact_id` nor `updated_at`, yet storing a doctor's Chatwoot contact (once per doctor,
-- on the first mirrored message) made every julia process drop that doctor's entries and the next message
-- miss them: in a 300-doctor reply storm, one notification per doctor, applied by `julia serve` and by each
-- worker (a tenth of serve's CPU). Any other column, including one added later, still counts: a row is
-- compared whole, minus those two.
CREATE OR REPLACE FUNCTION julia_notificar_clientes() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    medicos json;
    linhas bigint;
BEGIN
    IF TG_OP = 'INSERT' THEN
        SELECT count(*), json_agg(json_build_object('id', id, 'telefone', telefone))
        INTO linhas, medicos FROM (SELECT id, telefone FROM novas LIMIT 201) m;
    ELSIF TG_OP = 'DELETE' THEN
        SELECT count(*), json_agg(json_build_object('id', id, 'telefone', telefone))
        INTO linhas, medicos FROM (SELECT id, telefone FROM antigas LIMIT 201) m;
    ELSE
        -- Both phones of a changed row: the cache must forget the one it replaced too.
        WITH mudadas AS (
            SELECT n.id AS novo_id, n.telefone AS novo, a.id AS antigo_id, a.telefone AS antigo
            FROM novas n FULL JOIN antigas a ON a.id = n.id
            WHERE (to_jsonb(n) - 'chatwoot_contact_id' - 'updated_at')
                IS DISTINCT FROM (to_jsonb(a) - 'chatwoot_contact_id' - 'updated_at')
        )
        SELECT count(*), json_agg(json_build_object('id', id, 'telefone', telefone))
        INTO linhas, medicos FROM (
            SELECT novo_id AS id, novo AS telefone FROM mudadas WHERE novo_id IS NOT NULL
            UNION
            SELECT antigo_id, antigo FROM mudadas WHERE antigo_id IS NOT NULL
            LIMIT 201
        ) m;
    END IF;
    IF linhas = 0 THEN
        RETURN NULL;
    END IF;
    IF linhas > 200 THEN
        PERFORM pg_notify('julia_cache', '{"tabela": "clientes", "todos": true}');
    ELSE
        PERFORM pg_notify('julia_cache', json_build_object('tabela', 'clientes', 'medicos', medicos)::text);
    END IF;
    RETURN NULL;
END
$$;
