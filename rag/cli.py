"""`python -m rag index|ask|eval|milvus-import|feedback|serve`: the command line, thin over `RAG`.

This is the one place (with the API) that prints and exits: library errors
(`RagError`) become a one-line message on stderr and exit code 2. The web
stack is imported only by `serve`, so `ask` starts as fast as the model loads.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

from rag.config import Settings
from rag.printable import printable, printable_logs
from rag.schema import Answer, ConfigError, QuestionFileError, RagError

EXIT_ERROR = 2
LISTED_DOCUMENTS = 20  # `index` names each page it read up to this many; a wiki gets one line of counts
LISTED_UNLABELED = 10  # `eval` names the questions it skipped up to this many


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    printable_logs()
    try:
        settings = Settings.load(corpus_dir=args.corpus, index_dir=args.index, model_path=args.model,
                                 k=getattr(args, "k", None), host=getattr(args, "host", None),
                                 port=getattr(args, "port", None))
        if args.run in (cmd_ask, cmd_eval, cmd_serve, cmd_train, cmd_crossval):
            from rag.answer.retrieval import search_on_one_thread

            search_on_one_thread()
        return args.run(args, settings)
    except RagError as err:
        print(f"error: {printable(str(err))}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        return 130


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m rag", description="Cited answers over a folder of articles.")
    parser.add_argument("--corpus", help="folder of .txt, .md and .html pages, subfolders included (RAG_CORPUS_DIR)")
    parser.add_argument("--index", help="index folder (RAG_INDEX_DIR)")
    parser.add_argument("--model", help="local sentence-transformers model folder (RAG_MODEL_PATH)")
    commands = parser.add_subparsers(required=True, metavar="COMMAND")

    index = commands.add_parser("index", help="build or refresh the index")
    index.add_argument("--force", action="store_true",
                       help="rebuild from scratch (no vector reused), even if the index is fresh")
    index.add_argument("--quiet", action="store_true", help="print only skipped files and errors")
    index.set_defaults(run=cmd_index)

    ask = commands.add_parser("ask", help="answer a question, or a question file")
    ask.add_argument("question", nargs="?", help="the question (omit with --questions)")
    ask.add_argument("--questions", metavar="FILE.jsonl",
                     help="answer every question of a question file, each after its history")
    ask.add_argument("--json", action="store_true", help="print the Answer JSON (one per line with --questions)")
    ask.add_argument("--k", type=int, help="passages handed to the answerer (RAG_K)")
    ask.set_defaults(run=cmd_ask)

    evaluate = commands.add_parser("eval", help="score answers and citations against a question file")
    evaluate.add_argument("questions", metavar="QUESTIONS.jsonl", help="a question file (docs/EVAL.md)")
    evaluate.add_argument("--json", metavar="REPORT.json", help="write the whole report as JSON")
    evaluate.add_argument("--html", metavar="REPORT.html",
                          help="write a self-contained page: metrics, then each question, misses first, with "
                               "cited and gold spans marked in their paragraphs")
    evaluate.add_argument("--min", action="append", default=[], metavar="METRIC=VALUE",
                          help="fail (exit 1) when METRIC is below VALUE; repeatable")
    evaluate.add_argument("--max", action="append", default=[], metavar="METRIC=VALUE",
                          help="fail (exit 1) when METRIC is above VALUE; repeatable")
    evaluate.add_argument("--compare", metavar="OLD.json", help="print the change against an earlier report")
    evaluate.add_argument("--nli-model", metavar="DIR", help="local entailment cross-encoder for citation support (docs/EVAL.md#the-nli-check)")
    evaluate.add_argument("--k", type=int, help="passages handed to the answerer (RAG_K)")
    evaluate.set_defaults(run=cmd_eval)

    train = commands.add_parser("train", help="fit the answerer's model to labeled question files")
    train.add_argument("questions", nargs="*", metavar="QUESTIONS.jsonl",
                       help="labeled question files (docs/EVAL.md); one beside a corpus/ folder is asked of that "
                            "corpus, any other of --corpus")
    _add_questions_of(train)
    train.add_argument("--out", required=True, metavar="FILE.json", help="where to write the model (JSON)")
    train.add_argument("--if-stale", action="store_true",
                       help="fit only when FILE.json was not fitted on these files as they are, by this code")
    train.set_defaults(run=cmd_train)

    crossval = commands.add_parser("crossval", help="leave-one-set-out cross-validation of the answerer")
    crossval.add_argument("questions", nargs="*", metavar="QUESTIONS.jsonl",
                          help="labeled question files, two or more; each is answered by a model fitted on the others")
    _add_questions_of(crossval)
    crossval.add_argument("--pool", action="append", default=[], metavar="NAME=SET,SET",
                          help="also print the figures of these sets' questions together; repeatable")
    crossval.add_argument("--min", action="append", default=[], metavar="SET.METRIC=VALUE",
                          help="fail (exit 1) when a set's or pool's METRIC is below VALUE; repeatable")
    crossval.add_argument("--fitted", metavar="MODEL.json",
                          help="also print this model's figures on every set, marked as fitted (not results)")
    crossval.add_argument("--rules", action="store_true",
                          help="also print the hand-set rules answerer's figures (RAG_ANSWERER=extractive)")
    crossval.add_argument("--ablate", action="store_true",
                          help="also cross-validate without each group of signals and print what each is worth")
    crossval.set_defaults(run=cmd_crossval)

    milvus = commands.add_parser("milvus-import", help="publish the FAISS index as a new build in Milvus")
    milvus.add_argument("--uri", help="Milvus address, e.g. http://127.0.0.1:19530, or milvus-lite:FILE.db "
                                      "(default: RAG_VECTOR_STORE)")
    milvus.set_defaults(run=cmd_milvus_import)

    feedback = commands.add_parser("feedback", help="readers' ratings of answers (RAG_FEEDBACK_DIR)")
    feedback_commands = feedback.add_subparsers(required=True, metavar="ACTION")
    export = feedback_commands.add_parser("export", help="write the 'Not helpful' ratings as a question file to label")
    export.add_argument("file", metavar="FILE.jsonl", help="a new file (an existing one is never overwritten)")
    export.set_defaults(run=cmd_feedback_export)

    serve = commands.add_parser("serve", help="serve the chat and the JSON API")
    serve.add_argument("--host", help="address to bind (RAG_HOST, default 127.0.0.1)")
    serve.add_argument("--port", type=int, help="port (RAG_PORT, default 7860)")
    serve.set_defaults(run=cmd_serve)
    return parser


def cmd_index(args: argparse.Namespace, settings: Settings) -> int:
    from rag.index.lifecycle import check_corpus_has_pages
    from rag.pipeline import ensure_index, load_embedder
    from rag.progress import Meter

    terminal = sys.stdout.isatty() and not args.quiet
    say = (lambda message: None) if args.quiet or not terminal else (lambda message: print(printable(message), flush=True))
    check_corpus_has_pages(settings)  # an empty folder is said at once, not after the model has loaded
    embedder = load_embedder(settings)
    report = ensure_index(settings, embedder, force=args.force, progress=say,
                          meter=Meter(sys.stdout) if terminal else (lambda done, total: None))
    if not args.quiet:
        if len(report.documents) <= LISTED_DOCUMENTS:
            for document in report.documents:
                kinds = [p.kind for p in document.paragraphs]
                print(printable(f"read    {document.doc_id}: {document.title!r} ({document.date or 'no date'}), "
                                f"{kinds.count('body')} paragraphs, {kinds.count('heading')} headings, "
                                f"{kinds.count('boilerplate')} boilerplate blocks left out"))
        else:
            formats = Counter(Path(d.path).suffix.lower().lstrip(".") for d in report.documents)
            print(f"read    {len(report.documents):,} pages ("
                  f"{', '.join(f'{count:,} {kind}' for kind, count in sorted(formats.items()))})")
    # Skipped files are always named: a page missing from answers must be explained.
    for skipped in report.skipped:
        print(printable(f"skipped {skipped.path}: {skipped.reason}"))
    if args.quiet:
        return 0
    if report.rebuilt:
        print(printable(f"built   {report.build} ({', '.join(report.reasons)}): embedded {report.embedded:,} texts, "
                        f"reused {report.reused:,}, in {report.seconds:.1f} s"))
    else:
        print(printable(f"fresh   {settings.index_dir}: corpus, model and chunking unchanged; nothing re-embedded"))
    if settings.vector_store != "faiss":
        from rag.index.stores.milvus_import import publish_current

        published = publish_current(settings, force=args.force, progress=lambda m: print(m, flush=True))
        print(f"published {published} at {settings.vector_store}" if published
              else f"fresh   {settings.vector_store} already serves this build")
    return 0


def cmd_ask(args: argparse.Namespace, settings: Settings) -> int:
    if bool(args.question) == bool(args.questions):
        print("error: give either a QUESTION or --questions FILE.jsonl", file=sys.stderr)
        return EXIT_ERROR
    from rag.answer.conversation import ask_in_conversation
    from rag.pipeline import RAG

    # Read the file before loading the model: a malformed line should not wait for it.
    questions = _questions(Path(args.questions)) if args.questions else []
    rag = RAG.open(settings, progress=_to_stderr)
    if args.question:
        answer = rag.ask(args.question)
        print(answer_json(answer, indent=2) if args.json else render_answer(answer))
        return 0
    for question, history in questions:
        answer = ask_in_conversation(rag.ask, history, question)
        print(answer_json(answer) if args.json else render_answer(answer) + "\n",
              flush=True)
    return 0


def _to_stderr(message: str) -> None:
    """A rebuild's progress ("rebuilding: <why>"), said where it cannot mix with the answers on stdout."""
    print(printable(message), file=sys.stderr, flush=True)


