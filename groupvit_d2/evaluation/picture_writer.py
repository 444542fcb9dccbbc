"""A DatasetEvaluator that writes pictures of the first images it sees and reports nothing."""
import os

import detectron2.utils.comm as comm
from detectron2.evaluation import DatasetEvaluator


class PictureWriter(DatasetEvaluator):
    """Calls `write(sample, prediction, stem)` for the first `max_images` samples of the main
    process; `stem` is the sample's file name without folder and extension. Reports nothing."""

    def __init__(self, model, output_dir, max_images=8):
        self._model = getattr(model, "module", model)
        self._output_dir = output_dir
        self._max_images = max_images
        self._written = 0

    def write(self, sample, prediction, stem):
        raise NotImplementedError

    def reset(self):
        self._written = 0

    def process(self, inputs, outputs):
        if not comm.is_main_process():
            return
        for sample, prediction in zip(inputs, outputs):
            if self._written >= self._max_images:
                return
            os.makedirs(self._output_dir, exist_ok=True)
            stem = os.path.splitext(os.path.basename(sample.get("file_name", str(self._written))))[0]
            self.write(sample, prediction, stem)
            self._written += 1

    def evaluate(self):
        return {}
