"""`RAG`: loads the corpus, model and index once, and answers questions.

This is the only module (with `app.py`) that builds collaborators; the CLI,
the API and the chat all call `RAG.ask`. The loaded corpus, index, retriever
and answerer form one immutable `_State`; a rebuild produces a new state that
is swapped in with a single assignment, so a request in flight finishes on the
state it started with.

A question travels through three stages, each called once and owning its part:

    QuestionReader.read   the question checked and made to stand alone ("he" named, "When?" completed): a Reading
    Retriever.search      encoded, blended with the earlier turn, dense + BM25, fused
    Answerer.answer       sentences scored and cited: the finished Answer

The pipeline only wires them. The reader decides when an earlier turn given
without its answer must be answered again first (a follow-up may point into
that answer); the pipeline hands it the way to answer (`_answer`), nothing
more.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from rag.answer.answering import Answerer, ExtractiveAnswerer, LLMAnswerer
from rag.answer.learned import PACKAGED_MODEL, LearnedModel, load_model
from rag.answer.learned_answerer import LearnedAnswerer, Ranked
from rag.answer.reading import Names, QuestionReader
from rag.answer.retrieval import Retriever
from rag.answer.sentence_store import SentenceStore
from rag.config import Settings
from rag.index.chunk_store import ChunkStore, FaissChunkStore
from rag.index.lifecycle import (IndexReport, another_corpus, check_corpus_has_pages,  # noqa: F401 (re-exported)
                                 corpus_fingerprint, current_manifest, ensure_index, folder_of_its_own,
                                 load_embedder, model_sha256, open_index, read_corpus)
from rag.index.throttle import Throttle
from rag.models import packaged, thesaurus
from rag.models.embedding import Embedder
from rag.schema import (Answer, ConfigError, Document, IndexCorruptError, QuestionError, RagError, Reading, Retrieval,
                        StaleIndexError, StoreUnavailableError, Turn)

_log = logging.getLogger(__name__)
# A build that does not load, or is another corpus's, is looked at again (and said again) at most this often.
REPEAT_S = 60.0


@dataclass(frozen=True)
class _State:
    documents: dict[str, Document]
    store: ChunkStore
    retriever: Retriever
    answerer: Answerer
    reader: QuestionReader  # knows the articles' names, for questions typed in lower case
    sentences: SentenceStore
    learned: LearnedAnswerer | None  # the fitted model's answerer, when there is a model (`ranked`, training)


class RAG:
    """Question answering over one corpus and index; thread-safe, shared by all users."""

    def __init__(self, settings: Settings, embedder: Embedder, documents: Sequence[Document] | None = None,
                 model: LearnedModel | None = None) -> None:
        """`documents`, when the caller has just read the corpus (as `open` has), spare reading it again;
        `model`, the answerer's fitted model, defaults to the file RAG_ANSWERER_MODEL names or the packaged one."""
        self.settings = settings
        self.embedder = embedder
        # The model file is read only where it answers: a rules answerer does not depend on it.
        self._model = model or (load_model(Path(settings.answerer_model) if settings.answerer_model else PACKAGED_MODEL)
                                if settings.answerer == "learned" else None)
        self._lexical_pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="bm25")
        self._milvus = None  # the link to a shared Milvus (RAG_VECTOR_STORE), made by the first load
        # The model's words: a name of the articles that is one of them ("may") is no name when typed small.
        self._vocabulary = frozenset(embedder.tokenizer_vocabulary())
        self._state = self._load_state(documents)
        self._reload_lock = threading.Lock()
        self._looks = Throttle(REPEAT_S)  # by build id: when a build that was not swapped in is looked at again
        self._warnings = Throttle(REPEAT_S)  # by kind of problem: when it is said again

    @classmethod
    def open(cls, settings: Settings, build: bool = True,
             progress: Callable[[str], None] = lambda message: None) -> RAG:
        """Load the model, build the index if missing or stale (unless `build` is False), load it."""
        check_corpus_has_pages(settings)
        embedder = load_embedder(settings)
        # A shared Milvus is written by `python -m rag index` alone, never by a server starting.
        if not build or settings.vector_store != "faiss":
            return cls(settings, embedder)
        report = ensure_index(settings, embedder, progress=progress)
        try:
            return cls(settings, embedder, report.documents)
        except (IndexCorruptError, StaleIndexError) as err:
            # A damaged or mismatched build is replaced, never served.
            progress(f"rebuilding: {err}")
            report = ensure_index(settings, embedder, force=True, progress=progress)
            return cls(settings, embedder, report.documents)

    @property
    def documents(self) -> dict[str, Document]:
        return self._state.documents

    @property
    def manifest(self) -> dict:
        return dict(self._state.store.manifest)

    def health(self) -> str | None:
        """Why the store cannot serve now (a Milvus that does not answer), None when it can."""
        try:
            self._state.store.check()
        except StoreUnavailableError as err:
            return str(err)
        return None

    def _load_state(self, documents: Sequence[Document] | None = None) -> _State:
        if documents is None:
            documents, _ = read_corpus(self.settings)
        by_id = {d.doc_id: d for d in documents}
        store = self._open_store(documents)
        s = self.settings
        retriever = Retriever(store, self.embedder, self._lexical_pool, candidates=s.candidates, rrf_k=s.rrf_k,
                              max_per_doc=s.max_per_doc)
        sentences = SentenceStore.from_index(store, by_id, thesaurus.load(packaged.thesaurus_path()))
        learned = self._learned(sentences)
        reader = QuestionReader(Names.of(sentences.name_words, self._vocabulary), s.max_question_chars,
                                s.documents_noun)
        return _State(by_id, store, retriever, self._answerer(sentences, learned), reader, sentences, learned)

    def _learned(self, sentences: SentenceStore) -> LearnedAnswerer | None:
        s = self.settings
        if self._model is None:
            return None
        return LearnedAnswerer(sentences, self._model, max_words=s.max_answer_words, max_list_words=s.max_list_words,
                               url_prefix=s.public_url or s.root_path, documents_noun=s.documents_noun)

    def _answerer(self, sentences: SentenceStore, learned: LearnedAnswerer | None) -> Answerer:
        s = self.settings
        if s.answerer == "learned" and learned is not None:
            return learned
        extractive = ExtractiveAnswerer(sentences, min_relevance=s.min_relevance, min_overlap=s.min_overlap,
                                        keep_ratio=s.keep_ratio, max_words=s.max_answer_words,
                                        max_list_words=s.max_list_words, url_prefix=s.public_url or s.root_path,
                                        documents_noun=s.documents_noun)
        if s.answerer == "llm":
            return LLMAnswerer(extractive, s.llm_url, s.llm_model, s.llm_api_key, s.llm_timeout_s)
        return extractive

    def _open_store(self, documents: Sequence[Document]) -> ChunkStore:
        """The build RAG_VECTOR_STORE names now: the index folder's, or the one a shared Milvus publishes."""
        if self.settings.vector_store == "faiss":
            return FaissChunkStore(open_index(self.settings, self.embedder, documents), self.settings.index_dir)
        from rag.index.stores.milvus_chunk_store import MilvusChunkStore
        from rag.index.stores.milvus_link import MilvusLink

        if self._milvus is None:  # one link for every build this RAG loads; it reconnects by itself
            self._milvus = MilvusLink(self.settings.vector_store, self.settings.milvus_token)
        store = MilvusChunkStore.open(self._milvus, {d.doc_id: d for d in documents},
                                      model_sha256(self.embedder.model_dir), self.embedder.dimension)
        if store.manifest["key"]["corpus_fingerprint"] != corpus_fingerprint(documents):
            raise StaleIndexError(f"the corpus in {self.settings.corpus_dir} changed since Milvus's build was made; "
                                  "run `python -m rag index`")
        return store

    def reload(self) -> bool:
        """Swap in the current build if it differs from the loaded one; True when swapped.

        A new build that fails to load, or that another corpus's build put in the index folder, leaves the
        loaded one serving. It is logged once; the same build is looked at again, and logged again if it still
        will not do, once every `REPEAT_S` (or `watch`'s `repeat_s`), never on every look.
        """
        with self._reload_lock:
            loaded = self._state.store.build_id
            build_id = self._state.store.current_build_id()
            if build_id is None or build_id == loaded or not self._looks.due(build_id):
                return False
            taken = self._taken_over(build_id)
            if taken is not None:
                self.warn("another corpus", taken)
                return False
            try:
                self._state = self._load_state()
            except RagError as err:
                if isinstance(err, StoreUnavailableError):
                    self._looks.forget(build_id)  # the build is not at fault: looked at again once the store answers
                self.warn("does not load", f"kept index {loaded}: the new build {build_id} does not load: {err}")
                return False
            _log.info("now serving index build %s", build_id)
            return True

    def _taken_over(self, build_id: str) -> str | None:
        """What to log when the index folder's new build is another corpus's (None when it is this one's): what
        happened, and advice that is safe to follow (nothing it says replaces either corpus's index)."""
        if self.settings.vector_store != "faiss":
            return None  # a Milvus build names its corpus by fingerprint, checked as it loads
        try:
            manifest = current_manifest(self.settings.index_dir)
        except IndexCorruptError:
            return None  # loading it says what is wrong
        other = manifest and another_corpus(manifest, self.settings, set(self._state.documents))
        if not other:
            return None
        s = self.settings
        return (f"still serving index build {self._state.store.build_id} ({len(self._state.documents)} "
                f"{s.documents_noun} of {s.corpus_dir}, held in memory): {s.index_dir} now holds build {build_id} "
                f"of another corpus ({other}). Before restarting this server, build its corpus in a folder of its "
                f"own, `python -m rag --corpus {s.corpus_dir} --index {folder_of_its_own(s)} index`, and restart "
                "it with the same --corpus and --index; --force in that folder would replace the other corpus's index")

    def warn(self, kind: str, message: str) -> None:
        """Log a problem the watch finds: once, then at most once every `REPEAT_S` while it lasts (by `kind`)."""
        if self._warnings.due(kind):
            _log.warning(message)

    def watch(self, interval_s: float = 2.0, repeat_s: float = REPEAT_S) -> threading.Event:
        """Reload in the background whenever `index` publishes a new build (for servers); setting the
        returned event stops the watch. A problem found is logged once, then at most once every `repeat_s`.

        Whatever fails while looking (a build folder removed as it is read, an odd `CURRENT`) is logged and
        the watch goes on: the loaded build keeps serving, and a later look finds the next good one.
        """
        stop = threading.Event()
        self._looks, self._warnings = Throttle(repeat_s), Throttle(repeat_s)

        def loop() -> None:
            while not stop.wait(interval_s):
                try:
                    self.reload()
                except (StoreUnavailableError, IndexCorruptError) as err:  # said in full: a traceback adds nothing
                    self.warn("cannot look", f"cannot look for a new index build: {err}; still serving build "
                                             f"{self._state.store.build_id}")
                except Exception:  # noqa: BLE001 - a watcher that dies leaves the server on an old build for good
                    if self._warnings.due("failed"):
                        _log.exception("looking for a new index build in %s failed; still serving build %s",
                                       self.settings.index_dir, self._state.store.build_id)

        threading.Thread(target=loop, name="index-watch", daemon=True).start()
        return stop

    def use_model(self, model: LearnedModel) -> None:
        """Answer with `model` from now on: `ranked` always, `ask` where RAG_ANSWERER=learned (cross-validation
        swaps in each fold's model this way); the index stays loaded."""
        with self._reload_lock:
            self._model = model
            state = self._state
            learned = self._learned(state.sentences)
            self._state = _State(state.documents, state.store, state.retriever,
                                 self._answerer(state.sentences, learned), state.reader, state.sentences, learned)

    def ask(self, question: str, history: Sequence[Turn] = (), k: int | None = None) -> Answer:
        """A cited answer, or a refusal listing the closest passages; `history` is the conversation before it."""
        state = self._state  # one state for the whole request, even if a reload swaps it meanwhile
        reading = state.reader.read(question, history, lambda earlier: self._answer(state, earlier, k))
        return self._answer(state, reading, k)

    def ranked(self, question: str, history: Sequence[Turn] = ()) -> tuple[Ranked, SentenceStore]:
        """What the learned answerer weighs for `question`: its candidates, ranked (for `rag.evaluation.training`)."""
        state = self._state
        if state.learned is None:
            raise ConfigError("no answerer model is loaded; give RAG a model, or set RAG_ANSWERER=learned")
        reading = state.reader.read(question, history, lambda earlier: self._answer(state, earlier, None))
        return state.learned.rank(reading, self._retrieve(state, reading, None)), state.learned.store

    def _answer(self, state: _State, reading: Reading, k: int | None) -> Answer:
        return state.answerer.answer(reading, self._retrieve(state, reading, k))

    def _retrieve(self, state: _State, reading: Reading, k: int | None) -> Retrieval:
        """The passages for `reading`, QuestionError for `k` below 1: checked once the question is read, so an
        empty question is told as such whatever `k` says."""
        k = self.settings.k if k is None else k
        if k < 1:
            raise QuestionError(f"k={k} passages is too few; ask for at least 1 (the default is {self.settings.k})")
        return state.retriever.search(reading, k, self.settings.passages_listed)

    def close(self) -> None:
        """Stop the worker threads; a closed RAG answers no more questions."""
        self._lexical_pool.shutdown(wait=True)
        if self._milvus is not None:
            self._milvus.close()

    def __enter__(self) -> RAG:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
