"""``posetrack train``: train or fine-tune HRNet from an experiment config.

Single process: ``posetrack train --config configs/coco/hrnet_w32_256x192.yaml --out runs/w32``.
Several GPUs: ``torchrun --nproc_per_node 4 -m posetrack train --config ...`` (one
process per GPU; batch_size is per process, as the official BATCH_SIZE_PER_GPU).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from posetrack.cli import CLIError

HELP = "train or fine-tune a pose model (COCO, PoseTrack, MPII); resumable"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", required=True, help="experiment YAML, e.g. configs/posetrack/hrnet_w48_384x288_finetune.yaml")
    parser.add_argument("--set", nargs="+", action="extend", default=[], metavar="KEY=VALUE",
                        help="config overrides, e.g. --set train.batch_size=16 train.lr=1e-4 (repeatable)")
    parser.add_argument("--out", default="runs/train", help="run folder: checkpoints, logs (default: runs/train)")
    parser.add_argument("--resume", nargs="?", const=True, default=None, metavar="CHECKPOINT",
                        help="continue a run: from OUT/checkpoint.pth, or the given checkpoint file")
    parser.add_argument("--init", help="start from these weights: a pretrained name (e.g. hrnet_w48_coco_384x288) "
                                       "or a checkpoint file (overrides train.init)")
    parser.add_argument("--device", help="torch device (default: cuda:<LOCAL_RANK> if available, else cpu)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.add_argument("--threads", type=int, help="torch CPU threads of this process (on a busy shared CPU, "
                                                     "1 can be many times faster than oversubscribed OpenMP)")


def run(args: argparse.Namespace) -> int:
    from posetrack.config import load_config
    from posetrack.experiment import Experiment
    from posetrack.train.builder import build_trainer
    from posetrack.train.distributed import cleanup_distributed, init_distributed
    from posetrack.train.hooks import BEST_FILE, CHECKPOINT_FILE, FINAL_FILE

    import torch

    if args.threads is not None:
        if args.threads < 1:
            raise CLIError(f"--threads must be >= 1, got {args.threads}")
        torch.set_num_threads(args.threads)
    exp = load_config(Experiment, args.config, args.set)
    out_dir = Path(args.out)
    resume = out_dir / CHECKPOINT_FILE if args.resume is True else args.resume
    dist_info, device = init_distributed(args.device)
    try:
        trainer = build_trainer(exp, out_dir=out_dir, device=device, dist_info=dist_info, resume=resume,
                                init=args.init, progress=not args.no_progress)
        trainer.train()
    finally:
        cleanup_distributed()
    if dist_info.is_main:
        evals = [h for h in trainer.hooks if type(h).__name__ == "EvalHook"]
        if evals and evals[0].best_epoch >= 0:
            print(f"best {evals[0].metric} {evals[0].best:.4f} at epoch {evals[0].best_epoch}: {out_dir / BEST_FILE}")
        print(f"checkpoint: {out_dir / CHECKPOINT_FILE}\nfinal weights: {out_dir / FINAL_FILE}")
        print(f"logs: {out_dir / 'train_log.csv'}, {out_dir / 'epoch_log.csv'}")
    return 0
