"""`witryna train` and `witryna export`, registered into the service's console script.

service/ may not import training/, so `witryna` finds ``register`` through the
``witryna.commands`` entry point. Torch loads inside the commands: ``witryna --help``
stays fast and works where only the service is installed.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

DEFAULT_SESSIONS = 4000
DEFAULT_EPOCHS = 20


def register(subparsers: Any) -> None:
    """Add ``train`` and ``export`` to an ``argparse`` subparsers object."""
    from training.data.adapters import FORMATS

    train = subparsers.add_parser(
        "train",
        help="train a model on a clickstream file or simulated sessions",
        description="Train the intent + next-item model; without --data/--events, on simulated "
        "shoppers. Data-parallel with: torchrun --nproc_per_node N -m training.cli train ...",
        epilog="formats: " + "; ".join(f"{name}: {f.description}" for name, f in FORMATS.items()),
    )
    data = train.add_argument_group("real data (streamed; bad rows are counted and reported)")
    data.add_argument("--data", type=Path, nargs="+", help="file(s) to train on, read in order")
    data.add_argument("--format", choices=list(FORMATS), help="format of --data")
    data.add_argument(
        "--map",
        action="append",
        metavar="FIELD=COLUMN,...",
        help="for --format csv/jsonl: e.g. visitor_id=user,type=action,ts=time,item_id=sku "
        "and type:VALUE=EVENT_TYPE such as type:buy=purchase (repeatable)",
    )
    data.add_argument("--events", type=Path, help="Witryna events JSONL (= --format witryna)")
    data.add_argument(
        "--in-memory",
        action="store_true",
        help="hold the sessions in memory rather than encode them to --cache-dir first",
    )
    data.add_argument(
        "--cache-dir",
        type=Path,
        default=Path("build/cache"),
        help="where encoded data is memory-mapped from (reused while the file is unchanged)",
    )
    train.add_argument("--sessions", type=int, default=DEFAULT_SESSIONS, help="simulated sessions")
    train.add_argument(
        "--max-len",
        type=int,
        default=50,
        choices=range(2, 1001),
        metavar="N",
        help="events of history the model reads (%(default)s; shops with long sessions may "
        "want 200): serving keeps WITRYNA_HISTORY_LEN events, set it at least this high",
    )
    train.add_argument(
        "--epochs",
        type=int,
        default=DEFAULT_EPOCHS,
        help="the most passes over the data (%(default)s); training stops earlier when the "
        "validation loss stops improving",
    )
    train.add_argument("--seed", type=int, default=0, help="seed of simulation and training")
    train.add_argument(
        "--out",
        type=Path,
        help="checkpoint path (default build/<stem of the first --data or the --events "
        "file>.pt, or build/simulated.pt): never the demo model's checkpoint unless named",
    )
    train.set_defaults(func=train_command)

    export = subparsers.add_parser(
        "export",
        help="export a checkpoint to models/<name>/<version>",
        description="Export a checkpoint to ONNX with its manifest; refused on a parity failure.",
    )
    export.add_argument("checkpoint", type=Path, help="a checkpoint written by `train`")
    export.add_argument(
        "--models-dir", type=Path, help="artefact root (default WITRYNA_MODELS_DIR or models)"
    )
    export.add_argument(
        "--name", help="model name, a folder under models-dir (default: the checkpoint's stem)"
    )
    export.add_argument(
        "--half",
        action="store_true",
        help="half-precision weights and arithmetic, fp32 inputs and outputs (for GPUs)",
    )
    export.add_argument(
        "--retrieval",
        choices=["auto", "on", "off"],
        default="auto",
        help="ship an item index beside the graph, so that large catalogues score candidates "
        "only (auto: from 100,000 items; docs/model.md, Candidate retrieval)",
    )
    export.set_defaults(func=export_command)

    from training.data.demo_catalogue import add_parser as add_demo_catalogue
    from training.evaluation.evaluate_all import add_parser as add_evaluate_all
    from training.evaluation.evaluate_cli import add_parser as add_evaluate
    from training.model.bench_models import add_parser as add_bench_models

    add_evaluate(subparsers)
    add_evaluate_all(subparsers)
    add_bench_models(subparsers)
    add_demo_catalogue(subparsers)


def train_command(args: argparse.Namespace) -> int:
    import torch

    from training.data.adapters import AdapterError
    from training.data.simulator import simulate
    from training.data.treatment import LoggedTreatment, logged_treatments
    from training.model import distributed
    from training.model.train import train

    distributed.setup()  # under torchrun: join the ranks; otherwise nothing
    torch.set_num_threads(distributed.threads_per_process())
    main = distributed.is_main()
    # Only simulated sessions come with a logged incentive holdout to train the uplift heads.
    treatments: dict[str, LoggedTreatment] | None = None
    from_file = args.events is not None or bool(args.data)
    if from_file and not args.in_memory:
        return _finish(args, _train_from_file(args))
    if from_file:
        try:
            sessions, source = _read_data(args, progress=main)
        except AdapterError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
    else:
        simulated = simulate(args.sessions, args.seed)
        sessions = [s.events for s in simulated]
        treatments = logged_treatments(simulated)
        source = f"{len(sessions)} simulated sessions (seed {args.seed})"
    if len(sessions) < 2:
        print(f"need at least 2 sessions to train and evaluate, got {source}", file=sys.stderr)
        return 2
    if main:
        print(f"training on {source}", file=sys.stderr)
    return _finish(args, train(sessions, _config(args), treatments))


def _config(args: argparse.Namespace) -> Any:
    from training.model.train import TrainConfig

    return TrainConfig(epochs=args.epochs, seed=args.seed, max_len=args.max_len)


def _train_from_file(args: argparse.Namespace) -> Any:
    """The ``TrainResult`` of the disk-backed path, or an exit status on a bad request."""
    from training.data.adapters import AdapterError
    from training.model.train import train_from_file

    try:
        paths, fmt = _paths_and_format(args)
        return train_from_file(paths, fmt, _config(args), args.map, args.cache_dir)
    except AdapterError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


def _finish(args: argparse.Namespace, result: Any) -> int:
    """Rank 0 writes the checkpoint and prints the metrics; an int is an exit status."""
    from training.model import distributed
    from training.model.checkpoint import save_checkpoint

    if isinstance(result, int):
        return result
    world_size = distributed.world_size()
    main = distributed.is_main()
    distributed.teardown()
    if not main:  # rank 0 alone writes and reports
        return 0
    result.checkpoint["world_size"] = world_size
    out = args.out or default_out(args)
    save_checkpoint(result.checkpoint, out)
    for name, value in result.checkpoint["metrics"].items():
        print(f"{name}: {value:.4f}", file=sys.stderr)
    print(f"trained in {result.seconds:.1f}s", file=sys.stderr)
    print(out)
    return 0


def default_out(args: argparse.Namespace) -> Path:
    """A checkpoint named after its data, so that training on a file leaves the demo's alone."""
    source = args.events if args.events is not None else (args.data or [None])[0]
    return Path("build") / f"{source.stem if source is not None else 'simulated'}.pt"


