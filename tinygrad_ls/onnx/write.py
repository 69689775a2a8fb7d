"""Writing the file atomically, with ONNX external data for models over 2 GB.

The model goes to a temporary file in the target's directory (through a symlink, to its
target), which is flushed to disk (``fsync``) and renamed over the target (``os.replace``);
an existing file's permission bits are kept. If anything fails — ``onnx.save`` raising, a
full disk — the temporary files are removed and the previous file is left as it was, byte
for byte.

A model whose initializers hold more than ``EXTERNAL_DATA_BYTES`` (protobuf cannot serialize a
message over 2 GiB) keeps its tensors in one data file beside it, ``<file name>.data``
(ONNX external data, relative location). It is written the same way: both files go to
temporary names first (the tensors' recorded location is the final name), both are synced,
then the data file is renamed into place and the model after it.
"""
from __future__ import annotations

import contextlib
import os
import stat
import uuid

EXTERNAL_DATA_BYTES = 2_000_000_000  # initializer bytes above which the data goes to a file beside
EXTERNAL_SIZE_THRESHOLD = 1024       # tensors smaller than this stay inside the model file


def write_model(onnx, model, path, tensor_bytes: int) -> None:
    """Write ``model`` to ``path`` atomically (external data when ``tensor_bytes`` is over
    ``EXTERNAL_DATA_BYTES``). With external data, ``model``'s large initializers refer to the
    data file afterwards (their bytes are in it), as ``onnx.save_model`` leaves them."""
    target = os.path.realpath(os.fspath(path))
    directory, filename = os.path.split(target)
    token = uuid.uuid4().hex[:12]
    temp_model = os.path.join(directory, f".{filename}.{token}.tmp")
    temporaries = [temp_model]
    moves = []
    try:
        if tensor_bytes > EXTERNAL_DATA_BYTES:
            data_name = f"{filename}.data"
            temp_data_name = f".{data_name}.{token}.tmp"
            temporaries.append(os.path.join(directory, temp_data_name))
            onnx.save(model, temp_model, save_as_external_data=True, all_tensors_to_one_file=True,
                      location=temp_data_name, size_threshold=EXTERNAL_SIZE_THRESHOLD)
            _relocate(model, temp_data_name, data_name)
            onnx.save(model, temp_model)  # again: the tensors now name the data file's final name
            moves.append((temporaries[1], os.path.join(directory, data_name)))
        else:
            onnx.save(model, temp_model)
        moves.append((temp_model, target))
        for temporary, final in moves:
            _sync(temporary)
            _keep_mode(final, temporary)
        for temporary, final in moves:
            os.replace(temporary, final)
        _sync_directory(directory)
    except BaseException:
        for temporary in temporaries:
            with contextlib.suppress(FileNotFoundError):
                os.remove(temporary)
        raise


def _relocate(model, old: str, new: str) -> None:
    """Point every external tensor of ``model`` that lives in ``old`` at ``new``."""
    from onnx import TensorProto
    for tensor in model.graph.initializer:
        if tensor.data_location == TensorProto.EXTERNAL:
            for entry in tensor.external_data:
                if entry.key == 'location' and entry.value == old:
                    entry.value = new


def _sync(path: str) -> None:
    descriptor = os.open(path, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def _keep_mode(existing: str, temporary: str) -> None:
    """Give ``temporary`` the permission bits of the file it will replace, if there is one."""
    try:
        mode = stat.S_IMODE(os.stat(existing).st_mode)
    except FileNotFoundError:
        return
    os.chmod(temporary, mode)


def _sync_directory(directory: str) -> None:
    """Make the renames durable (where directories can be opened: not on Windows)."""
    try:
        descriptor = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(descriptor)
    except OSError:
        pass
    finally:
        os.close(descriptor)
