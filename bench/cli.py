"""`witryna bench`, `witryna bench-inference`, `bench-memory` and `bench-erasure`, added to the
command through the ``witryna.commands`` entry point: the service itself never imports the
benchmark."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from service.settings import Settings

# Results go to build/ unless asked: the committed ones in bench/results/ are refreshed on purpose.
DEFAULT_OUT = Path("build/bench")


def bench(args: argparse.Namespace) -> int:
    from bench.suite import run

    return run(args)


def bench_inference(args: argparse.Namespace) -> int:
    from bench.inference import run

    settings = Settings.from_env()
    print(run(args.models, args.seconds, settings.ort_threads, settings.device, args.out))
    return 0


def bench_retrieval(args: argparse.Namespace) -> int:
    from bench.retrieval import run

    settings = Settings.from_env()
    print(run(args.model, args.breadths, args.seconds, settings.ort_threads, args.out))
    return 0


def bench_faults(args: argparse.Namespace) -> int:
    from bench.fault_runs import SCENARIOS, run
    from bench.fault_summary import write

    names = args.scenarios or list(SCENARIOS)
    seconds = {name: args.seconds or (60.0 if name == "kill" else 21.0) for name in names}
    report = run(names, args.rate, seconds, args.out)
    print(write(report, args.out))
    return 0


def bench_memory(args: argparse.Namespace) -> int:
    from bench.memory_report import run

    return run(args)


def bench_erasure(args: argparse.Namespace) -> int:
    from bench.erasure import run

    return run(args)


def register(commands: Any) -> None:
    """Add the ``bench*`` commands to an ``argparse`` subparsers object."""
    bench_parser = commands.add_parser(
        "bench", help="measure page-view latency and throughput, on a service it starts or --url"
    )
    bench_parser.add_argument("--url", help="a running service; default: start one on loopback")
    bench_parser.add_argument(
        "--requests", type=int, default=1000, help="page views timed one at a time (%(default)s)"
    )
    bench_parser.add_argument(
        "--visitors", type=int, default=100, help="visitor ids they are spread over (%(default)s)"
    )
    bench_parser.add_argument(
        "--seed", type=int, default=7, help="seed of the visitors' journeys (%(default)s)"
    )
    bench_parser.add_argument(
        "--out", type=Path, default=DEFAULT_OUT, help="results folder (default %(default)s)"
    )
    bench_parser.add_argument(
        "--rates", type=float, nargs="*", metavar="RPS",
        help="fixed request rates to offer, then saturation (e.g. 250 500 1000); "
        "needs the floor route: a stack started by bench, or WITRYNA_BENCH_ROUTES=1",
    )  # fmt: skip
    bench_parser.add_argument("--seconds", type=float, default=10.0, help="per load run")
    bench_parser.add_argument(
        "--inference-models", type=Path, metavar="DIR",
        help="artefacts of several catalogue sizes (`witryna bench-models`) to compare "
        "micro-batched with unbatched inference on",
    )  # fmt: skip
    bench_parser.add_argument(
        "--inference-seconds",
        type=float,
        default=5.0,
        help="with --inference-models: seconds per measurement (%(default)s)",
    )
    bench_parser.add_argument(
        "--profile", action="store_true",
        help="with --rates: sample the server worker with py-spy during a saturation run",
    )  # fmt: skip
    bench_parser.add_argument(
        "--workers", type=int, nargs="+", metavar="N",
        help="page views at saturation with WITRYNA_WORKERS=N against 1, each on stacks of its "
        "own, the load generator on the cores left (2 x --seconds a count, in rounds)",
    )  # fmt: skip
    bench_parser.add_argument(
        "--workers-rounds", type=int, default=4, help="with --workers: rounds (%(default)s)"
    )
    bench_parser.add_argument(
        "--catalogues", type=Path, metavar="DIR",
        help="models of several catalogue sizes (`witryna bench-models`): page views at "
        "saturation on each, stacks in turns (2 x --seconds a model, in rounds)",
    )  # fmt: skip
    bench_parser.add_argument(
        "--catalogue-rounds", type=int, default=4, help="with --catalogues: rounds (%(default)s)"
    )
    bench_parser.add_argument(
        "--auth-overhead", action="store_true",
        help="what the site key costs: page views with keys and without auth, on two services "
        "of their own in alternating rounds, --seconds at a fixed rate and at saturation a side",
    )  # fmt: skip
    bench_parser.add_argument(
        "--auth-pairs", type=int, default=2,
        help="with --auth-overhead: pairs of services, one after another, started in turns",
    )  # fmt: skip
    bench_parser.add_argument(
        "--auth-rounds", type=int, default=4, help="with --auth-overhead: rounds a pair"
    )
    bench_parser.add_argument(
        "--auth-rate", type=float, default=250.0, metavar="RPS",
        help="with --auth-overhead: the fixed rate latency is measured at",
    )  # fmt: skip
    bench_parser.set_defaults(func=bench)

    inference_parser = commands.add_parser(
        "bench-inference",
        help="measure the model alone, micro-batched and not, on WITRYNA_DEVICE",
    )
    inference_parser.add_argument(
        "models", type=Path, help="artefacts of several catalogue sizes (`witryna bench-models`)"
    )
    inference_parser.add_argument("--seconds", type=float, default=5.0, help="per measurement")
    inference_parser.add_argument(
        "--out", type=Path, default=DEFAULT_OUT, help="results folder (default %(default)s)"
    )
    inference_parser.set_defaults(func=bench_inference)

    retrieval_parser = commands.add_parser(
        "bench-retrieval",
        help="recall and rows/s of an artefact's item index by the lists a search reads",
    )
    retrieval_parser.add_argument(
        "model", type=Path, help="an artefact folder, or a model's folder (its newest version)"
    )
    retrieval_parser.add_argument(
        "--breadths", type=int, nargs="+", metavar="N",
        help="lists a search reads, each measured (default: 8, 16, 32, ... doubling up to "
        "all of the index's, as export tries them)",
    )  # fmt: skip
    retrieval_parser.add_argument("--seconds", type=float, default=3.0, help="per measurement")
    retrieval_parser.add_argument(
        "--out", type=Path, default=DEFAULT_OUT, help="results folder (default %(default)s)"
    )
    retrieval_parser.set_defaults(func=bench_retrieval)

    faults_parser = commands.add_parser(
        "bench-faults",
        help="measure page views and events while Redis is killed, paused or slowed, and "
        "check that no acknowledged event is lost",
    )
    faults_parser.add_argument("scenarios", nargs="*", help="kill, sigterm, pause, slow (all)")
    faults_parser.add_argument("--rate", type=float, default=200.0, help="requests/s")
    faults_parser.add_argument(
        "--seconds", type=float, help="per scenario; default 60 for kill, 21 for the others"
    )
    faults_parser.add_argument(
        "--out",
        type=Path,
        default=DEFAULT_OUT / "faults",
        help="results folder (default %(default)s)",
    )
    faults_parser.set_defaults(func=bench_faults)

    memory_parser = commands.add_parser(
        "bench-memory",
        help="memory of `witryna serve` per worker (RSS, USS, PSS, shared, file-backed) "
        "for each model artefact",
    )
    memory_parser.add_argument(
        "dirs", type=Path, nargs="+", metavar="DIR",
        help="model folders (items-N/<version>...), or folders of them (`witryna bench-models`)",
    )  # fmt: skip
    memory_parser.add_argument("--workers", type=int, default=2, help="WITRYNA_WORKERS")
    memory_parser.add_argument(
        "--warm-seconds", type=float, default=3.0, help="page views at saturation first"
    )
    memory_parser.add_argument("--visitors", type=int, default=100, help="visitor ids")
    memory_parser.add_argument("--seed", type=int, default=7, help="seed of the page views")
    memory_parser.add_argument(
        "--out", type=Path, default=DEFAULT_OUT, help="results folder (default %(default)s)"
    )
    memory_parser.set_defaults(func=bench_memory)

    erasure_parser = commands.add_parser(
        "bench-erasure",
        help="measure erasing a person while the logs hold a million entries",
    )
    erasure_parser.add_argument("--entries", type=int, default=1_000_000, help="stream entries")
    erasure_parser.add_argument("--visitors", type=int, default=100_000, help="writing them")
    erasure_parser.add_argument("--erasures", type=int, default=200, help="persons erased")
    erasure_parser.add_argument(
        "--seed", type=int, default=7, help="seed of the entries and of who is erased (%(default)s)"
    )
    erasure_parser.add_argument(
        "--out", type=Path, default=DEFAULT_OUT, help="results folder (default %(default)s)"
    )
    erasure_parser.set_defaults(func=bench_erasure)
