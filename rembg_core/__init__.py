"""Rembg Lab core: U²-Net background removal on ONNX Runtime (CPU) with measurable memory.

    from rembg_core import SessionConfig, RemoveOptions, get_session, remove, load_image
"""

from .errors import ImageLoadError, ModelError, RembgCoreError
from .imageio import LoadedImage, encode, load_image
from .options import RemoveOptions
from .pipeline import RemovalResult, encode_result, remove
from .session import SessionConfig, get_session

__all__ = [
    "ImageLoadError", "LoadedImage", "ModelError", "RembgCoreError", "RemovalResult",
    "RemoveOptions", "SessionConfig", "encode", "encode_result", "get_session", "load_image", "remove",
]
