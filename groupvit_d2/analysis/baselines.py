"""Reference scores that a trained model must beat."""
import numpy as np
import torch
from detectron2.data import DatasetCatalog, MetadataCatalog
from detectron2.evaluation import SemSegEvaluator
from PIL import Image


def most_frequent_class(dataset_name):
    """The class id that covers the most labelled pixels of a sem-seg dataset."""
    meta = MetadataCatalog.get(dataset_name)
    counts = np.zeros(len(meta.stuff_classes), dtype=np.int64)
    for d in DatasetCatalog.get(dataset_name):
        label = np.asarray(Image.open(d["sem_seg_file_name"]), dtype=np.int64)
        label = label[label != meta.ignore_label]
        counts += np.bincount(label, minlength=len(counts))[: len(counts)]
    return int(counts.argmax())


def most_frequent_class_scores(dataset_name):
    """SemSegEvaluator's metrics for predicting the most frequent class on every pixel."""
    cls = most_frequent_class(dataset_name)
    num_classes = len(MetadataCatalog.get(dataset_name).stuff_classes)
    evaluator = SemSegEvaluator(dataset_name, distributed=False)
    evaluator.reset()
    for d in DatasetCatalog.get(dataset_name):
        h, w = Image.open(d["sem_seg_file_name"]).size[::-1]
        scores = torch.zeros(num_classes, h, w)
        scores[cls] = 1
        evaluator.process([d], [{"sem_seg": scores}])
    return cls, evaluator.evaluate()["sem_seg"]
