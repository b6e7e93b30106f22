"""Build step on top of pyproject.toml: the wheel carries the top-level ``pipelines/`` folder.

``pipelines/*.yaml`` stay where the design card puts them (beside ``configs/``, visible in the
checkout); ``build_py`` copies them into the built package as ``posetrack/pipelines/``, where
``posetrack.resources.pipeline_file`` finds them with importlib.resources. No copy is committed.
"""

from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

PIPELINES = Path(__file__).resolve().parent / "pipelines"


class BuildWithPipelines(build_py):
    def run(self):
        super().run()
        if self.editable_mode:  # an editable install reads the checkout's pipelines/ directly
            return
        files = sorted(PIPELINES.glob("*.yaml"))
        if not files:
            raise SystemExit(f"no pipeline files in {PIPELINES}: the wheel would not track")
        target = Path(self.build_lib) / "posetrack" / "pipelines"
        target.mkdir(parents=True, exist_ok=True)
        for file in files:
            self.copy_file(str(file), str(target / file.name))


setup(cmdclass={"build_py": BuildWithPipelines})
