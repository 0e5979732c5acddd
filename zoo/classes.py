"""Class names of each dataset in model output order (facts; used by synth, scoring, vis)."""

VOC_CLASSES = (
    "background", "aeroplane", "bicycle", "bird", "boat", "bottle", "bus", "car", "cat",
    "chair", "cow", "diningtable", "dog", "horse", "motorbike", "person", "pottedplant",
    "sheep", "sofa", "train", "tvmonitor",
)  # fmt: skip

NYUD_CLASSES = (
    "wall", "floor", "cabinet", "bed", "chair", "sofa", "table", "door", "window",
    "bookshelf", "picture", "counter", "blinds", "desk", "shelves", "curtain", "dresser",
    "pillow", "mirror", "floor mat", "clothes", "ceiling", "books", "refridgerator",
    "television", "paper", "towel", "shower curtain", "box", "whiteboard", "person",
    "night stand", "toilet", "sink", "lamp", "bathtub", "bag", "otherstructure",
    "otherfurniture", "otherprop",
)  # fmt: skip

SIFTFLOW_CLASSES = (
    "awning", "balcony", "bird", "boat", "bridge", "building", "bus", "car", "cow",
    "crosswalk", "desert", "door", "fence", "field", "grass", "moon", "mountain", "person",
    "plant", "pole", "river", "road", "rock", "sand", "sea", "sidewalk", "sign", "sky",
    "staircase", "streetlight", "sun", "tree", "window",
)  # fmt: skip
SIFTFLOW_GEO_CLASSES = ("sky", "horizontal", "vertical")
# absent from the SIFT Flow test set: excluded from its semantic mean IU (docs/datasets.md)
SIFTFLOW_ABSENT_IN_TEST = ("cow", "desert", "moon")

# The 59-class task as named in 59_labels.txt (three names differ from labels.txt:
# diningtable/table, bedcloth/bedclothes, clothes/cloth). Output class j + 1; 0 = background.
CONTEXT59_CLASSES = (
    "aeroplane", "bag", "bed", "bedcloth", "bench", "bicycle", "bird", "boat", "book",
    "bottle", "building", "bus", "cabinet", "car", "cat", "ceiling", "chair", "clothes",
    "computer", "cow", "cup", "curtain", "dog", "door", "fence", "floor", "flower", "food",
    "grass", "ground", "horse", "keyboard", "light", "motorbike", "mountain", "mouse",
    "person", "plate", "platform", "pottedplant", "road", "rock", "sheep", "shelves",
    "sidewalk", "sign", "sky", "snow", "sofa", "diningtable", "track", "train", "tree",
    "truck", "tvmonitor", "wall", "water", "window", "wood",
)  # fmt: skip
CONTEXT_CLASSES = ("background",) + CONTEXT59_CLASSES
# 59_labels.txt name -> labels.txt (full list) name, matched as the release did
RENAMED = {"diningtable": "table", "bedcloth": "bedclothes", "clothes": "cloth"}

assert len(VOC_CLASSES) == 21 and len(NYUD_CLASSES) == 40 and len(SIFTFLOW_CLASSES) == 33
assert len(CONTEXT59_CLASSES) == 59

# Cityscapes' 19 training classes, train ids 0..18 in this order (label ids 7, 8, 11, 12, 13, 17,
# 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 31, 32, 33; every other id is ignored, 255).
CITYSCAPES_CLASSES = (
    "road", "sidewalk", "building", "wall", "fence", "pole", "traffic light", "traffic sign",
    "vegetation", "terrain", "sky", "person", "rider", "car", "truck", "bus", "train",
    "motorcycle", "bicycle",
)  # fmt: skip
