"""DensePose's Trainer (a detectron2 DefaultTrainer) on the member's configs, datasets and registered parts."""

from __future__ import annotations

import logging

import detectron2.utils.comm as comm
from densepose.engine import Trainer
from densepose.modeling.densepose_checkpoint import DensePoseCheckpointer
from detectron2.engine import default_argument_parser, default_setup, launch
from detectron2.evaluation import COCOEvaluator, DatasetEvaluators
from detectron2.utils.file_io import PathManager
from detectron2.utils.logger import setup_logger
from shared_utils.errors import InputError

from . import modeling  # noqa: F401 - registers the member's parts
from .config import config_path, load_config
from .data import SYNTHETIC_SPLITS, register_synthetic_people

log = logging.getLogger(__name__)


class MobileParsingTrainer(Trainer):
    """DensePose's Trainer; on the synthetic people it evaluates boxes only.

    DensePose's GPS evaluator measures geodesics on the SMPL body, which the synthetic people are not drawn on.
    """

    @classmethod
    def build_evaluator(cls, cfg, dataset_name, output_folder=None, embedder=None):
        if dataset_name in SYNTHETIC_SPLITS:
            return DatasetEvaluators([COCOEvaluator(dataset_name, tasks=("bbox",), distributed=True,
                                                    output_dir=output_folder)])
        return super().build_evaluator(cfg, dataset_name, output_folder, embedder)


def setup(args):
    cfg = load_config(args.config_file, args.opts)
    cfg.freeze()
    args.config_file = str(config_path(args.config_file))
    default_setup(cfg, args)
    setup_logger(output=cfg.OUTPUT_DIR, distributed_rank=comm.get_rank(), name="densepose")
    setup_logger(output=cfg.OUTPUT_DIR, distributed_rank=comm.get_rank(), name="mobile_parsing_rcnn")
    return cfg


def train_or_evaluate(args):
    cfg = setup(args)
    # as DensePose's train_net: its evaluator passes a download timeout to the path manager
    PathManager.set_strict_kwargs_checking(False)
    register_synthetic_people(cfg)
    if args.eval_only:
        model = MobileParsingTrainer.build_model(cfg)
        DensePoseCheckpointer(model, save_dir=cfg.OUTPUT_DIR).resume_or_load(cfg.MODEL.WEIGHTS, resume=args.resume)
        return MobileParsingTrainer.test(cfg, model)
    trainer = MobileParsingTrainer(cfg)
    trainer.resume_or_load(resume=args.resume)
    return trainer.train()


def run(argv: list[str]):
    args = default_argument_parser().parse_args(argv)
    if not args.config_file:
        raise InputError("--config-file is required (a detectron2 YAML or a shipped stem such as mprcnn_B_cpu)")
    load_config(args.config_file, args.opts)  # bad configs fail here, before any process is launched
    return launch(train_or_evaluate, args.num_gpus, num_machines=args.num_machines, machine_rank=args.machine_rank,
                  dist_url=args.dist_url, args=(args,))
