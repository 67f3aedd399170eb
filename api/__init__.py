"""The web layer: FastAPI app, JSON routes and HTML pages."""
