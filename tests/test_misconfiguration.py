"""Settings and requests a user gets wrong: one line saying what to fix, never a traceback or a silent default."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from rag.config import PROJECT_ROOT, Settings
from rag.pipeline import RAG
from rag.schema import ConfigError, QuestionError, Turn

LLM_URL_MESSAGE = ("llm_url='localhost:8000/v1' is no HTTP address; set RAG_LLM_URL to an OpenAI-compatible base URL "
                   "starting with http:// or https://, e.g. http://127.0.0.1:8000/v1")


def test_an_llm_url_without_a_scheme_is_a_setting_error():
    with pytest.raises(ConfigError) as raised:
        Settings.load(env={"RAG_ANSWERER": "llm", "RAG_LLM_URL": "localhost:8000/v1"})
    assert str(raised.value) == LLM_URL_MESSAGE


def test_the_cli_says_so_in_one_line(tmp_path):
    env = {**os.environ, "RAG_ANSWERER": "llm", "RAG_LLM_URL": "localhost:8000/v1", "RAG_INDEX_DIR": str(tmp_path)}
    result = subprocess.run([sys.executable, "-m", "rag", "ask", "Who opposed the office?"], cwd=PROJECT_ROOT,
                            env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 2
    assert result.stderr == f"error: {LLM_URL_MESSAGE}\n"


@pytest.mark.parametrize("k", [0, -3])
def test_a_k_below_one_is_refused_not_replaced_by_the_default(rag: RAG, k: int):
    with pytest.raises(QuestionError) as raised:
        rag.ask("Who opposed the office?", k=k)
    assert str(raised.value) == f"k={k} passages is too few; ask for at least 1 (the default is 20)"


@pytest.mark.parametrize("earlier", ["", "   ", "x" * 2001])
def test_an_earlier_turn_that_cannot_be_asked_leaves_the_follow_up_standing(rag: RAG, earlier: str):
    # A client may send any history; the follow-up is answered as if that turn had said nothing.
    answer = rag.ask("When?", [Turn(earlier)])
    assert answer.question == "When?"
