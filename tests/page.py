"""Read a page as a person does: visible text, links, rows, the current tab (stdlib html.parser)."""

from html.parser import HTMLParser

_VOID = {"area", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "wbr"}
_HIDDEN = {"script", "style", "template", "title", "head"}


class Node:
    """An element: tag, attributes, children (nodes and text)."""

    def __init__(self, tag: str, attrs: dict, parent=None):
        self.tag, self.attrs, self.parent, self.children = tag, attrs, parent, []

    def find_all(self, tag: str | None = None, **attrs) -> list["Node"]:
        """Descendants with ``tag`` and these attribute values (``aria_current`` = aria-current)."""
        want = {k.replace("_", "-"): v for k, v in attrs.items()}
        found = []
        for child in self.children:
            if isinstance(child, Node):
                if (tag is None or child.tag == tag) and all(
                    child.attrs.get(k) == v for k, v in want.items()
                ):
                    found.append(child)
                found.extend(child.find_all(tag, **attrs))
        return found

    def find(self, tag: str | None = None, **attrs) -> "Node":
        """The first such descendant; fails the test when there is none."""
        found = self.find_all(tag, **attrs)
        assert found, f"no <{tag}> with {attrs}"
        return found[0]

    @property
    def text(self) -> str:
        """What a person reads: visible text, whitespace collapsed."""
        parts = []
        for child in self.children:
            if isinstance(child, Node):
                if child.tag not in _HIDDEN and child.attrs.get("aria-hidden") != "true":
                    parts.append(child.text)
            else:
                parts.append(child)
        return " ".join(" ".join(parts).split())

    def hrefs(self) -> list[str]:
        """Every link target inside this element."""
        return [a.attrs.get("href") for a in self.find_all("a")]

    def row(self, heading: str) -> "Node":
        """The table row whose row heading (``<th scope="row">``) begins with ``heading``."""
        for tr in self.find_all("tr"):
            ths = tr.find_all("th", scope="row")
            if ths and ths[0].text.startswith(heading):
                return tr
        raise AssertionError(f"no row headed {heading!r}")


class _Builder(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.root = self.node = Node("#document", {})

    def handle_starttag(self, tag, attrs):
        node = Node(tag, {k: (v if v is not None else "") for k, v in attrs}, self.node)
        self.node.children.append(node)
        if tag not in _VOID:
            self.node = node

    def handle_endtag(self, tag):
        node = self.node
        while node is not self.root and node.tag != tag:
            node = node.parent
        if node is not self.root:
            self.node = node.parent

    def handle_data(self, data):
        self.node.children.append(data)


def page(html: str) -> Node:
    """Parse ``html`` (a page or a fragment) into its document node."""
    builder = _Builder()
    builder.feed(html)
    builder.close()
    return builder.root
