#!/usr/bin/env python3
"""Generates Sluice's Kafka message codecs (C) from Apache Kafka's JSON message schemas.

For every API named in apis.txt ("Name min max": advertised version range) it emits, for the
request and the response, a C struct holding the union of all fields, and functions
  kmsg_<msg>_init(m)                      defaults as the schema gives them
  kmsg_<msg>_decode(rd, arena, ver, m)    0 or SL_ECORRUPT; arrays from the arena
  kmsg_<msg>_encode(wr, ver, m)
for every version in the schema's validVersions, with flexible versions (compact types and
tagged fields) where the schema says so, plus kmsg_apis[], the table that drives dispatch and
ApiVersions. It also writes the test-only kmsg_test.h/.c: kmsg_test_fill() makes random
messages valid for a version (codec round-trip tests, fuzz seeds).
Usage: kgen.py --schemas DIR --apis apis.txt --out DIR
"""
import argparse
import json
import os
import re
import sys

VMAX = 0x7FFF
PRIMS = {
    # type: (c type, reader, writer, min wire bytes (non-flex, flex))
    "bool": ("bool", "bool", "bool", (1, 1)),
    "int8": ("int8_t", "i8", "i8", (1, 1)),
    "int16": ("int16_t", "i16", "i16", (2, 2)),
    "uint16": ("uint16_t", "u16", "u16", (2, 2)),
    "int32": ("int32_t", "i32", "i32", (4, 4)),
    "uint32": ("uint32_t", "u32", "u32", (4, 4)),
    "int64": ("int64_t", "i64", "i64", (8, 8)),
    "float64": ("double", "f64", "f64", (8, 8)),
    "uuid": ("kproto_uuid_t", "uuid", "uuid", (16, 16)),
    "string": ("kproto_str_t", "str", "str", (2, 1)),
    "bytes": ("kproto_bytes_t", "bytes", "bytes", (4, 1)),
    "records": ("kproto_records_t", "records", "records", (4, 1)),
}
C_KEYWORDS = {"default", "register", "int", "char", "long", "short", "float", "double",
              "signed", "unsigned", "const", "static", "struct", "union", "enum", "case",
              "switch", "return", "break", "continue", "do", "while", "for", "if", "else",
              "goto", "void", "volatile", "auto", "extern", "sizeof", "typedef", "inline",
              "restrict", "bool", "true", "false"}


def strip_comments(text):
    return "\n".join(l for l in text.split("\n") if not l.strip().startswith("//"))


def snake(name):
    s = re.sub(r"([A-Z]+)([A-Z][a-z])", r"\1_\2", name)
    s = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", s).lower()
    return s + "_" if s in C_KEYWORDS else s


def parse_versions(spec):
    """'3+' -> (3, VMAX); '0-7' -> (0, 7); '4' -> (4, 4); 'none' or None -> None."""
    if spec is None or spec == "none":
        return None
    if spec.endswith("+"):
        return (int(spec[:-1]), VMAX)
    if "-" in spec:
        lo, hi = spec.split("-")
        return (int(lo), int(hi))
    return (int(spec), int(spec))


def intersect(a, b):
    if a is None or b is None:
        return None
    lo, hi = max(a[0], b[0]), min(a[1], b[1])
    return (lo, hi) if lo <= hi else None


def cond(rng, within):
    """C condition on `ver` for rng, simplified against the enclosing range `within`."""
    r = intersect(rng, within)
    if r is None:
        return "0"
    parts = []
    if r[0] > within[0]:
        parts.append("ver >= %d" % r[0])
    if r[1] < within[1]:
        parts.append("ver <= %d" % r[1])
    return " && ".join(parts) if parts else "1"


class Field:
    def __init__(self, d, msg, within):
        self.d = d
        self.name = snake(d["name"])
        t = d["type"]
        self.is_array = t.startswith("[]")
        self.base = t[2:] if self.is_array else t
        self.is_prim = self.base in PRIMS
        self.versions = intersect(parse_versions(d["versions"]), within) if d.get("versions") else None
        self.nullable = parse_versions(d.get("nullableVersions"))
        self.tagged = parse_versions(d.get("taggedVersions"))
        self.tag = d.get("tag")
        self.default = d.get("default")
        flex_override = d.get("flexibleVersions")
        self.flex_override = flex_override  # only "none" is used by the schemas
        self.struct = None
        if not self.is_prim:
            self.struct = msg.struct_for(self.base, d.get("fields"), self.versions or within)


class Struct:
    def __init__(self, msg, name, fields_json, within):
        self.msg = msg
        self.name = name
        self.cname = "%s_%s" % (msg.prefix, snake(name)) if name != msg.name else msg.prefix
        self.within = within
        self.fields = []
        self.fields_json = fields_json
        self.used_as_tagged = False

    def build(self):
        for fd in self.fields_json:
            f = Field(fd, self.msg, self.within)
            if f.versions is None:
                continue
            self.fields.append(f)
        for f in self.fields:
            if f.tagged and f.struct:
                f.struct.used_as_tagged = True


class Message:
    def __init__(self, path, prefix):
        with open(path) as fh:
            self.d = json.loads(strip_comments(fh.read()))
        self.name = self.d["name"]
        self.prefix = prefix
        self.valid = parse_versions(self.d["validVersions"])
        self.flex = parse_versions(self.d.get("flexibleVersions", "none"))
        self.common = {c["name"]: c for c in self.d.get("commonStructs", [])}
        self.structs = {}
        self.order = []
        top = Struct(self, self.name, self.d["fields"], self.valid)
        self.structs[self.name] = top
        top.build()
        self.order.append(top)
        self.top = top

    def struct_for(self, name, fields_json, within):
        if name in self.structs:
            return self.structs[name]
        if fields_json is None:
            if name not in self.common:
                sys.exit("kgen: %s: unknown type %s" % (self.name, name))
            fields_json = self.common[name]["fields"]
            within = self.valid
        s = Struct(self, name, fields_json, within)
        self.structs[name] = s
        s.build()
        self.order.append(s)
        return s

    def flex_cond(self):
        if self.flex is None:
            return "0"
        return cond(self.flex, self.valid)


