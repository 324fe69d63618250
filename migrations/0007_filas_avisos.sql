-- Wake-up for the two job queues (julia/data/fila.py): a committed INSERT into `entradas` or
-- `fila_mensagens` sends one NOTIFY on the channel named after the table, so an idle worker claims at once
-- instead of at its next poll. Sent by the server from the trigger, not by julia: the enqueuing statements
-- stay one statement and one round trip each. Statement-level with a transition table: a campaign that
-- queues 50,000 messages in one INSERT sends one notification, and an INSERT that inserted nothing (a
-- redelivered webhook, ON CONFLICT DO NOTHING) sends none. A notification is only a hint: the workers
-- still poll, so one lost (no listener connected at the time) costs at most one poll interval.
CREATE FUNCTION julia_avisar_fila() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM novas) THEN
        PERFORM pg_notify(TG_TABLE_NAME, '');
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER entradas_avisar_insert AFTER INSERT ON entradas
    REFERENCING NEW TABLE AS novas FOR EACH STATEMENT EXECUTE FUNCTION julia_avisar_fila();
CREATE TRIGGER fila_mensagens_avisar_insert AFTER INSERT ON fila_mensagens
    REFERENCING NEW TABLE AS novas FOR EACH STATEMENT EXECUTE FUNCTION julia_avisar_fila();
