"""`python app.py`: serve the chat and the API, exactly like `python -m rag serve`.

Settings come from `Settings.load()` (defaults, then `RAG_*` variables, then
the `--host`/`--port` flags of `serve`); the first start builds the index
and prints its progress. Nothing is built on import: the server starts only
when this file is run.
"""

import sys

from rag.cli import main

if __name__ == "__main__":
    sys.exit(main(["serve", *sys.argv[1:]]))
