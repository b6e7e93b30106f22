"""``python -m posetrack`` (what ``torchrun -m posetrack`` runs)."""

import sys

from posetrack.cli import main

sys.exit(main())
