"""BlazePose (MediaPipe Pose) as a COCO-17 teacher on person crops.

MediaPipe 0.10.21 ships the BlazePose detector and the *full* landmark model inside its wheel
(``pose_detection.tflite``, ``pose_landmark_full.tflite``), so it runs offline. Only
``mp.solutions.pose.Pose(static_image_mode=True, model_complexity=1)`` is used: complexity 0
and 2 download their model files at construction time. BlazePose returns the most prominent
person of an image, so it is run on one crop per person box (box enlarged by ``enlarge``
around its centre, 1.25 as HRNet does, padded with black where it leaves the frame).

Landmark mapping, BlazePose index (``mp.solutions.pose.PoseLandmark``) -> COCO keypoint.
Left/right are the person's own sides in both sets (checked on COCO ground truth in
``tests/test_teacher.py``):

    COCO  name            BlazePose
     0    nose             0 NOSE
     1    left_eye         2 LEFT_EYE        (pupil; 1/3 are the inner/outer corners)
     2    right_eye        5 RIGHT_EYE
     3    left_ear         7 LEFT_EAR
     4    right_ear        8 RIGHT_EAR
     5    left_shoulder   11 LEFT_SHOULDER
     6    right_shoulder  12 RIGHT_SHOULDER
     7    left_elbow      13 LEFT_ELBOW
     8    right_elbow     14 RIGHT_ELBOW
     9    left_wrist      15 LEFT_WRIST
    10    right_wrist     16 RIGHT_WRIST
    11    left_hip        23 LEFT_HIP
    12    right_hip       24 RIGHT_HIP
    13    left_knee       25 LEFT_KNEE
    14    right_knee      26 RIGHT_KNEE
    15    left_ankle      27 LEFT_ANKLE
    16    right_ankle     28 RIGHT_ANKLE

Unused: eye corners (1, 3, 4, 6), mouth (9, 10), hand points (17-22), heels and toes (29-32).
The score of each COCO keypoint is the landmark's ``visibility`` (0..1, the model's estimate
that the point is visible in the image, not merely inside it). ``z`` is dropped.

Needs the optional ``mediapipe`` package (numpy < 2, so in its own virtual environment);
it is imported only when a ``BlazePoseTeacher`` is built.
"""

from __future__ import annotations

import numpy as np

# COCO keypoint k is BlazePose landmark BLAZEPOSE_TO_COCO[k].
BLAZEPOSE_TO_COCO: tuple[int, ...] = (0, 2, 5, 7, 8, 11, 12, 13, 14, 15, 16, 23, 24, 25, 26, 27, 28)
NUM_BLAZEPOSE_LANDMARKS = 33

MEDIAPIPE_PIN = "mediapipe==0.10.21"


class TeacherUnavailableError(RuntimeError):
    """mediapipe is not installed in this Python environment."""


def crop_region(box_xywh: np.ndarray, enlarge: float = 1.25) -> np.ndarray:
    """Integer crop region (x0, y0, x1, y1), image px, of ``box_xywh`` enlarged about its centre.

    The region may leave the image; ``crop_with_padding`` fills the outside with black.
    """
    x, y, w, h = (float(v) for v in box_xywh)
    if not (w > 0 and h > 0):
        raise ValueError(f"box {list(box_xywh)} has no area")
    cx, cy = x + w / 2, y + h / 2
    half_w, half_h = w * enlarge / 2, h * enlarge / 2
    return np.array(
        [np.floor(cx - half_w), np.floor(cy - half_h), np.ceil(cx + half_w), np.ceil(cy + half_h)], np.int64
    )


def crop_with_padding(image: np.ndarray, region: np.ndarray) -> np.ndarray:
    """``image[y0:y1, x0:x1]`` of an (H, W, 3) image, zero-padded where the region leaves it."""
    x0, y0, x1, y1 = (int(v) for v in region)
    height, width = image.shape[:2]
    out = np.zeros((y1 - y0, x1 - x0, image.shape[2]), image.dtype)
    sx0, sy0, sx1, sy1 = max(x0, 0), max(y0, 0), min(x1, width), min(y1, height)
    if sx1 > sx0 and sy1 > sy0:
        out[sy0 - y0:sy1 - y0, sx0 - x0:sx1 - x0] = image[sy0:sy1, sx0:sx1]
    return out


