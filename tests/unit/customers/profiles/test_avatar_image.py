"""Preparing an avatar image: content checked, bombs refused before decoding, scaled, re-encoded."""

from __future__ import annotations

import io
import struct
import subprocess
import sys
import threading
import time
import zlib
from pathlib import Path

import pytest
from PIL import Image

from services.customers.profiles import avatar
from services.customers.profiles.errors import AvatarBusy, AvatarTooLarge, InvalidAvatar


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


# --- memory: what a small file may cost to decode ---------------------------------------------
def png_of_zeros(width: int, height: int) -> bytes:
    """A real, whole RGBA PNG of transparent pixels, compressed row by row: a 5000x5000 one
    is about 100 KB, yet 100 MB once decoded (and never held whole here)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = struct.pack(">I", zlib.crc32(kind + data))
        return struct.pack(">I", len(data)) + kind + data + crc

    compressor = zlib.compressobj(9)
    row = b"\x00" * (1 + 4 * width)  # filter byte, then RGBA
    idat = b"".join(compressor.compress(row) for _ in range(height)) + compressor.flush()
    header = struct.pack(">IIBBBBB", width, height, 8, 6, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")
    )


PEAK_GROWTH = """
import resource, sys
from services.customers.profiles import avatar
from services.customers.profiles.errors import InvalidAvatar
data = sys.stdin.buffer.read()
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
try:
    avatar.prepare_image(data)
    outcome = "accepted"
except InvalidAvatar:
    outcome = "refused"
after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(outcome, (after - before) // 1024)
"""


def peak_growth_mb(data: bytes) -> tuple[str, int]:
    """Prepare `data` in a fresh process: accepted or refused, and how many MB its peak
    resident memory grew meanwhile."""
    done = subprocess.run(
        [sys.executable, "-c", PEAK_GROWTH],
        input=data,
        capture_output=True,
        check=True,
        timeout=120,
        cwd=Path(__file__).resolve().parents[4],
    )
    outcome, growth = done.stdout.decode().split()
    return outcome, int(growth)


def test_a_small_png_announcing_5000x5000_rgba_is_refused_without_decoding_it() -> None:
    bomb = png_of_zeros(5000, 5000)
    assert len(bomb) < 150_000

    outcome, growth = peak_growth_mb(bomb)

    assert outcome == "refused"
    assert growth < 40, f"the process grew by {growth} MB"


def test_an_image_at_the_decoding_cap_is_accepted_within_a_bounded_memory() -> None:
    side = int(avatar.MAX_DECODED_PIXELS**0.5)

    outcome, growth = peak_growth_mb(png_of_zeros(side, side))

    assert outcome == "accepted"
    assert growth < 120, f"the process grew by {growth} MB"


def test_the_decoding_cap_names_the_pixels_and_a_jpeg_is_decoded_reduced() -> None:
    with pytest.raises(InvalidAvatar, match="pixels"):
        avatar.prepare_image(png_of_zeros(2049, 2048))
    # A 12-megapixel photo decodes at a quarter of its sides: accepted.
    prepared = avatar.prepare_image(encoded("JPEG", (4000, 3000)))
    assert (prepared.width, prepared.height) == (512, 384)


def test_decodes_wait_for_a_slot_and_give_up_with_503() -> None:
    slots = [avatar.decode_slot(wait=0) for _ in range(avatar.DECODE_SLOTS)]
    for slot in slots:
        slot.__enter__()
    try:
        with pytest.raises(AvatarBusy) as refused, avatar.decode_slot(wait=0.05):
            pass
        assert refused.value.status == 503
    finally:
        for slot in slots:
            slot.__exit__(None, None, None)
    with avatar.decode_slot(wait=0):
        pass


def test_no_more_than_the_slots_decode_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    running, most = 0, 0
    lock = threading.Lock()
    scaled = avatar._scaled

    def counting(image: Image.Image) -> Image.Image:
        nonlocal running, most
        with lock:
            running += 1
            most = max(most, running)
        time.sleep(0.05)
        with lock:
            running -= 1
        return scaled(image)

    monkeypatch.setattr(avatar, "_scaled", counting)
    data = encoded("PNG", (600, 600))
    threads = [threading.Thread(target=avatar.prepare_image, args=(data,)) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)

    assert most == avatar.DECODE_SLOTS
