"""Train or evaluate Mobile Parsing R-CNN with detectron2, the way DensePose's ``train_net.py`` does.

    python -m mobile_parsing_rcnn.detectron2_backend.train_net --config-file CONFIG [--resume] [--eval-only]
        [--num-gpus N] [KEY VALUE ...]

CONFIG is a detectron2 YAML or the stem of a shipped one (``mprcnn_B``, ``mprcnn_A``, ``mprcnn_B_cpu``: variant B on
the built-in synthetic people on CPU); trailing ``KEY VALUE`` pairs override its keys. Training is DensePose's
Trainer (detectron2's DefaultTrainer) with the member's parts from the registries (``modeling.py``).
"""

from __future__ import annotations

import sys

from shared_utils.errors import cli_entry

from . import require_detectron2


@cli_entry
def main(argv: list[str] | None = None):
    require_detectron2()
    from .training import run

    return run(sys.argv[1:] if argv is None else argv)


if __name__ == "__main__":
    main()
