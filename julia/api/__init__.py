"""The HTTP face of julia: the FastAPI app (app.py) and its routers."""
