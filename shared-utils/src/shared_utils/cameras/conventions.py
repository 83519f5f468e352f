"""Camera axis conventions and rigid pose helpers."""

from __future__ import annotations

import torch

from ..errors import InputError

# Sign of each camera axis relative to OpenCV (x right, y down, z forward).
_AXIS_SIGNS = {
    "opencv": (1.0, 1.0, 1.0),
    "opengl": (1.0, -1.0, -1.0),  # x right, y up, z backward (NeRF, Blender)
    "pytorch3d": (-1.0, -1.0, 1.0),  # x left, y up, z forward
}


def convert_c2w(c2w: torch.Tensor, src: str, dst: str) -> torch.Tensor:
    """Re-express camera-to-world poses (..., 3|4, 4) from convention ``src`` in convention ``dst``."""
    for name in (src, dst):
        if name not in _AXIS_SIGNS:
            raise InputError(f"camera convention '{name}' is unknown, expected one of {sorted(_AXIS_SIGNS)}")
    if c2w.shape[-2:] not in ((3, 4), (4, 4)):
        raise InputError(f"c2w has shape {tuple(c2w.shape)}, expected (..., 3, 4) or (..., 4, 4)")
    # Each sign vector is its own inverse, so src -> opencv -> dst is one column scaling of the rotation.
    signs = [a * b for a, b in zip(_AXIS_SIGNS[src], _AXIS_SIGNS[dst], strict=True)] + [1.0]
    return c2w * c2w.new_tensor(signs)


def invert_pose(T: torch.Tensor) -> torch.Tensor:
    """Inverse of rigid transforms (..., 4, 4), using R^T instead of a general matrix inverse."""
    R_t = T[..., :3, :3].transpose(-1, -2)
    t = -(R_t @ T[..., :3, 3:4])
    top = torch.cat([R_t, t], dim=-1)
    bottom = T.new_tensor([0.0, 0.0, 0.0, 1.0]).expand(*T.shape[:-2], 1, 4)
    return torch.cat([top, bottom], dim=-2)
