-- Reservations a coordinator can stand behind (issue 33): when a shift really happens, one doctor never
-- holding two shifts at once, and reservations nobody confirms going back to open.

-- The real time range of a shift: its day's start hour to its end hour, the next day when the period
-- crosses midnight (19:00-07:00), in São Paulo time: hospitals record their shifts in local time, and no
-- hospital's own zone is stored yet. Half-open, so a 07:00-19:00 shift and the 19:00-07:00 one after it
-- do not overlap. IMMUTABLE: a fixed zone name and no table read, so the planner may fold it.
CREATE FUNCTION julia_horario_vaga(dia date, inicio time, fim time) RETURNS tstzrange
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    RETURN tstzrange(
        (dia + inicio) AT TIME ZONE 'America/Sao_Paulo',
        (dia + fim + CASE WHEN fim <= inicio THEN interval '1 day' ELSE interval '0' END)
            AT TIME ZONE 'America/Sao_Paulo'
    );

-- A city name as people type it and as the hospital row spells it compare equal: lower case, no accents
-- ("sao paulo" finds "São Paulo"). translate, not the unaccent extension: one fewer extension to install,
-- and Portuguese needs only these letters. buscar_vagas applies it to both sides.
CREATE FUNCTION julia_sem_acento(texto text) RETURNS text
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    RETURN translate(lower(btrim(texto)), 'áàâãäéèêëíìîïóòôõöúùûüç', 'aaaaaeeeeiiiiooooouuuuc');

-- One doctor, one shift at a time. reservar_vaga (julia/sql/vagas.sql) refuses an overlapping shift in
-- its own WHERE, which is enough for any reservation that starts after the doctor's previous one has
-- committed; two of the same doctor's reservations running at the same moment would each miss the
-- other's uncommitted row there. This trigger closes that race: it fires when a shift becomes held by a
-- doctor, takes that doctor's row lock (FOR NO KEY UPDATE: reservations of one doctor queue behind each
-- other, nothing else does), and only then looks, with a fresh snapshot (each statement of a VOLATILE
-- function gets one under READ COMMITTED), for another shift the doctor holds at the same time.
-- An exclusion constraint would say the same declaratively, but it needs the range stored on the row,
-- computed from another table (periodos) by a trigger anyway, and it would refuse the seeded history,
-- where holders are drawn at random. The error is an exclusion_violation naming this rule, which the
-- caller reads as "overlaps". Statements inside a trigger are not top-level: the perf gate's counts
-- (pg_stat_statements toplevel) do not show these two; perf/budgets.toml says so.
CREATE FUNCTION julia_vaga_sem_sobreposicao() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM 1 FROM clientes WHERE id = NEW.cliente_id FOR NO KEY UPDATE;
    IF EXISTS (
        SELECT 1
        FROM vagas v
        JOIN periodos p ON p.id = v.periodo_id
        JOIN periodos np ON np.id = NEW.periodo_id
        WHERE v.cliente_id = NEW.cliente_id
          AND v.id <> NEW.id
          AND v.status IN ('reservada', 'preenchida')
          AND julia_horario_vaga(v.data_plantao, p.hora_inicio, p.hora_fim)
              && julia_horario_vaga(NEW.data_plantao, np.hora_inicio, np.hora_fim)
    ) THEN
        RAISE EXCEPTION 'doctor % already holds a shift overlapping shift %', NEW.cliente_id, NEW.id
            USING ERRCODE = 'exclusion_violation', CONSTRAINT = 'vagas_medico_sem_sobreposicao';
    END IF;
    RETURN NULL;
END
$$;

CREATE CONSTRAINT TRIGGER vagas_medico_sem_sobreposicao AFTER UPDATE OF status, cliente_id ON vagas
    FOR EACH ROW
    WHEN (NEW.cliente_id IS NOT NULL AND NEW.status IN ('reservada', 'preenchida')
          AND (OLD.cliente_id IS DISTINCT FROM NEW.cliente_id OR OLD.status NOT IN ('reservada', 'preenchida')))
    EXECUTE FUNCTION julia_vaga_sem_sobreposicao();

-- Reservations waiting for the coordinators' confirmation, oldest first: the worker's sweep gives back
-- those older than RESERVA_CONFIRMACAO_S (expirar_reservas), reading only this small partial index.
CREATE INDEX idx_vagas_reservadas ON vagas (reservada_em) WHERE status = 'reservada';
