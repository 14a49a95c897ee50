"""Text encodings of CSV exports: detect UTF-8, UTF-8 with BOM or cp932 (Shift_JIS), and transcode.

Japanese PRM and SFA tools often export Shift_JIS; supportlab reads UTF-8 only after this module
has checked (or detected) the encoding and, for cp932, streamed a UTF-8 copy. Raw inputs are
never modified.

Example:
    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "partners.csv"
    >>> _ = p.write_bytes("partner_id,name\\nP1,東京商事\\n".encode("cp932"))
    >>> detect_encoding(p)
    'cp932'
    >>> normalize_encoding("Shift_JIS")
    'cp932'
"""

from __future__ import annotations

import codecs
from pathlib import Path

from supportlab.errors import ConfigError, InputFileError

__all__ = ["SAMPLE_BYTES", "detect_encoding", "normalize_encoding", "transcode_to_utf8"]

SAMPLE_BYTES = 1 << 20


_ENCODING_ALIASES = {
    "utf8": "utf-8", "utf-8": "utf-8", "utf_8": "utf-8", "utf-8-sig": "utf-8-sig",
    "utf8-sig": "utf-8-sig", "utf-8-bom": "utf-8-sig",
    "cp932": "cp932", "ms932": "cp932", "windows-31j": "cp932", "sjis": "cp932",
    "shift_jis": "cp932", "shift-jis": "cp932", "shiftjis": "cp932", "s-jis": "cp932",
}


def normalize_encoding(name: str) -> str:
    key = name.strip().lower()
    if key not in _ENCODING_ALIASES:
        raise ConfigError(f"unsupported encoding '{name}'",
                          fix="use utf-8, utf-8-sig or cp932 (Shift_JIS)")
    return _ENCODING_ALIASES[key]


def _decodes(sample: bytes, encoding: str) -> tuple[bool, int]:
    dec = codecs.getincrementaldecoder(encoding)()
    try:
        dec.decode(sample, final=False)
    except UnicodeDecodeError as exc:
        return False, exc.start
    return True, -1


def _line_of(sample: bytes, offset: int) -> int:
    return sample.count(b"\n", 0, max(offset, 0)) + 1


def detect_encoding(path: str | Path, declared: str | None = None) -> str:
    """Detect (or check a declared) text encoding: ``utf-8``, ``utf-8-sig`` or ``cp932``.

    Raises:
        InputFileError: when the bytes contradict the declared encoding or fit none.
    """
    p = Path(path)
    with p.open("rb") as fh:
        sample = fh.read(SAMPLE_BYTES)
    has_bom = sample.startswith(codecs.BOM_UTF8)
    utf8_ok, utf8_bad = _decodes(sample, "utf-8")
    cp_ok, cp_bad = _decodes(sample, "cp932")
    non_ascii = any(b > 127 for b in sample)
    if declared is not None:
        enc = normalize_encoding(declared)
        if enc.startswith("utf-8") and not utf8_ok:
            hint = "it reads as cp932 (Shift_JIS): pass --encoding cp932" if cp_ok else \
                "re-export it as UTF-8"
            raise InputFileError(
                f"declared encoding {declared} does not match the file: invalid UTF-8 bytes at "
                f"line {_line_of(sample, utf8_bad)}", where=str(p),
                fix=f"{hint}, or omit --encoding to detect it")
        if enc == "cp932" and (has_bom or (utf8_ok and non_ascii)):
            raise InputFileError(
                f"declared encoding {declared} does not match the file: it is UTF-8 text "
                "(reading it as cp932 would garble Japanese)", where=str(p),
                fix="omit --encoding (UTF-8 is detected) or pass --encoding utf-8")
        if enc == "cp932" and not cp_ok:
            raise InputFileError(
                f"invalid cp932 (Shift_JIS) bytes at line {_line_of(sample, cp_bad)}",
                where=str(p), fix="check the export's encoding and pass it with --encoding")
        return "utf-8-sig" if enc.startswith("utf-8") and has_bom else enc
    if has_bom:
        return "utf-8-sig"
    if utf8_ok:
        return "utf-8"
    if cp_ok:
        return "cp932"
    raise InputFileError(
        f"cannot tell the text encoding (not UTF-8: bad byte at line {_line_of(sample, utf8_bad)}"
        f"; not cp932: bad byte at line {_line_of(sample, cp_bad)})", where=str(p),
        fix="re-export the file as UTF-8 (or Shift_JIS) and pass --encoding if known")


def transcode_to_utf8(src: Path, encoding: str, tmpdir: Path) -> Path:
    """Stream a non-UTF-8 file into a UTF-8 copy (raw inputs are never modified)."""
    out = tmpdir / (src.stem + ".utf8.csv")
    dec = codecs.getincrementaldecoder(encoding)()
    line = 1
    with src.open("rb") as fin, out.open("w", encoding="utf-8", newline="") as fout:
        while True:
            chunk = fin.read(4 << 20)
            try:
                text = dec.decode(chunk, final=not chunk)
            except UnicodeDecodeError as exc:
                raise InputFileError(
                    f"invalid {encoding} bytes near line {line + _line_of(chunk, exc.start) - 1}",
                    where=str(src), fix="check the export's encoding and pass it with --encoding",
                ) from None
            fout.write(text)
            line += chunk.count(b"\n")
            if not chunk:
                break
    return out
