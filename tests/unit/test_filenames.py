import pytest

from service.evidence.content import safe_filename


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("bedroom.jpg", "bedroom.jpg"),
        ("../../etc/passwd", "passwd"),
        ("C:\\Users\\me\\photo.jpg", "photo.jpg"),
        ("bed\nroom\r.jpg", "bedroom.jpg"),
        ("tab\there\x07.jpg", "tabhere.jpg"),
        ("nul.txt.jpg", "_nul.txt.jpg"),
        ("LPT1.jpg", "_LPT1.jpg"),
        (".jpg", "attachment.jpg"),
        ("", "attachment.jpg"),
        (None, "attachment.jpg"),
        ("..", "attachment.jpg"),
        ("a" * 300 + ".jpg", "a" * 196 + ".jpg"),
    ],
)
def test_safe_filename(given, expected):
    assert safe_filename(given, "image/jpeg") == expected
