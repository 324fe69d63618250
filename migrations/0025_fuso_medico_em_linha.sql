-- fuso_medico back to a body Postgres inlines. 0021 gave it a FROM clause (the state and the DDD read
-- once each in a sub-select), and a SQL function whose body has a FROM is never inlined: every row paid
-- a function call. Measured on this project's 2-core machine (30,000 rows, 10,000 of them without a CRM
-- or a phone; best of five): 1.7 us a row for 0015's body, 8.2 for 0021's, 3.9 for this one, which gives
-- the same answer as 0021's on every one of them; the campaign enqueue, which calls it once per doctor,
-- was 1.38x slower than before issue 36's zones (perf gate against 6556f6f, 2026-12-07). Same answers:
-- the regular expressions are repeated instead of shared, which costs less than the call.
CREATE OR REPLACE FUNCTION fuso_medico(crm text, telefone text) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE
        WHEN substring(telefone FROM '^\+55([1-9][0-9])') = '81'
             AND coalesce(substring(crm FROM '^CRM/([A-Z]{2}) '), 'PE') = 'PE'
            THEN 'America/Recife America/Noronha'
        WHEN substring(telefone FROM '^\+55([1-9][0-9])') = '97'
             AND coalesce(substring(crm FROM '^CRM/([A-Z]{2}) '), 'AM') = 'AM'
            THEN 'America/Eirunepe America/Manaus'
        ELSE CASE coalesce(
            substring(crm FROM '^CRM/([A-Z]{2}) '),
            CASE substring(telefone FROM '^\+55([1-9][0-9])')
                WHEN '65' THEN 'MT' WHEN '66' THEN 'MT' WHEN '67' THEN 'MS' WHEN '68' THEN 'AC'
                WHEN '69' THEN 'RO' WHEN '92' THEN 'AM' WHEN '95' THEN 'RR'
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
    END
$$;
