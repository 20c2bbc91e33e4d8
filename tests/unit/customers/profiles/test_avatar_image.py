"""Preparing an avatar image: content checked, bombs refused before decoding, scaled, re-encoded."""

from __future__ import annotations

import io
import struct
import zlib

import pytest
from PIL import Image

from services.customers.profiles import avatar
from services.customers.profiles.errors import AvatarTooLarge, InvalidAvatar


def encoded(image_format: str, size: tuple[int, int], mode: str = "RGB") -> bytes:
    out = io.BytesIO()
    Image.new(mode, size, "red" if mode != "L" else 128).save(out, image_format)
    return out.getvalue()


def png_announcing(width: int, height: int) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = struct.pack(">I", zlib.crc32(kind + data))
        return struct.pack(">I", len(data)) + kind + data + crc

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    idat = chunk(b"IDAT", zlib.compress(b"\x00" * 64))
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + idat + chunk(b"IEND", b"")


@pytest.mark.parametrize("image_format", ["PNG", "JPEG", "WEBP"])
def test_an_image_keeps_its_format_and_fits_in_512(image_format: str) -> None:
    prepared = avatar.prepare_image(encoded(image_format, (2000, 1000)))

    assert (prepared.width, prepared.height) == (512, 256)
    with Image.open(io.BytesIO(prepared.data)) as image:
        assert (image.format, image.size) == (image_format, (512, 256))


def test_a_cmyk_jpeg_is_re_encoded_in_rgb() -> None:
    prepared = avatar.prepare_image(encoded("JPEG", (40, 40), mode="CMYK"))

    with Image.open(io.BytesIO(prepared.data)) as image:
        assert image.mode == "RGB"


def test_a_palette_png_is_scaled_smoothly_in_rgb() -> None:
    prepared = avatar.prepare_image(encoded("PNG", (1024, 1024), mode="P"))

    assert prepared.content_type == "image/png"
    assert (prepared.width, prepared.height) == (512, 512)


@pytest.mark.parametrize(("width", "height"), [(100_000, 100_000), (6_000, 5_000), (25_000_001, 1)])
def test_an_image_announcing_too_many_pixels_is_refused_before_decoding(
    width: int, height: int
) -> None:
    with pytest.raises(InvalidAvatar, match="pixels"):
        avatar.prepare_image(png_announcing(width, height))


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"just text",
        b"GIF89a" + b"\x00" * 20,
        b"<svg xmlns='http://www.w3.org/2000/svg'/>",
        encoded("BMP", (10, 10)),
        encoded("PNG", (100, 100))[:60],
    ],
)
def test_anything_but_a_whole_png_jpeg_or_webp_is_refused(data: bytes) -> None:
    with pytest.raises(InvalidAvatar):
        avatar.prepare_image(data)


def test_an_upload_over_the_limit_is_refused_without_reading_it_all() -> None:
    stream = io.BytesIO(b"x" * 1000)

    with pytest.raises(AvatarTooLarge):
        avatar.read_upload(stream, limit=100)
    assert stream.tell() == 101


def test_an_upload_at_the_limit_is_read_whole() -> None:
    assert avatar.read_upload(io.BytesIO(b"x" * 100), limit=100) == b"x" * 100
