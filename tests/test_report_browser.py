"""The HTML report in a real headless browser (Debian's chromium driven by Playwright).

A real `posetrack track --report` run (demo.mp4, fixed boxes, the bundled demo weights, overlay
video) writes the report; the page is checked against its own PoseTrack JSON: canvas pixels at the joints of a
frame, the timeline's track ids, clicks and keys. Never `playwright install`: the browser is
the system's chromium (.ci/run installs it).
"""

from __future__ import annotations

import argparse
import base64
import json
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest

from posetrack.io.render import track_color
from posetrack.io.video import read_video
from posetrack.report import load_tracked_video, read_run_facts, track_stats, write_report
from tests.report_samples import VIDEO, gt_and_prediction

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = shutil.which("chromium")
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed "
                                "(apt-get install -y chromium; .ci/run does this)")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--no-first-run"]
MIN_SCORE = 0.2  # the page's default joint-score threshold
RADIUS = 4  # joint dot radius on a 960x540 frame (line width 2 + 2)

# three people walking away from the camera; the right one is boxed in frames 0 and 4 only
BOXES = {0: [440, 150, 90, 200], 1: [600, 130, 100, 260], 2: [790, 220, 170, 320]}


def detections() -> list[dict]:
    dets = []
    for frame in range(5):
        dets.append({"image_id": frame, "bbox": [440 + 3 * frame, 150, 90, 200], "score": 0.9})
        dets.append({"image_id": frame, "bbox": BOXES[1], "score": 0.8})
        if frame in (0, 4):
            dets.append({"image_id": frame, "bbox": BOXES[2], "score": 0.7})
    return dets


@pytest.fixture(scope="module")
def tracked(shared_data, tmp_path_factory) -> Path:
    from posetrack.cli import track

    root = tmp_path_factory.mktemp("report")
    (root / "dets.json").write_text(json.dumps(detections()))
    parser = argparse.ArgumentParser()
    track.add_arguments(parser)
    args = parser.parse_args([str(shared_data / "videos" / "demo.mp4"), "--out", str(root / "out"), "--render",
                              "--weights", "hrnet_w16_demo_128x96", "--detections", str(root / "dets.json"),
                              "--pipeline", str(ROOT / "pipelines" / "detect_only.yaml"),
                              "--set", "pose.flip_test=false", "pose.mode=fp32", "--report"])  # fp32: no mode search
    assert track.run(args) == 0
    return root / "out"


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield b
        b.close()