def c_default(f):
    """C expression for the field's default value (scalars and strings)."""
    d = f.default
    b = f.base
    if b == "string":
        if d == "null":
            return "(kproto_str_t){NULL, -1}"
        return '(kproto_str_t){"%s", %d}' % (d or "", len(d or ""))
    if b in ("bytes",):
        return "(kproto_bytes_t){NULL, -1}" if d == "null" else "(kproto_bytes_t){NULL, 0}"
    if b == "records":
        return "(kproto_records_t){NULL, -1, NULL, 0}" if d == "null" else \
            "(kproto_records_t){NULL, 0, NULL, 0}"
    if b == "uuid":
        return "(kproto_uuid_t){{0}}"
    if b == "bool":
        return "true" if d == "true" else "false"
    if d is None or d == "":
        return "0"
    d = str(d)  # some schemas give numeric defaults as JSON numbers
    v = int(d, 16) if d.lower().startswith(("0x", "-0x")) else int(d)
    if b == "int64":
        return "INT64_C(%d)" % v if v != -(1 << 63) else "INT64_MIN"
    if b == "int32" and v == -(1 << 31):
        return "INT32_MIN"
    return str(v)


def gen_struct_decl(s, out):
    out.append("typedef struct %s_s {" % s.cname)
    for f in s.fields:
        if f.is_array:
            t = PRIMS[f.base][0] if f.is_prim else "struct %s_s" % f.struct.cname
            out.append("    %s *%s;" % (t, f.name))
            out.append("    int32_t %s_count; /* -1: null */" % f.name)
        elif f.is_prim:
            out.append("    %s %s;" % (PRIMS[f.base][0], f.name))
        else:
            out.append("    struct %s_s %s;" % (f.struct.cname, f.name))
            if f.nullable:
                out.append("    bool %s_null;" % f.name)
    if not s.fields:
        out.append("    char unused_;")
    out.append("} %s_t;" % s.cname)
    out.append("")


def gen_init(s, out):
    out.append("void %s_init(%s_t *m)" % (s.cname, s.cname))
    out.append("{")
    out.append("    memset(m, 0, sizeof *m);")
    for f in s.fields:
        if f.is_array:
            if f.default == "null":
                out.append("    m->%s_count = -1;" % f.name)
        elif f.is_prim:
            dv = c_default(f)
            if dv not in ("0", "false", "(kproto_uuid_t){{0}}"):
                out.append("    m->%s = %s;" % (f.name, dv))
        else:
            out.append("    %s_init(&m->%s);" % (f.struct.cname, f.name))
    out.append("}")
    out.append("")


def flex_expr(f, s):
    if f.flex_override == "none":
        return "false"
    return "flex"


def rd_prim(base, compact):
    r = PRIMS[base][1]
    if base in ("string", "bytes", "records"):
        return "kproto_rd_%s(rd, %s)" % (r, compact)
    return "kproto_rd_%s(rd)" % r


def min_elem(base, flexvar):
    if base in PRIMS:
        nf, ff = PRIMS[base][3]
        return "(%s ? %d : %d)" % (flexvar, ff, nf) if nf != ff else str(nf)
    return None


def null_check(lines, p, nullable_cond, is_null):
    """Kafka rejects a null where the version does not allow one; so do we."""
    if nullable_cond == "1":
        return
    c = is_null if nullable_cond == "0" else "%s && !(%s)" % (is_null, nullable_cond)
    lines.append(p + "if (%s) {" % c)
    lines.append(p + "    rd->err = KPROTO_ERR_MALFORMED;")
    lines.append(p + "}")


def gen_decode_field(f, s, lines, ind, nullable_cond):
    cx = flex_expr(f, s)
    p = " " * ind
    if f.is_array:
        if f.is_prim:
            t = PRIMS[f.base][0]
            lines.append(p + "m->%s_count = kproto_rd_array_len(rd, %s, %s);" % (f.name, cx, min_elem(f.base, cx)))
            null_check(lines, p, nullable_cond, "m->%s_count < 0" % f.name)
            lines.append(p + "m->%s = kproto_rd_alloc(arena, m->%s_count, sizeof(%s));" % (f.name, f.name, t))
            lines.append(p + "for (int32_t i = 0; i < m->%s_count && !rd->err; i++) {" % f.name)
            lines.append(p + "    m->%s[i] = %s;" % (f.name, rd_prim(f.base, cx)))
            lines.append(p + "}")
        else:
            sc = f.struct.cname
            lines.append(p + "m->%s_count = kproto_rd_array_len(rd, %s, %s__minsize(ver));" % (f.name, cx, sc))
            null_check(lines, p, nullable_cond, "m->%s_count < 0" % f.name)
            lines.append(p + "m->%s = kproto_rd_alloc(arena, m->%s_count, sizeof(%s_t));" % (f.name, f.name, sc))
            lines.append(p + "for (int32_t i = 0; i < m->%s_count && !rd->err; i++) {" % f.name)
            lines.append(p + "    %s_init(&m->%s[i]);" % (sc, f.name))
            lines.append(p + "    %s__decode(rd, arena, ver, &m->%s[i]);" % (sc, f.name))
            lines.append(p + "}")
    elif f.is_prim:
        lines.append(p + "m->%s = %s;" % (f.name, rd_prim(f.base, cx)))
        if f.base in ("string", "bytes", "records"):
            null_check(lines, p, nullable_cond, "m->%s.len < 0" % f.name)
    else:
        sc = f.struct.cname
        if f.nullable and nullable_cond != "0":
            # The presence byte exists only in the versions where the struct is nullable.
            if nullable_cond != "1":
                lines.append(p + "if (%s) {" % nullable_cond)
                lines.append(p + "    m->%s_null = kproto_rd_i8(rd) < 0;" % f.name)
                lines.append(p + "}")
            else:
                lines.append(p + "m->%s_null = kproto_rd_i8(rd) < 0;" % f.name)
            lines.append(p + "if (!m->%s_null) {" % f.name)
            lines.append(p + "    %s__decode(rd, arena, ver, &m->%s);" % (sc, f.name))
            lines.append(p + "}")
        else:
            lines.append(p + "%s__decode(rd, arena, ver, &m->%s);" % (sc, f.name))


