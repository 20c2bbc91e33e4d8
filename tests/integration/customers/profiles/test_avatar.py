"""Avatars: checked by content, re-encoded, at most 512x512; anything else refused unchanged."""

from __future__ import annotations

import io
import struct
import uuid
import zlib
from collections.abc import Callable
from typing import Any

import pytest
from flask.testing import FlaskClient
from PIL import Image

from tests.unit.customers.profiles.test_avatar_image import png_of_zeros

pytestmark = pytest.mark.needs_postgres


def image_bytes(
    image_format: str, size: tuple[int, int], mode: str = "RGB", **options: Any
) -> bytes:
    """An image of `size` in `image_format`, with a gradient so that it does not compress away."""
    image = Image.linear_gradient("L").resize(size).convert(mode)
    out = io.BytesIO()
    image.save(out, image_format, **options)
    return out.getvalue()


def png_header_only(width: int, height: int) -> bytes:
    """A PNG that announces `width`x`height` pixels in a few bytes: a decompression bomb."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"\x00" * 1024))
        + chunk(b"IEND", b"")
    )


def upload(
    client: FlaskClient, customer_id: str, data: bytes, headers: dict[str, str], name: str = "a.png"
) -> Any:
    return client.post(
        f"/customers/{customer_id}/avatar",
        data={"file": (io.BytesIO(data), name)},
        headers=headers,
        content_type="multipart/form-data",
    )


@pytest.mark.parametrize(
    ("image_format", "content_type", "size", "stored"),
    [
        ("PNG", "image/png", (1024, 768), (512, 384)),
        ("JPEG", "image/jpeg", (600, 1200), (256, 512)),
        ("WEBP", "image/webp", (800, 800), (512, 512)),
        ("PNG", "image/png", (100, 50), (100, 50)),
    ],
)
def test_an_avatar_is_re_encoded_and_scaled_down_to_512_and_served_back(
    client: FlaskClient,
    writer: dict[str, str],
    new_customer: Callable[..., dict[str, Any]],
    image_format: str,
    content_type: str,
    size: tuple[int, int],
    stored: tuple[int, int],
) -> None:
    customer = new_customer()

    response = upload(client, customer["id"], image_bytes(image_format, size), writer)

    assert response.status_code == 200, response.get_json()
    assert response.get_json()["content_type"] == content_type
    assert (response.get_json()["width"], response.get_json()["height"]) == stored
    served = client.get(f"/customers/{customer['id']}/avatar", headers=writer)
    assert served.status_code == 200
    assert served.headers["Content-Type"] == content_type
    assert served.headers["X-Content-Type-Options"] == "nosniff"
    with Image.open(io.BytesIO(served.data)) as image:
        assert (image.format, image.size) == (image_format, stored)


def test_a_png_with_transparency_keeps_it(
    client: FlaskClient, writer: dict[str, str], new_customer: Callable[..., dict[str, Any]]
) -> None:
    customer = new_customer()

    upload(client, customer["id"], image_bytes("PNG", (64, 64), mode="RGBA"), writer)

    served = client.get(f"/customers/{customer['id']}/avatar", headers=writer)
    with Image.open(io.BytesIO(served.data)) as image:
        assert image.mode == "RGBA"


def test_the_metadata_of_an_uploaded_photo_is_dropped(
    client: FlaskClient, writer: dict[str, str], new_customer: Callable[..., dict[str, Any]]
) -> None:
    customer = new_customer()
    exif = Image.Exif()
    exif[0x010F] = "SpyCam"  # Make
    upload(client, customer["id"], image_bytes("JPEG", (300, 300), exif=exif.tobytes()), writer)

    served = client.get(f"/customers/{customer['id']}/avatar", headers=writer)

    with Image.open(io.BytesIO(served.data)) as image:
        assert dict(image.getexif()) == {}


def test_a_new_avatar_replaces_the_old_one(
    client: FlaskClient, writer: dict[str, str], new_customer: Callable[..., dict[str, Any]]
) -> None:
    customer = new_customer()
    upload(client, customer["id"], image_bytes("PNG", (64, 64)), writer)

    upload(client, customer["id"], image_bytes("JPEG", (32, 32)), writer)

    served = client.get(f"/customers/{customer['id']}/avatar", headers=writer)
    assert served.headers["Content-Type"] == "image/jpeg"


def test_an_unchanged_avatar_is_a_304_for_a_client_that_has_it(
    client: FlaskClient, writer: dict[str, str], new_customer: Callable[..., dict[str, Any]]
) -> None:
    customer = new_customer()
    upload(client, customer["id"], image_bytes("PNG", (64, 64)), writer)
    first = client.get(f"/customers/{customer['id']}/avatar", headers=writer)

    again = client.get(
        f"/customers/{customer['id']}/avatar",
        headers={**writer, "If-None-Match": first.headers["ETag"]},
    )

    assert again.status_code == 304


BAD_UPLOADS: list[tuple[str, bytes, str, int]] = [
    ("a text file named .png", b"hello, I am not an image\n" * 10, "a.png", 422),
    ("an empty file", b"", "a.png", 422),
    (
        "a GIF",
        b"GIF89a\x01\x00\x01\x00\x80\x00\x00\x00\x00\x00\xff\xff\xff!\xf9\x04\x01\x00\x00\x00\x00,\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02D\x01\x00;",
        "a.gif",
        422,
    ),
    (
        "an SVG",
        b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>',
        "a.svg",
        422,
    ),
    ("a truncated PNG", image_bytes("PNG", (200, 200))[:300], "a.png", 422),
    ("a decompression bomb", png_header_only(100_000, 100_000), "bomb.png", 422),
    ("just over the pixel limit", png_header_only(6_000, 5_000), "big.png", 422),
    ("a 100 KB PNG of 5000x5000 RGBA pixels", png_of_zeros(5_000, 5_000), "bomb.png", 422),
    ("a file over 2 MB", b"\x89PNG\r\n\x1a\n" + b"\x00" * (2 * 1024 * 1024), "a.png", 413),
]


@pytest.mark.parametrize(
    ("what", "data", "name", "status"), BAD_UPLOADS, ids=[b[0] for b in BAD_UPLOADS]
)
def test_anything_but_a_small_png_jpeg_or_webp_is_refused_and_nothing_is_stored(
    client: FlaskClient,
    writer: dict[str, str],
    new_customer: Callable[..., dict[str, Any]],
    counts: Callable[[], dict[str, int]],
    what: str,
    data: bytes,
    name: str,
    status: int,
) -> None:
    customer = new_customer()
    before = counts()

    response = upload(client, customer["id"], data, writer, name=name)

    assert response.status_code == status, (what, response.get_json())
    assert "file" in response.get_json()["errors"]["files"]
    assert counts() == before
    assert client.get(f"/customers/{customer['id']}/avatar", headers=writer).status_code == 404


def test_an_upload_without_a_file_is_a_422(
    client: FlaskClient, writer: dict[str, str], new_customer: Callable[..., dict[str, Any]]
) -> None:
    customer = new_customer()

    response = client.post(
        f"/customers/{customer['id']}/avatar",
        data={"other": "x"},
        headers=writer,
        content_type="multipart/form-data",
    )

    assert response.status_code == 422


def test_an_avatar_for_an_unknown_customer_is_a_404(
    client: FlaskClient, writer: dict[str, str], counts: Callable[[], dict[str, int]]
) -> None:
    before = counts()

    response = upload(client, str(uuid.uuid4()), image_bytes("PNG", (10, 10)), writer)

    assert response.status_code == 404
    assert counts() == before
    assert client.get(f"/customers/{uuid.uuid4()}/avatar", headers=writer).status_code == 404


def test_a_customer_without_avatar_has_none_to_serve(
    client: FlaskClient, reader: dict[str, str], new_customer: Callable[..., dict[str, Any]]
) -> None:
    customer = new_customer()

    response = client.get(f"/customers/{customer['id']}/avatar", headers=reader)

    assert response.status_code == 404
    assert "no avatar" in response.get_json()["message"]
