"""Where a benchmark's results go: its JSON and its markdown table side by side (bench/results/, each script's --out)."""
from __future__ import annotations

import json
from pathlib import Path


def write(res: dict, md: str, folder: str | Path, stem: str) -> Path:
    """Write `stem`.json and `stem`.md in `folder` (made when missing) and print the table; returns folder/stem."""
    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{stem}.json").write_text(json.dumps(res, indent=2) + "\n", encoding="utf-8")
    (out / f"{stem}.md").write_text(md, encoding="utf-8")
    print(md)
    return out / stem