def wr_prim(base, compact, expr):
    w = PRIMS[base][2]
    if base in ("string", "bytes", "records"):
        return "kproto_wr_%s(wr, %s, %s);" % (w, compact, expr)
    return "kproto_wr_%s(wr, %s);" % (w, expr)


def gen_encode_field(f, s, lines, ind, nullable_cond):
    cx = flex_expr(f, s)
    p = " " * ind
    if f.is_array:
        cnt = "m->%s_count" % f.name
        if nullable_cond != "1":
            # A null array in a version where it is not nullable is written empty.
            lines.append(p + "kproto_wr_array_len(wr, %s, (%s) ? %s : (%s < 0 ? 0 : %s));"
                         % (cx, nullable_cond, cnt, cnt, cnt))
        else:
            lines.append(p + "kproto_wr_array_len(wr, %s, %s);" % (cx, cnt))
        lines.append(p + "for (int32_t i = 0; i < %s; i++) {" % cnt)
        if f.is_prim:
            lines.append(p + "    " + wr_prim(f.base, cx, "m->%s[i]" % f.name))
        else:
            lines.append(p + "    %s__encode(wr, ver, &m->%s[i]);" % (f.struct.cname, f.name))
        lines.append(p + "}")
    elif f.is_prim:
        v = "m->%s" % f.name
        if f.base in ("string", "bytes", "records") and nullable_cond != "1":
            t = PRIMS[f.base][0]
            if f.base == "string":
                fix = '(kproto_str_t){"", 0}'
            elif f.base == "bytes":
                fix = "(kproto_bytes_t){NULL, 0}"
            else:
                fix = "(kproto_records_t){NULL, 0, NULL, 0}"
            v = "((%s) || %s.len >= 0 ? %s : (%s)%s)" % (nullable_cond, v, v, t, fix)
        if f.base == "int16" and f.name == "error_code":
            lines.append(p + "kproto_wr_error(wr, %s);" % v)  # counted by the broker
        else:
            lines.append(p + wr_prim(f.base, cx, v))
    else:
        sc = f.struct.cname
        if f.nullable and nullable_cond != "0":
            # The presence byte exists only where the struct is nullable; elsewhere the null
            # flag is ignored and the struct's values are written.
            if nullable_cond == "1":
                lines.append(p + "kproto_wr_i8(wr, m->%s_null ? -1 : 1);" % f.name)
                lines.append(p + "if (!m->%s_null) {" % f.name)
            else:
                lines.append(p + "if (%s) {" % nullable_cond)
                lines.append(p + "    kproto_wr_i8(wr, m->%s_null ? -1 : 1);" % f.name)
                lines.append(p + "}")
                lines.append(p + "if (!((%s) && m->%s_null)) {" % (nullable_cond, f.name))
            lines.append(p + "    %s__encode(wr, ver, &m->%s);" % (sc, f.name))
            lines.append(p + "}")
        else:
            lines.append(p + "%s__encode(wr, ver, &m->%s);" % (sc, f.name))


def is_default_expr(f):
    n = "m->%s" % f.name
    if f.is_array:
        return "%s_count == %s" % (n, "-1" if f.default == "null" else "0")
    if f.is_prim:
        b = f.base
        if b == "string":
            if f.default == "null":
                return "%s.len < 0" % n
            return "kproto__str_is(%s, %s)" % (n, json.dumps(f.default or ""))
        if b in ("bytes", "records"):
            return "%s.len %s" % (n, "< 0" if f.default == "null" else "== 0")
        if b == "uuid":
            return "kproto__uuid_is_zero(%s)" % n
        return "%s == %s" % (n, c_default(f))
    return "%s__is_default(&%s)" % (f.struct.cname, n)


