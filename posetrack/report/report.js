// posetrack report: draws the tracked skeletons of one video from typed arrays.
// All statistics are computed in Python (posetrack/report/data.py); this script only draws.
// Per frame it clears and redraws one canvas and moves the cursor: the DOM is built once.
"use strict";

(function () {
  const D = JSON.parse(document.getElementById("report-data").textContent);
  const V = D.video, F = V.frames, K = D.joints.length, fps = V.fps;

  function decode(b64, Type) {
    const bin = atob(b64), bytes = new Uint8Array(bin.length);
    for (let i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
    return new Type(bytes.buffer);
  }
  const offsets = decode(D.arrays.offsets, Int32Array);
  const personTrack = decode(D.arrays.track, Uint16Array);
  const xy = decode(D.arrays.xy, Int16Array);
  const scoreCode = decode(D.arrays.score, Uint8Array);
  const inv = 1 / D.coord_scale;
  const tracks = D.tracks;
  const trackIndex = new Map(tracks.map((t, i) => [t.id, i]));

  const $ = (id) => document.getElementById(id);
  const stage = $("stage"), video = $("video"), canvas = $("overlay"), ctx = canvas.getContext("2d");
  const scrub = $("scrub"), frameOut = $("frame"), timeOut = $("time"), playBtn = $("play");
  const threshold = $("threshold"), showIds = $("show-ids");
  canvas.width = V.width; canvas.height = V.height;
  scrub.max = String(Math.max(F - 1, 0));
  $("last-frame").textContent = String(Math.max(F - 1, 0));

  const state = { frame: 0, playing: false, highlight: -1, minCode: 0, hasVideo: false, clock: null };
  const lineWidth = Math.max(1, Math.round(Math.max(V.width, V.height) / 400));
  const radius = lineWidth + 2;

  // ---- drawing ---------------------------------------------------------------------------
  function visible(p, k) {
    const c = scoreCode[p * K + k];
    return c > 0 && c >= state.minCode;
  }
  function jx(p, k) { return xy[(p * K + k) * 2] * inv; }
  function jy(p, k) { return xy[(p * K + k) * 2 + 1] * inv; }

  function draw() {
    const f = state.frame;
    ctx.clearRect(0, 0, canvas.width, canvas.height);
    if (f < 0 || f >= F) return;
    const a = offsets[f], b = offsets[f + 1];
    // three passes (limbs, ids, joints) so that every joint is drawn on top in its own colour
    ctx.lineWidth = lineWidth;
    ctx.lineCap = "round";
    for (let p = a; p < b; p++) {
      const t = personTrack[p];
      ctx.globalAlpha = state.highlight < 0 || state.highlight === t ? 1 : 0.25;
      ctx.strokeStyle = tracks[t].color;
      ctx.beginPath();
      for (const [i, j] of D.skeleton) {
        if (!visible(p, i) || !visible(p, j)) continue;
        ctx.moveTo(jx(p, i), jy(p, i));
        ctx.lineTo(jx(p, j), jy(p, j));
      }
      ctx.stroke();
    }
    if (showIds.checked) {
      ctx.font = `bold ${Math.max(12, lineWidth * 6)}px sans-serif`;
      ctx.textAlign = "center";
      for (let p = a; p < b; p++) {
        const box = personBox(p);
        if (!box) continue;
        const t = personTrack[p];
        ctx.globalAlpha = state.highlight < 0 || state.highlight === t ? 1 : 0.25;
        ctx.lineWidth = 3;
        ctx.strokeStyle = "#000";
        ctx.fillStyle = tracks[t].color;
        const x = (box[0] + box[2]) / 2, y = box[1] - radius - 4;
        ctx.strokeText(String(tracks[t].id), x, y);
        ctx.fillText(String(tracks[t].id), x, y);
      }
    }
    for (let p = a; p < b; p++) {
      const t = personTrack[p];
      ctx.globalAlpha = state.highlight < 0 || state.highlight === t ? 1 : 0.25;
      ctx.fillStyle = tracks[t].color;
      for (let k = 0; k < K; k++) {
        if (!visible(p, k)) continue;
        ctx.beginPath();
        ctx.arc(jx(p, k), jy(p, k), radius, 0, 2 * Math.PI);
        ctx.fill();
      }
    }
    ctx.globalAlpha = 1;
  }

  // extent [x1, y1, x2, y2] of the joints drawn for person p (null: none drawn)
  function personBox(p) {
    let x1 = Infinity, y1 = Infinity, x2 = -Infinity, y2 = -Infinity;
    for (let k = 0; k < K; k++) {
      if (!visible(p, k)) continue;
      const x = jx(p, k), y = jy(p, k);
      if (x < x1) x1 = x; if (x > x2) x2 = x; if (y < y1) y1 = y; if (y > y2) y2 = y;
    }
    return x1 === Infinity ? null : [x1, y1, x2, y2];
  }

  // ---- frame state -----------------------------------------------------------------------
  const cursor = $("tl-cursor");
  let barLeft = 0, barWidth = 1;
  function measureBars() {
    const bar = document.querySelector(".tl-bar");
    if (!bar) return;
    const box = bar.getBoundingClientRect(), host = $("tl-rows").getBoundingClientRect();
    barLeft = box.left - host.left;
    barWidth = Math.max(box.width, 1);
    placeCursor();
  }
  function placeCursor() {
    cursor.style.transform = `translateX(${barLeft + (state.frame + 0.5) / Math.max(F, 1) * barWidth - 1}px)`;
  }

  function show(f) {
    state.frame = Math.min(Math.max(f | 0, 0), Math.max(F - 1, 0));
    scrub.value = String(state.frame);
    frameOut.textContent = String(state.frame);
    timeOut.textContent = (state.frame / fps).toFixed(2) + " s";
    placeCursor();
    draw();
  }

  function seek(f) {
    show(f);
    if (state.hasVideo) video.currentTime = (state.frame + 0.5) / fps;  // mid-frame: no rounding to f-1
    if (state.playing && !state.hasVideo) state.clock = { t0: performance.now(), f0: state.frame };
  }

  // ---- playback --------------------------------------------------------------------------
  function frameOfTime(t) { return Math.floor(t * fps + 1e-3); }
  function tick(now, meta) {
    if (!state.playing) return;
    if (state.hasVideo) {
      show(frameOfTime(meta && meta.mediaTime !== undefined ? meta.mediaTime : video.currentTime));
    } else {
      const f = state.clock.f0 + Math.floor((now - state.clock.t0) * fps / 1000);
      show(f);
      if (f >= F - 1) { pause(); return; }
    }
    schedule();
  }
  function schedule() {
    if (state.hasVideo && video.requestVideoFrameCallback) video.requestVideoFrameCallback(tick);
    else requestAnimationFrame(tick);
  }
  function play() {
    if (F === 0) return;
    if (state.frame >= F - 1) seek(0);
    state.playing = true;
    playBtn.textContent = "pause";
    if (state.hasVideo) {
      video.play().catch(() => { useCanvasOnly("the browser refused to play the video"); play(); });
    } else {
      state.clock = { t0: performance.now(), f0: state.frame };
    }
    schedule();
  }
  function pause() {
    if (!state.playing) return;
    state.playing = false;
    playBtn.textContent = "play";
    if (state.hasVideo) { video.pause(); show(frameOfTime(video.currentTime)); }
  }
  function useCanvasOnly(reason) {
    state.hasVideo = false;
    video.removeAttribute("src");
    video.hidden = true;
    stage.classList.add("no-video");
    const note = $("video-note");
    note.hidden = false;
    note.textContent = "No video shown (" + reason + "): skeletons on a blank canvas.";
  }

  if (V.src) {
    state.hasVideo = true;
    video.addEventListener("error", () => useCanvasOnly("cannot play " + V.src));
    video.addEventListener("ended", pause);
    video.src = V.src;
  } else {
    useCanvasOnly("no browser-playable video found");
  }

  // ---- highlight -------------------------------------------------------------------------
  function setHighlight(t) {
    state.highlight = t === state.highlight ? -1 : t;
    document.querySelectorAll(".highlight").forEach((el) => el.classList.remove("highlight"));
    if (state.highlight >= 0) {
      const id = tracks[state.highlight].id;
      document.querySelectorAll(`[data-track="${id}"]`).forEach((el) => el.classList.add("highlight"));
      $("highlight-note").textContent = "highlighted: track " + id;
    } else {
      $("highlight-note").textContent = "";
    }
    draw();
  }

  canvas.addEventListener("click", (ev) => {
    const r = canvas.getBoundingClientRect();
    const x = (ev.clientX - r.left) * canvas.width / r.width, y = (ev.clientY - r.top) * canvas.height / r.height;
    const f = state.frame, pad = 10 * lineWidth;
    let best = -1, bestArea = Infinity;
    for (let p = offsets[f]; p < offsets[f + 1]; p++) {  // smallest joint box around the click
      const b = personBox(p);
      if (!b || x < b[0] - pad || x > b[2] + pad || y < b[1] - pad || y > b[3] + pad) continue;
      const area = (b[2] - b[0] + 2 * pad) * (b[3] - b[1] + 2 * pad);
      if (area < bestArea) { bestArea = area; best = personTrack[p]; }
    }
    setHighlight(best < 0 ? state.highlight : best);  // empty spot: clears the highlight
  });

  // ---- timeline (built once) -------------------------------------------------------------
  const pct = (f) => (100 * f / Math.max(F, 1)) + "%";
  function mark(bar, f, kind) {
    const m = document.createElement("div");
    m.className = "tl-mark " + kind;
    m.style.left = pct(f + 0.5);
    m.title = kind.replace("_", " ") + " at frame " + f;
    bar.appendChild(m);
  }
  function row(label, trackId) {
    const r = document.createElement("div");
    r.className = "tl-row";
    const l = document.createElement("span");
    l.className = "tl-label";
    l.textContent = label;
    const bar = document.createElement("div");
    bar.className = "tl-bar";
    r.append(l, bar);
    if (trackId !== null) r.dataset.track = String(trackId);
    bar.addEventListener("click", (ev) => {
      const box = bar.getBoundingClientRect();
      seek(Math.floor((ev.clientX - box.left) / box.width * F));
    });
    return [r, l, bar];
  }
  const rows = $("tl-rows");
  if (D.gt) {
    document.body.classList.add("has-gt");
    const [r, , bar] = row("GT", null);
    r.classList.add("gt");
    r.title = "frames with ground-truth misses, false positives and id switches";
    for (const kind of ["misses", "false_positives", "switches"]) for (const f of D.gt.marks[kind]) mark(bar, f, kind);
    rows.appendChild(r);
  }
  tracks.forEach((t, i) => {
    const [r, l, bar] = row(String(t.id), t.id);
    l.title = "highlight track " + t.id;
    l.addEventListener("click", () => setHighlight(i));
    for (const [s, e] of t.segments) {
      const seg = document.createElement("div");
      seg.className = "tl-seg";
      seg.style.left = pct(s);
      seg.style.width = pct(e - s + 1);
      seg.style.background = t.color;
      seg.title = `track ${t.id}: frames ${s}–${e}`;
      bar.appendChild(seg);
    }
    for (const f of t.switch_frames) mark(bar, f, "switch");
    rows.appendChild(r);
  });

  // ---- table (built once, re-ordered on sort) --------------------------------------------
  const fmt = (v, digits) => (v === null ? "–" : typeof v === "number" && !Number.isInteger(v) ? v.toFixed(digits) : String(v));
  const tbody = document.querySelector("#tracks tbody");
  const tableRows = tracks.map((t, i) => {
    const tr = document.createElement("tr");
    tr.dataset.track = String(t.id);
    const cells = [`<span class="dot" style="background:${t.color}"></span>${t.id}`, t.frames, t.first, t.last,
      fmt(t.score, 3), fmt(t.joint_score, 3), fmt(t.jitter, 2), t.switches];
    tr.innerHTML = cells.map((c) => `<td>${c}</td>`).join("");
    tr.addEventListener("click", () => { setHighlight(i); if (state.highlight >= 0) seek(t.first); });
    tbody.appendChild(tr);
    return [t, tr];
  });
  document.querySelectorAll("#tracks th").forEach((th) => th.addEventListener("click", () => {
    const key = th.dataset.key, desc = th.classList.contains("asc");
    document.querySelectorAll("#tracks th").forEach((h) => h.classList.remove("asc", "desc"));
    th.classList.add(desc ? "desc" : "asc");
    const val = (t) => (t[key] === null ? -Infinity : t[key]);
    tableRows.sort((x, y) => (val(x[0]) - val(y[0])) * (desc ? -1 : 1));
    for (const [, tr] of tableRows) tbody.appendChild(tr);
  }));

  // ---- summary, run facts, ground truth --------------------------------------------------
  const people = offsets[F] || 0;
  $("summary").textContent = `${F} frames · ${fps.toFixed(2)} fps · ${V.width}×${V.height} · ` +
    `${tracks.length} tracks · ${people} poses`;

  function dl(pairs) {
    const d = document.createElement("dl");
    d.className = "facts";
    for (const [k, v] of pairs) {
      const dt = document.createElement("dt"), dd = document.createElement("dd");
      dt.textContent = k;
      dd.textContent = v;
      d.append(dt, dd);
    }
    return d;
  }
  const factsBox = $("facts"), facts = D.facts;
  if (!facts) {
    factsBox.textContent = "This output folder has no run facts (run/" + V.name + ".json): it was tracked " +
      "without them. Track again to see the weights, detector, flow, thresholds and timings used.";
  } else {
    const ms = facts.stage_ms || {};
    const pw = facts.pose_weights;
    factsBox.appendChild(dl([
      ["input", facts.input], ["frames", facts.frames], ["fps", facts.fps],
      ["pose weights", pw ? ["name", "weights", "file", "bundled", "arch", "input_size", "keypoints", "dataset"]
        .filter((k) => pw[k] !== undefined && pw[k] !== null && pw[k] !== "")
        .map((k) => `${k} ${Array.isArray(pw[k]) ? pw[k].join("×") : pw[k]}`).join(", ") : "–"],
      ["stages", Object.entries(facts.stages || {}).map(([n, s]) => `${n}: ${s.stage}`).join(", ")],
      ["written to the PoseTrack file", facts.outputs ? Object.entries(facts.outputs).map(([k, v]) => `${k} ${v}`).join(", ") : "–"],
      ["per-stage ms/frame", Object.entries(ms).map(([n, v]) => `${n} ${v.toFixed(1)}`).join(", ")],
      ["time tracking this video", facts.seconds === undefined ? "–" : `${facts.seconds.toFixed(2)} s (models loaded before)`],
      ["posetrack", facts.posetrack],
    ]));
    const h = document.createElement("h3");
    h.textContent = "Notices (detector, flow, weights and fallbacks as logged)";
    const ul = document.createElement("ul");
    ul.className = "notices";
    for (const n of facts.notices || []) {
      const li = document.createElement("li");
      li.textContent = n;
      ul.appendChild(li);
    }
    const det = document.createElement("details");
    det.innerHTML = "<summary>stage parameters (thresholds)</summary>";
    const pre = document.createElement("pre");
    pre.textContent = Object.entries(facts.stages || {}).map(([n, s]) => `${n}: ${JSON.stringify(s.params)}`).join("\n");
    det.appendChild(pre);
    factsBox.append(h, ul, det);
  }

  if (D.gt) {
    const g = D.gt;
    $("gt-section").hidden = false;
    const groups = Object.keys(g.ap);
    const table = document.createElement("table");
    table.innerHTML = `<thead><tr><th></th>${groups.map((k) => `<th>${k}</th>`).join("")}</tr></thead><tbody>` +
      ["ap", "mota", "motp"].map((m) => `<tr><td>${m.toUpperCase()}</td>${groups.map((k) => `<td>${fmt(g[m][k], 1)}</td>`).join("")}</tr>`).join("") +
      "</tbody>";
    const perJoint = (m) => Object.entries(g.per_joint[m]).map(([k, v]) => `${k} ${fmt(v, 1)}`).join(", ");
    $("gt").append(dl([
      ["ground truth", g.file], ["frames scored", g.frames_scored],
      ["frames with misses / FPs / switches", `${g.marks.misses.length} / ${g.marks.false_positives.length} / ${g.marks.switches.length}`],
      ["AP per joint", perJoint("ap")], ["MOTA per joint", perJoint("mota")],
    ]), table);
  }

  // ---- controls and keys -----------------------------------------------------------------
  playBtn.addEventListener("click", () => (state.playing ? pause() : play()));
  $("prev").addEventListener("click", () => { pause(); seek(state.frame - 1); });
  $("next").addEventListener("click", () => { pause(); seek(state.frame + 1); });
  scrub.addEventListener("input", () => { if (state.playing) pause(); seek(Number(scrub.value)); });
  function setThreshold() {
    const v = Number(threshold.value);
    $("threshold-value").textContent = v.toFixed(2);
    state.minCode = v <= 0 ? 0 : 1 + Math.round(v * 254);
    draw();
  }
  threshold.addEventListener("input", setThreshold);
  showIds.addEventListener("change", draw);
  document.addEventListener("keydown", (ev) => {
    if (ev.target instanceof HTMLInputElement && ev.target !== scrub) return;  // the slider keeps its own keys
    const step = ev.shiftKey ? 10 : 1;
    const keys = {
      " ": () => (state.playing ? pause() : play()),
      ArrowLeft: () => { pause(); seek(state.frame - step); },
      ArrowRight: () => { pause(); seek(state.frame + step); },
      Home: () => { pause(); seek(0); },
      End: () => { pause(); seek(F - 1); },
      Escape: () => { if (state.highlight >= 0) setHighlight(state.highlight); },
    };
    if (keys[ev.key]) { ev.preventDefault(); keys[ev.key](); }
  });
  window.addEventListener("resize", measureBars);

  setThreshold();
  measureBars();
  show(0);
  document.body.dataset.ready = "1";
})();
