"""``python -m engine train --config CONFIG.yaml [--out DIR] [--resume]``."""
from __future__ import annotations

import sys

HELP = "train a network from a YAML config (checkpoints and log.csv in --out)"


def add_arguments(parser) -> None:
    parser.add_argument("--config", required=True, help="training config (YAML), e.g. "
                        "resources/configs/small_test.yaml")
    parser.add_argument("--out", default="runs/train",
                        help="output folder for checkpoint.pt, log.csv, config.yaml "
                             "(default: runs/train)")
    parser.add_argument("--resume", action="store_true",
                        help="continue from DIR/checkpoint.pt exactly where it stopped")
    parser.add_argument("--steps", type=int, default=None,
                        help="override optim.total_steps")
    parser.add_argument("--device", choices=["auto", "cpu", "cuda"], default=None,
                        help="override run.device")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def run(args) -> int:
    from engine.commands._exit import EXIT_FAILED, error
    from engine.commands._output import OutputError, output_errors
    from engine.errors import EngineError
    from engine.training.config import load_config
    from engine.training.distributed import shutdown_distributed
    from engine.training.trainer import Trainer

    try:
        cfg = load_config(args.config)
        if args.steps is not None:
            if args.steps < 1:
                return error("--steps must be >= 1")
            cfg.optim.total_steps = args.steps
        if args.device is not None:
            cfg.run.device = args.device
        with output_errors(args.out):
            trainer = Trainer(cfg, args.out, resume=args.resume,
                              progress_bar=not args.no_progress and sys.stderr.isatty())
            result = trainer.run()
    except EngineError as exc:
        shutdown_distributed()
        return error(exc, EXIT_FAILED)
    except OutputError:          # engine.cli reports it
        shutdown_distributed()
        raise
    except KeyboardInterrupt:
        print("interrupted; resume with --resume (the last checkpoint is kept)", file=sys.stderr)
        shutdown_distributed()
        return 130
    shutdown_distributed()
    if trainer.dist.is_main:
        val = result["val_loss"]
        val_text = f", validation loss {val:.4f}" if val is not None else ""
        print(f"{result['status']} at step {result['step']}{val_text}; "
              f"checkpoint: {result['checkpoint']}")
    return 0
