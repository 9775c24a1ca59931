"""MyST Markdown (the chapters' markup) to Markdown that plain Jupyter, JupyterLab and Colab render.

Used by ``scripts/notebooks.py``. Only the standard library: ``make notebooks`` needs nothing else.

- ``{exercise}`` blocks become headed sections (``### Exercise N: title``), ``{solution}`` blocks a
  collapsed ``<details>`` block (or nothing, for the student edition), ``{prf:...}`` and ``{admonition}`` blocks styled blockquotes;
- ``{cite:t}``/``{cite:p}``/``{cite}`` become author-year text linked to the bibliography (the book's
  page when a book URL is known, else the paper's own link); ``{ref}``/``{prf:ref}`` become links;
- ``{glue:text}``/``{glue:md}`` become the glued value when one is known (an executed notebook),
  otherwise **[name]**, which ``lotterylab.glue.glue`` prints as ``[name] = value`` in the reader's run;
- ``(label)=`` targets become anchors, ``%`` comment lines are dropped; code blocks are left alone.
"""
from __future__ import annotations

import ast
import re
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["Bibliography", "Labels", "convert_markdown", "read_bibliography", "read_labels"]

OPEN = re.compile(r"^(\s*)(`{3,}|:{3,})\{([\w:-]+)\}[ \t]*(.*)$")
PLAIN_FENCE = re.compile(r"^\s*(`{3,}|~{3,})")
ROLE = re.compile(r"\{([\w:-]+)\}`([^`]*)`")
PRF_NAMES = {"algorithm": "Algorithm", "conjecture": "Conjecture", "corollary": "Corollary", "definition":
             "Definition", "lemma": "Lemma", "proof": "Proof", "proposition": "Proposition", "theorem": "Theorem"}


@dataclass
class Bibliography:
    """key -> (author-year name, year, link or "")."""

    entries: dict[str, tuple[str, str, str]] = field(default_factory=dict)
    page: str = ""  # the book's bibliography page, when the book has a public URL

    def cite(self, keys: str, textual: bool) -> str:
        parts = []
        for key in (k.strip() for k in keys.split(",") if k.strip()):
            names, year, link = self.entries.get(key, (key, "n.d.", ""))
            text = f"{names} ({year})" if textual else f"{names}, {year}"
            target = self.page or link
            parts.append(f"[{text}]({target})" if target else text)
        return ", ".join(parts) if textual else "(" + "; ".join(parts) + ")"


def _bib_fields(body: str) -> dict[str, str]:
    fields, i = {}, 0
    for m in re.finditer(r"(\w+)\s*=\s*", body):
        if m.start() < i:
            continue
        j = m.end()
        if j < len(body) and body[j] == "{":
            depth, k = 0, j
            while k < len(body):
                depth += {"{": 1, "}": -1}.get(body[k], 0)
                if depth == 0:
                    break
                k += 1
            fields[m.group(1).lower()], i = body[j + 1:k], k
        else:
            value = re.match(r"[^,\n]*", body[j:]).group(0)
            fields[m.group(1).lower()], i = value.strip().strip('"'), j + len(value)
    return fields


def read_bibliography(path: Path, page: str = "") -> Bibliography:
    """The entries of a .bib file: surnames ("A", "A and B", "A et al."), year and a link."""
    bib = Bibliography(page=page)
    chunks = re.split(r"^@", Path(path).read_text(encoding="utf8"), flags=re.MULTILINE)[1:]
    for chunk in chunks:
        head = re.match(r"\w+\s*\{\s*([^,\s]+)\s*,", chunk)
        if not head:
            continue
        f = _bib_fields(chunk[head.end():])
        authors = [a.strip() for a in re.split(r"\s+and\s+", f.get("author", "").replace("\n", " ")) if a.strip()]
        surnames = [re.sub(r"[{}\\]", "", a.split(",")[0] if "," in a else a.split()[-1]) for a in authors]
        if len(surnames) > 2:
            names = f"{surnames[0]} et al."
        else:
            names = " and ".join(surnames) or head.group(1)
        link = f.get("url", "") or (f"https://doi.org/{f['doi']}" if f.get("doi") else "")
        if not link and f.get("eprint"):
            link = f"https://arxiv.org/abs/{f['eprint']}"
        bib.entries[head.group(1)] = (names, f.get("year", "n.d."), link)
    return bib


@dataclass
class Labels:
    """label -> (link text, notebook file name, anchor) over every chapter."""

    targets: dict[str, tuple[str, str, str]] = field(default_factory=dict)

    def link(self, label: str, text: str | None, here: str) -> str:
        shown, file, anchor = self.targets.get(label, (label, "", label))
        target = f"#{anchor}" if (file == here or not file) and anchor else (file + (f"#{anchor}" if anchor else ""))
        return f"[{text or shown}]({target})"


def read_labels(chapters: list[Path]) -> Labels:
    """Chapter, exercise and ``prf`` labels of ``chapters`` (``NN_name.md``), for ``{ref}`` links."""
    labels = Labels()
    for md in chapters:
        text, file = md.read_text(encoding="utf8"), md.with_suffix(".ipynb").name
        m = re.search(r"^\((\S+)\)=\s*\n#\s+(.+)$", text, flags=re.MULTILINE)
        if m:
            number = re.match(r"\d+", md.name)
            labels.targets[m.group(1)] = (f"Chapter {int(number.group(0))}: {m.group(2).strip()}" if number
                                          else m.group(2).strip(), file, "")
        for i, ex in enumerate(re.finditer(r"^`{3,}\{exercise\}\s*(.*)\n:label:\s*(\S+)", text, re.MULTILINE), 1):
            labels.targets[ex.group(2)] = (f"Exercise {i}: {ex.group(1).strip()}", file, ex.group(2))
        for prf in re.finditer(r"^(?:`{3,}|:{3,})\{prf:(\w+)\}\s*(.*)\n:label:\s*(\S+)", text, re.MULTILINE):
            kind = PRF_NAMES.get(prf.group(1), prf.group(1).title())
            labels.targets[prf.group(3)] = (f"{kind} ({prf.group(2).strip()})" if prf.group(2).strip() else kind,
                                            file, prf.group(3))
    return labels


