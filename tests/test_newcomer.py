"""A newcomer's first hour, as the README tells it: its wiki commands run as written, its links and the CLI's
errors lead to docs that ship with the code, its set-up says how to change the port.

The wiki commands run in a temporary copy of the project (its `rag/`, `corpus/` and a built `index/`, the
virtual environment linked), with HOME a temporary folder holding `~/my-wiki`, while a server in this process
serves the copy's articles and watches their index as `serve` does, looking twenty times faster.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from tests.conftest import copy_current_build
from tests.doc_links import DOCS_LINK, broken
from tests.servers import RunningApp, free_port, start_app

from rag.serve.api import create_app
from rag.cli import main
from rag.config import PROJECT_ROOT, Settings
from rag.models.embedding import Embedder
from rag.evaluation.questions import load_question_set
from rag.pipeline import RAG
from rag.schema import RagError

README = PROJECT_ROOT / "README.md"
EVAL_DOC = PROJECT_ROOT / "docs" / "EVAL.md"
SHARED_FORMAT = PROJECT_ROOT.parent / "shared" / "eval" / "FORMAT.md"
QUESTIONS = ("Who opposed the Tokyo office?", "When?", "How many people live in Tokyo?")
LOOK_S = 0.05  # the articles server's watch: 40 times as often as serve()'s 2 s
MINUTE_OF_LOOKS = 60 / 2 * LOOK_S  # as many looks as serve() makes in a minute
WIKI_PAGES = {
    "handbook.md": "---\ntitle: Team handbook\n---\n# Team handbook\n\nNew engineers get a laptop on their first "
                   "day.\n\nThe office opens at eight on weekdays.\n",
    "policies/leave.html": "<html><head><title>Leave policy</title></head><body><h1>Leave policy</h1><p>Every "
                           "employee gets 25 days of paid leave a year.</p></body></html>\n",
}


def section(title_start: str) -> str:
    """The README's `## ` section whose title starts so, up to the next one."""
    text = README.read_text(encoding="utf-8")
    match = re.search(rf"^## {re.escape(title_start)}.*?(?=^## )", text, flags=re.DOTALL | re.MULTILINE)
    assert match, f"README.md has no section '## {title_start}…'"
    return match.group(0)


def marked_commands(title_start: str, marker: str) -> list[str]:
    """The sh block under `<!-- {marker}: … -->` in the README's section `title_start`, one shell command each
    (continued lines joined)."""
    match = re.search(rf"<!-- {marker}:[^>]*-->\s*```sh\n(.*?)```", section(title_start), flags=re.DOTALL)
    assert match, f"the README's section '{title_start}' has no '<!-- {marker}: … -->' sh block"
    lines = match.group(1).replace("\\\n", " ").splitlines()
    return [" ".join(line.split()) for line in lines if line.strip() and not line.lstrip().startswith("#")]


def wiki_commands() -> list[str]:
    return marked_commands("A newcomer's path", "wiki commands")


# --- the wiki commands, run as written beside a server of the articles


@pytest.fixture()
def clone(settings: Settings, session_build: object, tmp_path: Path) -> Path:
    """A copy of the project as a fresh clone has it after `make run`: the package, the articles, their index."""
    root = tmp_path / "clone"
    shutil.copytree(PROJECT_ROOT / "rag", root / "rag", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(PROJECT_ROOT / "corpus", root / "corpus")
    (root / ".venv").symlink_to((PROJECT_ROOT / ".venv").resolve())
    assert copy_current_build(settings.index_dir, root / "index")
    return root


@pytest.fixture()
def home(tmp_path: Path) -> Path:
    home = tmp_path / "home"
    for name, text in WIKI_PAGES.items():
        (home / "my-wiki" / name).parent.mkdir(parents=True, exist_ok=True)
        (home / "my-wiki" / name).write_text(text, encoding="utf-8")
    return home


@pytest.fixture()
def articles_server(clone: Path, settings: Settings, embedder: Embedder) -> Iterator[tuple[RunningApp, RAG]]:
    served = RAG(settings.replace(corpus_dir=clone / "corpus", index_dir=clone / "index"), embedder)
    stop_watch = served.watch(interval_s=LOOK_S)
    running = start_app(create_app(served))
    yield running, served
    running.stop()
    stop_watch.set()


def tree_digest(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*"))
            if p.is_file() and p.name != ".lock"}


def answers(running: RunningApp) -> list[dict]:
    got = []
    for question in QUESTIONS:
        answer = httpx.post(f"{running.url}/api/ask", json={"question": question}, timeout=60).json()
        got.append({key: value for key, value in answer.items() if key != "timings_ms"})
    return got


def test_the_readme_wiki_commands_leave_the_served_articles_alone(clone: Path, home: Path, articles_server,
                                                                   caplog: pytest.LogCaptureFixture) -> None:
    running, served = articles_server
    caplog.set_level(logging.INFO, logger="rag")
    index_before, answers_before, build_before = tree_digest(clone / "index"), answers(running), served.manifest
    logged_before = len([r for r in caplog.records if r.name.startswith("rag")])
    commands = wiki_commands()
    assert any(" index" in c for c in commands) and sum(" serve" in c for c in commands) == 1
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("RAG_")}, "HOME": str(home),
           "PYTHONUNBUFFERED": "1", "RAG_SHUTDOWN_GRACE_S": "1"}

    for command in commands:
        if " serve" not in command:
            run = subprocess.run(["bash", "-c", command], cwd=clone, env=env, capture_output=True, text=True,
                                 timeout=300)
            assert run.returncode == 0, run.stderr
            continue
        # The one thing changed: the port, which another program on this machine may hold.
        assert "--port 7861" in command
        port = free_port()
        served_lines = serve_until_asked(command.replace("--port 7861", f"--port {port}"), clone, env, port)
        assert f"serving 2 pages at http://127.0.0.1:{port}/" in served_lines
        assert any("embedded" in line and "https://wiki.example" in line for line in served_lines)
    wiki_indexes = list((clone / "indexes").glob("my-wiki-*"))
    assert len(wiki_indexes) == 1 and (wiki_indexes[0] / "CURRENT").is_file()  # the wiki's own folder

    time.sleep(MINUTE_OF_LOOKS + 10 * LOOK_S)  # the articles server looks at its index a minute's worth of times
    assert tree_digest(clone / "index") == index_before
    assert answers(running) == answers_before and served.manifest == build_before
    assert len([r for r in caplog.records if r.name.startswith("rag")]) == logged_before


