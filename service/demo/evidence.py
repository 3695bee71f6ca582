"""Demo evidence made on the spot: a child's drawing, a photo of a bedroom, a short recording.

Generated rather than shipped, so the repository holds no images of anyone. The photo carries a
GPS position in its EXIF, as a tablet's camera would add, so the demo shows it stripped.
"""

from __future__ import annotations

import io
import math
import struct
import wave

from PIL import Image, ImageDraw


def drawing_png() -> bytes:
    """A child's drawing of a house with a sun: crayon lines on white."""
    image = Image.new("RGB", (640, 480), "white")
    pen = ImageDraw.Draw(image)
    pen.rectangle((180, 220, 420, 420), outline=(200, 40, 40), width=8)
    pen.polygon([(160, 230), (300, 110), (440, 230)], outline=(40, 40, 200), width=8)
    pen.rectangle((270, 320, 330, 420), outline=(120, 70, 20), width=6)
    pen.ellipse((500, 40, 600, 140), outline=(240, 180, 0), width=8)
    pen.line((20, 440, 620, 440), fill=(30, 150, 30), width=10)
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return buffer.getvalue()


def photo_jpeg() -> bytes:
    """A photo-like picture of a bedroom, with a camera's GPS position in its EXIF."""
    image = Image.new("RGB", (800, 600), (225, 215, 190))
    pen = ImageDraw.Draw(image)
    pen.rectangle((80, 330, 480, 520), fill=(90, 120, 180))  # a bed
    pen.rectangle((80, 290, 200, 340), fill=(240, 240, 240))  # a pillow
    pen.rectangle((560, 120, 740, 320), fill=(170, 210, 240), outline=(255, 255, 255), width=12)
    exif = Image.Exif()
    gps = {1: "N", 2: (52.0, 12.0, 30.0), 3: "W", 4: (1.0, 9.0, 15.0)}
    exif[0x8825] = gps  # GPSInfo: what the upload must remove
    exif[0x010F] = "Demo tablet camera"
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=85, exif=exif)
    return buffer.getvalue()


def recording_wav(seconds: float = 1.5) -> bytes:
    """A short, quiet tone standing in for a child's recorded words."""
    rate = 8000
    frames = b"".join(
        struct.pack("<h", int(3000 * math.sin(2 * math.pi * 440 * n / rate)))
        for n in range(int(rate * seconds))
    )
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(frames)
    return buffer.getvalue()
