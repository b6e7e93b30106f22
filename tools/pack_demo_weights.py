"""Pack a trained checkpoint as the bundled demo weights: fp16 state dict, official key layout.

    python -m tools.pack_demo_weights RUN/checkpoint.pth posetrack/models/assets/hrnet_w16_demo_128x96.pth

Prints the sha256 to record in the weights registry and the model card.
"""

from __future__ import annotations

import argparse
import hashlib
import io

import torch

from posetrack.io.atomic import write_bytes_atomic
from posetrack.models import build_model, load_checkpoint


def pack(src: str, dst: str, arch: str) -> str:
    model = build_model(arch, num_joints=17)
    load_checkpoint(model, src)  # strict: proves the keys are the official layout
    state = {k: v.half() if v.is_floating_point() else v for k, v in model.state_dict().items()}
    buffer = io.BytesIO()
    torch.save(state, buffer)
    data = buffer.getvalue()
    write_bytes_atomic(dst, data)
    return hashlib.sha256(data).hexdigest()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("checkpoint")
    parser.add_argument("out")
    parser.add_argument("--arch", default="hrnet_w16")
    args = parser.parse_args()
    print(pack(args.checkpoint, args.out, args.arch))


if __name__ == "__main__":
    main()
