-- titulares_apagados: what an LGPD erasure keeps (migrations/0010): a SHA-256 of the phone, when it was
-- erased and since when it had opted out. The phone itself is never stored here.

-- name: registrar_titular_apagado
-- A number erased again (it came back as a lead, then asked again) keeps its first opt-out date.
-- Index: titulares_apagados_pkey.
INSERT INTO titulares_apagados (telefone_hash, opt_out_em)
VALUES (sha256(convert_to($1::text, 'UTF8')), $2)
ON CONFLICT (telefone_hash) DO UPDATE
SET apagado_em = now(), opt_out_em = coalesce(titulares_apagados.opt_out_em, excluded.opt_out_em)

-- name: titular_apagado
-- Was this number erased, and when? Index: titulares_apagados_pkey.
SELECT apagado_em, opt_out_em FROM titulares_apagados WHERE telefone_hash = sha256(convert_to($1::text, 'UTF8'))
