"""One exception type for user-facing problems: the CLI prints its message as one line."""


class StreamDeblurError(Exception):
    """A problem the user can fix (bad config, missing file, unreachable stream...)."""


class ConfigError(StreamDeblurError):
    """The cameras.yaml file is missing, unreadable or invalid."""


class SourceError(StreamDeblurError):
    """A camera URL or video file cannot be opened or decoded."""
