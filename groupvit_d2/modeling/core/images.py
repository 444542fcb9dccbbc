"""The two steps every image takes before an encoder: pixel normalisation, and the crop to whole
patches that lets an encoder take an image of any size."""
import torch

__all__ = ["normalize_pixels", "crop_to_patches"]


def normalize_pixels(images, pixel_mean, pixel_std):
    """(..., 3, H, W) 0-255 RGB -> float images normalised with (3, 1, 1) statistics, on the
    statistics' device and in their dtype."""
    return (images.to(pixel_mean.device, pixel_mean.dtype) - pixel_mean) / pixel_std


def crop_to_patches(images: torch.Tensor, patch_size: int) -> torch.Tensor:
    """(B, 3, H, W) -> (B, 3, H - H % p, W - W % p): the last rows and columns that fill no whole
    patch are dropped, as the official strided patch convolution drops them.

    Raises ValueError when the image is smaller than one patch.
    """
    h, w = images.shape[-2:]
    p = int(patch_size)
    if h < p or w < p:
        raise ValueError(f"A {h}x{w} image is smaller than one {p}x{p} patch")
    return images[..., : h - h % p, : w - w % p]