def answer_json(answer: Answer, indent: int | None = None) -> str:
    """The Answer JSON `ask --json` prints."""
    from rag.answer.contract import answer_to_dict

    return json.dumps(answer_to_dict(answer), ensure_ascii=False, indent=indent)


def _questions(path: Path) -> list[tuple[str, tuple[str, ...]]]:
    """The `question` of every line with its `history` (earlier questions); the full format is checked by `eval`."""
    from rag.evaluation.questions import parse_history

    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as err:
        raise QuestionFileError(f"{path}: cannot read it as UTF-8 text ({err})") from None
    questions = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as err:
            raise QuestionFileError(f"{path}:{number}: not JSON ({err.msg})") from None
        if not isinstance(row, dict) or not isinstance(row.get("question"), str):
            raise QuestionFileError(f"{path}:{number}: needs a string field \"question\"")
        try:
            history = parse_history(row["history"]) if "history" in row else ()
        except QuestionFileError as err:
            raise QuestionFileError(f"{path}:{number}: {err}") from None
        questions.append((row["question"], history))
    return questions


def render_answer(answer: Answer) -> str:
    lines = [answer.text, ""]
    if answer.citations:
        lines.append("Sources:")
        for c in answer.citations:
            lines.append(f"  [{c.n}] {c.title} ({c.doc_id}), paragraph {c.paragraph}, chars {c.start}-{c.end}")
            lines.append(f"      \"{c.clean}\"")
    else:
        lines.append("Closest passages:")
        for p in answer.passages[:3]:
            lines.append(f"  {p.rank}. {p.chunk.doc_id}, paragraph {p.chunk.paragraph}: {p.chunk.clean[:160]}")
    return "\n".join(lines)


