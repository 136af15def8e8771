"""Benchmarks of issue 7: every user-facing path measured against its floor.

`python -m benchmarks.run [--quick]` runs each row, prints one table and
writes `benchmarks/results.json`. A row divides what the project does by the
cheapest thing that could do the same job (its floor), both measured in the
same run, so a busy machine moves both numbers and not the verdict.

One module per row (`build`, `latency`, `cold_start`, `served`, `scale`,
`peer`); `report` holds the row type and the table, `measure` the timing and
memory helpers, `synthetic` the generated corpus and vectors. Nothing here is
imported by `rag/`.
"""
