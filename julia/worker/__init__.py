"""The worker: answers inbound messages (resposta.py), sends the queue (remetente.py), both driven by
loop.py over the lease queues of julia/services/queues.py (their policy and outcomes)."""