def gen_struct_funcs(s, msg, out):
    fc = msg.flex_cond()
    regular = [f for f in s.fields if not f.tagged]
    tagged = sorted([f for f in s.fields if f.tagged], key=lambda f: f.tag)
    # minimum wire size for a version (bounds array allocations)
    out.append("__attribute__((unused)) static size_t %s__minsize(int16_t ver)" % s.cname)
    out.append("{")
    out.append("    bool flex = %s;" % fc)
    out.append("    size_t n = flex ? 1 : 0;")
    out.append("    (void)ver;")
    for f in regular:
        c = cond(f.versions, msg.valid)
        if f.is_array:
            e = "(flex ? 1 : 4)"
        elif f.is_prim:
            e = min_elem(f.base, "flex" if f.flex_override != "none" else "false")
        else:
            e = "%s__minsize(ver)" % f.struct.cname if not f.nullable else "1"
        if c == "1":
            out.append("    n += %s;" % e)
        elif c != "0":
            out.append("    if (%s) {" % c)
            out.append("        n += %s;" % e)
            out.append("    }")
    out.append("    return n;")
    out.append("}")
    out.append("")
    if s.used_as_tagged:
        out.append("__attribute__((unused)) static bool %s__is_default(const %s_t *m)" % (s.cname, s.cname))
        out.append("{")
        exprs = [is_default_expr(f) for f in s.fields] or ["true"]
        out.append("    return " + " &&\n           ".join(exprs) + ";")
        out.append("}")
        out.append("")
    # decode
    out.append("static void %s__decode(kproto_rd_t *rd, sl_arena_t *arena, int16_t ver, %s_t *m)"
               % (s.cname, s.cname))
    out.append("{")
    out.append("    bool flex = %s;" % fc)
    out.append("    (void)arena;")
    out.append("    (void)flex;")
    for f in regular:
        c = cond(f.versions, msg.valid)
        if c == "0":
            continue
        nc = cond(f.nullable, msg.valid) if f.nullable else "0"
        if c == "1":
            gen_decode_field(f, s, out, 4, nc)
        else:
            out.append("    if (%s) {" % c)
            gen_decode_field(f, s, out, 8, nc)
            out.append("    }")
    out.append("    if (flex) {")
    out.append("        uint32_t ntags = kproto_rd_uvarint(rd);")
    out.append("        for (uint32_t t = 0; t < ntags && !rd->err; t++) {")
    out.append("            uint32_t tag = kproto_rd_uvarint(rd);")
    out.append("            uint32_t size = kproto_rd_uvarint(rd);")
    out.append("            if (rd->err || size > kproto_rd_left(rd)) {")
    out.append("                rd->err = rd->err ? rd->err : KPROTO_ERR_TRUNCATED;")
    out.append("                break;")
    out.append("            }")
    if tagged:
        out.append("            uint8_t *next = rd->p + size;")
        out.append("            switch (tag) {")
        for f in tagged:
            c = cond(f.tagged, msg.valid)
            out.append("            case %d:" % f.tag)
            out.append("                if (%s) {" % c)
            out.append("                    kproto_rd_t sub;")
            out.append("                    kproto_rd_init(&sub, rd->p, size);")
            out.append("                    kproto_rd_t *outer = rd;")
            out.append("                    rd = &sub;")
            nc = cond(f.nullable, msg.valid) if f.nullable else "0"
            gen_decode_field(f, s, out, 20, nc)
            out.append("                    rd = outer;")
            out.append("                    rd->err = sub.err;")
            out.append("                }")
            out.append("                break;")
        out.append("            default:")
        out.append("                break;")
        out.append("            }")
        out.append("            if (!rd->err) {")
        out.append("                rd->p = next;")
        out.append("            }")
    else:
        out.append("            (void)tag;")
        out.append("            kproto_rd_skip(rd, size);")
    out.append("        }")
    out.append("    }")
    out.append("}")
    out.append("")
    # encode
    out.append("static void %s__encode(kproto_wr_t *wr, int16_t ver, const %s_t *m)"
               % (s.cname, s.cname))
    out.append("{")
    out.append("    bool flex = %s;" % fc)
    out.append("    (void)flex;")
    out.append("    (void)m;")
    for f in regular:
        c = cond(f.versions, msg.valid)
        nc = cond(f.nullable, msg.valid) if f.nullable else "0"
        if c == "0":
            continue
        if c == "1":
            gen_encode_field(f, s, out, 4, nc)
        else:
            out.append("    if (%s) {" % c)
            gen_encode_field(f, s, out, 8, nc)
            out.append("    }")
    out.append("    if (flex) {")
    if tagged:
        out.append("        uint32_t ntags = 0;")
        for f in tagged:
            out.append("        ntags += (%s) && !(%s);" % (cond(f.tagged, msg.valid), is_default_expr(f)))
        out.append("        kproto_wr_uvarint(wr, ntags);")
        for f in tagged:
            nc = cond(f.nullable, msg.valid) if f.nullable else "0"
            out.append("        if ((%s) && !(%s)) {" % (cond(f.tagged, msg.valid), is_default_expr(f)))
            out.append("            kproto_wr_t sub;")
            out.append("            kproto_wr_init(&sub);")
            out.append("            kproto_wr_t *outer = wr;")
            out.append("            wr = &sub;")
            gen_encode_field(f, s, out, 12, nc)
            out.append("            wr = outer;")
            out.append("            kproto_wr_uvarint(wr, %d);" % f.tag)
            out.append("            kproto_wr_uvarint(wr, (uint32_t)sub.buf.len);")
            out.append("            kproto_wr_raw(wr, sub.buf.data, sub.buf.len);")
            out.append("            kproto_wr_deinit(&sub);")
            out.append("        }")
    else:
        out.append("        kproto_wr_uvarint(wr, 0);")
    out.append("    }")
    out.append("}")
    out.append("")


