"""The mapping examples in the README are the mappings the service ships, and they load."""

import json
import re
from pathlib import Path

import pytest

from service.core_system.mapping import load_mapping

README = Path(__file__).resolve().parents[2] / "README.md"


def readme_mappings():
    blocks = re.findall(r"```json\n(.*?)```", README.read_text(), flags=re.S)
    return [json.loads(block) for block in blocks if '"flags"' in block]


@pytest.mark.parametrize("name", ["lcs", "mosaic", "eclipse"])
def test_the_readme_shows_each_flavoured_mapping_as_shipped(tmp_path, name):
    [example] = [mapping for mapping in readme_mappings() if mapping["name"] == name]
    path = tmp_path / f"{name}.json"
    path.write_text(json.dumps(example))
    from_readme, shipped = load_mapping(str(path)), load_mapping(name)
    assert from_readme == shipped
