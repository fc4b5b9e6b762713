#!/usr/bin/env python3
"""Turns the operations manual's Markdown source into a plain multi-page PDF.

Standard library only: Helvetica text, '#' lines as bold headings, paragraphs
wrapped to the page, a page break before every chapter after the first. The
title and date go into the document info, where Candor's PDF parser reads them.

Usage: make-pdf.py <source.md> <out.pdf> <title> <YYYY-MM-DD>
"""
import sys
import textwrap

WIDTH, HEIGHT, MARGIN, LEADING = 612, 792, 72, 14
LINES_PER_PAGE = (HEIGHT - 2 * MARGIN) // LEADING
WRAP = 92


def lines_of(source):
    """(font, text) lines, with None marking a page break."""
    out = []
    paragraph = []

    def flush():
        if paragraph:
            out.extend(("F1", l) for l in textwrap.wrap(" ".join(paragraph), WRAP))
            out.append(("F1", ""))
            paragraph.clear()

    for raw in source.splitlines():
        line = raw.strip()
        if line.startswith("#"):
            flush()
            if line.startswith("# ") and out:
                out.append(None)
            out.append(("F2", line.lstrip("#").strip()))
            out.append(("F1", ""))
        elif not line:
            flush()
        else:
            paragraph.append(line.lstrip("-* ").strip() if line[:2] in ("- ", "* ") else line)
    flush()
    return out


def pages_of(lines):
    pages, page = [], []
    for item in lines:
        if item is None or len(page) == LINES_PER_PAGE:
            if page:
                pages.append(page)
            page = []
            if item is None:
                continue
        page.append(item)
    if page:
        pages.append(page)
    return pages


def escape(text):
    return text.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")


def build(pages, title, date):
    objects = []

    def add(body):
        objects.append(body)
        return len(objects)

    catalog = add(None)
    tree = add(None)
    f1 = add(b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>")
    f2 = add(b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica-Bold /Encoding /WinAnsiEncoding >>")
    kids = []
    for page in pages:
        ops = ["BT", f"{MARGIN} {HEIGHT - MARGIN} Td", f"{LEADING} TL"]
        for font, text in page:
            ops.append(f"/{font} {12 if font == 'F2' else 10} Tf ({escape(text)}) Tj T*")
        ops.append("ET")
        stream = "\n".join(ops).encode("cp1252")
        content = add(b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream")
        kids.append(add(
            b"<< /Type /Page /Parent %d 0 R /MediaBox [0 0 %d %d] /Resources << /Font << /F1 %d 0 R /F2 %d 0 R >> >> /Contents %d 0 R >>"
            % (tree, WIDTH, HEIGHT, f1, f2, content)))
    objects[catalog - 1] = b"<< /Type /Catalog /Pages %d 0 R >>" % tree
    objects[tree - 1] = b"<< /Type /Pages /Kids [%s] /Count %d >>" % (
        b" ".join(b"%d 0 R" % k for k in kids), len(kids))
    stamp = date.replace("-", "") + "000000Z"
    info = add(b"<< /Title (%s) /CreationDate (D:%s) /ModDate (D:%s) >>" % (
        escape(title).encode("cp1252"), stamp.encode(), stamp.encode()))

    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for i, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % i + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % o for o in offsets)
    out += b"trailer\n<< /Size %d /Root %d 0 R /Info %d 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1, catalog, info, xref)
    return bytes(out)


def main():
    if len(sys.argv) != 5:
        sys.exit(__doc__)
    source, target, title, date = sys.argv[1:]
    pages = pages_of(lines_of(open(source, encoding="utf-8").read()))
    open(target, "wb").write(build(pages, title, date))
    print(f"{target}: {len(pages)} pages")


if __name__ == "__main__":
    main()