def gen_message(msg, hdr, src):
    # Declaration order: a struct embedded by value is declared before its user.
    done = set()

    def declare(st):
        if st.cname in done:
            return
        done.add(st.cname)
        for f in st.fields:
            if f.struct and not f.is_array:
                declare(f.struct)
        gen_struct_decl(st, hdr)
    for s in msg.order:
        hdr.append("struct %s_s;" % s.cname)
    for s in reversed(msg.order):
        declare(s)
    for s in msg.order:
        hdr.append("void %s_init(%s_t *m);" % (s.cname, s.cname))
    p = msg.prefix
    hdr.append("/* 0, or SL_ECORRUPT when the bytes are truncated or malformed. */")
    hdr.append("int %s_decode(kproto_rd_t *rd, sl_arena_t *arena, int16_t ver, %s_t *m);" % (p, p))
    hdr.append("void %s_encode(kproto_wr_t *wr, int16_t ver, const %s_t *m);" % (p, p))
    hdr.append("")
    for s in reversed(msg.order):
        src.append("static size_t %s__minsize(int16_t ver);" % s.cname)
        src.append("static void %s__decode(kproto_rd_t *rd, sl_arena_t *arena, int16_t ver, %s_t *m);"
                   % (s.cname, s.cname))
        src.append("static void %s__encode(kproto_wr_t *wr, int16_t ver, const %s_t *m);"
                   % (s.cname, s.cname))
    src.append("")
    for s in msg.order:
        gen_init(s, src)
        gen_struct_funcs(s, msg, src)
    src.append("int %s_decode(kproto_rd_t *rd, sl_arena_t *arena, int16_t ver, %s_t *m)" % (p, p))
    src.append("{")
    src.append("    %s_init(m);" % p)
    src.append("    %s__decode(rd, arena, ver, m);" % p)
    src.append("    return rd->err ? SL_ECORRUPT : 0;")
    src.append("}")
    src.append("")
    src.append("void %s_encode(kproto_wr_t *wr, int16_t ver, const %s_t *m)" % (p, p))
    src.append("{")
    src.append("    %s__encode(wr, ver, m);" % p)
    src.append("}")
    src.append("")


# ---- Test-only output: kmsg_test.h / kmsg_test.c (random valid messages for codec tests) ----

FILL_INT = {"int8": "int8_t", "int16": "int16_t", "uint16": "uint16_t", "int32": "int32_t",
            "uint32": "uint32_t", "int64": "int64_t"}


def fill_prim(base, nc, name):
    """C expression for a random value of a primitive type; nc: may it be null; name: the
    field's C name, passed to the steering hooks (kmsg_test_hooks)."""
    if base in FILL_INT:
        return "(%s)kt__int(rng, \"%s\")" % (FILL_INT[base], name)
    if base == "bool":
        return "kt__below(rng, 2) == 1"
    if base == "float64":
        return "kt__f64(rng)"
    if base == "uuid":
        return "kt__uuid(rng, \"%s\")" % name
    return "kt__%s(arena, rng, %s, \"%s\")" % (base, nc, name)


def gen_fill_field(f, out, ind, nc):
    p = " " * ind
    if f.is_array:
        t = PRIMS[f.base][0] if f.is_prim else "%s_t" % f.struct.cname
        out.append(p + "m->%s_count = kt__count(rng, %s, \"%s\");" % (f.name, nc, f.name))
        out.append(p + "m->%s = kproto_rd_alloc(arena, m->%s_count, sizeof(%s));" % (f.name, f.name, t))
        out.append(p + "bool %s_dup = kt__dup(\"%s\", m->%s_count);" % (f.name, f.name, f.name))
        out.append(p + "for (int32_t i = 0; i < m->%s_count; i++) {" % f.name)
        out.append(p + "    if (%s_dup && i > 0) {" % f.name)
        out.append(p + "        m->%s[i] = m->%s[0];" % (f.name, f.name))
        out.append(p + "        continue;")
        out.append(p + "    }")
        if f.is_prim:
            out.append(p + "    m->%s[i] = %s;" % (f.name, fill_prim(f.base, "false", f.name)))
        else:
            out.append(p + "    %s_init(&m->%s[i]);" % (f.struct.cname, f.name))
            out.append(p + "    %s__fill(ver, &m->%s[i], arena, rng);" % (f.struct.cname, f.name))
        out.append(p + "}")
    elif f.is_prim:
        out.append(p + "m->%s = %s;" % (f.name, fill_prim(f.base, nc, f.name)))
    else:
        if f.nullable and nc != "0":
            out.append(p + "m->%s_null = (%s) && kt__below(rng, 4) == 0;" % (f.name, nc))
        out.append(p + "%s__fill(ver, &m->%s, arena, rng);" % (f.struct.cname, f.name))


def gen_fill_struct(s, msg, out):
    out.append("static void %s__fill(int16_t ver, %s_t *m, sl_arena_t *arena, uint64_t *rng)"
               % (s.cname, s.cname))
    out.append("{")
    out.append("    (void)ver;")
    out.append("    (void)m;")
    out.append("    (void)arena;")
    out.append("    (void)rng;")
    for f in s.fields:
        c = cond(f.versions, msg.valid)
        if f.tagged:
            t = cond(f.tagged, msg.valid)
            c = t if c in ("1", t) else ("0" if "0" in (c, t) else "(%s) && (%s)" % (c, t))
            # tagged fields: sometimes left at their default (then they are not sent)
            c = "kt__below(rng, 2) == 0" if c == "1" else "(%s) && kt__below(rng, 2) == 0" % c
        if c.startswith("0"):
            continue
        nc = cond(f.nullable, msg.valid) if f.nullable else "0"
        if c == "1":
            gen_fill_field(f, out, 4, nc)
        else:
            out.append("    if (%s) {" % c)
            gen_fill_field(f, out, 8, nc)
            out.append("    }")
    out.append("}")
    out.append("")


