"""The worker: answers inbound messages (resposta.py), sends the queue (envio.py), both driven by loop.py."""
