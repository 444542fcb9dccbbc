"""PASCAL-Context val (5105 VOC2010 val images) for zero-shot semantic segmentation.

Sources of the class lists:
- 459 classes: the PASCAL-Context `labels.txt` ("id: name", ids 1..459 in alphabetical order; 0 in
  the label maps means unlabeled). `datasets/prepare_pascal_context.py` checks a user's labels.txt
  against this list when it is present.
- 59 classes: the standard subset, given by their 459-class ids (the table mmsegmentation's
  tools/convert_datasets/pascal_context.py uses), named as in the official GroupViT evaluation
  (NVlabs/GroupViT, segmentation/datasets/pascal_context.py: "airplane", "plant", "monitor" for
  labels.txt's "aeroplane", "pottedplant", "tvmonitor"). The official list gives no synonyms. The
  "tcl" prompt protocol prompts with labels.txt's names (metadata `prompt_classes`).

- context60_val: background at 0 (unlabeled pixels and the 400 other classes) plus the 59
  classes; background is predicted by thresholding (0.35,
  segmentation/configs/_base_/datasets/pascal_context.py).
- context59_val: the 59 classes; background pixels are ignored.
- context459_val: all 459 classes in 16-bit labels; unlabeled pixels are ignored (65535).

Labels are written by `python datasets/prepare_pascal_context.py`: Context-60/59 from
mmsegmentation's SegmentationClassContext masks (or the trainval_merged.json they are made from,
see pascal_context_detail.py) where present, as the official evaluation reads them, else from the
.mat files; Context-459 from the .mat files.
"""

import os

from .prompt_protocols import renamed
from .sem_seg_catalog import register_sem_seg

__all__ = [
    "PASCAL_CONTEXT_459_CLASSES",
    "PASCAL_CONTEXT_59_IDS",
    "PASCAL_CONTEXT_59_CLASSES",
    "PASCAL_CONTEXT_DIR",
    "PASCAL_CONTEXT_LABEL_DIRS",
    "register_all_pascal_context",
]