TEST_HDR = """/* Generated by tools/kgen.py from src/kafka/schema: do not edit. Test-only.
 * Random messages that are valid for a given version, for codec round-trip tests and fuzz
 * seeds: every field present in the version gets a random value (arrays of 0-3 elements,
 * short ASCII strings, nulls where the version allows them, tagged fields sometimes set);
 * fields absent from the version keep their defaults. Values point into the arena. */
#ifndef KMSG_TEST_H
#define KMSG_TEST_H

#include <stdbool.h>
#include <stdint.h>

#include "kmsg.h"
#include "sl_arena.h"

/* The schema's validVersions per API key (the advertised range in kmsg_apis is a subset);
 * has = false for keys kmsg_apis does not support. */
typedef struct {
    bool has;
    int16_t req_min, req_max, resp_min, resp_max;
} kmsg_test_versions_t;

extern const kmsg_test_versions_t kmsg_test_versions[KMSG_API_KEY_MAX + 1];
/* The header schemas' validVersions. */
#define KMSG_TEST_REQUEST_HEADER_MIN %d
#define KMSG_TEST_REQUEST_HEADER_MAX %d
#define KMSG_TEST_RESPONSE_HEADER_MIN %d
#define KMSG_TEST_RESPONSE_HEADER_MAX %d

/* Optional steering, for the stateful broker fuzzer (tests/fuzz/fuzz_broker_seq.c): while
 * kmsg_test_hooks is NULL (the default) the generator is exactly as described above. Each hook
 * gets the field's C name (as in kmsg.h) and returns true when it chose the value itself (in
 * *out), false to leave the choice to the generator. count: an array's length (-1: null);
 * dup: whether the elements 1..n-1 of an n-element array copy element 0; str: a string, bytes
 * or records field (arena: where its bytes may live; len -1: null when nullable); i64: an
 * integer field (the caller truncates to its width); uuid: a uuid field. Thread: the
 * caller's. */
typedef struct {
    void *ctx;
    bool (*count)(void *ctx, const char *field, bool nullable, int32_t *out);
    bool (*dup)(void *ctx, const char *field, int32_t n);
    bool (*str)(void *ctx, const char *field, bool nullable, sl_arena_t *arena,
                const uint8_t **ptr, int32_t *len);
    bool (*i64)(void *ctx, const char *field, int64_t *out);
    bool (*uuid)(void *ctx, const char *field, uint8_t out[16]);
} kmsg_test_hooks_t;

extern const kmsg_test_hooks_t *kmsg_test_hooks;

/* Next value of a splitmix64 generator whose state is *rng. */
uint64_t kmsg_test_rand(uint64_t *rng);
/* Initializes *m (a kmsg_<api>_req_t or _resp_t for api_key) and fills it with random values
 * valid for ver. Aborts when api_key is not in kmsg_apis. */
void kmsg_test_fill(int16_t api_key, bool request, int16_t ver, void *m, sl_arena_t *arena,
                    uint64_t *rng);
/* The same for the request (kmsg_request_header_t) or response header. */
void kmsg_test_fill_header(bool request, int16_t ver, void *m, sl_arena_t *arena, uint64_t *rng);

#endif
"""