def cmd_eval(args: argparse.Namespace, settings: Settings) -> int:
    from rag.evaluation.compare import compare
    from rag.evaluation.floors import check_floors, parse_limits
    from rag.evaluation.questions import load_question_set
    from rag.evaluation.report_file import load_report, write_report
    from rag.evaluation.run import evaluate
    from rag.evaluation.support import load_nli
    from rag.evaluation.tables import render_comparison, render_report
    from rag.pipeline import RAG

    # Check the flags before the run: a typo should not cost a whole evaluation.
    parse_limits(args.min, "--min")
    parse_limits(args.max, "--max")
    old = load_report(Path(args.compare)) if args.compare else None
    nli = load_nli(Path(args.nli_model)) if args.nli_model else None
    rag = RAG.open(settings, progress=_to_stderr)
    question_set = load_question_set(Path(args.questions), rag.documents)
    if question_set.unlabeled:
        unlabeled = question_set.unlabeled
        named = ", ".join(unlabeled[:LISTED_UNLABELED]) + (", …" if len(unlabeled) > LISTED_UNLABELED else "")
        print(f"skipped {len(unlabeled)} of {len(unlabeled) + len(question_set.questions)} questions whose "
              f"\"evidence\" is not filled in yet: {named}")
    report = evaluate(question_set.questions, rag.ask, nli=nli)
    print(render_report(report))
    if args.json:
        manifest = rag.manifest
        used = {"model": manifest["model"]["name"], "model_sha256": manifest["model"]["sha256"],
                "index_fingerprint": manifest["key"]["corpus_fingerprint"], "build_id": manifest["build_id"],
                "k": settings.k, "answerer": settings.answerer, "questions": args.questions}
        write_report(Path(args.json), report, used)
    if args.html:
        from rag.evaluation.html_page import write_html

        write_html(Path(args.html), report, rag.documents, title=f"Evaluation of {args.questions}")
    if old is not None:
        print("\n" + render_comparison(compare(old, report)))
    failures = check_floors(report.metrics, args.min, args.max)
    for failure in failures:
        print(f"FAIL {failure}", file=sys.stderr)
    return 1 if failures else 0


