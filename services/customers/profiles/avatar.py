"""Avatars: an uploaded image checked by its content, re-encoded and made at most 512x512.

Memory is bounded before any pixel is decoded: the header's size is checked first, a JPEG is
decoded at a reduced scale (`draft`), and what would be decoded is capped at `MAX_DECODED_PIXELS`
(a 97 KB PNG can announce 5000x5000 RGBA: 100 MB of pixels, 300 MB once scaled). At most
`DECODE_SLOTS` images are decoded at once in a process; a request that waits over
`DECODE_WAIT_SECONDS` for a slot is answered 503.
"""

from __future__ import annotations

import io
import threading
import uuid
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import BinaryIO

from PIL import Image, ImageOps
from sqlalchemy.orm import Session, sessionmaker

from services.customers.models import Avatar, Customer
from services.customers.profiles.errors import (
    AvatarBusy,
    AvatarNotFound,
    AvatarTooLarge,
    CustomerNotFound,
    InvalidAvatar,
)
from shared.db import UnitOfWork, utcnow

MAX_BYTES = 2 * 1024 * 1024
MAX_SIDE = 512
# A 2 MB file can announce a gigapixel canvas: nothing announcing more than this is even opened
# (a JPEG that large is decoded at an eighth of its size: under half a megapixel).
MAX_PIXELS = 25_000_000
# What is decoded at full size (PNG, WebP; a JPEG after `draft`): 4 bytes a pixel, 16 MB at most.
MAX_DECODED_PIXELS = 4_194_304  # 2048 x 2048
DECODE_SLOTS = 2
DECODE_WAIT_SECONDS = 10.0
CONTENT_TYPES = {"PNG": "image/png", "JPEG": "image/jpeg", "WEBP": "image/webp"}

# Pillow's own guard, process-wide: beyond MAX_PIXELS it warns (made an error below), beyond
# twice that it refuses.
Image.MAX_IMAGE_PIXELS = MAX_PIXELS

_decode_slots = threading.BoundedSemaphore(DECODE_SLOTS)


@contextmanager
def decode_slot(wait: float | None = None) -> Iterator[None]:
    """One of the process's `DECODE_SLOTS`; AvatarBusy after `wait` seconds without one."""
    if not _decode_slots.acquire(timeout=DECODE_WAIT_SECONDS if wait is None else wait):
        raise AvatarBusy("too many avatars are being processed; try again in a moment")
    try:
        yield
    finally:
        _decode_slots.release()


@dataclass(frozen=True)
class PreparedImage:
    """An image ready to store: re-encoded in its own format, at most MAX_SIDE on each side."""

    data: bytes
    content_type: str
    width: int
    height: int


def read_upload(stream: BinaryIO, limit: int = MAX_BYTES) -> bytes:
    """The uploaded bytes; AvatarTooLarge beyond `limit` (never reads more than one byte past)."""
    data = stream.read(limit + 1)
    if len(data) > limit:
        raise AvatarTooLarge(f"an avatar is at most {limit // (1024 * 1024)} MB")
    return data


def prepare_image(data: bytes) -> PreparedImage:
    """The image checked by its content (PNG, JPEG or WebP), re-encoded and scaled down.

    The size is read from the header and checked before any pixel is decoded, so a
    decompression bomb is refused without being expanded. InvalidAvatar for anything else.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            with Image.open(io.BytesIO(data), formats=list(CONTENT_TYPES)) as image:
                image_format = str(image.format)
                width, height = image.size
                if width < 1 or height < 1 or width * height > MAX_PIXELS:
                    raise InvalidAvatar(
                        f"an avatar image is at most {MAX_PIXELS:,} pixels "
                        f"(this one is {width}x{height})"
                    )
                # JPEG can decode straight at a reduced scale: less memory, faster.
                image.draft("RGB", (MAX_SIDE, MAX_SIDE))
                decoded_width, decoded_height = image.size  # as it will be decoded
                if decoded_width * decoded_height > MAX_DECODED_PIXELS:
                    raise InvalidAvatar(
                        f"an avatar image is at most {MAX_DECODED_PIXELS:,} pixels, e.g. "
                        f"2048x2048, unless a JPEG (this one is {width}x{height})"
                    )
                with decode_slot():
                    return _encode(_scaled(image), image_format)
        except (InvalidAvatar, AvatarBusy):
            raise
        except (Image.DecompressionBombError, Image.DecompressionBombWarning):
            raise InvalidAvatar(f"an avatar image is at most {MAX_PIXELS:,} pixels") from None
        except Exception:  # noqa: BLE001 - whatever a malformed file makes Pillow raise
            raise InvalidAvatar("the file is not a PNG, JPEG or WebP image") from None


def _scaled(image: Image.Image) -> Image.Image:
    try:
        upright = ImageOps.exif_transpose(image) or image
    except Exception:  # noqa: BLE001 - a broken EXIF block is no reason to refuse the picture
        upright = image
    if upright.mode not in ("RGB", "RGBA", "L", "LA"):
        has_alpha = "A" in upright.mode or "transparency" in upright.info
        upright = upright.convert("RGBA" if has_alpha else "RGB")
    upright.thumbnail((MAX_SIDE, MAX_SIDE), Image.Resampling.LANCZOS)
    return upright


def _encode(image: Image.Image, image_format: str) -> PreparedImage:
    out = io.BytesIO()
    if image_format == "JPEG":
        if image.mode not in ("RGB", "L"):
            image = image.convert("RGB")
        image.save(out, "JPEG", quality=85, optimize=True)
    elif image_format == "WEBP":
        if image.mode not in ("RGB", "RGBA"):
            image = image.convert("RGBA" if "A" in image.mode else "RGB")
        image.save(out, "WEBP", quality=85)
    else:
        image.save(out, "PNG", optimize=True)
    # Re-encoded from the pixels only: no metadata (EXIF, GPS, comments) is kept.
    return PreparedImage(out.getvalue(), CONTENT_TYPES[image_format], image.width, image.height)


def set_avatar(uow: UnitOfWork, customer_id: uuid.UUID, upload: BinaryIO) -> Avatar:
    """Store an uploaded image as the customer's avatar, replacing any previous one."""
    prepared = prepare_image(read_upload(upload))
    with uow:
        customer = uow.session.get(Customer, customer_id, with_for_update=True)
        if customer is None:
            raise CustomerNotFound(customer_id)
        avatar = uow.session.get(Avatar, customer_id)
        if avatar is None:
            avatar = Avatar(customer_id=customer_id)
            uow.session.add(avatar)
        avatar.content_type = prepared.content_type
        avatar.data = prepared.data
        avatar.width = prepared.width
        avatar.height = prepared.height
        avatar.updated_at = utcnow()
        uow.commit()
    return avatar


def get_avatar(sessions: sessionmaker[Session], customer_id: uuid.UUID) -> Avatar:
    """The customer's avatar; CustomerNotFound or AvatarNotFound otherwise."""
    with sessions() as session:
        avatar = session.get(Avatar, customer_id)
        if avatar is None:
            if session.get(Customer, customer_id) is None:
                raise CustomerNotFound(customer_id)
            raise AvatarNotFound(f"the customer {customer_id} has no avatar")
        return avatar
