"""File input/output: atomic writes, images, video, geometry, camera formats and reports.

Names are re-exported lazily (PEP 562): importing ``shared_utils.config`` (which needs ``io.atomic``) or a
console script must not pay seconds for open3d, trimesh and PyAV when it only writes a YAML file.
"""

from .._lazy import lazy_exports

_EXPORTS = {
    "atomic": ["atomic_torch_save", "atomic_write", "load_json", "save_json"],
    "camera_formats": ["ColmapModel", "NerfCameras", "NeuSCameras", "ScanNetCameras", "read_colmap_text",
                       "read_nerf_transforms", "read_neus_cameras", "read_scannet_style", "write_neus_cameras"],
    "files": ["load_arrays", "load_checkpoint"],
    "geometry": ["PointCloud", "read_mesh", "read_point_cloud", "write_line_set", "write_mesh", "write_point_cloud"],
    "images": ["colorize", "image_grid", "read_image", "write_image"],
    "reports": ["markdown_table", "replace_generated_block", "write_markdown"],
    "video": ["read_video", "write_video"],
}
__getattr__, __dir__, __all__ = lazy_exports(__name__, _EXPORTS)