# Index i holds the class of id i + 1 in labels.txt.
# fmt: off
PASCAL_CONTEXT_459_CLASSES = (
    "accordion", "aeroplane", "air conditioner", "antenna", "artillery", "ashtray", "atrium",
    "baby carriage", "bag", "ball", "balloon", "bamboo weaving", "barrel", "baseball bat",
    "basket", "basketball backboard", "bathtub", "bed", "bedclothes", "beer", "bell", "bench",
    "bicycle", "binoculars", "bird", "bird cage", "bird feeder", "bird nest", "blackboard",
    "board", "boat", "bone", "book", "bottle", "bottle opener", "bowl", "box", "bracelet", "brick",
    "bridge", "broom", "brush", "bucket", "building", "bus", "cabinet", "cabinet door", "cage",
    "cake", "calculator", "calendar", "camel", "camera", "camera lens", "can", "candle",
    "candle holder", "cap", "car", "card", "cart", "case", "casette recorder", "cash register",
    "cat", "cd", "cd player", "ceiling", "cell phone", "cello", "chain", "chair", "chessboard",
    "chicken", "chopstick", "clip", "clippers", "clock", "closet", "cloth", "clothes tree",
    "coffee", "coffee machine", "comb", "computer", "concrete", "cone", "container",
    "control booth", "controller", "cooker", "copying machine", "coral", "cork", "corkscrew",
    "counter", "court", "cow", "crabstick", "crane", "crate", "cross", "crutch", "cup", "curtain",
    "cushion", "cutting board", "dais", "disc", "disc case", "dishwasher", "dock", "dog",
    "dolphin", "door", "drainer", "dray", "drink dispenser", "drinking machine", "drop", "drug",
    "drum", "drum kit", "duck", "dumbbell", "earphone", "earrings", "egg", "electric fan",
    "electric iron", "electric pot", "electric saw", "electronic keyboard", "engine", "envelope",
    "equipment", "escalator", "exhibition booth", "extinguisher", "eyeglass", "fan", "faucet",
    "fax machine", "fence", "ferris wheel", "fire extinguisher", "fire hydrant", "fire place",
    "fish", "fish tank", "fishbowl", "fishing net", "fishing pole", "flag", "flagstaff", "flame",
    "flashlight", "floor", "flower", "fly", "foam", "food", "footbridge", "forceps", "fork",
    "forklift", "fountain", "fox", "frame", "fridge", "frog", "fruit", "funnel", "furnace",
    "game controller", "game machine", "gas cylinder", "gas hood", "gas stove", "gift box",
    "glass", "glass marble", "globe", "glove", "goal", "grandstand", "grass", "gravestone",
    "ground", "guardrail", "guitar", "gun", "hammer", "hand cart", "handle", "handrail", "hanger",
    "hard disk drive", "hat", "hay", "headphone", "heater", "helicopter", "helmet", "holder",
    "hook", "horse", "horse-drawn carriage", "hot-air balloon", "hydrovalve", "ice",
    "inflator pump", "ipod", "iron", "ironing board", "jar", "kart", "kettle", "key", "keyboard",
    "kitchen range", "kite", "knife", "knife block", "ladder", "ladder truck", "ladle", "laptop",
    "leaves", "lid", "life buoy", "light", "light bulb", "lighter", "line", "lion", "lobster",
    "lock", "machine", "mailbox", "mannequin", "map", "mask", "mat", "match book", "mattress",
    "menu", "metal", "meter box", "microphone", "microwave", "mirror", "missile", "model", "money",
    "monkey", "mop", "motorbike", "mountain", "mouse", "mouse pad", "musical instrument", "napkin",
    "net", "newspaper", "oar", "ornament", "outlet", "oven", "oxygen bottle", "pack", "pan",
    "paper", "paper box", "paper cutter", "parachute", "parasol", "parterre", "patio", "pelage",
    "pen", "pen container", "pencil", "person", "photo", "piano", "picture", "pig", "pillar",
    "pillow", "pipe", "pitcher", "plant", "plastic", "plate", "platform", "player", "playground",
    "pliers", "plume", "poker", "poker chip", "pole", "pool table", "postcard", "poster", "pot",
    "pottedplant", "printer", "projector", "pumpkin", "rabbit", "racket", "radiator", "radio",
    "rail", "rake", "ramp", "range hood", "receiver", "recorder", "recreational machines",
    "remote control", "road", "robot", "rock", "rocket", "rocking horse", "rope", "rug", "ruler",
    "runway", "saddle", "sand", "saw", "scale", "scanner", "scissors", "scoop", "screen",
    "screwdriver", "sculpture", "scythe", "sewer", "sewing machine", "shed", "sheep", "shell",
    "shelves", "shoe", "shopping cart", "shovel", "sidecar", "sidewalk", "sign", "signal light",
    "sink", "skateboard", "ski", "sky", "sled", "slippers", "smoke", "snail", "snake", "snow",
    "snowmobiles", "sofa", "spanner", "spatula", "speaker", "speed bump", "spice container",
    "spoon", "sprayer", "squirrel", "stage", "stair", "stapler", "stick", "sticky note", "stone",
    "stool", "stove", "straw", "stretcher", "sun", "sunglass", "sunshade", "surveillance camera",
    "swan", "sweeper", "swim ring", "swimming pool", "swing", "switch", "table", "tableware",
    "tank", "tap", "tape", "tarp", "telephone", "telephone booth", "tent", "tire", "toaster",
    "toilet", "tong", "tool", "toothbrush", "towel", "toy", "toy car", "track", "train",
    "trampoline", "trash bin", "tray", "tree", "tricycle", "tripod", "trophy", "truck", "tube",
    "turtle", "tvmonitor", "tweezers", "typewriter", "umbrella", "unknown", "vacuum cleaner",
    "vending machine", "video camera", "video game console", "video player", "video tape",
    "violin", "wakeboard", "wall", "wallet", "wardrobe", "washing machine", "watch", "water",
    "water dispenser", "water pipe", "water skate board", "watermelon", "whale", "wharf", "wheel",
    "wheelchair", "window", "window blinds", "wineglass", "wire", "wood", "wool",
)
# fmt: on

