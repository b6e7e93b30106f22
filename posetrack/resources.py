"""Files the package reads at run time, found with importlib.resources.

Bundled files (demo weights, model card, report template) live inside the package. The
pipeline graphs are the exception: their source is the checkout's top-level ``pipelines/``
folder, which the wheel build copies to ``posetrack/pipelines/`` (``setup.py``); a source tree
or an editable install reads the top-level folder itself.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path


def package_path(*parts: str) -> Path:
    """``posetrack/<parts...>`` inside the installed package (the path may not exist)."""
    return Path(str(files("posetrack").joinpath(*parts)))


def pipeline_file(name: str) -> Path:
    """A shipped pipeline graph (``flowtrack.yaml``): the wheel's ``posetrack/pipelines/<name>``,
    else the checkout's ``pipelines/<name>`` (the path may not exist when neither has it)."""
    installed = package_path("pipelines", name)
    return installed if installed.is_file() else package_path().parent / "pipelines" / name
