"""The OpenAPI schema tells the truth: Schemathesis, every check, against a real server on 127.0.0.1.

Run twice, as deployed: with no API token (the schema then declares no
authentication) and with one (declared, and sent by Schemathesis; its
`ignored_auth` check also tries the API without it). Schemathesis runs as its
command line does (`schemathesis run --checks all`): every operation through
the examples, coverage, fuzzing and stateful phases, with schema-valid and
schema-invalid data. Examples per operation are bounded, so both runs
together take well under a minute here; `SCHEMATHESIS_SEED` repeats a run.

Why the command line and not `schemathesis.pytest.from_fixture` with
`@schema.parametrize()`: the lazy loader a fixture-started server needs sets
pytest's private `Function._nodeid`, which pytest 9 no longer has, and an
eager `schemathesis.openapi.from_url` would need the server (and the model)
at collection time. The command line is also what a reviewer runs.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from rag.models.embedding import Embedder
from rag.pipeline import RAG
from rag.serve.api import create_app
from tests.servers import RunningApp, start_app

TOKEN = "fuzz-token"
MAX_EXAMPLES = 5  # per operation and phase; the coverage phase reaches every declared limit whatever this is
RUN_TIMEOUT_S = 180  # a hung run fails the test instead of the suite


@pytest.fixture(scope="module")
def open_api(rag: RAG, embedder: Embedder) -> Iterator[RunningApp]:
    running = start_app(create_app(RAG(rag.settings.replace(api_token=""), embedder)))
    yield running
    running.stop()


@pytest.fixture(scope="module")
def token_api(rag: RAG, embedder: Embedder) -> Iterator[RunningApp]:
    running = start_app(create_app(RAG(rag.settings.replace(api_token=TOKEN), embedder)))
    yield running
    running.stop()


# Schemathesis's own list of codes that reject invalid data, and 413: a body over max_body_bytes (51 history
# turns of 2,000 characters, say) is refused by its size, as the schema declares, before it is parsed.
REJECTIONS = '["400", "401", "403", "404", "405", "406", "409", "413", "415", "422", "428", "429", "5xx"]'


def schemathesis_run(running: RunningApp, workdir: Path, *options: str) -> subprocess.CompletedProcess[str]:
    seed = ("--seed", os.environ["SCHEMATHESIS_SEED"]) if "SCHEMATHESIS_SEED" in os.environ else ()
    config = workdir / "schemathesis.toml"
    # The ratings route's coverage phase alone took half the run: its body is a whole Answer JSON, every one of
    # whose limits the phase walks. The route is still fuzzed with valid and invalid bodies, and its limits are
    # tested one by one in tests/serve/test_feedback.py.
    config.write_text(f"[checks.negative_data_rejection]\nexpected-statuses = {REJECTIONS}\n\n"
                      '[[operations]]\ninclude-name = "POST /api/feedback"\n[operations.phases.coverage]\n'
                      "enabled = false\n", encoding="utf-8")
    command = [sys.executable, "-m", "schemathesis.cli", "--config-file", str(config), "run",
               f"{running.url}/openapi.json", "--checks", "all", "--mode", "all", "--max-examples", str(MAX_EXAMPLES), "--workers", "1", "--request-timeout", "30",
               "--no-color", "--warnings", "off", *seed, *options]
    # In a folder of its own: Schemathesis keeps a cache (.schemathesis/) where it runs.
    return subprocess.run(command, capture_output=True, text=True, timeout=RUN_TIMEOUT_S, cwd=workdir)


def cases_generated(output: str) -> int:
    return int(re.search(r"^\s*(\d+) generated", output, flags=re.MULTILINE).group(1))


@pytest.mark.parametrize("mode", ["no token", "token"])
def test_schemathesis_finds_nothing(mode: str, request: pytest.FixtureRequest, tmp_path: Path) -> None:
    running = request.getfixturevalue("token_api" if mode == "token" else "open_api")
    # The ratings routes are fuzzed once, without the token: their bodies (a whole Answer JSON) make them the
    # slowest to fuzz, and the token guards them by the same router dependency as the rest (test_feedback.py
    # checks it; the next test, that the schema says so).
    # The fuzzing and stateful phases, too, run once: random bodies and links between operations meet the same
    # code with a token; the coverage phase still sends every operation its valid and invalid values with it.
    options = ("--header", f"Authorization: Bearer {TOKEN}", "--exclude-path", "/api/feedback",
               "--phases", "examples,coverage") if mode == "token" else ()

    run = schemathesis_run(running, tmp_path, *options)

    print(f"\nschemathesis, {mode}: {cases_generated(run.stdout)} cases; "
          + re.findall(r"^=+ (.*) =+$", run.stdout, flags=re.MULTILINE)[-1])
    assert run.returncode == 0, run.stdout[-6000:] + run.stderr[-2000:]
    assert "No issues found" in run.stdout
    selected = "5 selected / 7 total" if mode == "token" else "7 selected / 7 total"
    assert re.search(rf"Operations:\s+{selected}", run.stdout), run.stdout[:2000]
    assert cases_generated(run.stdout) >= 100


def test_the_schema_declares_auth_only_when_a_token_is_required(open_api: RunningApp, token_api: RunningApp) -> None:
    without = httpx.get(f"{open_api.url}/openapi.json", timeout=30).json()
    with_token = httpx.get(f"{token_api.url}/openapi.json", timeout=30).json()

    assert "securitySchemes" not in without.get("components", {})
    assert [path for path, item in without["paths"].items() for operation in item.values()
            if "security" in operation or "401" in operation["responses"]] == []
    assert with_token["components"]["securitySchemes"] == {
        "HTTPBearer": {"type": "http", "scheme": "bearer", "description": "the server's RAG_API_TOKEN"}}
    guarded = sorted(path for path, item in with_token["paths"].items() for operation in item.values()
                     if operation.get("security") == [{"HTTPBearer": []}] and "401" in operation["responses"])
    assert guarded == ["/api/ask", "/api/documents", "/api/documents/{doc_id}", "/api/feedback", "/api/feedback"]


def test_the_question_limits_in_the_schema_are_the_servers(open_api: RunningApp) -> None:
    schema = httpx.get(f"{open_api.url}/openapi.json", timeout=30).json()
    question = schema["components"]["schemas"]["AskRequest"]["properties"]["question"]
    pattern = re.compile(question["pattern"])

    def status(text: str) -> int:
        return httpx.post(f"{open_api.url}/api/ask", json={"question": text}, timeout=60).status_code

    assert (question["minLength"], question["maxLength"]) == (1, 2000)
    for blank in ("", " ", "\u200b", "\x00\t", "\ue000", "\U000e0001"):
        assert not pattern.search(blank) and status(blank) == 400, repr(blank)
    for asked in ("\x00?", "Tokyo\u200b"):
        assert pattern.search(asked) and status(asked) == 200, repr(asked)
