#!/usr/bin/env bash
# Check every relative link in the built book (docs/book): the target file must exist and,
# for a link with a #fragment into an HTML page, the page must have that id.
#
# Usage:
#   bash docs/check-links.sh            # check an already built docs/book
#   bash docs/check-links.sh --build    # install mdbook if needed (.ci/install-mdbook), build
#                                       # docs/ (failing on any mdbook warning), then check
#   bash docs/check-links.sh DIR        # check another built book directory
#
# Why not mdbook-linkcheck: its newest release (0.7.7) accepts only mdBook ^0.4 and refuses 0.5.
# External links (http:, https:, mailto:, ...) are not checked: CI has no general network.
set -euo pipefail

DOCS="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$DOCS/.." && pwd)"
BOOK="$DOCS/book"

if [ "${1:-}" = "--build" ]; then
    MDBOOK="$(bash "$ROOT/.ci/install-mdbook")"
    log="$(mktemp)"
    if ! "$MDBOOK" build "$DOCS" >"$log" 2>&1; then
        cat "$log" >&2
        echo "check-links: mdbook build failed" >&2
        exit 1
    fi
    cat "$log" >&2
    if grep -Eq '(^|[[:space:]])(WARN|ERROR)([[:space:]]|$)' "$log"; then
        echo "check-links: mdbook build printed warnings or errors (see above)" >&2
        exit 1
    fi
    rm -f "$log"
elif [ -n "${1:-}" ]; then
    BOOK="$(cd "$1" && pwd)"
fi

if [ ! -f "$BOOK/index.html" ]; then
    echo "check-links: no built book at $BOOK (run: mdbook build docs)" >&2
    exit 2
fi

python3 - "$BOOK" <<'PY'
import os
import sys
from html.parser import HTMLParser
from urllib.parse import unquote, urlsplit

book = sys.argv[1]


class Page(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.ids = set()
        self.links = []  # (attribute, value, line)

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if attrs.get("id"):
            self.ids.add(attrs["id"])
        if tag == "a" and attrs.get("name"):
            self.ids.add(attrs["name"])
        for attr in ("href", "src"):
            value = attrs.get(attr)
            if value is not None and tag in ("a", "link", "img", "script", "iframe", "source"):
                self.links.append((attr, value, self.getpos()[0]))


pages = {}
for dirpath, _dirs, files in os.walk(book):
    for name in files:
        if name.endswith(".html"):
            path = os.path.join(dirpath, name)
            page = Page()
            with open(path, encoding="utf-8") as f:
                page.feed(f.read())
            pages[os.path.normpath(path)] = page

if not pages:
    print(f"check-links: no HTML files under {book}", file=sys.stderr)
    sys.exit(2)

broken = []
checked = 0
for path, page in sorted(pages.items()):
    for attr, value, line in page.links:
        parts = urlsplit(value)
        if parts.scheme or parts.netloc or value.startswith("//"):
            continue  # external: not checked
        if value.startswith("javascript:"):
            continue
        checked += 1
        target_path = unquote(parts.path)
        if target_path == "":
            target = path
        elif target_path.startswith("/"):
            target = os.path.normpath(os.path.join(book, target_path.lstrip("/")))
        else:
            target = os.path.normpath(os.path.join(os.path.dirname(path), target_path))
        if os.path.isdir(target):
            target = os.path.join(target, "index.html")
        rel = os.path.relpath(path, book)
        if not os.path.exists(target):
            broken.append(f"{rel}:{line}: {attr}=\"{value}\": missing file {os.path.relpath(target, book)}")
            continue
        fragment = unquote(parts.fragment)
        if fragment and target.endswith(".html"):
            if fragment not in pages[os.path.normpath(target)].ids:
                broken.append(f"{rel}:{line}: {attr}=\"{value}\": no id \"{fragment}\" in {os.path.relpath(target, book)}")

for b in broken:
    print("BROKEN " + b, file=sys.stderr)
print(f"check-links: {len(pages)} pages, {checked} relative links checked, {len(broken)} broken")
sys.exit(1 if broken else 0)
PY
