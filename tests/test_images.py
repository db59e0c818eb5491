"""Image sets: seeded, class-stratified subsets; the generic and JPEG layouts; one-line errors for bad files."""

from __future__ import annotations

import io

import numpy as np
import pytest

from mapopt.errors import MapoptError
from mapopt.images import ImageFileError, choose, read_images


def test_a_stratified_subset_is_balanced_seeded_and_sorted():
    labels = np.repeat(np.arange(10), 50)
    a, b, c = choose(500, 100, labels, seed=1), choose(500, 100, labels, seed=1), choose(500, 100, labels, seed=2)
    assert np.array_equal(a, b) and not np.array_equal(a, c)
    assert np.all(np.diff(a) > 0) and np.array_equal(np.bincount(labels[a]), np.full(10, 10))
    assert np.bincount(labels[choose(500, 15, labels, 0)], minlength=10).max() == 2  # classes take turns


def test_without_labels_or_size_a_subset_is_a_seeded_draw_or_everything():
    assert np.array_equal(choose(7, None), np.arange(7)) and len(set(choose(100, 30, seed=3))) == 30
    with pytest.raises(MapoptError, match="at least one image"):
        choose(10, 0)


@pytest.mark.parametrize("layout", ["nhwc", "nchw"])
def test_generic_layout_reads_either_channel_order(tmp_path, layout):
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, size=(20, 8, 8, 3), dtype=np.uint8)
    np.savez(tmp_path / "d.npz", x=x if layout == "nhwc" else x.transpose(0, 3, 1, 2), y=np.arange(20) % 4)
    s = read_images(tmp_path / "d.npz", size=8, seed=0)
    assert s.x.shape == (8, 3, 8, 8) and np.array_equal(s.x, x[s.indices].transpose(0, 3, 1, 2))
    assert np.array_equal(np.bincount(s.y), [2, 2, 2, 2]) and s.describe()["images"] == 8


def test_jpeg_layout_decodes_only_the_chosen_images(tmp_path):
    image = pytest.importorskip("PIL.Image")
    rng = np.random.default_rng(0)
    blobs = []
    for _ in range(6):
        buf = io.BytesIO()
        image.fromarray(rng.integers(0, 256, size=(4, 4, 3), dtype=np.uint8)).save(buf, format="JPEG")
        blobs.append(np.frombuffer(buf.getvalue(), dtype=np.uint8))
    offsets = np.concatenate([[0], np.cumsum([len(b) for b in blobs])])
    np.savez(tmp_path / "j.npz", jpeg=np.concatenate(blobs), offsets=offsets, y=np.array([0, 0, 0, 1, 1, 1]))
    s = read_images(tmp_path / "j.npz", size=4)
    assert s.x.shape == (4, 3, 4, 4) and s.x.dtype == np.uint8 and np.array_equal(np.bincount(s.y), [2, 2])
    np.savez(tmp_path / "bad.npz", jpeg=np.zeros(10, np.uint8), offsets=np.array([0, 10]))
    with pytest.raises(ImageFileError, match="no readable JPEG"):
        read_images(tmp_path / "bad.npz")


@pytest.mark.parametrize("arrays, message", [
    ({"z": np.zeros(3)}, "expected array 'x'"),
    ({"x": np.zeros((2, 8, 8))}, "N x H x W x C"),
    ({"x": np.full((2, 3, 8, 8), np.nan)}, "NaN"),
    ({"x": np.zeros((2, 3, 8, 8), np.uint8), "y": np.array([0, 1, 2])}, "2 images but 3 labels"),
    ({"x": np.zeros((2, 3, 8, 8), np.uint8), "y": np.array([0.5, 1])}, "integer class indices"),
    ({"x": np.zeros((2, 3, 8, 3), np.uint8)}, "cannot tell the channel axis"),
    ({"jpeg": np.zeros(5, np.uint8), "offsets": np.array([0, 3])}, "'offsets' must rise"),
    ({"x": np.array([None, 1], dtype=object)}, "without pickle"),
    ({"x": np.zeros((0, 8, 8, 3), np.uint8)}, "holds no images"),
    ({"jpeg": np.zeros(0, np.uint8), "offsets": np.array([0])}, "holds no images"),
])
def test_malformed_image_files_are_one_line_errors(tmp_path, arrays, message):
    np.savez(tmp_path / "d.npz", **arrays)
    with pytest.raises(ImageFileError, match=message) as err:
        read_images(tmp_path / "d.npz")
    assert "\n" not in str(err.value) and "d.npz" in str(err.value)
    with pytest.raises(ImageFileError, match="no such image file"):
        read_images(tmp_path / "missing.npz")
