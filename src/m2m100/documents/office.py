"""DOCX (python-docx), PPTX (python-pptx), XLSX (openpyxl): runs of formatted text -> partition units.

A paragraph is one unit whose runs (each with its own font, bold, italic, link...) tile its text; after
translation each run receives the part of the translation aligned with it (units.Unit.partition), so the
run count and every run's formatting are unchanged. Untouched: fields (page numbers, TOC: runs inside
w:fldChar/w:fldSimple, a:fld), runs holding drawings or page breaks, formulas, sheet names, everything
outside text. DOCX covers the body, tables (nested too), text boxes, headers, footers, footnotes and endnotes;
PPTX slides (groups, tables) and speaker notes; XLSX cell text (plain and rich) on every sheet. openpyxl
re-writes the workbook: charts and images in a workbook are not kept (a limitation of openpyxl).
"""

from __future__ import annotations

import io
from typing import Any, Callable

from ..errors import DocumentError
from ..hygiene import needs_translation
from .safety import check_archive
from .units import Translated, Unit, partition_texts, partition_unit

TranslateFn = Callable[[list[Unit]], list[Translated]]


def _apply(units: list[Unit], results: list[Translated], write: Callable[[Any, str], None]) -> None:
    for unit, tr in zip(units, results):
        if not needs_translation(unit.text):
            continue
        for span, chunk in zip([s for s in tr.spans if s.parent is None], partition_texts(tr)):
            write(span.data, chunk)


def translate_bytes(data: bytes, name: str, translate: TranslateFn, limits, fmt: str) -> bytes:
    check_archive(data, name, limits)
    try:
        handler = {"docx": _docx, "pptx": _pptx, "xlsx": _xlsx}[fmt]
        return handler(data, translate)
    except DocumentError:
        raise
    except (KeyError, ValueError, TypeError, AttributeError, IndexError, OSError, SyntaxError) as exc:
        # the library could not read the package (a missing part, invalid XML...): the file is corrupt
        raise DocumentError(f"{name}: cannot read as {fmt.upper()}: {type(exc).__name__}: {exc}") from None


# -- DOCX ------------------------------------------------------------------------------------------------
_DOCX_TEXT_CHILDREN = {"rPr", "t", "tab", "br", "cr", "lastRenderedPageBreak", "noBreakHyphen", "softHyphen"}
_DOCX_RUNS = "./w:r | ./w:hyperlink/w:r | ./w:ins/w:r | ./w:smartTag/w:r | ./w:sdt/w:sdtContent/w:r"


def _docx(data: bytes, translate: TranslateFn) -> bytes:
    import docx
    from docx.opc.constants import RELATIONSHIP_TYPE as RT
    from docx.oxml.ns import qn
    from docx.text.run import Run

    document = docx.Document(io.BytesIO(data))
    roots = [document.element]
    wanted = {RT.HEADER, RT.FOOTER, RT.FOOTNOTES, RT.ENDNOTES}
    seen_parts: set[int] = set()
    for rel in list(document.part.rels.values()):
        if rel.reltype in wanted and not rel.is_external and id(rel.target_part) not in seen_parts:
            seen_parts.add(id(rel.target_part))
            element = getattr(rel.target_part, "element", None)
            if element is None:  # a part python-docx does not model (footnotes): re-read as an XML part
                element = _as_xml_part(document.part, rel.target_part)
            if element is not None:
                roots.append(element)
    units: list[Unit] = []
    for root in roots:
        for p in root.iter(qn("w:p")):
            runs: list[tuple[Any, str]] = []
            depth = 0
            for r in p.xpath(_DOCX_RUNS):
                for fld in r.iter(qn("w:fldChar")):
                    kind = fld.get(qn("w:fldCharType"))
                    depth += 1 if kind == "begin" else -1 if kind == "end" else 0
                    depth = max(depth, 0)
                if depth or r.find(qn("w:fldChar")) is not None or r.find(qn("w:instrText")) is not None:
                    continue
                names = {child.tag.split("}")[-1] for child in r}
                if "t" not in names or not names <= _DOCX_TEXT_CHILDREN:
                    continue
                if any(br.get(qn("w:type")) for br in r.findall(qn("w:br"))):
                    continue  # page/column breaks would come back as plain line breaks
                run = Run(r, None)
                runs.append((run, run.text))
            if runs:
                units.append(partition_unit(runs))

    def write(run: Any, text: str) -> None:
        run.text = text

    _apply(units, translate(units), write)
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


