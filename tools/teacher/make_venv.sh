#!/usr/bin/env bash
# Build the teacher environment for tools/make_pseudo_labels.py and tests/test_teacher.py.
#
# mediapipe 0.10.21 pins numpy<2 and brings opencv-contrib-python, which would replace the
# main environment's numpy 2 and clash with its opencv-python; so it lives in its own venv.
# The project's code run there (posetrack, torch, PyAV, ...) comes from the main venv: a
# .pth file appends the main venv's site-packages (and this checkout, for ``posetrack`` and
# ``tools``) *after* the teacher's own, so the teacher's numpy 1.26 and cv2 win and
# everything else is shared. Both venvs must use the same Python minor version.
#
# Usage: tools/teacher/make_venv.sh [TEACHER_VENV (default /work/teacher-venv)] [MAIN_VENV (default REPO/.venv)]
set -euo pipefail
repo=$(cd "$(dirname "$0")/../.." && pwd)
teacher=${1:-/work/teacher-venv}
main=${2:-$repo/.venv}
site() { "$1/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])'; }
version() { "$1/bin/python" -c 'import sys; print("%d.%d" % sys.version_info[:2])'; }

[ -x "$main/bin/python" ] || { echo "main venv not found: $main" >&2; exit 2; }
[ -x "$teacher/bin/python" ] || "$main/bin/python" -m venv "$teacher"
if [ "$(version "$teacher")" != "$(version "$main")" ]; then
    echo "Python $(version "$teacher") in $teacher differs from $(version "$main") in $main" >&2
    exit 2
fi
"$teacher/bin/pip" install "mediapipe==0.10.21" pytest
printf '%s\n%s\n' "$(site "$main")" "$repo" > "$(site "$teacher")/zz_posetrack_main_venv.pth"
"$teacher/bin/python" -c 'import mediapipe, numpy, torch, posetrack, tools.teacher.blazepose; print("teacher venv ok: mediapipe", mediapipe.__version__, "numpy", numpy.__version__)'
