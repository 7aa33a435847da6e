/* A small syntax highlighter for Python (and a light one for JSON): one regex pass, HTML escaped. */
"use strict";
const Highlight = (() => {
  const KEYWORDS = new Set(("False None True and as assert async await break class continue def del elif else " +
    "except finally for from global if import in is lambda nonlocal not or pass raise return try while with " +
    "yield match case").split(" "));
  const BUILTINS = new Set(("print len range list dict set tuple str int float bool open sum min max abs sorted " +
    "enumerate zip map filter isinstance type super round any all repr").split(" "));
  const PY = new RegExp([
    "(#[^\\n]*)",                                                              // 1 comment
    "([rRbBuUfF]{0,2}(?:\"\"\"[\\s\\S]*?(?:\"\"\"|$)|'''[\\s\\S]*?(?:'''|$)" +   // 2 string
      "|\"(?:\\\\.|[^\"\\\\\\n])*\"?|'(?:\\\\.|[^'\\\\\\n])*'?))",
    "(\\b(?:0[xob][0-9a-fA-F_]+|\\d[\\d_]*\\.?\\d*(?:[eE][+-]?\\d+)?j?)\\b)",  // 3 number
    "(@[A-Za-z_][\\w.]*)",                                                     // 4 decorator
    "([A-Za-z_]\\w*)",                                                         // 5 name
  ].join("|"), "g");

  function escape(s) {
    return s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");
  }
  function span(cls, text) { return `<span class="tok-${cls}">${escape(text)}</span>`; }

  function python(code) {
    let out = "", last = 0, prev = "";
    for (const m of code.matchAll(PY)) {
      out += escape(code.slice(last, m.index));
      last = m.index + m[0].length;
      if (m[1]) out += span("com", m[1]);
      else if (m[2]) out += span("str", m[2]);
      else if (m[3]) out += span("num", m[3]);
      else if (m[4]) out += span("dec", m[4]);
      else if (KEYWORDS.has(m[5])) out += span("kw", m[5]);
      else if (prev === "def" || prev === "class") out += span("fn", m[5]);
      else if (BUILTINS.has(m[5])) out += span("bi", m[5]);
      else out += escape(m[5]);
      if (m[5]) prev = m[5];
    }
    return out + escape(code.slice(last));
  }

  const JSON_RE = /("(?:\\.|[^"\\])*")(\s*:)?|(-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?)|\b(true|false|null)\b/g;
  function json(text) {
    let out = "", last = 0;
    for (const m of text.matchAll(JSON_RE)) {
      out += escape(text.slice(last, m.index));
      last = m.index + m[0].length;
      if (m[1]) out += span(m[2] ? "key" : "str", m[1]) + (m[2] ? escape(m[2]) : "");
      else if (m[3]) out += span("num", m[3]);
      else out += span("kw", m[4]);
    }
    return out + escape(text.slice(last));
  }
  return { python, json, escape };
})();