def serve_until_asked(command: str, clone: Path, env: dict[str, str], port: int) -> list[str]:
    """Start the README's serve command, ask it a question its wiki does not answer, stop it; its output lines."""
    process = subprocess.Popen(["bash", "-c", command], cwd=clone, env=env, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True, start_new_session=True)
    lines: list[str] = []
    listening = threading.Event()

    def read() -> None:
        for line in process.stdout:
            lines.append(line.rstrip("\n"))
            if line.startswith("serving "):
                listening.set()

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        assert listening.wait(120), "\n".join(lines)
        health = httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=30).json()
        refusal = httpx.post(f"http://127.0.0.1:{port}/api/ask", json={"question": "Who is the mayor of Tokyo?"},
                             timeout=60).json()
        assert health["documents"] == 2
        assert refusal["refused"] and refusal["answer"].startswith("The pages don't ")  # "…name the mayor."
    finally:
        os.killpg(process.pid, signal.SIGINT)  # the shell and the server it started: Ctrl-C in a terminal
        process.wait(timeout=30)
        reader.join(timeout=5)
    return lines


# --- the learned answerer fitted to a wiki's own questions, as the README's train commands say

MY_QUESTIONS = [
    {"id": "w1", "question": "How much paid leave does an employee get?", "answers": [["25 days"]],
     "evidence": [{"doc": "policies/leave", "quote": "Every employee gets 25 days of paid leave a year."}],
     "answerable": True},
    {"id": "w2", "question": "What do new engineers get on day one?", "answers": [["a laptop"]],
     "evidence": [{"doc": "handbook", "quote": "New engineers get a laptop on their first day."}], "answerable": True},
    {"id": "w3", "question": "Is there a gym in the office?", "answers": [], "evidence": [], "answerable": False},
]


def test_the_readme_train_command_fits_a_wiki_and_the_project_sets_each_against_its_own_pages(
        clone: Path, home: Path, settings: Settings, embedder: Embedder) -> None:
    shutil.copytree(PROJECT_ROOT / "tests" / "data", clone / "tests" / "data")  # the wiki sets' built indexes too
    (clone / "my-questions.jsonl").write_text("".join(json.dumps(q) + "\n" for q in MY_QUESTIONS), encoding="utf-8")
    train, serve = marked_commands("A learned answerer", "train commands")
    assert " train " in train and " serve " in serve
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("RAG_")}, "HOME": str(home)}

    run = subprocess.run(["bash", "-c", train], cwd=clone, env=env, capture_output=True, text=True, timeout=300)

    assert run.returncode == 0, run.stderr
    data = clone / "tests" / "data"
    project_sets = len([*data.glob("*.jsonl"), *data.glob("*/questions.jsonl")])
    fitted = json.loads((home / "my-wiki-model.json").read_text(encoding="utf-8"))
    assert [t["path"] for t in fitted["trained_on"]][0] == "my-questions.jsonl"
    assert [t["questions"] for t in fitted["trained_on"]][0] == 3 and len(fitted["trained_on"]) == 1 + project_sets
    assert run.stdout.startswith(f"fitted  {home / 'my-wiki-model.json'} on ")
    # The wiki's index is where `rag --corpus ~/my-wiki index` builds it, so serving it embeds nothing again.
    wiki_index, = (clone / "indexes").glob("my-wiki-*")
    # What the README's serve command answers with: the fitted model over the wiki's pages.
    wiki = settings.replace(corpus_dir=home / "my-wiki", index_dir=wiki_index, answerer="learned",
                            answerer_model=str(home / "my-wiki-model.json"), documents_noun="pages")
    with RAG(wiki, embedder) as rag:
        answer = rag.ask("How many days off a year do I get?")
        refusal = rag.ask("Who is the mayor of Tokyo?")
    raw = (home / "my-wiki" / "policies" / "leave.html").read_text(encoding="utf-8")
    assert [(c.doc_id, raw[c.start:c.end] == c.text) for c in answer.citations][:1] == [("policies/leave", True)]
    assert refusal.refused and refusal.text.startswith("The pages don't")


