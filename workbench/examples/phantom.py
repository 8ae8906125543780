"""The body phantom: tissue labels of an axial plane and their CT, PET and MR values."""

from __future__ import annotations

import numpy as np

# Tissue labels of the phantom: air, fat, soft tissue, lung, bone, spinal cord, tumour.
_CT_HU = np.array([-1000, -100, 40, -850, 700, 30, 45], dtype=np.float32)
_PET_SUV = np.array([0.0, 0.4, 1.0, 0.35, 1.6, 1.0, 9.0], dtype=np.float32)
_MR_SIGNAL = np.array([0, 900, 450, 40, 200, 1100, 700], dtype=np.float32)
_TUMOUR_CENTRE = (-80.0, -15.0)
_TUMOUR_RADIUS = 15.0


def _grid(size: int, fov: float) -> tuple[np.ndarray, float]:
    """Pixel-centre coordinates (mm) along one axis, and the pixel spacing."""
    spacing = fov / size
    return -fov / 2.0 + (np.arange(size, dtype=np.float32) + 0.5) * spacing, spacing


def _lung_scale(z: float, extent: float) -> float:
    """Lungs narrow to half their size along the scanned range."""
    return 1.0 - 0.5 * min(max(-z / extent, 0.0), 1.0)


def _labels(x: np.ndarray, y: np.ndarray, z: float, extent: float, tumour_z: float) -> np.ndarray:
    """Tissue labels of the body phantom on one axial plane.

    Parameters
    ----------
    x : numpy.ndarray
        Patient x (mm, LPS) of the columns, shape (1, W).
    y : numpy.ndarray
        Patient y (mm, LPS) of the rows, shape (H, 1).
    z : float
        Slice position (mm); scans run from 0 downwards.
    extent : float
        Length of the scanned range (mm).
    tumour_z : float
        z of the centre of the spherical tumour in the right lung.

    Returns
    -------
    numpy.ndarray
        uint8 labels indexing ``_CT_HU``, ``_PET_SUV`` and ``_MR_SIGNAL``, shape (H, W).
    """
    labels = np.zeros((y.shape[0], x.shape[1]), dtype=np.uint8)
    labels[(x / 170.0) ** 2 + ((y - 10.0) / 115.0) ** 2 <= 1.0] = 1
    labels[(x / 160.0) ** 2 + ((y - 10.0) / 105.0) ** 2 <= 1.0] = 2
    scale = _lung_scale(z, extent)
    for cx in (-75.0, 75.0):
        labels[((x - cx) / (55.0 * scale)) ** 2 + ((y + 5.0) / (75.0 * scale)) ** 2 <= 1.0] = 3
    spine = x**2 + (y - 80.0) ** 2
    labels[spine <= 18.0**2] = 4
    labels[spine <= 7.0**2] = 5
    tx, ty = _TUMOUR_CENTRE
    labels[(x - tx) ** 2 + (y - ty) ** 2 + (z - tumour_z) ** 2 <= _TUMOUR_RADIUS**2] = 6
    return labels