# (459-class id, name) of the 59-class subset, in label order (ascending id).
# fmt: off
_CONTEXT_59 = (
    (2, "airplane"), (9, "bag"), (18, "bed"), (19, "bedclothes"), (22, "bench"), (23, "bicycle"),
    (25, "bird"), (31, "boat"), (33, "book"), (34, "bottle"), (44, "building"), (45, "bus"),
    (46, "cabinet"), (59, "car"), (65, "cat"), (68, "ceiling"), (72, "chair"), (80, "cloth"),
    (85, "computer"), (98, "cow"), (104, "cup"), (105, "curtain"), (113, "dog"), (115, "door"),
    (144, "fence"), (158, "floor"), (159, "flower"), (162, "food"), (187, "grass"),
    (189, "ground"), (207, "horse"), (220, "keyboard"), (232, "light"), (258, "motorbike"),
    (259, "mountain"), (260, "mouse"), (284, "person"), (295, "plate"), (296, "platform"),
    (308, "plant"), (324, "road"), (326, "rock"), (347, "sheep"), (349, "shelves"),
    (354, "sidewalk"), (355, "sign"), (360, "sky"), (366, "snow"), (368, "sofa"), (397, "table"),
    (415, "track"), (416, "train"), (420, "tree"), (424, "truck"), (427, "monitor"), (440, "wall"),
    (445, "water"), (454, "window"), (458, "wood"),
)
# fmt: on
PASCAL_CONTEXT_59_IDS = tuple(i for i, _ in _CONTEXT_59)
PASCAL_CONTEXT_59_CLASSES = tuple(n for _, n in _CONTEXT_59)

# The 8-benchmark protocol of later papers prompts with mmsegmentation's names ("table" stays).
_TCL_RENAMES = {"airplane": "aeroplane", "plant": "pottedplant", "monitor": "tvmonitor"}

PASCAL_CONTEXT_DIR = os.path.join("VOCdevkit", "VOC2010")
# Prepared label folders, relative to PASCAL_CONTEXT_DIR.
PASCAL_CONTEXT_LABEL_DIRS = {
    name: os.path.join("annotations_detectron2", name)
    for name in ("context60_val", "context59_val", "context459_val")
}
_PREPARE_COMMAND = "python datasets/prepare_pascal_context.py"


def register_all_pascal_context(root, prefix=""):
    """Register context60_val, context59_val and context459_val (names preceded by `prefix`)."""
    context_root = os.path.join(root, PASCAL_CONTEXT_DIR)
    image_root = os.path.join(context_root, "JPEGImages")
    splits = (
        ("context60_val", ("background",) + PASCAL_CONTEXT_59_CLASSES, 255, 0.35),
        ("context59_val", PASCAL_CONTEXT_59_CLASSES, 255, None),
        ("context459_val", PASCAL_CONTEXT_459_CLASSES, 65535, None),
    )
    for name, classes, ignore_label, background_threshold in splits:
        extra = {}
        if name != "context459_val":  # its names are labels.txt's already
            extra["prompt_classes"] = {"tcl": list(renamed(classes, _TCL_RENAMES))}
        register_sem_seg(
            prefix + name,
            image_root,
            os.path.join(context_root, PASCAL_CONTEXT_LABEL_DIRS[name]),
            _PREPARE_COMMAND,
            stuff_classes=classes,
            ignore_label=ignore_label,
            background_threshold=background_threshold,
            **extra,
        )
