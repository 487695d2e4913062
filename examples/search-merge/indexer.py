#!/usr/bin/python3
"""Consumes products.merged into a SQLite FTS5 index (a tombstone deletes the product) and
serves it:
  GET /search?q=WORDS[&limit=N]  -> {"hits": [first N by rank, default 10], "total": all matches}
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

PAGE = """<!doctype html><html lang=en><meta charset=utf-8>
<meta name=viewport content="width=device-width, initial-scale=1"><title>search-merge</title>
<style>
body { font: 16px/1.45 system-ui, sans-serif; margin: 2em auto; max-width: 46em; padding: 0 1em;
       color: #222; }
h1 { font-size: 1.5em; margin-bottom: 0.2em; }
.sub { color: #666; margin-top: 0; }
form { display: flex; gap: 0.5em; margin: 1em 0; }
input[name=q] { flex: 1; font-size: 1.1em; padding: 0.4em 0.6em; border: 1px solid #aaa;
                border-radius: 6px; }
button { font-size: 1.05em; padding: 0.4em 1em; border-radius: 6px; border: 1px solid #2a5db0;
         background: #2f6fd6; color: white; }
.count { color: #444; margin: 0.5em 0 1em; }
table { border-collapse: collapse; width: 100%%; }
th, td { text-align: left; padding: 0.45em 0.6em; border-bottom: 1px solid #e3e3e3; }
th { background: #f3f5f8; font-weight: 600; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
.brand { color: #666; font-size: 0.9em; }
.none { color: #999; }
</style>
<h1>Product search</h1>
<p class=sub>products.details joined with products.offers by <code>sluice join</code>,
indexed with SQLite FTS5</p>
<form action=/ method=get><input name=q value="%s" placeholder="e.g. kettle" autofocus>
<button>Search</button></form>
<p class=count>%s</p>
%s"""


def count_line(q, shown, total):
    """'showing 10 of 46 products' when truncated, else 'N products'."""
    if not q:
        return "type a word from a product's name, brand or description"
    if shown < total:
        more = ' &middot; <a href="/?q=%s&amp;limit=100">show up to 100</a>' % \
            urllib.parse.quote(q) if shown < min(total, 100) else ""
        return "showing %d of %d products matching <b>%s</b>%s" % (shown, total,
                                                                   html.escape(q), more)
    return "%d product%s matching <b>%s</b>" % (total, "" if total == 1 else "s",
                                                html.escape(q))


def results_table(hits):
    if not hits:
        return ""
    rows = []
    for h in hits:
        if isinstance(h.get("price"), (int, float)):
            price = "%.2f %s" % (h["price"], html.escape(str(h.get("currency", ""))))
        elif "price" in h:
            price = html.escape("%s %s" % (h["price"], h.get("currency", "")))
        else:
            price = "<span class=none>no offer</span>"
        rows.append("<tr><td>%s<div class=brand>%s</div></td><td class=num>%s</td>"
                    "<td class=num>%s</td></tr>" % (
                        html.escape(str(h.get("name", ""))), html.escape(str(h.get("brand", ""))),
                        price, html.escape(str(h.get("stock", "-")))))
    return ("<table><tr><th>product</th><th style='text-align:right'>price</th>"
            "<th style='text-align:right'>stock</th></tr>%s</table>" % "".join(rows))


def open_db(path):
    db = sqlite3.connect(path, check_same_thread=False)
    db.execute("CREATE VIRTUAL TABLE IF NOT EXISTS products USING fts5("
               "id UNINDEXED, name, brand, description, doc UNINDEXED)")
    return db


def search(db, lock, q, limit):
    """(the first `limit` hits by rank, the number of all matches)."""
    with lock:
        rows = db.execute("SELECT doc FROM products WHERE products MATCH ? ORDER BY rank "
                          "LIMIT ?", (q, limit)).fetchall()
        total = db.execute("SELECT count(*) FROM products WHERE products MATCH ?",
                           (q,)).fetchone()[0]
    return [json.loads(r[0]) for r in rows], total


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
                hits, total = search(db, lock, q, limit) if q else ([], 0)
            except (ValueError, sqlite3.OperationalError) as e:
                return self.reply(400, "application/json", json.dumps({"error": str(e)}))
            if u.path == "/search":
                return self.reply(200, "application/json",
                                  json.dumps({"hits": hits, "total": total}))
            if u.path == "/":
                return self.reply(200, "text/html; charset=utf-8",
                                  PAGE % (html.escape(q), count_line(q, len(hits), total),
                                          results_table(hits)))
            self.reply(404, "application/json", '{"error":"no such path"}')
    return H


def main():
    ap = argparse.ArgumentParser(description="Indexes products.merged into SQLite FTS5 and "
                                 "serves the search page and GET /search.")
    ap.add_argument("--brokers", required=True, help="Kafka bootstrap servers, HOST:PORT")
    ap.add_argument("--db", required=True, help="SQLite database file of the index")
    ap.add_argument("--http", type=int, default=8090,
                    help="port of the search page on 127.0.0.1 (default 8090)")
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
