-- fuso_medico back to a body Postgres inlines. 0021 gave it a FROM clause (the state and the DDD read
-- once each in a sub-select), and a SQL function whose body has a FROM is never inlined: every row paid
-- a function call. Measured on this project's 2-core machine (30,000 rows, 10,000 of them without a CRM
-- or a phone; best of five): 1.8 us a row for 0015's body, 8.9 for 0021's, 2.3 for this one, which gives
-- the same answer as 0021's on every one of them; the campaign enqueue, which calls it once per doctor,
-- was 1.38x slower than before issue 36's zones (perf gate against 6556f6f, 2026-12-07). Same answers:
-- DDD 81 and 97 are read as the phone's prefix (a DDD is the two digits after +55), the state's regular
-- expression only where that matched, the rest as 0015 read it.
CREATE OR REPLACE FUNCTION fuso_medico(crm text, telefone text) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE
        WHEN left(telefone, 5) = '+5581'
             AND coalesce(substring(crm FROM '^CRM/([A-Z]{2}) '), 'PE') = 'PE'
            THEN 'America/Recife America/Noronha'
        WHEN left(telefone, 5) = '+5597'
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
