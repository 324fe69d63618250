-- name: guardar_mensagem_sem_telefone
-- A message from an `@lid` sender Evolution sent without remoteJidAlt: kept, not refused (a 4xx is never
-- retried). `guardada` false: this WhatsApp id was already kept (a redelivery).
-- Index: mensagens_sem_telefone_whatsapp_message_id_key (unique).
WITH nova AS (
    INSERT INTO mensagens_sem_telefone (jid, whatsapp_message_id, conteudo, nome)
    VALUES ($1, $2, $3, $4)
    ON CONFLICT (whatsapp_message_id) DO NOTHING
    RETURNING id
)
SELECT EXISTS (SELECT 1 FROM nova) AS guardada
