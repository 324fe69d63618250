-- The WhatsApp channel as it behaves (issue 36, points 1 and 4): approved templates for business-initiated
-- messages on the Cloud API, and campaign rows checked against the doctor's local sending window, a weekly
-- cap and their conversation when they are about to go.

-- A campaign may name an approved template (julia/templates.py) instead of free text: on the Cloud API a
-- business-initiated message outside the 24-hour window is refused by Meta unless it is one.
ALTER TABLE campanhas ADD COLUMN modelo text CHECK (btrim(modelo) <> '');

-- A queued message that can go as a template carries its name and its body parameters, in order; `conteudo`
-- keeps the body as the doctor reads it (history, Chatwoot, and the text sent on a Baileys number).
-- `fuso`: the doctor's IANA time zone, fixed when a campaign row is queued (fuso_medico below), so the sender
-- can check the doctor's local window from the claimed row alone, without reading the doctor again.
ALTER TABLE fila_mensagens ADD COLUMN modelo text;
ALTER TABLE fila_mensagens ADD COLUMN modelo_parametros text[];
ALTER TABLE fila_mensagens ADD COLUMN fuso text;
ALTER TABLE fila_mensagens ADD CONSTRAINT fila_mensagens_modelo_parametros
    CHECK (modelo_parametros IS NULL OR modelo IS NOT NULL);

-- The weekly cap (CAMPANHA_MAX_PER_WEEK): campaign messages a doctor received in the last 7 days, counted
-- right before each campaign send. `enviada_em` is set once, when Evolution accepted the send, whatever the
-- row's status becomes after (delivery receipts move it on).
CREATE INDEX idx_fila_campanha_enviada ON fila_mensagens (cliente_id, enviada_em)
    WHERE campanha_id IS NOT NULL AND enviada_em IS NOT NULL;

-- Brazil's four time zones, from the doctor's state: the UF of their CRM ('CRM/AM 12345') when there is one,
-- else the DDD of a Brazilian mobile (+55 DD ...). Everything not listed keeps Brasília time (UTC-3), which
-- is also the answer for a number from abroad. Fernando de Noronha (UTC-2) shares PE's DDD 81 and CRM, so it
-- cannot be told apart: its doctors get Brasília time, an hour early. Western Amazonas (UTC-5, part of DDD
-- 97) likewise gets Manaus time.
CREATE FUNCTION fuso_medico(crm text, telefone text) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE coalesce(
        substring(crm FROM '^CRM/([A-Z]{2}) '),
        CASE substring(telefone FROM '^\+55([1-9][0-9])')
            WHEN '65' THEN 'MT' WHEN '66' THEN 'MT' WHEN '67' THEN 'MS' WHEN '68' THEN 'AC'
            WHEN '69' THEN 'RO' WHEN '92' THEN 'AM' WHEN '97' THEN 'AM' WHEN '95' THEN 'RR'
        END
    )
        WHEN 'AC' THEN 'America/Rio_Branco'
        WHEN 'AM' THEN 'America/Manaus'
        WHEN 'RR' THEN 'America/Boa_Vista'
        WHEN 'RO' THEN 'America/Porto_Velho'
        WHEN 'MT' THEN 'America/Cuiaba'
        WHEN 'MS' THEN 'America/Campo_Grande'
        ELSE 'America/Sao_Paulo'
    END
$$;