def cmd_train(args: argparse.Namespace, settings: Settings) -> int:
    from rag.evaluation.crossval import Workbench

    sets = _labeled_sets(args)
    out = Path(args.out).expanduser()
    # Told before the fit, which takes a while, rather than after it.
    if out.is_dir():
        raise ConfigError(f"--out {args.out} is a folder; give the model a file name, e.g. {out / 'model.json'}")
    if out.parent.exists() and not out.parent.is_dir():
        raise ConfigError(f"--out {args.out}: {out.parent} is a file, not a folder")
    if args.if_stale and out.exists():
        from rag.answer.learned import load_model
        from rag.evaluation.training import is_current

        try:
            current = is_current(load_model(out), [s.path for s in sets])
        except (RagError, OSError):
            current = False  # damaged or unreadable: fitted again below
        if current:
            print(f"fresh   {out}: fitted on these files as they are, by this code")
            return 0
    bench = Workbench(settings)
    try:
        model = bench.fit(sets)
    finally:
        bench.close()
    model.save(out)
    counts = ", ".join(f"{t.path} ({t.questions})" for t in model.trained_on)
    print(f"fitted  {args.out} on {sum(t.questions for t in model.trained_on)} questions: {counts}")
    return 0


def _add_questions_of(command: argparse.ArgumentParser) -> None:
    # Two values, not FILE=DIR: the shell expands a leading ~ in each, and a wiki's own questions can be fitted
    # together with the project's sets, each asked of its own corpus.
    command.add_argument("--questions-of", action="append", nargs=2, default=[],
                         metavar=("CORPUS_DIR", "QUESTIONS.jsonl"),
                         help="a labeled question file about the pages of CORPUS_DIR; repeatable")


def _labeled_sets(args: argparse.Namespace) -> list:
    from rag.evaluation.crossval import labeled_set

    sets = []
    for corpus, path in args.questions_of:
        corpus_dir = Path(corpus).expanduser()
        if not corpus_dir.is_dir():
            raise QuestionFileError(f"--questions-of {corpus} {path}: {corpus} is not a folder of pages")
        sets.append(labeled_set(Path(path).expanduser(), corpus_dir.resolve()))
    sets += [labeled_set(Path(p)) for p in args.questions]
    if not sets:
        raise QuestionFileError("give a labeled question file: QUESTIONS.jsonl, or --questions-of CORPUS_DIR "
                                "QUESTIONS.jsonl for one about another folder of pages")
    names = Counter(s.name for s in sets)
    twice = [name for name, n in names.items() if n > 1]
    if twice:
        raise QuestionFileError(f"two question files are both called {twice[0]!r}; give each set its own file name")
    return sets