def test_train_tells_each_mistake_in_one_line_and_writes_nothing(
        settings: Settings, session_build: object, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    out = str(tmp_path / "model.json")
    common = ["--corpus", str(settings.corpus_dir), "--index", str(settings.index_dir), "train"]
    dev = str(PROJECT_ROOT / "tests" / "data" / "dev.jsonl")
    assert "nowhere is not a folder of pages" in cli_errors(
        [*common, "--questions-of", str(tmp_path / "nowhere"), "q.jsonl", "--out", out], capsys)
    assert "give a labeled question file" in cli_errors([*common, "--out", out], capsys)
    # Said before the fit, not after it.
    assert f"--out {tmp_path} is a folder; give the model a file name" in cli_errors(
        [*common, dev, "--out", str(tmp_path)], capsys)
    missing = tmp_path / "missing.jsonl"
    assert cli_errors([*common, str(missing), "--out", out], capsys).startswith(
        f"error: question file {missing} does not exist")
    assert list(tmp_path.iterdir()) == []


# --- docs that ship with the code


def test_every_docs_link_of_the_readme_leads_somewhere() -> None:
    links = DOCS_LINK.findall(README.read_text(encoding="utf-8"))
    assert "docs/EVAL.md" in links and "docs/EVAL.md#metrics" in links and "docs/EVAL.md#question-files" in links
    assert [why for link in sorted(set(links)) if (why := broken(link))] == []
    assert "../shared" not in README.read_text(encoding="utf-8")


def cli_errors(argv: list[str], capsys: pytest.CaptureFixture) -> str:
    assert main(argv) == 2
    return capsys.readouterr().err


def test_every_docs_link_of_the_cli_errors_leads_somewhere(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    questions = tmp_path / "questions.jsonl"
    questions.write_text('{"id": "1", "question": "Who?"}\n', encoding="utf-8")
    (tmp_path / "empty.jsonl").write_text("\n", encoding="utf-8")
    messages = [cli_errors(["eval", str(questions), "--min", "hit@9=1"], capsys),
                cli_errors(["eval", str(questions), "--nli-model", str(tmp_path / "no-model")], capsys)]
    # What `eval` prints (after the model has loaded) for a question file it cannot use.
    for path in (tmp_path / "missing.jsonl", tmp_path / "empty.jsonl", questions):
        with pytest.raises(RagError) as raised:
            load_question_set(path, {})
        messages.append(f"error: {raised.value}")

    links = [link for message in messages for link in DOCS_LINK.findall(message)]
    assert len(links) == len(messages), messages  # every one of them says where to read more
    assert [why for link in links if (why := broken(link))] == []


def test_docs_eval_holds_the_shared_format_as_it_is() -> None:
    text = EVAL_DOC.read_text(encoding="utf-8")
    copied = text[text.index("| field |"):text.index("<!-- end of the copy -->")]
    assert "../shared" not in text
    # The shared format is the source; where its folder is beside the checkout, the copy must be word for word.
    if SHARED_FORMAT.is_file():
        shared = SHARED_FORMAT.read_text(encoding="utf-8")
        assert copied == shared[shared.index("| field |"):]
    from rag.evaluation.metrics import METRIC_NAMES

    defined = {re.sub(r"@\d+$", "@k", name) if name != "ndcg@10" else name for name in METRIC_NAMES}
    assert {f"### {name}" for name in defined} <= set(text.splitlines())  # every metric of the report has its own


# --- the README's shape


def test_the_setup_shows_the_port_and_a_newcomers_path_is_one_section() -> None:
    setup = section("Set-up")
    assert "RAG_PORT=" in setup and "make run" in setup
    path = section("A newcomer's path")
    at = 0
    for step in ("git clone", "make run", "docs/EVAL.md", "rag eval", "--corpus ~/my-wiki index", "--port 7861",
                 "<iframe"):  # clone, run, your questions, your wiki, embed: in this order, in this one section
        at = path.find(step, at)
        assert at != -1, f"the newcomer's path has no {step!r} after the steps before it"
    serve_line = next(c for c in wiki_commands() if " serve" in c)
    assert "RAG_FRAME_ANCESTORS=" in serve_line and "RAG_DOCUMENTS_NOUN=pages" in serve_line
