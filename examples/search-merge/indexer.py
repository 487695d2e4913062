#!/usr/bin/python3
"""Consumes products.merged into a SQLite FTS5 index (a tombstone deletes the product) and
serves it:
  GET /search?q=WORDS[&limit=N]  -> {"hits": [{"id":..,"name":..,"price":..,...}], "total": N}
  GET /                          -> a small search page
  indexer.py --brokers HOST:PORT --db FILE --http PORT"""

import argparse
import html
import json
import sqlite3
import sys
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from confluent_kafka import Consumer

PAGE = """<!doctype html><meta charset=utf-8><title>search-merge</title>
<form action=/ method=get><input name=q value="%s" autofocus> <button>search</button></form>
<p>%d product(s)</p><ul>%s</ul>"""


def open_db(path):
    db = sqlite3.connect(path, check_same_thread=False)
    db.execute("CREATE VIRTUAL TABLE IF NOT EXISTS products USING fts5("
               "id UNINDEXED, name, brand, description, doc UNINDEXED)")
    return db


def search(db, lock, q, limit):
    with lock:
        rows = db.execute("SELECT doc FROM products WHERE products MATCH ? ORDER BY rank "
                          "LIMIT ?", (q, limit)).fetchall()
    return [json.loads(r[0]) for r in rows]


def consume(args, db, lock, stop):
    c = Consumer({"bootstrap.servers": args.brokers, "group.id": "search-indexer",
                  "auto.offset.reset": "earliest", "enable.auto.commit": True})
    c.subscribe(["products.merged"])
    while not stop.is_set():
        msgs = c.consume(500, timeout=0.5)
        with lock:
            for m in msgs:
                if m.error():
                    continue
                key = m.key().decode()
                db.execute("DELETE FROM products WHERE id = ?", (key,))
                if m.value() is not None:
                    d = json.loads(m.value())
                    db.execute("INSERT INTO products VALUES (?, ?, ?, ?, ?)",
                               (key, d.get("name", ""), d.get("brand", ""),
                                d.get("description", ""), json.dumps(d)))
            db.commit()
    c.close()


def handler(db, lock):
    class H(BaseHTTPRequestHandler):
        def log_message(self, *a):
            pass

        def reply(self, status, ctype, body):
            data = body.encode()
            self.send_response(status)
            self.send_header("content-type", ctype)
            self.send_header("content-length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self):
            u = urllib.parse.urlparse(self.path)
            qs = urllib.parse.parse_qs(u.query)
            q = qs.get("q", [""])[0].strip()
            try:
                limit = min(100, int(qs.get("limit", ["10"])[0]))
                hits = search(db, lock, q, limit) if q else []
            except (ValueError, sqlite3.OperationalError) as e:
                return self.reply(400, "application/json", json.dumps({"error": str(e)}))
            if u.path == "/search":
                return self.reply(200, "application/json",
                                  json.dumps({"hits": hits, "total": len(hits)}))
            if u.path == "/":
                items = "".join("<li>%s — %s %s (stock %s)</li>" % (
                    html.escape(h.get("name", "")), h.get("price", "no offer"),
                    h.get("currency", ""), h.get("stock", "-")) for h in hits)
                return self.reply(200, "text/html; charset=utf-8",
                                  PAGE % (html.escape(q), len(hits), items))
            self.reply(404, "application/json", '{"error":"no such path"}')
    return H


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--brokers", required=True)
    ap.add_argument("--db", required=True)
    ap.add_argument("--http", type=int, default=8090)
    args = ap.parse_args()
    db, lock, stop = open_db(args.db), threading.Lock(), threading.Event()
    th = threading.Thread(target=consume, args=(args, db, lock, stop), daemon=True)
    th.start()
    srv = ThreadingHTTPServer(("127.0.0.1", args.http), handler(db, lock))
    print("indexer: search on http://127.0.0.1:%d/ (GET /search?q=kettle)" % args.http,
          flush=True)
    try:
        srv.serve_forever()
    except KeyboardInterrupt:
        pass
    stop.set()
    th.join(5)


if __name__ == "__main__":
    sys.exit(main())
