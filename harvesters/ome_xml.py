"""Image-level acquisition metadata from OME-XML (instrument, objective, channels, physical
pixel sizes), parsed with lxml with entities, DTDs and network access off.
"""

from __future__ import annotations

from lxml import etree

from harvesters.records import Channel, ImageAcquisition

PARSER = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False)
# Conversion of OME length units to micrometres (OME's default unit is µm).
UNITS_UM = {"µm": 1.0, "um": 1.0, "nm": 1e-3, "mm": 1e3, "cm": 1e4, "m": 1e6, "Å": 1e-4, "pm": 1e-6}


class OmeXmlError(ValueError):
    """The OME-XML document is not well-formed, unsafe, or not OME."""


def _local(tag) -> str:
    return etree.QName(tag).localname if isinstance(tag, str) else ""


def _children(element, name: str) -> list:
    return [child for child in element if _local(child.tag) == name]


def _first(element, name: str):
    found = _children(element, name)
    return found[0] if found else None


def parse_ome_xml(data: bytes) -> list[ImageAcquisition]:
    """One ImageAcquisition per ``<Image>``, with its instrument, objective and channels."""
    if b"<!DOCTYPE" in data[:2048] or b"<!ENTITY" in data[:4096]:
        raise OmeXmlError("OME-XML with a DOCTYPE or entity declarations is refused")
    try:
        root = etree.fromstring(data, PARSER)
    except etree.XMLSyntaxError as exc:
        raise OmeXmlError(f"not well-formed XML: {exc}") from exc
    if _local(root.tag) != "OME":
        raise OmeXmlError(f"root element is <{_local(root.tag)}>, not <OME>")
    instruments = {inst.get("ID"): inst for inst in _children(root, "Instrument")}
    return [_image(image, instruments) for image in _children(root, "Image")]


def _image(image, instruments: dict) -> ImageAcquisition:
    instrument = instruments.get(_ref(image, "InstrumentRef"))
    pixels = _first(image, "Pixels")
    return ImageAcquisition(
        title=image.get("Name"),
        instrument=_microscope(instrument) if instrument is not None else None,
        objective=_objective(image, instrument),
        channels=[_channel(c) for c in _children(pixels, "Channel")] if pixels is not None else [],
        pixel_size_um=_pixel_size(pixels) if pixels is not None else {},
    )


def _ref(element, name: str) -> str | None:
    ref = _first(element, name)
    return ref.get("ID") if ref is not None else None


def _microscope(instrument) -> str | None:
    microscope = _first(instrument, "Microscope")
    if microscope is None:
        return None
    kind = microscope.get("Type")
    words = [microscope.get("Manufacturer"), microscope.get("Model"), f"({kind.lower()})" if kind else None]
    return " ".join(w for w in words if w) or None


def _objective(image, instrument) -> str | None:
    if instrument is None:
        return None
    settings = _first(image, "ObjectiveSettings")
    wanted = settings.get("ID") if settings is not None else None
    objectives = _children(instrument, "Objective")
    chosen = next((o for o in objectives if o.get("ID") == wanted), objectives[0] if objectives else None)
    if chosen is None:
        return None
    magnification = chosen.get("NominalMagnification")
    optics = " ".join(
        part
        for part in (
            f"{_number(magnification)}x" if magnification else None,
            f"/{chosen.get('LensNA')} NA" if chosen.get("LensNA") else None,
            chosen.get("Immersion"),
        )
        if part
    ).replace(" /", "/")
    maker = " ".join(p for p in (chosen.get("Manufacturer"), chosen.get("Model")) if p)
    return ", ".join(p for p in (optics, maker) if p) or None


def _channel(channel) -> Channel:
    return Channel(
        name=channel.get("Name"),
        fluor=channel.get("Fluor"),
        excitation_nm=_wavelength(channel, "ExcitationWavelength"),
        emission_nm=_wavelength(channel, "EmissionWavelength"),
    )


def _wavelength(channel, attribute: str) -> float | None:
    value = _float(channel.get(attribute))
    if value is None:
        return None
    unit = channel.get(f"{attribute}Unit", "nm")
    return round(value * UNITS_UM.get(unit, 1e-3) * 1e3, 3)


def _pixel_size(pixels) -> dict[str, float]:
    sizes = {}
    for axis in ("X", "Y", "Z"):
        value = _float(pixels.get(f"PhysicalSize{axis}"))
        factor = UNITS_UM.get(pixels.get(f"PhysicalSize{axis}Unit", "µm"))
        if value is not None and factor is not None:
            sizes[axis.lower()] = round(value * factor, 6)
    return sizes


def _float(text: str | None) -> float | None:
    try:
        return float(text) if text is not None else None
    except ValueError:
        return None


def _number(text: str) -> str:
    value = _float(text)
    return f"{value:g}" if value is not None else text
