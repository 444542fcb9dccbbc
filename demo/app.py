#!/usr/bin/env python
"""Zero-shot segmentation in the browser (Gradio), on the CPU.

    python demo/app.py                       # http://127.0.0.1:7860
    python demo/app.py --port 8000 --checkpoint path/to/model.pth --config-file configs/groupvit/gcc_yfcc_30e.yaml

Upload an image, write a vocabulary (";" between classes, "," between synonyms:
"black pickup truck, pickup truck; blue sky, sky") and pick a checkpoint: a model-zoo name
(downloaded once through groupvit://), the main job's output/demo/model_final.pth (tools/demo_job.py),
the tiny architecture with random weights (to try the page offline), or a local file typed into the
box (read with --config-file's architecture). The page shows the class overlay, the groups of each
grouping stage and the area of each class.

Each model is loaded once; the class embeddings of each vocabulary are computed once per model
and kept. Bad input (no image, an unreadable or tiny image, an empty or malformed vocabulary, a
missing checkpoint) is reported in the page.
"""
import argparse
import logging
import os
import threading
import warnings

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# The page must not call home: no usage statistics.
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

from detectron2.data.catalog import Metadata

from groupvit_d2 import load_config
from groupvit_d2.checkpoint.model_zoo import MODEL_ZOO
from groupvit_d2.data.dataset_mappers.image_reader import ImageReader
from groupvit_d2.data.text import format_vocabulary, parse_vocabulary
from groupvit_d2.predictor import GroupViTPredictor
from groupvit_d2.utils.visualization import draw_semantic_segmentation, overlay_groups

logger = logging.getLogger("groupvit_app")

# Below this, an upscaled image holds too little to segment; such files are usually icons or errors.
MIN_SIDE = 32
TINY_RANDOM = "tiny (random weights)"
MAIN_JOB = "main job (output/demo/model_final.pth)"
EXAMPLE_VOCABULARY = "ball; box; tree, trees; house; fish; star"


class AppError(ValueError):
    """A problem with what the user gave, shown in the page as it is."""


def checkpoint_choices(extra=()):
    """{label: (config file, weights)}: the main job's checkpoint, the tiny random model, the zoo
    entries, then `extra` (label, config, weights) triples."""
    choices = {
        MAIN_JOB: (os.path.join(ROOT, "configs", "synthetic", "groupvit_tiny.yaml"),
                   os.path.join(ROOT, "output", "demo", "model_final.pth")),
        TINY_RANDOM: (os.path.join(ROOT, "configs", "groupvit", "tiny.yaml"), ""),
    }
    for name, entry in MODEL_ZOO.items():
        choices[name] = (os.path.join(ROOT, "configs", entry.config), f"groupvit://{name}")
    for label, config, weights in extra:
        choices[label] = (config, weights)
    return choices


class SegmentationApp:
    """What the page does, without the page: load checkpoints once, segment, draw, tabulate."""

    def __init__(self, choices, local_config):
        self.choices = dict(choices)
        self.local_config = local_config
        self.predictors = {}
        self.lock = threading.Lock()
        self.read_image = ImageReader("RGB")

    def default_choice(self):
        config, weights = self.choices[MAIN_JOB]
        return MAIN_JOB if os.path.isfile(weights) else TINY_RANDOM

    def predictor(self, choice):
        """The GroupViTPredictor of a checkpoint label or local path, built on first use."""
        choice = (choice or "").strip()
        if not choice:
            raise AppError("Choose a checkpoint.")
        if choice in self.choices:
            config, weights = self.choices[choice]
        else:
            config, weights = self.local_config, os.path.expanduser(choice)
            if not os.path.isfile(weights):
                raise AppError(f"Checkpoint {choice!r}: no such file, and not one of {sorted(self.choices)}.")
        if weights and not weights.startswith("groupvit://") and not os.path.isfile(weights):
            hint = " Run tools/demo_job.py to train it." if choice == MAIN_JOB else ""
            raise AppError(f"Checkpoint {choice!r}: {weights} does not exist.{hint}")
        with self.lock:
            if choice not in self.predictors:
                cfg = load_config(config, ["MODEL.WEIGHTS", weights, "MODEL.DEVICE", "cpu"])
                logger.info("loading %s (%s, %s)", choice, config, weights or "random weights")
                try:
                    self.predictors[choice] = GroupViTPredictor(cfg, input_format="RGB")
                except (OSError, RuntimeError, KeyError, ValueError) as error:
                    raise AppError(f"Could not load checkpoint {choice!r}: {error}") from None
            return self.predictors[choice]

    def load_image(self, path):
        if not path:
            raise AppError("Upload an image first.")
        name = os.path.basename(path)
        try:
            image = self.read_image(path)
        except (OSError, ValueError, SyntaxError) as error:  # Pillow raises all three on bad files
            raise AppError(f"Could not read {name} as an image ({error}); "
                           "expected a JPEG, PNG, BMP, TIFF or WebP file.") from None
        height, width = image.shape[:2]
        if min(height, width) < MIN_SIDE:
            raise AppError(f"{name} is {width}x{height} pixels; the demo needs at least {MIN_SIDE} pixels a side.")
        return image

    def segment(self, path, vocabulary, choice, background, threshold):
        """One request -> (overlay, stage-1 groups, stage-2 groups, area rows, message).

        Pictures are (H, W, 3) uint8 RGB arrays (None when absent); rows are [class, synonyms,
        pixels, area %], largest first; the message says what was done, or what is wrong."""
        notes = []
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", FutureWarning)
            classes = parse_vocabulary(vocabulary or "", source="Vocabulary")
        notes += [str(w.message) for w in caught if issubclass(w.category, FutureWarning)]
        image = self.load_image(path)
        predictor = self.predictor(choice)
        bg = None
        if background:
            bg = float(threshold)
            if not 0.0 <= bg <= 1.0:
                raise AppError(f"The background threshold must be in [0, 1], got {threshold}.")
        encodings = predictor.model.text_classifier.num_encodings
        prediction = predictor(image, classes, background_threshold=bg)
        cached = predictor.model.text_classifier.num_encodings == encodings

        names = prediction["class_names"]
        labels = prediction["sem_seg"].argmax(0).cpu().numpy()
        overlay = draw_semantic_segmentation(image, labels, Metadata(name="app", stuff_classes=names))
        num_groups = predictor.cfg.MODEL.GROUPVIT.NUM_OUTPUT_GROUPS
        groups = []
        for stage, group_map in enumerate(prediction["group_maps"]):
            group_map = group_map.cpu().numpy()
            count = num_groups[stage] if stage < len(num_groups) else int(group_map.max()) + 1
            groups.append(overlay_groups(image, group_map, count))
        groups += [None] * (2 - len(groups))

        synonyms = ([["background"]] if bg is not None else []) + classes
        counts = np.bincount(labels.ravel(), minlength=len(names))
        rows = [[names[i], ", ".join(synonyms[i]), int(counts[i]), round(100.0 * counts[i] / labels.size, 2)]
                for i in np.argsort(-counts, kind="stable")]
        message = (f"Segmented {image.shape[1]}x{image.shape[0]} px with {choice} into {len(classes)} classes"
                   f"{' and background' if bg is not None else ''} ({format_vocabulary(classes)}); class "
                   f"embeddings {'from the cache' if cached else 'computed'}.")
        if notes:
            message += "\n\nNote: " + " ".join(notes)
        return overlay, groups[0], groups[1], rows, message

    def handle(self, file, vocabulary, choice, background, threshold):
        """segment(), with bad input turned into a message for the page."""
        path = getattr(file, "name", file)
        try:
            return self.segment(path, vocabulary, choice, background, threshold)
        except (AppError, ValueError) as error:
            return None, None, None, [], f"**Error:** {error}"