def landmarks_to_coco(landmarks: np.ndarray, region: np.ndarray) -> np.ndarray:
    """BlazePose landmarks of one crop -> COCO keypoints in image px.

    Args:
        landmarks: (33, 4) x, y (normalised to the crop's width/height), z, visibility.
        region: the crop's (x0, y0, x1, y1) in image px (``crop_region``).

    Returns (17, 3) float32: x, y in image px and the visibility as score.
    """
    landmarks = np.asarray(landmarks, np.float64)
    if landmarks.shape != (NUM_BLAZEPOSE_LANDMARKS, 4):
        raise ValueError(f"expected ({NUM_BLAZEPOSE_LANDMARKS}, 4) landmarks, got {landmarks.shape}")
    x0, y0, x1, y1 = (float(v) for v in region)
    picked = landmarks[list(BLAZEPOSE_TO_COCO)]
    out = np.empty((len(BLAZEPOSE_TO_COCO), 3), np.float32)
    out[:, 0] = x0 + picked[:, 0] * (x1 - x0)
    out[:, 1] = y0 + picked[:, 1] * (y1 - y0)
    out[:, 2] = picked[:, 3]
    return out


def _import_mediapipe():
    try:
        import mediapipe as mp
    except ImportError as exc:
        raise TeacherUnavailableError(
            f"the BlazePose teacher needs mediapipe ({exc}). It pins numpy<2, so install it in its "
            f"own environment: python3 -m venv /work/teacher-venv && "
            f"/work/teacher-venv/bin/pip install {MEDIAPIPE_PIN}"
        ) from None
    return mp


class BlazePoseTeacher:
    """One COCO-17 pose per person box, from BlazePose (full model) run on the box's crop.

    Args:
        enlarge: crop = box scaled by this about its centre (context for the detector).
        min_detection_confidence: BlazePose person-detector threshold on the crop.
        min_presence: BlazePose landmark-model pose presence threshold (below: no pose).

    Call with an (H, W, 3) uint8 RGB image and (N, 4) boxes x, y, w, h (image px); returns
    ``keypoints`` (N, 17, 3) float32 (x, y image px, visibility; zeros where nothing was found)
    and ``found`` (N,) bool. Not thread-safe: one instance per process. Use as a context
    manager (or call ``close``) to free the MediaPipe graph.
    """

    def __init__(self, enlarge: float = 1.25, min_detection_confidence: float = 0.5, min_presence: float = 0.5):
        mp = _import_mediapipe()
        self.enlarge = enlarge
        # static_image_mode: every crop is a new image (no tracking/smoothing across calls);
        # model_complexity=1: the only landmark model shipped in the wheel.
        self._pose = mp.solutions.pose.Pose(
            static_image_mode=True,
            model_complexity=1,
            enable_segmentation=False,
            min_detection_confidence=min_detection_confidence,
            min_tracking_confidence=min_presence,
        )

    def __enter__(self) -> "BlazePoseTeacher":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        self._pose.close()

    def __call__(self, image_rgb: np.ndarray, boxes_xywh: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        image = np.asarray(image_rgb)
        if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
            raise ValueError(f"expected an (H, W, 3) uint8 RGB image, got {image.shape} {image.dtype}")
        boxes = np.asarray(boxes_xywh, np.float64).reshape(-1, 4)
        keypoints = np.zeros((len(boxes), len(BLAZEPOSE_TO_COCO), 3), np.float32)
        found = np.zeros(len(boxes), bool)
        for i, box in enumerate(boxes):
            pose = self.pose_in_region(image, crop_region(box, self.enlarge))
            if pose is not None:
                keypoints[i], found[i] = pose, True
        return keypoints, found

    def pose_in_region(self, image_rgb: np.ndarray, region: np.ndarray) -> np.ndarray | None:
        """The most prominent person in ``image_rgb[y0:y1, x0:x1]`` (zero-padded outside the image):
        (17, 3) float32 x, y (image px), visibility; None when BlazePose finds nobody."""
        result = self._pose.process(np.ascontiguousarray(crop_with_padding(image_rgb, region)))
        if result.pose_landmarks is None:
            return None
        landmarks = np.array([(p.x, p.y, p.z, p.visibility) for p in result.pose_landmarks.landmark], np.float64)
        return landmarks_to_coco(landmarks, region)
