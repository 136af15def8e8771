"""Serving `RAG.ask` to people: the web app (`api/`), the Gradio chat (`ui`, `ui_a11y`, `ui_ratings`), the source
view, and readers' ratings (`feedback`, `feedback_export`)."""
