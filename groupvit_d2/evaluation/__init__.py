from .group_pictures import GroupPicturesWriter, write_pictures

__all__ = ["GroupPicturesWriter", "write_pictures"]
