"""The handoff is julia/services/handoff.py (the API's Chatwoot webhook and the worker both hand off).

This name stays only for julia/worker/resposta.py, which is being rewritten with the queues (issue 12,
point 1) and so is not edited here; delete the module once resposta.py imports julia.services.handoff.
"""

from julia.services.handoff import avisar, passar_para_humano, pede_humano

__all__ = ["avisar", "passar_para_humano", "pede_humano"]
