import os

# Nothing in a run may reach a model hub. The Embedder needs no variable for that (it loads its folder with
# local_files_only); this is for the hub client as such, which reads the variable when first imported.
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from rag.cli import main  # noqa: E402 (after the variable above)

raise SystemExit(main())
