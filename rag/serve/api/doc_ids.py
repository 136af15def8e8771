"""The `{doc_id:doc_id}` path parameter: any text, "/" and line breaks included.

Starlette's own `path` convertor is `.*`, which stops at a line break: then
`/api/documents/a%0Ab` matched no route of ours, fell through to the chat
mounted at "/", and came back as Gradio's `{"detail": "Not Found"}`, a body
the OpenAPI schema does not declare (found by Schemathesis's fuzzing).
"""

from __future__ import annotations

from starlette.convertors import Convertor, register_url_convertor


class DocIdConvertor(Convertor[str]):
    regex = "(?s:.*)"

    def convert(self, value: str) -> str:
        return value

    def to_string(self, value: str) -> str:
        return value


# Starlette keeps one table of convertors per process; the name is ours alone.
register_url_convertor("doc_id", DocIdConvertor())
