"""Class embeddings for one evaluation sample, from its dataset's metadata or its own vocabulary."""
import hashlib

from detectron2.data import MetadataCatalog

from ...data.text import get_templates
from ..zero_shot import class_names_from_metadata

__all__ = ["sample_class_embeddings"]


def sample_class_embeddings(classifier, sample, templates_name, encode_text, tokenize, prompt_protocol="official",
                            fingerprint=None):
    """(C, D) normalised class embeddings for `sample` and its background threshold (or None).

    The sample carries either "class_names" (C entries; optional "background_threshold": then a
    thresholded background is class 0 and is not embedded) or "dataset_name" (names, synonyms and
    background from MetadataCatalog). Embeddings are the template mean of the un-normalised text
    embeddings, normalised after (TextClassifier), and cached per vocabulary.

    Args:
        classifier: a TextClassifier (the cache).
        sample: one evaluation input dict.
        templates_name: prompt template set for get_templates ("full", "subset", "identity").
        encode_text: (N, L) ids -> (N, D) text embeddings.
        tokenize: list of N strings -> (N, L) ids.
        prompt_protocol: which of a dataset's prompt names to use ("official", "tcl").
        fingerprint: () -> str naming the text tower, for the classifier's on-disk store (None:
            memory only).
    """
    if sample.get("class_names") is not None:
        names = list(sample["class_names"])
        bg_thresh = sample.get("background_threshold")
        key = "names:" + hashlib.sha1(repr(names).encode()).hexdigest()
    elif sample.get("dataset_name") is not None:
        names, _, bg_thresh = class_names_from_metadata(MetadataCatalog.get(sample["dataset_name"]), prompt_protocol)
        key = f"dataset:{sample['dataset_name']}|{prompt_protocol}"
    else:
        raise ValueError(
            f"an evaluation sample needs 'dataset_name' or 'class_names' to know its classes (keys: {sorted(sample)})"
        )
    emb = classifier.get(f"{key}|{templates_name}", names, get_templates(templates_name), encode_text, tokenize,
                         fingerprint=fingerprint)
    return emb, bg_thresh