def _read_data(args: argparse.Namespace, progress: bool) -> tuple[list[Any], str]:
    """Sessions of ``--data``/``--events``; raises ``AdapterError`` on a bad request."""
    from training.data.adapters import read_sessions

    paths, fmt = _paths_and_format(args)
    sessions = list(read_sessions(paths, fmt, args.map, progress=progress))
    names = ", ".join(str(path) for path in paths)
    return sessions, f"{len(sessions)} sessions from {names} ({fmt})"


def _paths_and_format(args: argparse.Namespace) -> tuple[list[Path], str]:
    from training.data.adapters import AdapterError

    if args.events is not None:
        if args.data:
            raise AdapterError("give --events or --data, not both")
        return [args.events], "witryna"
    if args.format is None:
        raise AdapterError("--data needs --format (one of: rees46, otto, ..., see --help)")
    return list(args.data), args.format


def export_command(args: argparse.Namespace) -> int:
    from service.settings import Settings
    from training.model.export import ParityError, export
    from training.model.retrieval import RetrievalError

    models_dir = args.models_dir or Path(Settings.from_env().models_dir)
    name = export_name(args)
    try:
        retrieval = {"auto": None, "on": True, "off": False}[args.retrieval]
        artefact = export(args.checkpoint, models_dir, name, half=args.half, retrieval=retrieval)
    except (ParityError, RetrievalError) as exc:
        print(f"not published: {exc}", file=sys.stderr)
        return 1
    where = f" --models-dir {args.models_dir}" if args.models_dir else ""
    publish = f"witryna publish{where} --name {name} {artefact.name}"
    print(f"exported {name}/{artefact.name}; nothing serves it until `{publish}`", file=sys.stderr)
    print(artefact)
    return 0


def export_name(args: argparse.Namespace) -> str:
    """``--name``, else the checkpoint's file name: build/rees46.pt exports as rees46."""
    return str(args.name or args.checkpoint.stem)


def main(argv: list[str] | None = None) -> int:
    """``python -m training.cli`` (what torchrun runs): the training commands alone."""
    parser = argparse.ArgumentParser(
        prog="python -m training.cli", description="Witryna training commands"
    )
    register(parser.add_subparsers(dest="command", required=True, metavar="COMMAND"))
    args = parser.parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