def build_page(app):
    import gradio as gr

    choices = list(app.choices)
    with gr.Blocks(title="GroupViT zero-shot segmentation") as page:
        gr.Markdown("## GroupViT zero-shot segmentation\nClasses are separated by `;`, synonyms of a class by `,`.")
        with gr.Row():
            with gr.Column():
                image = gr.File(label="Image", file_types=["image"], elem_id="image-file")
                vocabulary = gr.Textbox(label="Vocabulary", value=EXAMPLE_VOCABULARY, lines=2, elem_id="vocabulary")
                checkpoint = gr.Dropdown(choices, value=app.default_choice(), allow_custom_value=True,
                                         label="Checkpoint (or the path of a local file)", elem_id="checkpoint")
                with gr.Row():
                    background = gr.Checkbox(label="Background", value=False, elem_id="background")
                    threshold = gr.Number(label="Background threshold", value=0.95, minimum=0, maximum=1)
                run = gr.Button("Segment", variant="primary", elem_id="segment")
                message = gr.Markdown(elem_id="message")
            with gr.Column():
                overlay = gr.Image(label="Segmentation", type="numpy", elem_id="overlay", height=360)
                table = gr.Dataframe(headers=["class", "synonyms", "pixels", "area %"], label="Area per class",
                                     elem_id="areas", interactive=False)
        with gr.Row():
            stage1 = gr.Image(label="Groups, stage 1", type="numpy", elem_id="stage1", height=360)
            stage2 = gr.Image(label="Groups, stage 2", type="numpy", elem_id="stage2", height=360)
        run.click(app.handle, [image, vocabulary, checkpoint, background, threshold],
                  [overlay, stage1, stage2, table, message])
    return page


def get_parser():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default: this machine only)")
    parser.add_argument("--port", type=int, default=7860)
    parser.add_argument("--checkpoint", action="append", default=[], metavar="FILE",
                        help="a local checkpoint to list in the page (repeatable); read with --config-file")
    parser.add_argument("--config-file", default=os.path.join(ROOT, "configs", "groupvit", "gcc_yfcc_30e.yaml"),
                        metavar="FILE", help="architecture of local checkpoints (default: the released one)")
    parser.add_argument("--preload", action="store_true", help="load the default checkpoint before serving")
    return parser


def main(argv=None):
    args = get_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    extra = [(path, args.config_file, os.path.abspath(path)) for path in args.checkpoint]
    app = SegmentationApp(checkpoint_choices(extra), args.config_file)
    if args.preload:
        app.predictor(app.default_choice())
    serve(app, args.host, args.port)


def serve(app, host, port, block=True):
    """Build the page and serve it; with block=False, return the running page (close() it)."""
    page = build_page(app)
    # One request at a time: the CPU is the bottleneck, and the model is shared.
    page.queue(default_concurrency_limit=1)
    page.launch(server_name=host, server_port=port, show_error=False, quiet=True, prevent_thread_lock=not block)
    return page


if __name__ == "__main__":
    main()