def _as_xml_part(source: Any, part: Any) -> Any:
    """The root element of `part`, a package part python-docx keeps as bytes (footnotes, endnotes), or None.

    Its XML is parsed safely (no entities, no DTD, no network) into python-docx's element classes (so runs
    read and write as in the body), and an XmlPart holding that element takes the place of the byte part in
    `source`'s relationships (same rIds, the part's own relationships copied): saving the document then
    writes the element, translated, as the part.
    """
    from docx.opc.part import XmlPart
    from docx.oxml.parser import element_class_lookup
    from lxml import etree

    blob = part.blob
    if not blob:
        return None
    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)
    parser.set_element_class_lookup(element_class_lookup)
    element = etree.fromstring(blob, parser)
    xml_part = XmlPart(part.partname, part.content_type, element, part.package)
    for rel in part.rels.values():
        xml_part.load_rel(rel.reltype, rel.target_ref if rel.is_external else rel.target_part, rel.rId,
                          rel.is_external)
    for rel in list(source.rels.values()):
        if not rel.is_external and rel.target_part is part:
            source.load_rel(rel.reltype, xml_part, rel.rId)
    return element


# -- PPTX ------------------------------------------------------------------------------------------------
def _pptx(data: bytes, translate: TranslateFn) -> bytes:
    import pptx

    prs = pptx.Presentation(io.BytesIO(data))
    frames: list[Any] = []

    def shapes(collection: Any) -> None:
        for shape in collection:
            if getattr(shape, "shape_type", None) == pptx.enum.shapes.MSO_SHAPE_TYPE.GROUP:
                shapes(shape.shapes)
                continue
            if getattr(shape, "has_text_frame", False) and shape.has_text_frame:
                frames.append(shape.text_frame)
            if getattr(shape, "has_table", False) and shape.has_table:
                for row in shape.table.rows:
                    for cell in row.cells:
                        frames.append(cell.text_frame)

    for slide in prs.slides:
        shapes(slide.shapes)
        if slide.has_notes_slide and slide.notes_slide.notes_text_frame is not None:
            frames.append(slide.notes_slide.notes_text_frame)
    units = []
    for frame in frames:
        for paragraph in frame.paragraphs:
            runs = [(run, run.text) for run in paragraph.runs]
            if runs:
                units.append(partition_unit(runs))

    def write(run: Any, text: str) -> None:
        run.text = text

    _apply(units, translate(units), write)
    out = io.BytesIO()
    prs.save(out)
    return out.getvalue()


# -- XLSX ------------------------------------------------------------------------------------------------
def _xlsx(data: bytes, translate: TranslateFn) -> bytes:
    import openpyxl
    from openpyxl.cell.rich_text import CellRichText, TextBlock

    workbook = openpyxl.load_workbook(io.BytesIO(data), rich_text=True)
    units: list[Unit] = []
    cells: list[Any] = []
    for sheet in workbook.worksheets:
        for row in sheet.iter_rows():
            for cell in row:
                value = cell.value
                if isinstance(value, CellRichText):
                    blocks = list(value)
                    runs = [((cell, k), b.text if isinstance(b, TextBlock) else str(b)) for k, b in enumerate(blocks)]
                    units.append(partition_unit(runs))
                    cells.append((cell, blocks))
                elif isinstance(value, str) and cell.data_type == "s":
                    units.append(partition_unit([((cell, None), value)]))
                    cells.append((cell, None))
    pending: dict[int, list[Any]] = {}

    def write(target: tuple[Any, int | None], text: str) -> None:
        cell, k = target
        if k is None:
            cell.value = text
            cell.data_type = "s"  # a translation starting with "=" stays text, never becomes a formula
            return
        blocks = pending.setdefault(id(cell), [cell, list(cell.value)])[1]
        block = blocks[k]
        blocks[k] = TextBlock(block.font, text) if isinstance(block, TextBlock) else text

    _apply(units, translate(units), write)
    for cell, blocks in pending.values():
        cell.value = CellRichText(*[b for b in blocks if (b.text if isinstance(b, TextBlock) else b)])
    out = io.BytesIO()
    workbook.save(out)
    return out.getvalue()
