"""Placeholder web app until the chat lands: one page saying the index is ready."""

from __future__ import annotations

from rag.config import Settings


def serve(settings: Settings) -> None:
    import uvicorn
    from fastapi import FastAPI
    from fastapi.responses import HTMLResponse

    from rag.pipeline import RAG

    rag = RAG.open(settings, progress=print)
    app = FastAPI()

    @app.get("/", response_class=HTMLResponse)
    def home() -> str:
        return f"<p>The chat is coming; the index of {len(rag.documents)} articles is ready.</p>"

    uvicorn.run(app, host=settings.host, port=settings.port)
