#!/usr/bin/env python3
"""Regenerates the committed seed corpora under fuzz/seeds/<target>/.

- decode_hecto: every `fn *_bytes() -> Vec<u8> { cat(&[ ... ]) }` golden vector of
  specs/tests/golden_hecto.rs (byte literals and `&[b' '; N]` repeats), plus poll telegrams.
- config_loader: fep.example.toml, specs/*.toml, specs/tests/data/*.toml.
- native_envelope: a few valid frames (bodies and whole length-prefixed streams) per
  docs/protocol.md.

framing_chunks and dynamic_layout read structured (`arbitrary`) input; libFuzzer builds
their corpora from scratch in seconds, so they have no hand-written seeds.

Run from anywhere: python3 fuzz/seeds/gen_seeds.py
"""

import ast
import pathlib
import re
import shutil
import struct

ROOT = pathlib.Path(__file__).resolve().parents[2]
SEEDS = ROOT / "fuzz" / "seeds"


def reset(target):
    d = SEEDS / target
    if d.exists():
        shutil.rmtree(d)
    d.mkdir(parents=True)
    return d


def golden_vectors():
    src = (ROOT / "specs" / "tests" / "golden_hecto.rs").read_text(encoding="utf-8")
    out = {}
    for m in re.finditer(r"fn (\w+)_bytes\(\) -> Vec<u8> \{\s*cat\(&\[(.*?)\]\)\s*\}", src, re.S):
        name, body = m.group(1), m.group(2)
        parts = []
        for line in body.splitlines():
            line = line.split("//")[0].strip().rstrip(",").strip()
            if not line:
                continue
            rep = re.fullmatch(r"&\[b'(.)'; (\d+)\]", line)
            if rep:
                parts.append(rep.group(1).encode() * int(rep.group(2)))
            elif line.startswith('b"'):
                parts.append(ast.literal_eval(line))
            else:
                raise SystemExit(f"{name}: cannot read part {line!r}")
        data = b"".join(parts)
        if len(data) != 300:
            raise SystemExit(f"{name}: {len(data)} bytes, expected 300")
        out[name] = data
    if len(out) < 20:
        raise SystemExit(f"only {len(out)} golden vectors found")
    return out


def decode_hecto():
    d = reset("decode_hecto")
    for name, data in sorted(golden_vectors().items()):
        (d / name).write_bytes(data)
    (d / "poll_request").write_bytes(b"HDRREQPOLL1123094501")
    (d / "poll_response").write_bytes(b"HDRRESPOLL1123094501")


def config_loader():
    d = reset("config_loader")
    files = [ROOT / "fep.example.toml"]
    files += sorted(f for f in (ROOT / "specs").glob("*.toml") if f.name != "Cargo.toml")
    files += sorted((ROOT / "specs" / "tests" / "data").glob("*.toml"))
    for f in files:
        (d / f.name).write_bytes(f.read_bytes())
    # The fep-codec::spec module's doc example, a minimal family.
    spec_rs = (ROOT / "fep-codec" / "src" / "spec.rs").read_text(encoding="utf-8")
    m = re.search(r'from_toml_str\(r#"\n(.*?)"#\)', spec_rs, re.S)
    if m:
        text = "\n".join(line[4:] if line.startswith("//! ") else line.lstrip("/!")
                         for line in m.group(1).splitlines())
        (d / "spec_doc_example.toml").write_text(text + "\n", encoding="utf-8")


def s16(text):
    raw = text.encode("utf-8")
    return struct.pack(">H", len(raw)) + raw


def b32(raw):
    return struct.pack(">I", len(raw)) + raw


def native_envelope():
    d = reset("native_envelope")
    telegram = golden_vectors()["transfer_request"]
    bodies = {
        "request": b"\x01" + struct.pack(">QI", 1, 5000) + s16("hecto") + b32(telegram),
        "response": b"\x02" + struct.pack(">QB", 1, 1) + s16("응답코드 SB02") + b32(b""),
        "subscribe": b"\x03" + struct.pack(">Q", 7) + s16("*"),
        "notice": b"\x04" + struct.pack(">Q", 42) + s16("hecto") + b32(b"HDRREQPOLL1123094501"),
        "ack": b"\x05" + struct.pack(">Q", 42),
        "ping": b"\x06" + struct.pack(">Q", 0xDEADBEEF),
        "pong": b"\x07" + struct.pack(">Q", 0xDEADBEEF),
        # Optional trailing fields and the kinds added after version 1.
        "subscribe_group": b"\x03" + struct.pack(">Q", 8) + s16("hecto") + s16("ledger"),
        "notice_tagged": b"\x04" + struct.pack(">Q", 43) + s16("hecto") + b32(b"T") + struct.pack(">Q", 8),
        "unsubscribe": b"\x08" + struct.pack(">QQ", 9, 8),
    }
    stream = b""
    for name, body in bodies.items():
        (d / f"body_{name}").write_bytes(body)
        frame = struct.pack(">I", len(body)) + body
        (d / f"frame_{name}").write_bytes(frame)
        stream += frame
    (d / "stream_all").write_bytes(stream)


if __name__ == "__main__":
    decode_hecto()
    config_loader()
    native_envelope()
    for t in sorted(p.name for p in SEEDS.iterdir() if p.is_dir()):
        print(t, len(list((SEEDS / t).iterdir())))