def cmd_crossval(args: argparse.Namespace, settings: Settings) -> int:
    from rag.answer.learned import load_model
    from rag.evaluation.crossval import Workbench, ablation, cross_validate, figures, pooled, table

    sets = _labeled_sets(args)
    if len(sets) < 2:
        print("error: cross-validation needs two or more question files; each is answered by a model fitted "
              "on the others", file=sys.stderr)
        return EXIT_ERROR
    pools = _pools(args.pool, [s.name for s in sets])
    limits = [(f"{where}.{metric}", value) for where, metric, value in _set_limits(args.min, [*sets, *pools])]
    fitted = load_model(Path(args.fitted)) if args.fitted else None
    bench = Workbench(settings)
    try:
        reports = cross_validate(bench, sets)

        def rows_of(got: dict) -> dict:
            rows = {name: (len(got[name].results), figures(got[name])) for name in got}
            for pool, members in pools.items():
                rows[f"{pool} (pooled)"] = (sum(len(got[m].results) for m in members), pooled(got, members))
            return rows

        rows = rows_of(reports)
        print("Leave-one-set-out cross-validation: each set answered by a model fitted on all the others\n")
        print(table(rows))
        if fitted is not None:
            print(f"\nFitted, not results: {args.fitted} answering sets it was fitted on\n")
            print(table(rows_of({s.name: bench.answer_with(fitted, s) for s in sets})))
        if args.rules:
            print("\nThe hand-set rules answerer (tuned by hand on several of these sets)\n")
            print(table(rows_of({s.name: bench.answer_by_rules(s) for s in sets})))
        if args.ablate:
            print("\n" + ablation(bench, sets, pools, rows))
    finally:
        bench.close()
    values = {f"{name.removesuffix(' (pooled)')}.{metric}": value
              for name, (_, figures_of) in rows.items() for metric, value in figures_of.items()}
    failures = [f"{name} = {values[name]:.3f} is below its floor {floor:g}" if values.get(name) is not None
                else f"{name} has no value, so its floor {floor:g} cannot be met"
                for name, floor in limits if values.get(name) is None or values[name] < floor]
    for failure in failures:
        print(f"FAIL {failure}", file=sys.stderr)
    return 1 if failures else 0


def _pools(specs: Sequence[str], names: Sequence[str]) -> dict[str, list[str]]:
    pools = {}
    for spec in specs:
        pool, _, members = spec.partition("=")
        listed = [m.strip() for m in members.split(",") if m.strip()]
        unknown = [m for m in listed if m not in names]
        if not pool or not listed or unknown:
            raise QuestionFileError(f"--pool {spec!r} must be NAME=SET,SET with sets among {', '.join(names)}"
                                    + (f" ({unknown[0]!r} is none)" if unknown else ""))
        pools[pool] = listed
    return pools


def _set_limits(specs: Sequence[str], known: Sequence) -> list[tuple[str, str, float]]:
    from rag.evaluation.floors import parse_limits
    from rag.evaluation.metrics import METRIC_NAMES

    names = {getattr(k, "name", k) for k in known}
    limits = []
    for spec in specs:
        where, _, rest = spec.partition(".")
        parsed = parse_limits([rest], "--min") if rest else []
        if where not in names or not parsed:
            raise QuestionFileError(f"--min {spec!r} must be SET.METRIC=VALUE, with SET a set or pool "
                                    f"({', '.join(sorted(names))}) and METRIC one of {', '.join(METRIC_NAMES)}")
        metric, value = parsed[0]
        limits.append((where, metric, value))
    return limits


def cmd_milvus_import(args: argparse.Namespace, settings: Settings) -> int:
    from rag.index.stores.milvus_import import import_faiss_index

    settings = settings.replace(vector_store=args.uri) if args.uri else settings  # validated as RAG_VECTOR_STORE is
    if settings.vector_store == "faiss":
        print("error: give --uri (a Milvus address or milvus-lite:FILE.db), or set RAG_VECTOR_STORE to one",
              file=sys.stderr)
        return EXIT_ERROR
    build_id = import_faiss_index(settings, settings.vector_store, settings.milvus_token,
                                  progress=lambda m: print(m, flush=True))
    print(f"published {build_id} at {settings.vector_store}")
    return 0


def cmd_feedback_export(args: argparse.Namespace, settings: Settings) -> int:
    from rag.serve.feedback import FeedbackStore
    from rag.serve.feedback_export import export_unhelpful

    written = export_unhelpful(FeedbackStore(settings.feedback_dir).ratings(), Path(args.file))
    print(f"wrote {written} 'Not helpful' ratings to {args.file}: fill in each one's \"evidence\" and "
          f"\"answers\" (or set \"answerable\": false); rag eval skips those still empty")
    return 0


def cmd_serve(args: argparse.Namespace, settings: Settings) -> int:
    from rag.index.lifecycle import check_corpus_has_pages
    from rag.serve.listening import bind

    # What can be found wrong in a moment is said before the web stack and the model load (seconds).
    check_corpus_has_pages(settings)
    sock = bind(settings.host, settings.port)
    from rag.serve.api import serve

    serve(settings, sock)
    return 0
