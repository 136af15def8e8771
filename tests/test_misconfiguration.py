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


@pytest.mark.parametrize(("variable", "value", "message"), [
    ("RAG_MIN_RELEVANCE", "3", "min_relevance=3.0 is outside 0.0..1.5; set RAG_MIN_RELEVANCE within it (the default is 0.4)"),
    ("RAG_KEEP_RATIO", "-1", "keep_ratio=-1.0 is outside 0.0..1.0; set RAG_KEEP_RATIO within it (the default is 0.9)"),
    ("RAG_RRF_K", "0", "rrf_k=0 must be at least 1; set RAG_RRF_K to a positive number"),
    ("RAG_MAX_BODY_BYTES", "0", "max_body_bytes=0 must be at least 1; set RAG_MAX_BODY_BYTES to a positive number"),
    ("RAG_LLM_TIMEOUT_S", "0", "llm_timeout_s=0.0 must be above 0; set RAG_LLM_TIMEOUT_S in seconds"),
    ("RAG_HOST", " ", "host=' ' is no host name; set RAG_HOST, e.g. 127.0.0.1 or 0.0.0.0"),
    ("RAG_PUBLIC_URL", "wiki.example.com", "public_url='wiki.example.com' must start with http://, https:// or /; "
     "set RAG_PUBLIC_URL to where users reach this server, e.g. https://wiki.example.com/qa"),
    ("RAG_CORS_ORIGINS", "https://wiki.example.com/page", "cors_origins has 'https://wiki.example.com/page', which "
     "is no origin (scheme://host[:port], no path); set RAG_CORS_ORIGINS to a comma-separated list such as "
     "https://wiki.example.com"),
    ("RAG_PORT", "70000", "port=70000 is not a TCP port (1-65535); set RAG_PORT"),
    ("RAG_SHUTDOWN_GRACE_S", "-1", "shutdown_grace_s=-1 is outside 0..600; set RAG_SHUTDOWN_GRACE_S within it "
     "(the default is 5)"),
    ("RAG_K", "many", "RAG_K='many' is not a valid int"),
])
def test_every_bad_setting_names_its_value_the_limit_and_the_fix(variable: str, value: str, message: str):
    with pytest.raises(ConfigError) as raised:
        Settings.load(env={variable: value})
    assert str(raised.value) == message


def test_the_defaults_and_sensible_values_pass():
    settings = Settings.load(env={"RAG_CORS_ORIGINS": "https://wiki.example.com, http://127.0.0.1:8080",
                                  "RAG_PUBLIC_URL": "/qa", "RAG_MIN_RELEVANCE": "0.5"})
    assert settings.cors_origins == ("https://wiki.example.com", "http://127.0.0.1:8080")
    assert settings.min_relevance == 0.5
