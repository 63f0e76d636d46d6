"""File format of a dataset file, from its name: one canonical label per format family.

Multi-part extensions (``.ome.tif``, ``.ome.zarr``, ``.nii.gz``) are recognised before
single ones; anything unknown is reported by its upper-cased extension.
"""

from __future__ import annotations

import posixpath

# Longest suffixes first; values are the facet labels.
FORMATS: dict[str, str] = {
    ".ome.tiff": "OME-TIFF",
    ".ome.tif": "OME-TIFF",
    ".ome.btf": "OME-TIFF",
    ".ome.zarr": "OME-Zarr",
    ".ome.xml": "OME-XML",
    ".companion.ome": "OME-XML",
    ".nii.gz": "NIfTI",
    ".tar.gz": "TAR",
    ".tif": "TIFF",
    ".tiff": "TIFF",
    ".btf": "TIFF",
    ".zarr": "Zarr",
    ".n5": "N5",
    ".h5": "HDF5",
    ".hdf5": "HDF5",
    ".hdf": "HDF5",
    ".ims": "Imaris",
    ".czi": "CZI",
    ".lif": "LIF",
    ".lsm": "LSM",
    ".nd2": "ND2",
    ".oib": "Olympus OIB",
    ".oif": "Olympus OIF",
    ".vsi": "Olympus VSI",
    ".svs": "SVS",
    ".ndpi": "NDPI",
    ".scn": "SCN",
    ".mrxs": "MIRAX",
    ".dv": "DeltaVision",
    ".r3d": "DeltaVision",
    ".ics": "ICS",
    ".ids": "ICS",
    ".mrc": "MRC",
    ".mrcs": "MRC",
    ".map": "MRC",
    ".rec": "MRC",
    ".st": "MRC",
    ".em": "EM",
    ".dm3": "DM3",
    ".dm4": "DM4",
    ".ser": "SER",
    ".eer": "EER",
    ".nii": "NIfTI",
    ".dcm": "DICOM",
    ".nrrd": "NRRD",
    ".mha": "MetaImage",
    ".mhd": "MetaImage",
    ".png": "PNG",
    ".jpg": "JPEG",
    ".jpeg": "JPEG",
    ".jp2": "JPEG 2000",
    ".bmp": "BMP",
    ".gif": "GIF",
    ".avi": "AVI",
    ".mp4": "MP4",
    ".mov": "QuickTime",
    ".npy": "NumPy",
    ".npz": "NumPy",
    ".mat": "MATLAB",
    ".csv": "CSV",
    ".tsv": "TSV",
    ".txt": "Text",
    ".json": "JSON",
    ".xml": "XML",
    ".xlsx": "Excel",
    ".xls": "Excel",
    ".pdf": "PDF",
    ".zip": "ZIP",
    ".tar": "TAR",
    ".gz": "GZIP",
    ".7z": "7-Zip",
    ".roi": "ImageJ ROI",
    ".obj": "OBJ",
    ".stl": "STL",
    ".ply": "PLY",
    ".swc": "SWC",
    ".py": "Python",
    ".ipynb": "Jupyter notebook",
}
_BY_LENGTH = sorted(FORMATS, key=len, reverse=True)


def file_format(path: str) -> str | None:
    """The canonical format label of ``path`` ("OME-TIFF", "CZI"…), or None if it has no extension."""
    name = posixpath.basename(path.rstrip("/")).lower()
    for suffix in _BY_LENGTH:
        if name.endswith(suffix) and len(name) > len(suffix):
            return FORMATS[suffix]
    _, ext = posixpath.splitext(name)
    if 1 < len(ext) <= 8 and ext[1:].isalnum():
        return ext[1:].upper()
    return None
