"""Helpers the book tests share: a built page's visible text, and the checks every executed chapter passes."""
import re


def text_of(html: str) -> str:
    """The page's text with tags removed and whitespace collapsed (what a reader sees)."""
    return re.sub(r"\s+", " ", re.sub("<[^>]+>", " ", html))


def executed_page(built_book, path: str, min_images: int) -> str:
    """The HTML of ``path``, after checking it executed (no traceback) and its figures exist on disk."""
    page = (built_book / path).read_text()
    assert "Traceback" not in page, f"{path} shows a traceback"
    images = re.findall(r'<img[^>]+src="([^"]+\.png)"', page)
    assert len(images) >= min_images, images
    for src in images:
        assert (built_book / "book" / src).resolve().exists(), src
    return page


def glued(pattern: str, text: str) -> list[float]:
    """The numbers captured by ``pattern``'s groups, as floats; fails if the sentence is missing."""
    m = re.search(pattern, text)
    assert m, f"not rendered: {pattern}"
    return [float(g) for g in m.groups()]