def _glue_value(name_fmt: str, values: dict[str, dict], markdown: bool) -> str:
    name, _, fmt = name_fmt.partition(":")
    data = values.get(name.strip())
    if data is None:
        return f"**[{name.strip()}]**"
    if markdown and "text/markdown" in data:
        return str(data["text/markdown"]).strip()
    text = str(data.get("text/plain", "")).strip()
    if fmt:
        try:
            return format(ast.literal_eval(text), fmt)
        except (ValueError, SyntaxError, TypeError):
            pass
    return text.strip("'\"")


def _roles(line: str, ctx: dict) -> str:
    def one(m: re.Match) -> str:
        role, content = m.group(1), m.group(2)
        if role.startswith("cite"):
            return ctx["bib"].cite(content, textual=role == "cite:t")
        if role in ("ref", "prf:ref", "numref", "doc"):
            explicit = re.match(r"^(.*?)\s*<([^>]+)>$", content)
            text, label = (explicit.group(1), explicit.group(2)) if explicit else (None, content)
            return ctx["labels"].link(label.strip(), text, ctx["here"])
        if role.startswith("glue"):
            return _glue_value(content, ctx["values"], markdown=role == "glue:md")
        if role == "math":
            return f"${content}$"
        return f"`{content}`" if role in ("code", "file", "command") else content

    return ROLE.sub(one, line)


def _quote(lines: list[str]) -> list[str]:
    return [f"> {ln}" if ln.strip() else ">" for ln in lines]


def _directive(name: str, arg: str, body: list[str], ctx: dict) -> list[str]:
    options, i = {}, 0
    while i < len(body) and re.match(r"^\s*:[\w-]+:", body[i]):
        key, _, value = body[i].strip()[1:].partition(":")
        options[key], i = value.strip(), i + 1
    inner = _convert(body[i:], ctx)
    arg = _roles(arg, ctx)
    if name == "exercise":
        ctx["exercise"] += 1
        label = options.get("label", "")
        ctx["titles"][label] = f"Exercise {ctx['exercise']}: {arg}".rstrip(": ")
        anchor = f'<a id="{label}"></a>' if label else ""
        return [f"### {anchor}{ctx['titles'][label]}", "", *inner]
    if name == "solution":
        if not ctx["solutions"]:
            return []
        title = ctx["titles"].get(arg.strip(), arg.strip())
        return ["<details>", f"<summary><b>Solution to {title}</b> (click to open)</summary>", "", *inner, "",
                "</details>"]
    if name.startswith("prf:"):
        kind = PRF_NAMES.get(name[4:], name[4:].title())
        label = options.get("label", "")
        anchor = f'<a id="{label}"></a>' if label else ""
        head = f"{anchor}**{kind}{f' ({arg})' if arg else ''}.**"
        return _quote([head, "", *inner])
    if name in ("admonition", "note", "tip", "warning", "important", "caution", "hint", "seealso"):
        head = f"**{arg or name.title()}**"
        return _quote([head, "", *inner])
    return _quote([f"**{arg}**", ""] + inner) if arg else _quote(inner)


def _convert(lines: list[str], ctx: dict) -> list[str]:
    out, i = [], 0
    while i < len(lines):
        line = lines[i]
        m = OPEN.match(line)
        if m:
            char, n = m.group(2)[0], len(m.group(2))
            close = re.compile(rf"^\s*{re.escape(char)}{{{n},}}\s*$")
            j = next((k for k in range(i + 1, len(lines)) if close.match(lines[k])), len(lines))
            out += _directive(m.group(3), m.group(4).strip(), lines[i + 1:j], ctx)
            i = j + 1
            continue
        fence = PLAIN_FENCE.match(line)
        if fence:  # an ordinary code block: copied as it is
            mark = fence.group(1)
            j = next((k for k in range(i + 1, len(lines)) if lines[k].strip().startswith(mark)
                      and not lines[k].strip().strip(mark[0])), len(lines))
            out += lines[i:j + 1]
            i = j + 1
            continue
        target = re.match(r"^\((\S+)\)=\s*$", line)
        if target:
            out.append(f'<a id="{target.group(1)}"></a>')
        elif not re.match(r"^%", line):
            out.append(_roles(line, ctx))
        i += 1
    return out


def convert_markdown(text: str, *, bib: Bibliography, labels: Labels, here: str = "",
                     values: dict[str, dict] | None = None, state: dict | None = None,
                     solutions: bool = True) -> str:
    """One Markdown cell in MyST -> Markdown for Jupyter. ``state`` carries exercise numbers across cells.

    Example:
        >>> convert_markdown("See {ref}`ex-a` and {glue:text}`acc:.1f`.", bib=Bibliography(), labels=Labels())
        'See [ex-a](#ex-a) and **[acc]**.'
    """
    ctx = {"bib": bib, "labels": labels, "here": here, "values": values or {}, "solutions": solutions}
    state = state if state is not None else {}
    ctx["exercise"], ctx["titles"] = state.get("exercise", 0), state.setdefault("titles", {})
    result = "\n".join(_convert(text.splitlines(), ctx))
    state["exercise"] = ctx["exercise"]
    return result
