"""Thumbnails are made from bare pixels: upright, small, and without any of the original's
metadata; a decompression bomb is refused from its header.
"""

import io

import pytest
from PIL import Image, PngImagePlugin

from service.errors import TooLarge, ValidationFailed
from service.evidence.thumbnails import make_thumbnail
from tests.evidence_files import jpeg_with_gps


def opened(body: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(body))
    image.load()
    return image


def test_a_jpeg_with_gps_comes_out_small_upright_and_without_exif():
    original = jpeg_with_gps(width=1600, height=1200, orientation=6)  # a phone held upright
    body = make_thumbnail(io.BytesIO(original), "image/jpeg")
    image = opened(body)
    assert image.format == "JPEG"
    assert image.size == (240, 320)  # turned as the camera said, longest edge 320
    assert not image.getexif()
    assert {"exif", "icc_profile", "xmp", "comment"}.isdisjoint(image.info)
    assert b"Exif" not in body and b"FamilyPhone" not in body and b"GPS" not in body


def test_a_drawing_keeps_png_and_transparency_but_loses_its_text_chunks():
    info = PngImagePlugin.PngInfo()
    info.add_text("Comment", "Home address: 1 Example Street")
    drawing = Image.new("RGBA", (900, 600), (0, 0, 0, 0))
    drawing.paste((200, 0, 0, 255), (100, 100, 400, 400))
    source = io.BytesIO()
    drawing.save(source, "PNG", pnginfo=info)
    body = make_thumbnail(io.BytesIO(source.getvalue()), "image/png")
    image = opened(body)
    assert image.format == "PNG" and image.mode == "RGBA" and image.size == (320, 213)
    assert image.getpixel((0, 0))[3] == 0  # still transparent
    assert "Comment" not in image.info and b"Example Street" not in body


def test_a_small_image_is_not_enlarged():
    body = make_thumbnail(
        io.BytesIO(jpeg_with_gps(width=64, height=48, orientation=1)), "image/jpeg"
    )
    assert opened(body).size == (64, 48)


def test_a_palette_png_becomes_rgb():
    source = io.BytesIO()
    Image.new("P", (400, 400), 3).save(source, "PNG")
    assert opened(make_thumbnail(io.BytesIO(source.getvalue()), "image/png")).mode == "RGB"


def test_a_decompression_bomb_is_refused_before_decoding():
    # 9,000 x 9,000 one-bit pixels: a few kilobytes of PNG, 81 million pixels.
    bomb = io.BytesIO()
    Image.new("1", (9000, 9000)).save(bomb, "PNG")
    assert len(bomb.getvalue()) < 100_000
    with pytest.raises(TooLarge):
        make_thumbnail(io.BytesIO(bomb.getvalue()), "image/png")


def test_a_damaged_image_is_refused():
    damaged = jpeg_with_gps(width=400, height=300)[:200]
    with pytest.raises(ValidationFailed):
        make_thumbnail(io.BytesIO(damaged), "image/jpeg")
