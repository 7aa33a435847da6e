"""Finding a CJK font so that matplotlib in the kernel renders Chinese text.

The search, in order: a family passed explicitly (`KernelSession(font_family=...)`); the CJK families that
fontconfig knows (`fc-list :lang=zh family`, non-monospace first); well-known font files (Debian
`fonts-wqy-microhei`, `fonts-wqy-zenhei`, `fonts-noto-cjk`, their Arch/Fedora paths).

The family found is written into a `matplotlibrc` in the kernel's private MPLCONFIGDIR as `font.family:
DejaVu Sans, <CJK family>` (matplotlib >= 3.6 falls back per glyph along that list; listing the CJK family
only in `font.sans-serif` is not enough, as the generic family resolves to one font), with
`axes.unicode_minus: False`.
"""

from __future__ import annotations

import functools
import shutil
import subprocess
from pathlib import Path

KNOWN_FONTS: dict[str, str] = {
    "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc": "WenQuanYi Micro Hei",
    "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc": "WenQuanYi Zen Hei",
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc": "Noto Sans CJK JP",
    "/usr/share/fonts/noto-cjk/NotoSansCJK-Regular.ttc": "Noto Sans CJK JP",
    "/usr/share/fonts/google-noto-cjk/NotoSansCJK-Regular.ttc": "Noto Sans CJK JP",
    "/usr/share/fonts/wenquanyi/wqy-microhei/wqy-microhei.ttc": "WenQuanYi Micro Hei",
}


@functools.lru_cache(maxsize=1)
def find_cjk_font() -> str | None:
    """The family name of an installed font with Chinese glyphs, or None."""
    fc_list = shutil.which("fc-list")
    if fc_list:
        try:
            out = subprocess.run([fc_list, ":lang=zh", "family"], capture_output=True, text=True,
                                 timeout=10).stdout
        except (OSError, subprocess.TimeoutExpired):
            out = ""
        families = sorted({line.split(",")[0].strip() for line in out.splitlines() if line.strip()})
        preferred = [f for f in families if "Mono" not in f] or families
        if preferred:
            return preferred[0]
    for path, family in KNOWN_FONTS.items():
        if Path(path).is_file():
            return family
    return None


def write_matplotlibrc(config_dir: Path, font_family: str | None = None) -> None:
    """Write a matplotlibrc for a kernel: Agg-based inline output and a CJK fallback font if one exists."""
    config_dir.mkdir(parents=True, exist_ok=True)
    family = font_family or find_cjk_font()
    lines = ["axes.unicode_minus: False"]
    if family:
        # Both: the family list gives per-glyph fallback; the sans-serif list covers code that resets family.
        lines.append(f"font.family: DejaVu Sans, {family}")
        lines.append(f"font.sans-serif: DejaVu Sans, {family}, sans-serif")
    (config_dir / "matplotlibrc").write_text("\n".join(lines) + "\n", encoding="utf-8")
