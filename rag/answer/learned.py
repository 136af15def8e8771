"""The learned answerer's model: three logistic regressions, stored as plain JSON.

* `sentence`: how likely a candidate sentence is to cite the gold evidence
  (its signals: `rag.answer.signals.SENTENCE_FEATURES`); candidates are ranked by it;
* `answer`: whether to answer at all, from the best sentences' scores and the
  question's standing (`ANSWER_FEATURES`); below even odds the answer is a
  refusal;
* `further`: whether a further sentence joins the answer (`FURTHER_FEATURES`).

Each is a standardisation (mean, scale) and a weight per named signal, so the
file says what the model weighs, and answering needs numpy alone. The file
also records the digests of the question files it was fitted on, so `make`
can tell when it is stale and a report can say what a figure was fitted on.
Fitting is `rag.evaluation.training`'s job; this module only loads, saves and applies.

Logistic regression, deliberately: some 250 labeled questions fit a few dozen
weights without overfitting, the fit is convex and repeatable, and the
weights can be read. A ranker of boosted trees (LambdaMART) was the other
candidate; with this little data it fits the training sets' quirks, which is
the failure this model replaces.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from rag.answer.signals import ANSWER_FEATURES, FURTHER_FEATURES, SENTENCE_FEATURES
from rag.schema import ConfigError

FORMAT_VERSION = 1
PACKAGED_MODEL = Path(__file__).with_name("answerer_model.json")


@dataclass(frozen=True)
class Logistic:
    """One logistic regression over named signals: logit = ((x - mean) / scale) · coef + intercept."""

    features: tuple[str, ...]
    mean: np.ndarray
    scale: np.ndarray
    coef: np.ndarray
    intercept: float

    def __post_init__(self) -> None:
        sizes = {len(self.features), len(self.mean), len(self.scale), len(self.coef)}
        if len(sizes) != 1:
            raise ValueError(f"a logistic model needs one mean, scale and weight per feature; got sizes {sorted(sizes)}")

    def logits(self, rows: np.ndarray) -> np.ndarray:
        """The logit of each row of `rows` (n, len(features))."""
        return ((rows - self.mean) / self.scale) @ self.coef + self.intercept

    def logit(self, signals: Mapping[str, float]) -> float:
        return float(self.logits(np.array([[signals[name] for name in self.features]]))[0])

    def to_dict(self) -> dict:
        return {"features": list(self.features), "mean": _floats(self.mean), "scale": _floats(self.scale),
                "coef": _floats(self.coef), "intercept": round(float(self.intercept), 6)}

    @classmethod
    def from_dict(cls, data: Mapping, expected: Sequence[str]) -> Logistic:
        features = tuple(data["features"])
        if features != tuple(expected):
            unknown = sorted(set(features) ^ set(expected))
            raise ValueError(f"its signals differ from this version's ({', '.join(unknown[:4]) or 'order'})")
        return cls(features, np.asarray(data["mean"], dtype=np.float64), np.asarray(data["scale"], dtype=np.float64),
                   np.asarray(data["coef"], dtype=np.float64), float(data["intercept"]))


@dataclass(frozen=True)
class TrainedOn:
    """A question file the model was fitted on: its path as given, its SHA-256, how many questions it held."""

    path: str
    sha256: str
    questions: int


@dataclass(frozen=True)
class LearnedModel:
    sentence: Logistic
    answer: Logistic
    further: Logistic
    trained_on: tuple[TrainedOn, ...] = ()
    code_sha256: str = ""  # of the modules that compute its signals and fit it (`rag.evaluation.training.code_digest`)
    # The further-sentence logit from which a sentence joins (fitted, `rag.evaluation.training`).
    further_threshold: float = 0.0

    def to_json(self) -> str:
        data = {"format": FORMAT_VERSION, "kind": "rag learned answerer",
                "trained_on": [vars(t) for t in self.trained_on], "code_sha256": self.code_sha256,
                "further_threshold": round(self.further_threshold, 6),
                "sentence": self.sentence.to_dict(), "answer": self.answer.to_dict(),
                "further": self.further.to_dict()}
        return json.dumps(data, indent=1) + "\n"

    @classmethod
    def from_json(cls, text: str) -> LearnedModel:
        data = json.loads(text)
        if not isinstance(data, dict) or data.get("format") != FORMAT_VERSION:
            raise ValueError(f"format {data.get('format') if isinstance(data, dict) else None!r} is not "
                             f"version {FORMAT_VERSION}")
        return cls(Logistic.from_dict(data["sentence"], SENTENCE_FEATURES),
                   Logistic.from_dict(data["answer"], ANSWER_FEATURES),
                   Logistic.from_dict(data["further"], FURTHER_FEATURES),
                   tuple(TrainedOn(**t) for t in data.get("trained_on", ())), str(data.get("code_sha256", "")),
                   float(data.get("further_threshold", 0.0)))

    def save(self, path: Path) -> None:
        """Written whole or not at all: a server loading it never reads half a model."""
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(path.name + ".partial")
        partial.write_text(self.to_json(), encoding="utf-8")
        partial.replace(path)


def load_model(path: Path) -> LearnedModel:
    """The model at `path`; a missing or damaged file is a `ConfigError` naming the fix."""
    try:
        return LearnedModel.from_json(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"answerer model {path} does not exist; fit one with `python -m rag train "
                          "QUESTIONS.jsonl --out FILE`, or unset RAG_ANSWERER_MODEL for the packaged one") from None
    except (OSError, UnicodeDecodeError, ValueError, KeyError, TypeError) as err:
        raise ConfigError(f"answerer model {path} cannot be read ({type(err).__name__}: {err}); fit it again with "
                          "`python -m rag train QUESTIONS.jsonl --out FILE`") from None


def _floats(values: np.ndarray) -> list[float]:
    return [round(float(v), 6) if math.isfinite(v) else 0.0 for v in values]
