-- Anthropic's rate limit (429) or overload (529) outlasting the SDK's own retries is the provider asking
-- julia to wait, not a sign the message cannot be answered. Such an attempt still bumps `tentativas` (the
-- fencing token must only grow) but is also counted here, and the attempt cap counts `tentativas - esperas`:
-- a sustained rate limit delays messages, it no longer turns them into 'erro' (julia/worker/reply.py).
ALTER TABLE entradas ADD COLUMN esperas integer NOT NULL DEFAULT 0 CHECK (esperas >= 0);