TEST_HELPERS = r"""/* Generated by tools/kgen.py from src/kafka/schema: do not edit. Test-only. */
#include "kmsg_test.h"
#include "sl_common.h"

#include <string.h>

const kmsg_test_hooks_t *kmsg_test_hooks;

uint64_t kmsg_test_rand(uint64_t *rng)
{
    uint64_t z = (*rng += UINT64_C(0x9E3779B97F4A7C15));
    z = (z ^ (z >> 30)) * UINT64_C(0xBF58476D1CE4E5B9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94D049BB133111EB);
    return z ^ (z >> 31);
}

static uint32_t kt__below(uint64_t *rng, uint32_t n)
{
    return (uint32_t)(kmsg_test_rand(rng) % n);
}

/* Integers: edge values one time in four (the caller truncates to its width), else random
 * bits of a random width so that small and large values both occur. */
static int64_t kt__int(uint64_t *rng, const char *field)
{
    static const int64_t edges[] = {0, 1, -1, INT8_MIN, INT8_MAX, INT16_MIN, INT16_MAX,
                                    INT32_MIN, INT32_MAX, INT64_MIN, INT64_MAX};
    int64_t hooked;
    if (kmsg_test_hooks && kmsg_test_hooks->i64 &&
        kmsg_test_hooks->i64(kmsg_test_hooks->ctx, field, &hooked)) {
        return hooked;
    }
    if (kt__below(rng, 4) == 0) {
        return edges[kt__below(rng, (uint32_t)SL_ARRAY_LEN(edges))];
    }
    uint64_t v = kmsg_test_rand(rng);
    unsigned bits = 1 + kt__below(rng, 64);
    return (int64_t)(bits == 64 ? v : v & ((UINT64_C(1) << bits) - 1));
}

__attribute__((unused)) static double kt__f64(uint64_t *rng)
{
    return (double)kt__int(rng, "") / 8.0;
}

static kproto_uuid_t kt__uuid(uint64_t *rng, const char *field)
{
    kproto_uuid_t u = {{0}};
    if (kmsg_test_hooks && kmsg_test_hooks->uuid &&
        kmsg_test_hooks->uuid(kmsg_test_hooks->ctx, field, u.b)) {
        return u;
    }
    if (kt__below(rng, 4) != 0) {
        for (int i = 0; i < 16; i++) {
            u.b[i] = (uint8_t)kmsg_test_rand(rng);
        }
    }
    return u;
}

static int32_t kt__count(uint64_t *rng, bool nullable, const char *field)
{
    int32_t hooked;
    if (kmsg_test_hooks && kmsg_test_hooks->count &&
        kmsg_test_hooks->count(kmsg_test_hooks->ctx, field, nullable, &hooked)) {
        return hooked < 0 && !nullable ? 0 : hooked;
    }
    if (nullable && kt__below(rng, 5) == 0) {
        return -1;
    }
    return (int32_t)kt__below(rng, 4);
}

static bool kt__dup(const char *field, int32_t n)
{
    return n > 1 && kmsg_test_hooks && kmsg_test_hooks->dup &&
           kmsg_test_hooks->dup(kmsg_test_hooks->ctx, field, n);
}

/* A string, bytes or records field chosen by the str hook; false: none chosen. */
static bool kt__hooked(sl_arena_t *arena, bool nullable, const char *field, const uint8_t **ptr,
                       int32_t *len)
{
    if (!kmsg_test_hooks || !kmsg_test_hooks->str ||
        !kmsg_test_hooks->str(kmsg_test_hooks->ctx, field, nullable, arena, ptr, len)) {
        return false;
    }
    if (*len < 0 && !nullable) {
        *ptr = (const uint8_t *)"";
        *len = 0;
    }
    return true;
}

static uint8_t *kt__blob(sl_arena_t *arena, uint64_t *rng, int32_t len, bool ascii)
{
    uint8_t *p = sl_arena_alloc(arena, (size_t)len + 1);
    for (int32_t i = 0; i < len; i++) {
        uint64_t r = kmsg_test_rand(rng);
        p[i] = ascii ? (uint8_t)(' ' + r % 95) : (uint8_t)r;
    }
    return p;
}

static kproto_str_t kt__string(sl_arena_t *arena, uint64_t *rng, bool nullable,
                               const char *field)
{
    kproto_str_t s = {"", 0};
    const uint8_t *hp;
    int32_t hlen;
    if (kt__hooked(arena, nullable, field, &hp, &hlen)) {
        s.ptr = hlen < 0 ? NULL : (const char *)hp;
        s.len = hlen;
        return s;
    }
    if (nullable && kt__below(rng, 5) == 0) {
        s.ptr = NULL;
        s.len = -1;
        return s;
    }
    s.len = (int32_t)kt__below(rng, 12);
    s.ptr = (const char *)kt__blob(arena, rng, s.len, true);
    return s;
}

static kproto_bytes_t kt__bytes(sl_arena_t *arena, uint64_t *rng, bool nullable,
                               const char *field)
{
    kproto_bytes_t b = {NULL, 0};
    const uint8_t *hp;
    int32_t hlen;
    if (kt__hooked(arena, nullable, field, &hp, &hlen)) {
        b.ptr = hlen < 0 ? NULL : hp;
        b.len = hlen;
        return b;
    }
    if (nullable && kt__below(rng, 5) == 0) {
        b.len = -1;
        return b;
    }
    b.len = (int32_t)kt__below(rng, 12);
    b.ptr = kt__blob(arena, rng, b.len, false);
    return b;
}

static kproto_records_t kt__records(sl_arena_t *arena, uint64_t *rng, bool nullable,
                                   const char *field)
{
    kproto_bytes_t b = kt__bytes(arena, rng, nullable, field);
    kproto_records_t r = {b.ptr, b.len, NULL, 0};
    return r;
}

"""


