#!/usr/bin/python3
"""Fixture shop for the OCR inspection example and tests: generates product pages from
templates (text in the HTML and rendered inside PNG images with Pillow, Korean and English,
several fonts and sizes, some with forbidden phrases, some over 10,000 px tall) with their
ground truth, and serves them on 127.0.0.1 with two special pages: /hang (never answers
within any sane limit) and /error500 (HTTP 500).

  shop.py generate DIR [--pages N]     writes DIR/p###.html, DIR/img/*.png, DIR/truth.json
  shop.py serve DIR [--port 0]         prints "listening on http://127.0.0.1:PORT" and serves
"""
import argparse
import http.server
import json
import os
import random
import sys
import threading
import time

from PIL import Image, ImageDraw, ImageFont

FONTS = [
    "/usr/share/fonts/truetype/nanum/NanumGothic.ttf",
    "/usr/share/fonts/truetype/nanum/NanumBarunGothic.ttf",
    "/usr/share/fonts/truetype/nanum/NanumSquareB.ttf",
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
]
# Forbidden phrases as they appear on pages (variants of rules.txt after normalisation).
FORBIDDEN = ["완치 보장", "부작용 없음", "기적의 치료제", "100% guaranteed", "Miracle cure",
             "최저가 보장", "최저가격 보장", "Lose 10kg"]
# Harmless copy, with near misses (보장 alone, guaranteed delivery) to test precision.
CLEAN = ["무료 배송 이벤트", "Free shipping over 30,000 won", "정품 보장 서비스",
         "Guaranteed delivery in 2 days", "천연 원료 사용", "피부 타입별 추천", "Best seller 2026",
         "고객 만족도 4.8점", "Made in Korea", "신상품 입고 안내", "Limited edition color",
         "교환 및 반품 안내", "Gentle on sensitive skin", "용량 50ml"]
NAMES = ["수분 크림", "비타민 세럼", "Sun Block SPF50", "클렌징 폼", "Hair Tonic", "Lip Balm",
         "콜라겐 앰플", "Body Lotion", "녹차 토너", "Eye Cream"]


def render_png(path, lines, font_path, size, width=1000, fg=(20, 20, 20), bg=(250, 246, 236)):
    font = ImageFont.truetype(font_path, size)
    pad = size
    h = pad * 2 + int(len(lines) * size * 1.6)
    img = Image.new("RGB", (width, h), bg)
    d = ImageDraw.Draw(img)
    for i, line in enumerate(lines):
        d.text((pad, pad + int(i * size * 1.6)), line, font=font, fill=fg)
    img.save(path, optimize=False)
    return h


def page_html(title, blocks):
    body = "\n".join(blocks)
    return ("<!doctype html><html lang=ko><head><meta charset=utf-8><title>%s</title>"
            "<style>body{font-family:'NanumGothic',sans-serif;margin:20px;width:1100px}"
            "img{display:block;margin:16px 0}p{font-size:20px}h1{font-size:34px}</style>"
            "</head><body><h1>%s</h1>\n%s\n</body></html>" % (title, title, body))


def generate(out, pages, seed=5):
    rnd = random.Random(seed)
    os.makedirs(os.path.join(out, "img"), exist_ok=True)
    truth = {"pages": [], "hang": "/hang", "error": "/error500"}
    for i in range(pages):
        flagged = i % 3 == 0 or i % 20 == 7  # 15 of 42 carry a forbidden phrase
        long_page = i % 10 == 7         # four pages in 40 are over 10,000 px tall
        in_image = flagged and i % 6 == 0 or long_page
        name = "%s %d" % (NAMES[i % len(NAMES)], i)
        blocks = ["<p>%s</p>" % rnd.choice(CLEAN), "<p>%s · %s</p>" % (rnd.choice(CLEAN), name)]
        phrase = FORBIDDEN[i % len(FORBIDDEN)] if flagged else None
        n_images = 14 if long_page else 2
        spot = n_images - 1 if long_page else rnd.randrange(n_images)
        for k in range(n_images):
            # Long pages carry tall detail images (about 800 px each: over 10,000 px in all).
            lines = [rnd.choice(CLEAN) for _ in range(10 if long_page else 2)] + [name]
            if phrase and in_image and k == spot:
                lines.insert(1, phrase)
            png = "img/p%03d_%02d.png" % (i, k)
            render_png(os.path.join(out, png), lines, FONTS[(i + k) % len(FONTS)],
                       rnd.choice([28, 32, 40, 48]))
            blocks.append('<img src="%s" alt="">' % png)
        if phrase and not in_image:
            blocks.insert(rnd.randrange(len(blocks) + 1), "<p>%s</p>" % phrase)
        path = "p%03d.html" % i
        with open(os.path.join(out, path), "w", encoding="utf-8") as f:
            f.write(page_html(name, blocks))
        truth["pages"].append({"path": "/" + path, "flagged": bool(phrase), "phrase": phrase,
                               "in_image": bool(phrase and in_image), "long": long_page})
    with open(os.path.join(out, "truth.json"), "w", encoding="utf-8") as f:
        json.dump(truth, f, ensure_ascii=False, indent=1)
    return truth


def serve(root, port=0):
    class Handler(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *a, **kw):
            super().__init__(*a, directory=root, **kw)

        def do_GET(self):
            if self.path.startswith("/hang"):
                time.sleep(300)  # far past any job's time limit; the server thread is daemonic
                return
            if self.path.startswith("/error500"):
                body = b"<html><body>internal error</body></html>"
                self.send_response(500)
                self.send_header("content-type", "text/html")
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
                return
            super().do_GET()

        def log_message(self, *a):
            pass

    http.server.ThreadingHTTPServer.daemon_threads = True
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return srv


def main():
    ap = argparse.ArgumentParser(description="The fixture shop of the OCR example: generate "
                                 "product pages with their ground truth, or serve them.")
    ap.add_argument("cmd", choices=["generate", "serve"], help="generate pages, or serve DIR")
    ap.add_argument("dir", help="directory of the pages (and truth.json)")
    ap.add_argument("--pages", type=int, default=42, help="pages to generate (default 42)")
    ap.add_argument("--port", type=int, default=0,
                    help="port to serve on 127.0.0.1 (default 0: any free one, printed)")
    a = ap.parse_args()
    if a.cmd == "generate":
        t = generate(a.dir, a.pages)
        print("generated %d pages in %s" % (len(t["pages"]), a.dir))
        return
    srv = serve(a.dir, a.port)
    print("listening on http://127.0.0.1:%d" % srv.server_address[1], flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    sys.exit(main())
