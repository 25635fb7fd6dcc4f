#!/usr/bin/env python3
"""Serves a folder as a static host that makes the page cross-origin isolated.

    scripts/serve.py PORT FOLDER

The page's CPU workers share one sentence's pass through a SharedArrayBuffer, which browsers give
only to a cross-origin isolated page: its host must send `Cross-Origin-Opener-Policy:
same-origin` and `Cross-Origin-Embedder-Policy: require-corp`. `trunk serve` sends both
(Trunk.toml); the page test serves the built page with this, and the hosted build (GitHub Pages,
no such headers) with Python's plain server.
"""
import functools
import http.server
import sys


class Isolated(http.server.SimpleHTTPRequestHandler):
    def end_headers(self):
        self.send_header("Cross-Origin-Opener-Policy", "same-origin")
        self.send_header("Cross-Origin-Embedder-Policy", "require-corp")
        super().end_headers()

    def log_message(self, *args):
        pass


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    port, folder = int(sys.argv[1]), sys.argv[2]
    http.server.ThreadingHTTPServer(("127.0.0.1", port), functools.partial(Isolated, directory=folder)).serve_forever()
