"""Benchmarks of every part, one module each (``posetrack bench TARGET`` prints what they return).

* :mod:`posetrack.bench.timing`: timing a call, process memory, what the machine was;
* :mod:`posetrack.bench.model`: pose network crops/s beside timm's ``hrnet_w32`` (``bench model``);
* :mod:`posetrack.bench.modes`: crops/s per inference mode, vs fp32 eager and timm (``bench modes``);
* :mod:`posetrack.bench.track`: a whole tracking pipeline's FPS, ms per stage, peak memory (``bench track``);
* :mod:`posetrack.bench.train`: training steps and data loading, measured apart (``bench train``);
* :mod:`posetrack.bench.report`: network and pipeline in one table, and the text every target prints
  (``bench`` = ``bench report``).

Modules are imported on use (``from posetrack.bench.track import bench_pipeline``): each pulls in
only what its part needs.
"""
