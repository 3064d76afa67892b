"""PNG preview: a real image of the requested size, with the layers visible in their colours."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from mission.export.preview import SORTIE_COLOURS, WATER, nice_length, render_preview
from tests.test_export_samples import sample_keywater, sample_plan


def _rgb(hex_colour: str) -> np.ndarray:
    return np.array([int(hex_colour[i : i + 2], 16) for i in (1, 3, 5)], dtype=float) / 255


def _pixels_near(img: np.ndarray, hex_colour: str, tol: float = 0.04) -> int:
    return int((np.abs(img[:, :, :3] - _rgb(hex_colour)).max(axis=2) < tol).sum())


@pytest.fixture(scope="module")
def image(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, np.ndarray]:
    import matplotlib.image

    path = tmp_path_factory.mktemp("png") / "lake.png"
    render_preview(sample_plan(), sample_keywater(), path, width_px=900, height_px=700)
    return path, matplotlib.image.imread(path)


def test_is_a_png_of_the_requested_size(image: tuple[Path, np.ndarray]) -> None:
    path, img = image
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert img.shape[:2] == (700, 900)


def test_content_is_not_uniform(image: tuple[Path, np.ndarray]) -> None:
    _, img = image
    colours = np.unique((img[:, :, :3] * 255).astype(np.uint8).reshape(-1, 3), axis=0)
    assert len(colours) > 100


def test_water_and_each_sortie_are_drawn_in_their_colours(image: tuple[Path, np.ndarray]) -> None:
    _, img = image
    assert _pixels_near(img, WATER) > 0.05 * img.shape[0] * img.shape[1]
    for colour in SORTIE_COLOURS[: len(sample_plan().sorties)]:
        assert _pixels_near(img, colour) > 200


def test_three_sorties_use_three_colours(tmp_path: Path) -> None:
    import matplotlib.image

    path = render_preview(sample_plan(3), sample_keywater(), tmp_path / "p.png", 600, 450)
    img = matplotlib.image.imread(path)
    assert all(_pixels_near(img, c) > 50 for c in SORTIE_COLOURS[:3])


@given(st.floats(min_value=0.01, max_value=1e7))
def test_scale_bar_length_is_a_round_number_close_below(max_m: float) -> None:
    length = nice_length(max_m)
    assert max_m / 2.5 < length <= max_m
    mantissa = length / 10 ** np.floor(np.log10(length) + 1e-9)
    assert min(abs(mantissa - m) for m in (1, 2, 5)) < 1e-9
