"""talkinglib's error model: every problem a user can fix is one of these, and its message says how.

    TalkingLibError                  catch this to catch them all
    ├── InputError (ValueError)      bad input: audio, video, image, dataset, setting, command-line use
    ├── CheckpointError (RuntimeError)  a checkpoint that is missing, of another kind, or does not match
    └── WeightsError (RuntimeError)  pretrained weights missing offline, or failing their checksum

Warnings a user should read (TalkingLibWarning: the output will be poor, not wrong) are Python warnings;
the command line prints each as one line, `warning: <message>`.
The library raises them and never exits. The command line (`talkinglib.cli.main`) prints one line,
`error: <message>`, and exits 2; `talkinglib --debug ...` shows the traceback instead.
This module imports nothing, so that every other module may import it.
"""


class TalkingLibError(Exception):
    """A problem the user can fix; the message says what to do."""


class InputError(TalkingLibError, ValueError):
    """Input talkinglib cannot use as given: a file, a dataset, a setting or a command-line option."""


class CheckpointError(TalkingLibError, RuntimeError):
    """A checkpoint that is missing, of another kind than asked for, or that does not match the model."""


class WeightsError(TalkingLibError, RuntimeError):
    """Pretrained weights that are missing (offline) or do not match their checksum."""


class MissingFileError(InputError, FileNotFoundError):
    """A file or folder the user named (or a default one) that is not there; the message says how to make it."""


class TalkingLibWarning(UserWarning):
    """Work that runs but whose result will disappoint, and why (e.g. a photo unlike the model's training data)."""
