from .zero_shot_semseg_mapper import ZeroShotSemSegDatasetMapper  # noqa: F401
