"""flow: dense optical flow previous frame -> current frame (a ptlflow network, or OpenCV DIS).

FlowNet2 is the paper's choice; ptlflow's faster networks with pretrained checkpoints
(RAPIDFlow, RAPIDFlow with one iteration, FastFlowNet, NeuFlow, NeuFlow v2; see
``FLOW_NETWORKS``) run the same way. A network needs its checkpoint (a local ``checkpoint``
path, or ptlflow's ``things`` download into torch's hub cache). OpenCV DIS needs no weights and
is the default when no FlowNet2 checkpoint is available (``method: auto``). The stage logs
which one it uses when it opens, and for a network which correlation op ptlflow runs: the
``spatial-correlation-sampler`` package's kernel when it imports (never required), else
ptlflow's pure-PyTorch loop. Flow is computed at ``scale`` x the frame size:
propagated keypoints only need coarse motion, and flow dominates the frame budget.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np

from posetrack.device import PinnedUploader, StageStream
from posetrack.errors import PosetrackError
from posetrack.track.graph import Stage
from posetrack.track.types import FlowField

logger = logging.getLogger(__name__)

DIS_MIN_SIDE = 12  # OpenCV DIS refuses frames whose width and height are both below this
DIS_PRESETS = {"ultrafast": 0, "fast": 1, "medium": 2}  # cv2.DISOPTICAL_FLOW_PRESET_*
# ptlflow's "things" checkpoints (<Model>.pretrained_checkpoints["things"]); spelled out so that
# choosing the method does not import ptlflow (~10 s); a test checks they match ptlflow's.
_RELEASE = "https://github.com/hmorimitsu/ptlflow/releases/download/weights1/"
FLOWNET2_THINGS_URL = _RELEASE + "flownet2-things-d63b53a7.ckpt"
# flow.method -> checkpoint URL; the method is also the ptlflow model name. CPU ms per 384x288 pair
# (one thread, 2-core AMD EPYC under load, random weights): flownet2 5400, rapidflow 650,
# rapidflow_it1 110, fastflownet 940, neuflow 490, neuflow2 1050.
FLOW_NETWORKS = {
    "flownet2": FLOWNET2_THINGS_URL,
    "rapidflow": _RELEASE + "rapidflow-things-0377c8fa.ckpt",
    "rapidflow_it1": _RELEASE + "rapidflow-things-0377c8fa.ckpt",  # RAPIDFlow's weights, one refinement step
    "fastflownet": _RELEASE + "fastflownet-things3d-fc093d29.ckpt",
    "neuflow": _RELEASE + "neuflow-things-c402aa7a.ckpt",
    "neuflow2": _RELEASE + "neuflow2-things-6ed47437.ckpt",
}


class FlowWeightsError(PosetrackError, RuntimeError):
    """A flow network was asked for but its checkpoint is not available."""


@dataclass(frozen=True)
class FlowParams:
    # auto: flownet2 when its checkpoint is given or cached, else dis; or a network of FLOW_NETWORKS
    method: Literal["auto", "flownet2", "rapidflow", "rapidflow_it1", "fastflownet", "neuflow", "neuflow2",
                    "dis"] = "auto"
    checkpoint: str | None = None  # the network's checkpoint (ptlflow .ckpt); None: ptlflow's "things" download
    scale: float = 0.5  # flow resolution / frame resolution (lower: faster, coarser)
    device: str = "cpu"
    dis_preset: Literal["ultrafast", "fast", "medium"] = "medium"

    def __post_init__(self):
        if not 0 < self.scale <= 1:
            raise ValueError(f"flow scale must be in (0, 1], got {self.scale}")


def checkpoint_cache_path(method: str = "flownet2") -> Path:
    """Where ptlflow keeps (and looks for) the downloaded ``things`` checkpoint of a network."""
    import torch

    return Path(torch.hub.get_dir()) / "checkpoints" / Path(FLOW_NETWORKS[method]).name


def choose_flow_method(method: str, checkpoint: str | None) -> str:
    """``auto`` -> ``flownet2`` when a checkpoint is given or already cached, else ``dis``."""
    if method != "auto":
        return method
    if checkpoint is not None or checkpoint_cache_path("flownet2").is_file():
        return "flownet2"
    return "dis"


def _correlation_op() -> str:
    """Which correlation ptlflow's networks use: the spatial-correlation-sampler kernel when that
    package imports (ptlflow tries it first), else its pure-PyTorch loop."""
    try:
        import spatial_correlation_sampler  # noqa: F401
    except ImportError:
        return "ptlflow's PyTorch loop (pip install spatial-correlation-sampler for the CUDA kernel)"
    return "spatial-correlation-sampler kernel"


def _resize(image: np.ndarray, scale: float) -> np.ndarray:
    import cv2

    if scale == 1.0:
        return image
    h, w = image.shape[:2]
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    return cv2.resize(image, size, interpolation=cv2.INTER_AREA)


class FlowStage(Stage):
    """Input ``image`` (H, W, 3) uint8 RGB; output ``flow``: ``FlowField`` from the
    previous frame to this one, or None on the first frame of a video.

    Frames arrive in order on this stage's own thread, so it keeps the previous
    (resized) frame itself; ``reset()`` forgets it between videos.
    """

    Params = FlowParams
    inputs = ("image",)
    outputs = ("flow",)
    output_types = {"flow": FlowField}

    def __init__(self, params: FlowParams | None = None, **overrides):
        super().__init__(params, **overrides)
        self.used: str | None = None  # "dis" or a FLOW_NETWORKS name once opened
        self._prev = None  # last frame's network input (see _network_input)
        self._dis = None
        self._net = None
        self._upload = PinnedUploader(self.params.device)  # allocates its pinned buffer at the first frame
        self._stream = StageStream(self.params.device)  # its own CUDA stream, so its kernels overlap the other stages'

    def open(self) -> None:
        self.used = choose_flow_method(self.params.method, self.params.checkpoint)
        if self.used == "dis":
            import cv2

            self._dis = cv2.DISOpticalFlow_create(DIS_PRESETS[self.params.dis_preset])
            logger.info("flow: OpenCV DIS (%s preset, no weights) at %.2fx resolution", self.params.dis_preset, self.params.scale)
            return
        self._net = self._load_network().eval().to(self.params.device)
        logger.info("flow: %s (ptlflow, correlation: %s) at %.2fx resolution on %s", self.used, _correlation_op(),
                    self.params.scale, self.params.device)

    def _load_network(self):
        import ptlflow

        if self.params.checkpoint is not None and not Path(self.params.checkpoint).is_file():
            raise FlowWeightsError(f"{self.used} checkpoint not found: {self.params.checkpoint}")
        try:
            return ptlflow.get_model(self.used, ckpt_path=self.params.checkpoint or "things")
        except Exception as exc:  # noqa: BLE001 - offline download or a wrong file
            raise FlowWeightsError(
                f"{self.used} weights unavailable ({type(exc).__name__}: {' '.join(str(exc).split())[:300]}). "
                f"Download {FLOW_NETWORKS[self.used]} and put it at {checkpoint_cache_path(self.used)} "
                "or pass it with --flow-checkpoint PATH (params.checkpoint of the flow node); "
                "or use --flow dis (no weights)"
            ) from None

    def reset(self) -> None:
        self._prev = None

    def process(self, image: np.ndarray) -> dict:
        return self.process_batch([{"image": image}])[0]

    def process_batch(self, batch: list[dict]) -> list[dict]:
        with self._stream:
            # each frame is converted (and, for a network, uploaded) once and kept for the next pair
            scales = [self._frame_scale(item["image"]) for item in batch]
            frames = [self._network_input(_resize(item["image"], s)) for item, s in zip(batch, scales)]
            pairs = []  # (position in batch, previous, current)
            for i, cur in enumerate(frames):
                prev = self._prev if i == 0 else frames[i - 1]
                if prev is not None and prev.shape == cur.shape:
                    pairs.append((i, prev, cur))
            self._prev = frames[-1]
            out: list[dict] = [{"flow": None} for _ in batch]
            if not pairs:
                return out
            fields = self._dis_flows(pairs) if self._dis is not None else self._network_flows(pairs)
        for (i, _, _), vectors in zip(pairs, fields):
            out[i] = {"flow": FlowField(vectors / scales[i], scales[i])}
        return out

    def _frame_scale(self, image: np.ndarray) -> float:
        """``scale``, raised for tiny frames (a 17x13 video at 0.5) so that DIS gets the side it needs."""
        if self._dis is None:
            return self.params.scale
        return max(self.params.scale, DIS_MIN_SIDE / max(image.shape[:2]))

    def _network_input(self, small: np.ndarray):
        """A resized RGB frame -> DIS: gray uint8 (H, W); a network: (3, H, W) BGR float in [0, 1] on the device
        (ptlflow's input convention: images as read by cv2)."""
        import cv2

        if self._dis is not None:
            return cv2.cvtColor(small, cv2.COLOR_RGB2GRAY)
        return self._upload(small).permute(2, 0, 1).flip(0).float().div_(255.0)

    def _dis_flows(self, pairs) -> list[np.ndarray]:
        return [self._dis.calc(prev, cur, None) for _, prev, cur in pairs]

    def _network_flows(self, pairs) -> list[np.ndarray]:
        import torch

        # ptlflow models take {"images": (B, 2, 3, H, W)} and pad to their output stride themselves;
        # "flows" comes back (B, 1, 2, H, W) unpadded; one copy to the host for the whole batch
        images = torch.stack([torch.stack([prev, cur]) for _, prev, cur in pairs])
        with torch.inference_mode():
            flows = self._net({"images": images})["flows"][:, 0]
        vectors = flows.permute(0, 2, 3, 1).float().cpu().numpy()
        if not np.isfinite(vectors).all():  # e.g. fastflownet on frames under ~128 px: its coarsest level is empty
            raise ValueError(f"{self.used} gave non-finite flow for {tuple(images.shape[-2:])} px frames "
                             "(too small for its pyramid?); use a larger flow.scale or another flow.method")
        return list(vectors)

    def close(self) -> None:
        self._net = self._dis = None