class Page:
    """One opened report; records console errors, page errors and every request."""

    def __init__(self, browser, path: Path):
        self.page = browser.new_page(viewport={"width": 1280, "height": 1400})
        self.errors, self.requests = [], []
        self.page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.page.on("request", lambda r: self.requests.append(r.url))
        self.page.goto(path.resolve().as_uri())
        self.page.wait_for_selector("body[data-ready='1']")

    def wait_video(self) -> None:
        self.page.wait_for_function("document.getElementById('video').readyState >= 2")

    def frame(self) -> int:
        return int(self.page.text_content("#frame"))

    def go_to(self, k: int) -> None:
        self.page.focus("#scrub")
        self.page.keyboard.press("Home")
        for _ in range(k):
            self.page.keyboard.press("ArrowRight")
        assert self.frame() == k

    def _png(self, script: str) -> np.ndarray:
        url = self.page.evaluate(script)
        return cv2.imdecode(np.frombuffer(base64.b64decode(url.split(",", 1)[1]), np.uint8), cv2.IMREAD_UNCHANGED)

    def canvas(self) -> np.ndarray:
        """The overlay canvas as (H, W, 4) BGRA."""
        return self._png("document.getElementById('overlay').toDataURL('image/png')")

    def video_image(self) -> np.ndarray:
        """The video frame on screen once the seek has landed, (H, W, 3) RGB at its displayed size
        (a screenshot with the overlay hidden: a file:// video would taint a canvas)."""
        self.page.wait_for_function("!document.getElementById('video').seeking && "
                                    "document.getElementById('video').readyState >= 2")
        self.page.eval_on_selector("#overlay", "c => { c.style.visibility = 'hidden'; }")
        png = self.page.locator("#video").screenshot()
        self.page.eval_on_selector("#overlay", "c => { c.style.visibility = ''; }")
        return cv2.cvtColor(cv2.imdecode(np.frombuffer(png, np.uint8), cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)


@pytest.fixture
def report(browser, tracked):
    page = Page(browser, tracked / "report" / "demo.html")
    yield page
    page.page.close()


def check_frame_drawn(image: np.ndarray, video, k: int) -> int:
    """Every drawn joint of frame k shows its track's colour at its position; nothing is drawn away
    from the people. Returns the number of joints checked."""
    rows = range(video.offsets[k], video.offsets[k + 1])
    shown = [(n, j) for n in rows for j in range(17)
             if video.present[n, j] and video.keypoints[n, j, 2] >= MIN_SCORE]
    checked = 0
    for n, j in shown:
        x, y = video.keypoints[n, j, :2]
        others = [video.keypoints[m, i, :2] for m, i in shown if m != n]
        if any(np.hypot(*(np.array([x, y]) - o)) < 2 * RADIUS + 2 for o in others):
            continue  # another person's dot may cover this one
        b, g, r, a = image[int(round(y)), int(round(x))].astype(int)
        assert a == 255 and np.abs(np.array([r, g, b]) - track_color(int(video.track_id[n]))).max() <= 3, \
            (k, int(video.track_id[n]), j, (r, g, b, a))
        checked += 1
    # opaque pixels only near people: their joints' box plus the dot, limb and id label margin
    mask = np.zeros(image.shape[:2], bool)
    for n in rows:
        ok = video.present[n] & (video.keypoints[n, :, 2] >= MIN_SCORE - 0.002)  # the page rounds scores to 1/254
        if ok.any():
            (x1, y1), (x2, y2) = video.keypoints[n, ok, :2].min(0), video.keypoints[n, ok, :2].max(0)
            mask[max(int(y1) - 30, 0):int(y2) + 12, max(int(x1) - 20, 0):int(x2) + 20] = True
    assert not np.any(image[..., 3][~mask]), f"frame {k}: pixels drawn away from every person"
    return checked


def lone_joint(video, k: int, pad: float = 20) -> tuple[int, np.ndarray]:
    """A person of frame k and one of its shown joints that no other person's click box (its shown
    joints' box + ``pad``, as the page) contains."""
    rows = range(video.offsets[k], video.offsets[k + 1])
    shown = {n: video.present[n] & (video.keypoints[n, :, 2] >= MIN_SCORE) for n in rows}
    boxes = {n: (video.keypoints[n, ok, :2].min(0) - pad, video.keypoints[n, ok, :2].max(0) + pad)
             for n, ok in shown.items() if ok.any()}
    for n in boxes:
        for j in np.nonzero(shown[n])[0]:
            p = video.keypoints[n, j, :2]
            if not any(np.all(p >= lo) and np.all(p <= hi) for m, (lo, hi) in boxes.items() if m != n):
                return n, p
    raise AssertionError(f"every joint of frame {k} lies in two people's boxes")


def test_page_loads_offline_without_errors(report, tracked):
    report.wait_video()
    assert report.errors == []
    page_url = (tracked / "report" / "demo.html").resolve().as_uri()
    video_url = (tracked / "render" / "demo.mp4").resolve().as_uri()
    assert set(report.requests) == {page_url, video_url}
    size = report.page.evaluate("[document.getElementById('video').videoWidth, document.getElementById('video').videoHeight]")
    assert size == [960, 540]
    assert report.page.evaluate("[document.getElementById('overlay').width, document.getElementById('overlay').height]") == [960, 540]
    # the run facts the track run wrote: input, stages, every notice
    facts = read_run_facts(tracked, "demo")
    shown = report.page.text_content("#facts")
    assert facts["input"] in shown and "DetectionsFileStage" in shown and "pose weights" in shown
    assert report.page.eval_on_selector_all("#facts ul.notices li", "els => els.map(e => e.textContent)") \
        == facts["notices"] and len(facts["notices"]) >= 2


def test_canvas_shows_the_skeletons_of_frame_k(report, tracked):
    video = load_tracked_video(tracked / "posetrack" / "demo.json")
    rendered = [f.image for f in read_video(tracked / "render" / "demo.mp4")]
    report.wait_video()
    for k in (0, 3):
        report.go_to(k)
        assert check_frame_drawn(report.canvas(), video, k) >= 10
        # the video under the canvas shows the same frame: closest to frame k of the overlay video
        shown = report.video_image().astype(np.int16)
        diffs = [np.abs(shown - cv2.resize(r, shown.shape[1::-1], interpolation=cv2.INTER_AREA)).mean()
                 for r in rendered]
        assert int(np.argmin(diffs)) == k and diffs[k] < 4, diffs
    # the slider at 1.0 hides every joint (all scores are below 1): a blank canvas
    report.page.focus("#threshold")
    report.page.keyboard.press("End")
    assert report.page.text_content("#threshold-value") == "1.00"
    assert not report.canvas()[..., 3].any()
    assert report.errors == []


def test_timeline_lists_exactly_the_track_ids(report, tracked):
    video = load_tracked_video(tracked / "posetrack" / "demo.json")
    ids = report.page.eval_on_selector_all("#tl-rows .tl-row[data-track]", "els => els.map(e => +e.dataset.track)")
    assert ids == video.track_ids().tolist() and len(ids) >= 3
    # every run of frames is one bar: a re-linked track shows two
    stats = {s.track_id: s for s in track_stats(video)}
    for t in ids:
        bars = report.page.eval_on_selector_all(f'.tl-row[data-track="{t}"] .tl-seg', "els => els.length")
        assert bars == len(stats[t].segments)
    assert any(len(s.segments) > 1 for s in stats.values())


def test_click_on_a_timeline_bar_moves_the_player_there(report, tracked):
    video = load_tracked_video(tracked / "posetrack" / "demo.json")
    report.wait_video()
    track = int(video.track_id[video.offsets[4]])
    bar = report.page.locator(f'.tl-row[data-track="{track}"] .tl-bar').bounding_box()
    for k in (4, 1):
        report.page.mouse.click(bar["x"] + (k + 0.5) / 5 * bar["width"], bar["y"] + bar["height"] / 2)
        assert report.frame() == k
        assert report.page.input_value("#scrub") == str(k)
        check_frame_drawn(report.canvas(), video, k)
    cursor = report.page.locator("#tl-cursor").bounding_box()
    assert abs(cursor["x"] + 1 - (bar["x"] + 1.5 / 5 * bar["width"])) < 2  # the cursor follows


def test_click_on_a_person_highlights_the_track_and_table_sorts(report, tracked):
    video = load_tracked_video(tracked / "posetrack" / "demo.json")
    n, (x, y) = lone_joint(video, 0)
    box = report.page.locator("#overlay").bounding_box()
    report.page.mouse.click(box["x"] + x * box["width"] / 960, box["y"] + y * box["height"] / 540)
    track = int(video.track_id[n])
    assert report.page.text_content("#highlight-note") == f"highlighted: track {track}"
    assert report.page.eval_on_selector_all("#tracks tr.highlight", "els => els.map(e => +e.dataset.track)") == [track]
    report.page.keyboard.press("Escape")
    assert report.page.text_content("#highlight-note") == ""
    stats = track_stats(video)
    report.page.click('#tracks th[data-key="jitter"]')
    order = report.page.eval_on_selector_all("#tracks tbody tr", "els => els.map(e => +e.dataset.track)")
    key = [(-np.inf if np.isnan(s.jitter) else round(s.jitter, 4)) for s in stats]
    assert order == [s.track_id for _, s in sorted(zip(key, stats), key=lambda p: p[0])]
    report.page.click('#tracks th[data-key="jitter"]')
    again = report.page.eval_on_selector_all("#tracks tbody tr", "els => els.map(e => +e.dataset.track)")
    by_id = {s.track_id: k for s, k in zip(stats, key)}
    assert again == sorted(order, key=lambda t: -by_id[t])


def test_space_plays_the_video_to_its_end(report):
    report.wait_video()
    report.page.keyboard.press("Home")
    report.page.keyboard.press(" ")
    report.page.wait_for_function("document.getElementById('frame').textContent === '4' && "
                                  "document.getElementById('play').textContent === 'play'", timeout=10_000)
    assert report.errors == []


def test_ground_truth_marks_and_blank_canvas_without_video(browser, tmp_path):
    gt, _ = gt_and_prediction(tmp_path)
    path = write_report(tmp_path / "out", VIDEO, gt.parent)
    page = Page(browser, path)
    try:
        assert page.page.is_visible("#video-note") and not page.page.is_visible("#video")
        marks = page.page.eval_on_selector_all(".tl-row.gt .tl-mark", "els => els.map(e => e.title)")
        assert sorted(marks) == ["false positives at frame 2", "misses at frame 1", "switches at frame 3"]
        assert "87.5" in page.page.text_content("#gt-section")
        video = load_tracked_video(tmp_path / "out" / "posetrack" / f"{VIDEO}.json")
        page.go_to(2)
        assert check_frame_drawn(page.canvas(), video, 2) == 15  # B's joints score 0.1 there: hidden
        assert page.errors == [] and page.requests == [path.resolve().as_uri()]
    finally:
        page.page.close()
