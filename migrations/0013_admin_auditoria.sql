-- Every write through /admin (one shared ADMIN_TOKEN does them all) is recorded before it runs: who said
-- they were (the X-Operador header; the token is shared, so a name, not a proof) and from where, the route,
-- the row it targets, the body it sent, the row before, then the answer's status and the row after.
-- A row whose `status` stays NULL is a write that never finished (the process died, Postgres went away).
-- Written only by julia/data/admin_auditoria.py; never updated but to close its own row.
CREATE TABLE admin_auditoria (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    em timestamptz NOT NULL DEFAULT now(),
    operador text NOT NULL,
    origem text,
    acao text NOT NULL,
    alvo text,
    pedido jsonb,
    antes jsonb,
    status integer,
    depois jsonb
);
-- The runbook reads it newest first.
CREATE INDEX idx_admin_auditoria_em ON admin_auditoria (em DESC);
