"""``python -m engine data build|info``: the conformer corpus (SMILES -> cached 3D targets)."""
from __future__ import annotations

HELP = "build or inspect the conformer corpus (data build --config CFG, data info DIR)"


def add_arguments(parser) -> None:
    sub = parser.add_subparsers(dest="data_command", metavar="ACTION")
    b = sub.add_parser("build", help="build (or resume) a corpus from a YAML config",
                       description="Filter the SMILES that ship with rdkit, embed ETKDGv3 + "
                                   "MMFF conformers in parallel and cache them on disk. An "
                                   "interrupted build resumes where it stopped.")
    b.add_argument("--config", required=True, help="corpus config YAML "
                   "(e.g. resources/configs/data_small.yaml)")
    b.add_argument("--out", help="corpus directory (default: cache_dir/<key> from the config)")
    b.add_argument("--workers", type=int, help="worker processes (default: config, else all "
                   "cores)")
    b.add_argument("--overwrite", action="store_true",
                   help="replace a different corpus already in --out")
    b.add_argument("--quiet", action="store_true", help="no progress bar")
    i = sub.add_parser("info", help="print counts and size of a built corpus")
    i.add_argument("dir", help="corpus directory")
    i.add_argument("--json", action="store_true", help="print the manifest as JSON")
    parser.set_defaults(_data_parser=parser)


def _human(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.1f} {unit}" if unit != "B" else f"{int(n)} B"
        n /= 1024
    return str(n)


def _print_info(info: dict) -> None:
    print(f"corpus key      {info['key'][:16]}")
    print(f"molecules       {info['molecules_ok']} ok, {info['molecules_failed']} failed "
          f"(of {info['molecules_requested']})")
    print(f"conformers      {info['conformers']} (mean {info['mean_atoms']} atoms/molecule)")
    print("splits          " + ", ".join(f"{k} {v}" for k, v in info["split_sizes"].items()))
    print(f"force fields    {info['force_fields']}")
    if info["failure_reasons"]:
        print(f"failures        {info['failure_reasons']}")
    print(f"filtered out    {info['rejected_by_filter']}")
    print(f"size on disk    {_human(info['size_bytes'])}")


def run(args) -> int:
    import json
    import time
    from contextlib import nullcontext

    from engine.commands._exit import EXIT_FAILED, EXIT_USAGE, error
    from engine.commands._output import output_errors
    from engine.errors import EngineError

    action = getattr(args, "data_command", None)
    if action is None:
        args._data_parser.print_help()
        return EXIT_USAGE
    try:
        from engine.data.corpus import build_corpus, corpus_info

        if action == "info":
            info = corpus_info(args.dir)
            if args.json:
                print(json.dumps(info, indent=1, sort_keys=True))
            else:
                _print_info(info)
            return 0
        from engine.data.config import load_corpus_config

        if args.workers is not None and args.workers < 1:
            return error("--workers must be >= 1")
        config = load_corpus_config(args.config)
        start = time.perf_counter()
        with output_errors(args.out) if args.out else nullcontext():
            out = build_corpus(config, args.out, workers=args.workers, overwrite=args.overwrite,
                               progress=not args.quiet)
        elapsed = time.perf_counter() - start
        print(f"corpus in {out} ({elapsed:.1f} s)")
        _print_info(corpus_info(out))
        return 0
    except EngineError as exc:
        return error(exc, EXIT_FAILED)
