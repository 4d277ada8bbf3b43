"""Rembg Lab core: U²-Net background removal on ONNX Runtime (CPU) with measurable memory.

    from rembg_core import SessionConfig, get_session, remove, load_image
"""

from .errors import ImageLoadError, ModelError, RembgCoreError
from .imageio import LoadedImage, encode, load_image
from .pipeline import RemovalResult, remove
from .session import SessionConfig, get_session

__all__ = [
    "ImageLoadError", "LoadedImage", "ModelError", "RembgCoreError", "RemovalResult",
    "SessionConfig", "encode", "get_session", "load_image", "remove",
]
