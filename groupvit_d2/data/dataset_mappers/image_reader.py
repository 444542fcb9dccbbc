"""Decode any image a segmentation benchmark may hold into an 8-bit array in one channel format."""

import logging

import numpy as np
from detectron2.data.detection_utils import convert_PIL_to_numpy
from detectron2.utils.file_io import PathManager
from PIL import Image, ImageOps

__all__ = ["ImageReader"]

logger = logging.getLogger(__name__)

# Pillow modes holding more than 8 bits in one grey channel. Pillow's own convert("RGB") clips
# these at 255, which is why they are scaled here before the conversion.
_HIGH_BIT_DEPTH_MODES = ("I;16", "I;16B", "I;16L", "I;16N", "I")
_ALPHA_MODES = ("RGBA", "RGBa", "LA", "La", "PA")


class ImageReader:
    """
    Read an image file the way Detectron2's `read_image` does (EXIF orientation applied, then
    converted with `convert_PIL_to_numpy`), but never silently wrong on inputs that Pillow's
    plain conversion mishandles:

    * grayscale ("L", "1", "P"): replicated to 3 channels by the conversion;
    * alpha ("RGBA", "LA", palette transparency): the alpha channel is dropped (not composited),
      with one warning per reader;
    * CMYK: converted by Pillow (Adobe-inverted JPEGs are handled when decoding);
    * 16-bit ("I;16*", "I", 16-bit colour PNGs): reduced to 8 bits by keeping the most
      significant byte (exact for data stored as 8-bit value x 257; it is what Pillow does for
      16-bit colour PNGs), with one warning per reader;
    * floating-point images ("F"): refused with ValueError.

    The warn-once state lives in the reader, so a mapper (one per dataset and worker) reports
    each kind of conversion once.
    """

    def __init__(self, image_format="RGB"):
        self.image_format = image_format
        self._warned = set()

    def _warn_once(self, kind, message):
        if kind not in self._warned:
            self._warned.add(kind)
            logger.warning(message + " Further images of this kind are not reported.")

    def __call__(self, file_name):
        """
        Returns:
            np.ndarray: uint8, (H, W, 3) for "RGB"/"BGR" formats, (H, W, 1) for "L".
        """
        try:
            with PathManager.open(file_name, "rb") as f:
                image = Image.open(f)
                # The decoder's raw mode is only visible before loading: a 16-bit colour PNG reports
                # mode "RGB" but raw mode "RGB;16B".
                raw_16bit = any(";16" in str(tile[3]) for tile in (image.tile or []))
                image = ImageOps.exif_transpose(image)
                image.load()
        # Pillow's messages ("image file is truncated") do not say which file.
        except (OSError, SyntaxError, ValueError) as err:
            if file_name in str(err):
                raise
            raise type(err)(f"Cannot read image {file_name}: {err}") from err

        if image.mode == "F":
            raise ValueError(
                f"Image {file_name} holds floating-point pixels (Pillow mode 'F'); "
                "expected an 8-bit or 16-bit image."
            )
        if image.mode in _HIGH_BIT_DEPTH_MODES:
            values = np.asarray(image)
            if values.size and (values.min() < 0 or values.max() > 65535):
                raise ValueError(
                    f"Image {file_name} has pixel values in [{values.min()}, {values.max()}] "
                    f"(Pillow mode '{image.mode}'); expected 16-bit values in [0, 65535]."
                )
            self._warn_once(
                "16bit",
                f"Image {file_name} is a 16-bit grayscale image; it is scaled to 8 bits "
                "(value >> 8).",
            )
            image = Image.fromarray((values.astype(np.uint32) >> 8).astype(np.uint8))
        elif raw_16bit:
            self._warn_once(
                "16bit",
                f"Image {file_name} has 16 bits per channel; it is scaled to 8 bits (value >> 8).",
            )

        if image.mode in _ALPHA_MODES or "transparency" in image.info:
            self._warn_once(
                "alpha",
                f"Image {file_name} has an alpha channel ({image.mode}); it is dropped, not "
                "composited on a background.",
            )
        return convert_PIL_to_numpy(image, self.image_format)
