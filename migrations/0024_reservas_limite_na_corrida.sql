-- The cap on reservations awaiting confirmation (RESERVAS_ABERTAS_MAX) held under a race, as the overlap
-- rule already is (0011). reservar_vaga counts the doctor's reservations in its own WHERE, from the
-- statement's snapshot: two reservations of the same doctor for shifts on different days, running at the
-- same moment one short of the cap, each missed the other's uncommitted row and both stood (measured:
-- tests/reservas/test_regras.py, 5 races of 5). The overlap trigger already queues one doctor's
-- reservations behind each other on the doctor's row and then reads with a fresh snapshot; it now also
-- counts the doctor's other reservations awaiting confirmation and refuses the shift past the cap, with
-- a check_violation naming this rule, which the caller reads as "run the statement again": it then sees
-- the committed one and answers with the cap, like any other refusal.
--
-- The cap is the caller's setting, not the database's: reservar_vaga hands it over in the same statement
-- with set_config(..., is_local => true), so it lasts until the end of the reservation's transaction and
-- costs no round trip. A write that never set it (a coordinator's tool, an admin PATCH) is not capped:
-- the cap is about what Júlia offers on her own, and a person editing a shift decides for themselves.
CREATE OR REPLACE FUNCTION julia_vaga_sem_sobreposicao() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    abertas_max int := nullif(current_setting('julia.reservas_abertas_max', true), '')::int;
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
    IF NEW.status = 'reservada' AND abertas_max IS NOT NULL AND (
        SELECT count(*) FROM vagas v
        WHERE v.cliente_id = NEW.cliente_id AND v.id <> NEW.id AND v.status = 'reservada'
    ) >= abertas_max THEN
        RAISE EXCEPTION 'doctor % already holds % reservations awaiting confirmation', NEW.cliente_id, abertas_max
            USING ERRCODE = 'check_violation', CONSTRAINT = 'vagas_medico_reservas_abertas';
    END IF;
    RETURN NULL;
END
$$;
