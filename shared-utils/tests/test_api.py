"""The public names of the shared-utils contract; members code against exactly these."""

import importlib
import inspect

import pytest

CONTRACT = {
    "shared_utils.errors": ["InputError", "check_finite", "check_shape", "cli_entry"],
    "shared_utils.config": ["ConfigError", "load_config", "config_to_dict", "save_config", "packaged_config",
                            "list_packaged_configs"],
    "shared_utils.runtime": ["seed_everything", "select_device"],
    "shared_utils.training": ["TrainerConfig", "build_trainer", "last_checkpoint"],
    "shared_utils.weights": ["WeightsNotFoundError", "torch_cache_checkpoints_dir", "find_weights",
                             "load_state_dict_file", "load_weights_strict"],
    "shared_utils.cameras": ["convert_c2w", "invert_pose", "intrinsics_matrix", "focal_from_fov", "scale_intrinsics",
                             "project", "unproject", "pixel_centers", "pixel_rays", "look_at", "orbit_poses",
                             "upright_angle", "rotate_camera_inplane"],
    "shared_utils.io": ["atomic_write", "save_json", "load_json", "atomic_torch_save", "read_image", "write_image",
                        "image_grid", "colorize", "write_video", "read_video", "read_mesh", "write_mesh",
                        "PointCloud", "read_point_cloud", "write_point_cloud", "write_line_set", "read_neus_cameras",
                        "NeuSCameras", "write_neus_cameras", "read_nerf_transforms", "NerfCameras",
                        "read_colmap_text", "ColmapModel", "read_scannet_style", "ScanNetCameras", "markdown_table",
                        "write_markdown", "replace_generated_block"],
    "shared_utils.metrics": ["psnr", "ssim", "LPIPS", "lpips_unavailable_reason", "chamfer_distance",
                             "nearest_distances", "icp_align", "gaussian_statistics", "frechet_distance",
                             "frechet_distance_from_statistics"],
}


@pytest.mark.parametrize("module", sorted(CONTRACT))
def test_contract_names(module):
    mod = importlib.import_module(module)
    for name in CONTRACT[module]:
        assert getattr(mod, name) is not None, f"{module}.{name}"
    if hasattr(mod, "__all__"):
        assert set(CONTRACT[module]) <= set(mod.__all__)
        for name in mod.__all__:
            getattr(mod, name)


def test_signatures():
    from shared_utils import cameras, config, io, metrics, training, weights

    assert list(inspect.signature(config.load_config).parameters) == ["cls", "source", "overrides"]
    assert list(inspect.signature(cameras.orbit_poses).parameters) == [
        "n", "radius", "elevation_deg", "target", "up", "start_azimuth_deg"]
    assert list(inspect.signature(training.build_trainer).parameters) == [
        "cfg", "output_dir", "monitor", "mode", "extra_callbacks"]
    assert list(inspect.signature(weights.find_weights).parameters) == ["filename", "explicit", "env_var"]
    assert list(inspect.signature(metrics.icp_align).parameters) == [
        "source", "target", "max_correspondence_distance", "init", "iterations", "point_to_plane"]
    assert "require_watertight" in inspect.signature(io.read_mesh).parameters


def test_version():
    import shared_utils

    assert shared_utils.__version__ == "0.1.0"
