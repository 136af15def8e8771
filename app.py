"""`python app.py`: serve the chat and the API, exactly like `python -m rag serve`.

Settings come from `Settings.load()` (defaults, then `RAG_*` variables, then
the `--host`/`--port` flags of `serve`); the first start builds the index
and prints its progress. Nothing is built on import: the server starts only
when this file is run.
"""

import os
import sys

# Nothing in a run may reach a model hub. The Embedder needs no variable for that (it loads its folder with
# local_files_only); this is for the hub client as such, which reads the variable when first imported.
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from rag.cli import main  # noqa: E402 (after the variable above)

if __name__ == "__main__":
    sys.exit(main(["serve", *sys.argv[1:]]))
