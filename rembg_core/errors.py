"""Typed errors. Every message is one line a person understands; callers add the path."""


class RembgCoreError(Exception):
    """Base of every error this library raises on purpose."""


class ImageLoadError(RembgCoreError, ValueError):
    """An input could not be turned into an image."""


class EmptyImageError(ImageLoadError):
    pass


class TruncatedImageError(ImageLoadError):
    pass


class NotAnImageError(ImageLoadError):
    pass


class UnsupportedFormatError(ImageLoadError):
    pass


class CorruptImageError(ImageLoadError):
    pass


class TooManyPixelsError(ImageLoadError):
    pass


class ModelError(RembgCoreError):
    """A model could not be found, fetched, verified or loaded."""


class UnknownModelError(ModelError, KeyError):
    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


class ModelFetchError(ModelError):
    pass


class ModelChecksumError(ModelError):
    pass


class ModelLoadError(ModelError):
    pass