def gen_test(msgs, hdr_msgs, table, out_dir):
    src = [TEST_HELPERS]
    for m in hdr_msgs + msgs:
        for st in m.order:
            src.append("static void %s__fill(int16_t ver, %s_t *m, sl_arena_t *arena, uint64_t *rng);"
                       % (st.cname, st.cname))
    src.append("")
    for m in hdr_msgs + msgs:
        for st in m.order:
            gen_fill_struct(st, m, src)
    src.append("const kmsg_test_versions_t kmsg_test_versions[KMSG_API_KEY_MAX + 1] = {")
    for req, resp in zip(msgs[0::2], msgs[1::2]):
        src.append("    [%d] = {true, %d, %d, %d, %d}," % (req.d["apiKey"], req.valid[0], req.valid[1],
                                                      resp.valid[0], resp.valid[1]))
    src.append("};")
    src.append("")
    src.append("void kmsg_test_fill(int16_t api_key, bool request, int16_t ver, void *m, sl_arena_t *arena,")
    src.append("                    uint64_t *rng)")
    src.append("{")
    src.append("    switch (api_key) {")
    for req, resp in zip(msgs[0::2], msgs[1::2]):
        src.append("    case %d:" % req.d["apiKey"])
        src.append("        if (request) {")
        src.append("            %s_init(m);" % req.prefix)
        src.append("            %s__fill(ver, m, arena, rng);" % req.prefix)
        src.append("        } else {")
        src.append("            %s_init(m);" % resp.prefix)
        src.append("            %s__fill(ver, m, arena, rng);" % resp.prefix)
        src.append("        }")
        src.append("        return;")
    src.append("    default:")
    src.append("        SL_ASSERT(!\"kmsg_test_fill: unsupported api key\");")
    src.append("    }")
    src.append("}")
    src.append("")
    rq, rs = hdr_msgs
    src.append("void kmsg_test_fill_header(bool request, int16_t ver, void *m, sl_arena_t *arena, uint64_t *rng)")
    src.append("{")
    src.append("    if (request) {")
    src.append("        %s_init(m);" % rq.prefix)
    src.append("        %s__fill(ver, m, arena, rng);" % rq.prefix)
    src.append("    } else {")
    src.append("        %s_init(m);" % rs.prefix)
    src.append("        %s__fill(ver, m, arena, rng);" % rs.prefix)
    src.append("    }")
    src.append("}")
    hdr = TEST_HDR % (rq.valid[0], rq.valid[1], rs.valid[0], rs.valid[1])
    for fn, text in (("kmsg_test.h", hdr), ("kmsg_test.c", "\n".join(src) + "\n")):
        path = os.path.join(out_dir, fn)
        with open(path + ".tmp", "w") as fh:
            fh.write(text)
        os.replace(path + ".tmp", path)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--schemas", required=True)
    ap.add_argument("--apis", required=True)
    ap.add_argument("--out", required=True)
    a = ap.parse_args()
    apis = []
    with open(a.apis) as fh:
        for line in fh:
            line = line.split("#")[0].strip()
            if line:
                name, lo, hi = line.split()
                apis.append((name, int(lo), int(hi)))
    hdr = ["/* Generated by tools/kgen.py from src/kafka/schema: do not edit. */",
           "#ifndef KMSG_H", "#define KMSG_H", "", "#include <stdbool.h>", "#include <stdint.h>",
           "", '#include "kproto.h"', '#include "sl_arena.h"', ""]
    src = ["/* Generated by tools/kgen.py from src/kafka/schema: do not edit. */",
           '#include "kmsg.h"', '#include "sl_common.h"', "", "#include <string.h>", "",
           "static inline bool kproto__str_is(kproto_str_t s, const char *v)",
           "{", "    return s.len >= 0 && (size_t)s.len == strlen(v) && memcmp(s.ptr, v, (size_t)s.len) == 0;",
           "}", "static inline bool kproto__uuid_is_zero(kproto_uuid_t u)",
           "{", "    static const kproto_uuid_t z;", "    return memcmp(u.b, z.b, 16) == 0;", "}", ""]
    table = []
    enum = []
    hdr_msgs = []
    for hname, prefix in (("RequestHeader", "kmsg_request_header"),
                          ("ResponseHeader", "kmsg_response_header")):
        m = Message(os.path.join(a.schemas, hname + ".json"), prefix)
        gen_message(m, hdr, src)
        hdr_msgs.append(m)
    msgs = []
    maxkey = 0
    for name, lo, hi in apis:
        base = snake(name)
        req = Message(os.path.join(a.schemas, name + "Request.json"), "kmsg_%s_req" % base)
        resp = Message(os.path.join(a.schemas, name + "Response.json"), "kmsg_%s_resp" % base)
        key = req.d["apiKey"]
        if not (req.valid[0] <= lo <= hi <= req.valid[1]):
            sys.exit("kgen: %s %d-%d outside the schema's %s" % (name, lo, hi, req.d["validVersions"]))
        gen_message(req, hdr, src)
        gen_message(resp, hdr, src)
        msgs += [req, resp]
        flex = req.flex[0] if req.flex else VMAX
        enum.append("    KAPI_%s = %d," % (base.upper(), key))
        maxkey = max(maxkey, key)
        table.append((key, name, lo, hi, flex, req.prefix, resp.prefix))
    hdr.append("typedef enum {")
    hdr.extend(enum)
    hdr.append("} kapi_key_t;")
    hdr.append("#define KMSG_API_KEY_MAX %d" % maxkey)
    hdr.append("")
    hdr.append("typedef int (*kmsg_decode_fn)(kproto_rd_t *rd, sl_arena_t *arena, int16_t ver, void *m);")
    hdr.append("typedef void (*kmsg_encode_fn)(kproto_wr_t *wr, int16_t ver, const void *m);")
    hdr.append("typedef void (*kmsg_init_fn)(void *m);")
    hdr.append("/* One supported API: the advertised version range, the first flexible version")
    hdr.append(" * (0x7fff: none) and its codecs. name is NULL for keys we do not support. */")
    hdr.append("typedef struct {")
    hdr.append("    const char *name;")
    hdr.append("    int16_t key, min, max, flex;")
    hdr.append("    size_t req_size, resp_size;")
    hdr.append("    kmsg_init_fn req_init, resp_init;")
    hdr.append("    kmsg_decode_fn req_decode, resp_decode;")
    hdr.append("    kmsg_encode_fn req_encode, resp_encode;")
    hdr.append("} kmsg_api_t;")
    hdr.append("")
    hdr.append("extern const kmsg_api_t kmsg_apis[KMSG_API_KEY_MAX + 1];")
    hdr.append("")
    hdr.append("#endif")
    # Type-erased entry points for the table (no casts between function pointer types).
    for key, name, lo, hi, flex, rq, rs in table:
        for p in (rq, rs):
            src.append("static void %s__init_v(void *m) { %s_init(m); }" % (p, p))
            src.append("static int %s__decode_v(kproto_rd_t *rd, sl_arena_t *arena, int16_t ver, void *m)" % p)
            src.append("{ return %s_decode(rd, arena, ver, m); }" % p)
            src.append("static void %s__encode_v(kproto_wr_t *wr, int16_t ver, const void *m)" % p)
            src.append("{ %s_encode(wr, ver, m); }" % p)
    src.append("")
    src.append("const kmsg_api_t kmsg_apis[KMSG_API_KEY_MAX + 1] = {")
    for key, name, lo, hi, flex, rq, rs in table:
        src.append("    [%d] = {\"%s\", %d, %d, %d, %d, sizeof(%s_t), sizeof(%s_t)," % (key, name, key, lo, hi, flex, rq, rs))
        src.append("           %s__init_v, %s__init_v," % (rq, rs))
        src.append("           %s__decode_v, %s__decode_v," % (rq, rs))
        src.append("           %s__encode_v, %s__encode_v}," % (rq, rs))
    src.append("};")
    os.makedirs(a.out, exist_ok=True)
    for fn, lines in (("kmsg.h", hdr), ("kmsg.c", src)):
        path = os.path.join(a.out, fn)
        with open(path + ".tmp", "w") as fh:
            fh.write("\n".join(lines) + "\n")
        os.replace(path + ".tmp", path)
    gen_test(msgs, hdr_msgs, table, a.out)


if __name__ == "__main__":
    main()
