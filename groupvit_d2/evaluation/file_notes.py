"""Errors raised while evaluating a batch name the batch's files."""
import torch.nn as nn
from detectron2.evaluation import DatasetEvaluator

__all__ = ["add_file_note", "NameFilesOnError", "NamingEvaluator"]


def add_file_note(err, inputs):
    """Attach "while evaluating <files>" to `err` (shown with its traceback) unless it names one already."""
    files = [str(i.get("file_name")) for i in inputs if isinstance(i, dict) and i.get("file_name")]
    if files and not any(f in str(err) for f in files):
        err.add_note(f"while evaluating {', '.join(files)}")


class NameFilesOnError(nn.Module):
    """A model whose exceptions carry the names of the files of the batch they were raised for."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, inputs):
        try:
            return self.model(inputs)
        except Exception as err:
            add_file_note(err, inputs)
            raise


class NamingEvaluator(DatasetEvaluator):
    """Wraps a DatasetEvaluator; exceptions of `process` carry the names of the batch's files."""

    def __init__(self, evaluator):
        self.evaluator = evaluator

    def reset(self):
        self.evaluator.reset()

    def process(self, inputs, outputs):
        try:
            self.evaluator.process(inputs, outputs)
        except Exception as err:
            add_file_note(err, inputs)
            raise

    def evaluate(self):
        return self.evaluator.evaluate()
