"""text: class embeddings of a large vocabulary across processes (first embedding, then the on-disk
cache)."""
import math
import time

import torch

from ..common import markdown_table
from .common import TEXT_VOCABULARY, build_ours, vocabulary


def text_cache_section(args, report):
    """Embedding a vocabulary's names in a first process and again in a second one (a fresh model
    with the same weights: the class embeddings come from the on-disk cache)."""
    import tempfile

    from groupvit_d2.data.text import get_templates

    label, dataset = TEXT_VOCABULARY
    names, threshold = vocabulary(dataset)
    step = max(1, math.ceil(len(names) / args.text_classes))
    subset = names[::step]
    with tempfile.TemporaryDirectory(prefix="speed_report_text_cache_") as folder:
        opts = ["TEST.CLASS_EMBEDDING_CACHE.DIR", folder]
        rows, result = [], {}
        with torch.no_grad():
            for run, vocab in (("first process", subset), ("second process", subset), ("first process", names),
                               ("second process", names)):
                if run == "first process" and vocab is names:
                    # Encoding all 68k prompts takes minutes: the whole vocabulary's first embedding is
                    # extrapolated from the subset; here its entry is written by a model that encodes
                    # only what the second process then reads.
                    model, _ = build_ours(args.config, args.weights, args.device, opts)
                    first_s = result["first_subset_s"] * len(names) / len(subset)
                    _write_entry_without_encoding(model, vocab)
                    rows.append([run, f"{len(vocab)}", f"{first_s:.1f} (est. from {len(subset)} classes)", "-"])
                    result["first_full_s_estimated"] = first_s
                    continue
                model, _ = build_ours(args.config, args.weights, args.device, opts)
                t0 = time.perf_counter()
                model.class_embeddings(class_names=vocab, background_threshold=threshold)
                seconds = time.perf_counter() - t0
                classifier = model.text_classifier
                rows.append([run, f"{len(vocab)}", f"{seconds:.2f}",
                             f"{classifier.num_texts_encoded} encoded, {classifier.num_disk_hits} read from disk"])
                key = "first" if run == "first process" else "second"
                result[key + ("_subset_s" if vocab is subset else "_full_s")] = seconds
    templates = len(get_templates(model.templates_name))
    report.add(
        f"Class embeddings across processes: {label}",
        f"The '{model.templates_name}' templates ({templates}); each row a freshly built model with the same "
        "weights, as a new `--eval-only` process would be, sharing an on-disk cache folder of its own. The second "
        "process computes the text tower's fingerprint and the prompts' key, and reads the entry back.",
        markdown_table(["run", "classes", "s", "text encoder"], rows),
    )
    return result


def _write_entry_without_encoding(model, names):
    """Put the entry of `names` in the model's store as the first process would, without spending
    minutes in the text encoder: the second process's read costs the same whatever the values."""
    from groupvit_d2.data.text import get_templates
    from groupvit_d2.modeling.core import split_class_names
    from groupvit_d2.modeling.core.embedding_cache import prompts_key

    templates = get_templates(model.templates_name)
    parsed = split_class_names(names)
    prompts = [(i, t.format(n) if isinstance(t, str) else t(n)) for i, ns in enumerate(parsed) for n in ns
               for t in templates]
    dim = model.encode_text(model.tokenizer(["a"])).shape[-1]
    model.text_classifier.store.save(prompts_key(model.text_fingerprint(), prompts),
                                     torch.nn.functional.normalize(torch.randn(len(parsed), dim), dim=-1))
